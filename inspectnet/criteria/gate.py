"""The profile's ``[gate]``: what the regression gate calls a regression (accuracy tolerances, latency
confidence and effect sizes, the A/B schedule, and what an unresolvable accuracy drop does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectnet.criteria.tables import CriteriaError, checked_table
from inspectnet.names import METRICS

UNRESOLVED = ("fail", "warn", "pass")  # what the gate does with a drop the test split cannot resolve


@dataclass(frozen=True)
class GateCriteria:
    """What the regression gate calls a regression (see inspectnet.gate)."""

    accuracy_tolerance: dict[str, float] = field(
        default_factory=lambda: {"image_auroc": 0.01, "pixel_auroc": 0.005, "aupro": 0.01}
    )
    alpha: float = 0.01  # 1 - the confidence of each latency interval
    min_effect: float = 0.03  # A/B mode: the smallest slowdown called a regression
    records_min_effect: float = 0.05  # records-only mode: runs made at other times drift more
    records_alpha: float = 0.05  # records-only mode: 3 runs a side give few degrees of freedom (ARCHITECTURE.md, gate)
    ab_quads: int = 12  # A/B mode: ABBA quads (one ratio each), and the step an undecided run is extended by
    ab_max_quads: int = 36  # A/B mode: the most quads an undecided run is extended to
    ab_block_calls: int = 3  # A/B mode: calls per block
    # an accuracy drop beyond tolerance whose paired 95% interval holds zero: the split cannot resolve it
    on_unresolved: str = "fail"  # fail (a regression) | warn (printed, passes) | pass


def parse_gate(path: Path, value: Any) -> GateCriteria:
    keys = (
        "accuracy_tolerance",
        "alpha",
        "min_effect",
        "records_min_effect",
        "records_alpha",
        "ab_quads",
        "ab_max_quads",
        "ab_block_calls",
        "on_unresolved",
        "note",
    )
    table = checked_table(path, value, keys, "gate")
    defaults = GateCriteria()
    tolerance = dict(defaults.accuracy_tolerance)
    for metric, v in checked_table(path, table.get("accuracy_tolerance"), METRICS, "gate.accuracy_tolerance").items():
        tolerance[metric] = _positive(path, f"gate.accuracy_tolerance.{metric}", v)
    alpha = _positive(path, "gate.alpha", table.get("alpha", defaults.alpha))
    effect = _positive(path, "gate.min_effect", table.get("min_effect", defaults.min_effect))
    records = _positive(path, "gate.records_min_effect", table.get("records_min_effect", defaults.records_min_effect))
    records_alpha = _positive(path, "gate.records_alpha", table.get("records_alpha", defaults.records_alpha))
    quads = _whole(path, "gate.ab_quads", table.get("ab_quads", defaults.ab_quads), 4)
    most = _whole(path, "gate.ab_max_quads", table.get("ab_max_quads", defaults.ab_max_quads), quads)
    calls = _whole(path, "gate.ab_block_calls", table.get("ab_block_calls", defaults.ab_block_calls), 1)
    unresolved = table.get("on_unresolved", defaults.on_unresolved)
    if unresolved not in UNRESOLVED:
        raise CriteriaError(f"{path}: gate.on_unresolved must be one of {', '.join(UNRESOLVED)}, got {unresolved!r}")
    return GateCriteria(tolerance, alpha, effect, records, records_alpha, quads, most, calls, unresolved)


def _whole(path: Path, where: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise CriteriaError(f"{path}: {where} must be an integer >= {least}, got {value!r}")
    return value


def _positive(path: Path, where: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise CriteriaError(f"{path}: {where} must be a positive number, got {value!r}")
    return float(value)
