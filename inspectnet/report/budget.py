"""A machine class's latency budget written from latency records (``inspectnet budget --from DIR``).

Per device and machine class found in the records, per runtime: the largest median and p95 over the records
(categories), each plus ``margin``, rounded up to 0.1 ms, as a ``[[latency.<device>.machine]]`` table to
paste into a criteria profile. The numbers are the records'; the comment above the table says which records,
when and with what margin, so the budget can be traced.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from inspectnet.deploy.runtimes import NAMES
from inspectnet.records import LatencyRecord, RecordError

DEFAULT_MARGIN = 0.25  # run medians spread by up to 22% within one session (ARCHITECTURE.md, machine classes)


@dataclass(frozen=True)
class ClassBudget:
    device: str
    machine_class: str
    limits: dict[str, tuple[float, float]]  # runtime -> (median_ms, p95_ms), margin included
    categories: list[str]
    runs: int  # runs per runtime in the records (the smallest)


def _up(value: float) -> float:
    return math.ceil(value * 10 - 1e-9) / 10


def class_budgets(records: Sequence[LatencyRecord], margin: float = DEFAULT_MARGIN) -> list[ClassBudget]:
    """One budget per (device, machine class) among ``records``; RecordError when there are none."""
    if not records:
        raise RecordError("no latency records to write a budget from (run `pytest benchmarks` first)")
    if not 0 <= margin < 10:
        raise ValueError(f"--margin must be in [0, 10), got {margin}")
    groups: dict[tuple[str, str], list[LatencyRecord]] = defaultdict(list)
    for record in records:
        groups[(record.device, record.platform.machine_class)].append(record)
    budgets = []
    for (device, machine), group in sorted(groups.items()):
        limits = {}
        for runtime in (r for r in NAMES if any(r in rec.runtimes for rec in group)):
            entries = [rec.runtimes[runtime] for rec in group if runtime in rec.runtimes]
            median = max(e.stats.median_ms for e in entries)
            p95 = max(e.stats.p95_ms for e in entries)
            limits[runtime] = (_up(median * (1 + margin)), _up(p95 * (1 + margin)))
        runs = min(len(e.runs) for rec in group for e in rec.runtimes.values())
        budgets.append(ClassBudget(device, machine, limits, sorted({r.category for r in group}), runs))
    return budgets


def as_toml(budget: ClassBudget, source: str, margin: float, created: str, pattern: str | None = None) -> str:
    """The budget as a profile table (``pattern``: the class to key it by instead of the exact class)."""
    lines = [
        f"# Written by `inspectnet budget --from {source}` on {created[:10]} from the latency records of",
        f"# {', '.join(budget.categories)} ({budget.runs} runs each) on {budget.machine_class}: the largest",
        f"# median and p95 over them, plus {margin:.0%}.",
        f"[[latency.{budget.device}.machine]]",
        f'class = "{pattern or budget.machine_class}"',
    ]
    for runtime, (median, p95) in budget.limits.items():
        lines.append(f"{runtime} = {{ median_ms = {median}, p95_ms = {p95} }}")
    return "\n".join(lines) + "\n"
