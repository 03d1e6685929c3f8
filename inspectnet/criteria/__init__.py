"""Acceptance criteria as data: a TOML profile per dataset (what to run, and per metric a minimum).

A metric's criterion is ``{ min = X }`` or ``{ reference = R, tolerance = T }`` (the minimum is then
R - T): the card's number and the slack the profile states. ``{ todo = "..." }`` is a placeholder that
``inspectnet init`` writes where no number is known yet: it fails every check, saying where it is and what
to write, so an unfinished profile never accepts a model. Unknown keys, methods, categories or metrics are
errors naming the key; nothing in a profile is silently ignored.

Beside the metrics, a method and category's table may limit the deployed threshold's false-alarm rate on
normal test images, ``false_alarm_rate = { max = X }`` (0 < X <= 1), judged on the rate's Clopper-Pearson 95%
upper bound (``measure/thresholds.py``); without one the rate is recorded, not judged. It may also declare a
known degenerate threshold, ``threshold_sanity = { expected_failure = "why" }``: the check still runs and is
reported as an expected failure with that reason, and fails the day the threshold is sane (strict).

A profile may be partial: a method and category may set only some metrics (the others are still measured
and recorded; their tests skip, saying so). Every planned method and category needs a table that sets at
least one (``Profile.check_runs``, called at configure time, before anything trains).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from inspectnet.criteria.candidates import CandidatesProfile, parse_candidates
from inspectnet.criteria.gate import UNRESOLVED, GateCriteria, parse_gate
from inspectnet.criteria.latency import Budget, DeviceBudgets, parse_budgets
from inspectnet.criteria.metric import (
    FALSE_ALARM_KEY,
    SANITY_KEY,
    Bound,
    Criterion,
    FalseAlarmLimit,
    Verdict,
    parse_expected_failure,
    parse_false_alarm,
    parse_metric_tables,
)
from inspectnet.criteria.parity import ParityCriteria, parse_parity
from inspectnet.criteria.plan import Plan, parse_plan
from inspectnet.criteria.project import RunTable, parse_run
from inspectnet.criteria.tables import CriteriaError, checked_table
from inspectnet.names import METHODS, METRICS, RunKey

__all__ = [
    "FALSE_ALARM_KEY",
    "PROFILES",
    "SANITY_KEY",
    "TOP_KEYS",
    "UNRESOLVED",
    "Bound",
    "CriteriaError",
    "Criterion",
    "FalseAlarmLimit",
    "GateCriteria",
    "ParityCriteria",
    "Plan",
    "Profile",
    "Verdict",
    "load_profile",
    "packaged",
]

TOP_KEYS = (
    "schema",
    "dataset",
    "description",
    "plan",
    "criteria",
    "delta",
    "latency",
    "parity",
    "gate",
    "candidates",
    "run",
)
# per dataset kind; a user's own dataset in MVTec AD layout (folder) starts from MVTec AD's categories and numbers
PROFILES = {"synthetic": "synthetic.toml", "mvtec_ad": "mvtec_ad.toml", "folder": "mvtec_ad.toml"}


@dataclass(frozen=True)
class Profile:
    path: Path
    dataset: str
    plan: Plan
    criteria: dict[tuple[str, str], dict[str, Criterion]]
    deltas: dict[str, dict[str, Criterion]]
    budgets: dict[str, DeviceBudgets] = field(default_factory=dict)
    parity: ParityCriteria = field(default_factory=ParityCriteria)
    gate: GateCriteria = field(default_factory=GateCriteria)
    candidates: CandidatesProfile = field(default_factory=CandidatesProfile)
    run: RunTable = field(default_factory=RunTable)  # a project file's [run] table: its options' defaults
    false_alarms: dict[tuple[str, str], FalseAlarmLimit] = field(default_factory=dict)  # (method, category)
    expected_insane: dict[tuple[str, str], str] = field(default_factory=dict)  # (method, category) -> why

    def image_auroc_tolerances(self) -> list[float]:
        """The image-AUROC differences this profile judges: the gate's tolerance and each candidate's drop limit."""
        found = [self.gate.accuracy_tolerance["image_auroc"]]
        found += [c.max_drop["image_auroc"] for c in self.candidates.build.values() if "image_auroc" in c.max_drop]
        return found

    def budget(self, device: str, runtime: str, machine_class: str) -> Budget:
        """What ``runtime`` on ``device`` is held to on a machine of ``machine_class``: the portable floor
        (required: a CriteriaError naming what to add when the profile has none) and the class budget
        that matches, if any."""
        found = self.budgets.get(device)
        budget = found.budget(device, runtime, machine_class) if found is not None else None
        if budget is None or budget.min_layer_efficiency is None:
            raise CriteriaError(
                f"{self.path}: no portable latency floor for {runtime} on {device}; add [latency.{device}] with "
                "min_layer_efficiency (and, for absolute budgets, [[latency.{device}.machine]] tables)"
            )
        return budget

    def criterion(self, method: str, category: str, metric: str) -> Criterion:
        found = self.criterion_or_none(method, category, metric)
        if found is None:
            raise CriteriaError(
                f"{self.path}: no criterion for {method}.{category}.{metric}; add [criteria.{method}.{category}] "
                f"with {metric} = {{ min = ... }}"
            )
        return found

    def criterion_or_none(self, method: str, category: str, metric: str) -> Criterion | None:
        """The metric's criterion, or None where the profile sets none (a partial profile: the metric is still
        measured and recorded, its test skips)."""
        return self.criteria.get((method, category), {}).get(metric)

    def false_alarm_limit(self, method: str, category: str) -> FalseAlarmLimit | None:
        """The false-alarm limit of ``method`` on ``category``, or None where the profile sets none."""
        return self.false_alarms.get((method, category))

    def no_criterion(self, method: str, category: str, metric: str) -> str:
        """Why a metric has no test verdict: the skip reason of its accuracy test."""
        return f"no criterion for {metric} of {method}/{category} in {self.path}"

    def check_runs(self, runs: Iterable[RunKey]) -> None:
        """Every planned (method, category) has a criteria table that sets at least one metric (a metric left
        out is fine); raises ``CriteriaError`` naming the profile and the key. Run at configure, before training."""
        for method, category in dict.fromkeys((r.method, r.category) for r in runs):
            key = f"criteria.{method}.{category}"
            table = self.criteria.get((method, category))
            if table is None:
                raise CriteriaError(
                    f"{self.path}: no [{key}] table for the planned {method} on {category}; add it with at least "
                    f"one of {', '.join(METRICS)} = {{ min = ... }}"
                )
            if not table and (method, category) not in self.false_alarms | self.expected_insane:
                raise CriteriaError(
                    f"{self.path}: [{key}] sets no criterion; give at least one of {', '.join(METRICS)} "
                    "= { min = ... }"
                )


def packaged(dataset: str) -> Path:
    """The profile shipped for ``dataset`` (synthetic | mvtec_ad; folder: mvtec_ad's)."""
    return Path(str(resources.files("inspectnet.criteria") / PROFILES[dataset]))


def load_profile(path: Path, categories_known: tuple[str, ...] | None = None) -> Profile:
    """Parse and validate a criteria profile."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CriteriaError(
            f"--inspectnet-criteria {path}: no such file; pass a TOML profile or omit --inspectnet-criteria"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CriteriaError(f"{path}: not a readable TOML profile ({exc})") from None
    for key in data:
        if key not in TOP_KEYS:
            raise CriteriaError(f"{path}: unknown key {key} (known: {', '.join(TOP_KEYS)})")
    if data.get("schema") != 1:
        raise CriteriaError(f"{path}: schema must be 1, got {data.get('schema')!r}")
    plan = parse_plan(path, data)
    known = set(plan.categories) | set(categories_known or ())
    criteria: dict[tuple[str, str], dict[str, Criterion]] = {}
    false_alarms: dict[tuple[str, str], FalseAlarmLimit] = {}
    expected_insane: dict[tuple[str, str], str] = {}
    for method, per_cat in checked_table(path, data.get("criteria"), METHODS, "criteria").items():
        for category, tables in checked_table(path, per_cat, tuple(sorted(known)), f"criteria.{method}").items():
            where = f"criteria.{method}.{category}"
            metrics = dict(checked_table(path, tables, (*METRICS, FALSE_ALARM_KEY, SANITY_KEY), where))
            if FALSE_ALARM_KEY in metrics:
                false_alarms[(method, category)] = parse_false_alarm(path, where, metrics.pop(FALSE_ALARM_KEY))
            if SANITY_KEY in metrics:
                expected_insane[(method, category)] = parse_expected_failure(path, where, metrics.pop(SANITY_KEY))
            criteria[(method, category)] = parse_metric_tables(path, metrics, where)
    deltas = {
        category: parse_metric_tables(path, tables, f"delta.{category}")
        for category, tables in checked_table(path, data.get("delta"), tuple(sorted(known)), "delta").items()
    }
    try:
        budgets = parse_budgets(path, data.get("latency"))
        candidates = parse_candidates(path, data.get("candidates"))
        run = parse_run(path, data.get("run"))
    except ValueError as exc:
        raise CriteriaError(str(exc)) from None
    parity = parse_parity(path, data.get("parity"))
    gate = parse_gate(path, data.get("gate"))
    dataset = str(data.get("dataset", ""))
    return Profile(
        path, dataset, plan, criteria, deltas, budgets, parity, gate, candidates, run, false_alarms, expected_insane
    )
