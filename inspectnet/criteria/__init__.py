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

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from inspectnet.criteria.candidates import CandidatesProfile, parse_candidates
from inspectnet.criteria.latency import Budget, DeviceBudgets, parse_budgets
from inspectnet.criteria.project import RunTable, parse_run
from inspectnet.names import METHODS, METRICS, Method, RunKey, as_method, is_method

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
FALSE_ALARM_KEY = "false_alarm_rate"  # beside the metrics in a [criteria.<method>.<category>] table
SANITY_KEY = "threshold_sanity"  # { expected_failure = "why" }: a known degenerate threshold, reported as xfail
# per dataset kind; a user's own dataset in MVTec AD layout (folder) starts from MVTec AD's categories and numbers
PROFILES = {"synthetic": "synthetic.toml", "mvtec_ad": "mvtec_ad.toml", "folder": "mvtec_ad.toml"}


class CriteriaError(ValueError):
    """A profile that cannot be used; one line naming the file and the key."""


@dataclass(frozen=True)
class Criterion:
    """One metric's minimum. A placeholder (``placeholder`` set: the file and table it sits in; ``todo``: the
    file's own words) has no minimum to meet (``minimum`` is +inf) and fails every check."""

    metric: str
    minimum: float
    reference: float | None = None
    tolerance: float | None = None
    placeholder: str | None = None
    todo: str | None = None
    on_lower: bool = False  # ``{ min_lower = X }``: the 95% interval's lower bound must reach the minimum

    @classmethod
    def unset(cls, metric: str, where: str, todo: str) -> Criterion:
        """The placeholder ``{ todo = "..." }`` of ``metric`` in ``where``: ``<file> [criteria.<method>.<cat>]``."""
        return cls(metric, math.inf, placeholder=where, todo=todo)

    @property
    def is_placeholder(self) -> bool:
        return self.placeholder is not None

    def check(self, value: float, interval: Bound | None = None) -> Verdict:
        """``value`` (and its interval on the test split) against the minimum: the point value, or the interval's
        lower bound for ``min_lower`` (which fails without an interval to judge)."""
        judged = value if not self.on_lower else interval.low if interval is not None else -math.inf
        return Verdict(self, value, not self.is_placeholder and judged >= self.minimum, interval)

    def shown_minimum(self, decimals: int = 4) -> str:
        """The minimum as a number with ``decimals`` places, or "unset (a placeholder)"."""
        return "unset (a placeholder)" if self.is_placeholder else f"{self.minimum:.{decimals}f}"

    def describe(self) -> str:
        if self.is_placeholder:
            return f"no minimum: a placeholder in {self.placeholder} ({self.todo})"
        if self.on_lower:
            return f"minimum {self.minimum:.4f} on the 95% interval's lower bound (min_lower)"
        if self.reference is not None and self.tolerance is not None:
            return f"minimum {self.minimum:.4f} (reference {self.reference:.4f} - tolerance {self.tolerance:.4f})"
        return f"minimum {self.minimum:.4f}"


@dataclass(frozen=True)
class Bound:
    """A measured value's 95% interval on its test split, and the split's size."""

    low: float
    high: float
    good: int
    defective: int


@dataclass(frozen=True)
class Verdict:
    criterion: Criterion
    value: float
    passed: bool
    interval: Bound | None = None

    @property
    def margin(self) -> float:
        """The judged number (the value, or its lower bound for min_lower) less the minimum (-inf for a
        placeholder or a min_lower without an interval: nothing meets it)."""
        if self.criterion.on_lower:
            return self.interval.low - self.criterion.minimum if self.interval is not None else -math.inf
        return self.value - self.criterion.minimum

    def message(self, subject: str, record: Path | str | None = None) -> str:
        where = f"; record: {record}" if record is not None else ""
        c = self.criterion
        if c.is_placeholder:
            return (
                f"{subject}: {c.metric} = {self.value:.4f} measured, not judged: a placeholder in {c.placeholder}; "
                f"replace it with {c.metric} = {{ min = X }} or {{ reference = R, tolerance = T }} ({c.todo}){where}"
            )
        relation = ">=" if self.passed else "<"
        measured = f"{c.metric} = {self.value:.4f}"
        if self.interval is not None:
            b = self.interval
            measured += (
                f" [95% interval {b.low:.4f}, {b.high:.4f} on {b.good + b.defective} test images: {b.good} good, "
                f"{b.defective} defective]"
            )
        elif c.on_lower:
            measured += " (no interval recorded: min_lower cannot be judged)"
        return f"{subject}: {measured} {relation} {c.describe()} (margin {self.margin:+.4f}){where}"


@dataclass(frozen=True)
class FalseAlarmLimit:
    """``false_alarm_rate = { max = X }``: the most the false-alarm rate's upper bound may be, and where it is
    set (the profile and its ``criteria.<method>.<category>`` table)."""

    maximum: float
    path: Path
    table: str

    @property
    def where(self) -> str:
        """The key, for a message: ``<file> [criteria.<method>.<category>] false_alarm_rate``."""
        return f"{self.path} [{self.table}] {FALSE_ALARM_KEY}"

    @property
    def source(self) -> str:
        """The key, for a record: the profile's file name, not its path."""
        return f"{self.path.name} [{self.table}] {FALSE_ALARM_KEY}"


@dataclass(frozen=True)
class Plan:
    methods: tuple[Method, ...]
    categories: tuple[str, ...]
    seeds: tuple[int, ...]
    coreset: float
    extra_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    coreset_sweep: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def base_run(self, method: str, category: str) -> RunKey:
        """The model a category's latency and parity are measured on: first seed, the plan's coreset."""
        return RunKey(as_method(method), category, self.seeds[0])

    def coreset_of(self, run: RunKey) -> float | None:
        """The coreset ratio ``run`` is trained at: its sweep ratio, else the plan's (PatchCore only)."""
        if run.method != "patchcore":
            return None
        return run.coreset if run.coreset is not None else self.coreset

    def runs(self, categories: list[str] | None = None, seeds: list[int] | None = None) -> list[RunKey]:
        """Every model the plan trains, restricted to ``categories``; ``seeds`` replaces the plan's seeds."""
        keys: list[RunKey] = []
        for category in categories or list(self.categories):
            for method in self.methods:
                if seeds is not None:
                    run_seeds = tuple(seeds)
                elif method == "patchcore":
                    run_seeds = self.seeds + tuple(s for s in self.extra_seeds.get(category, ()) if s not in self.seeds)
                else:
                    run_seeds = self.seeds
                keys.extend(RunKey(method, category, s) for s in run_seeds)
                if method == "patchcore":
                    sweep = self.coreset_sweep.get(category, ())
                    keys.extend(RunKey(method, category, run_seeds[0], c) for c in sweep if c != self.coreset)
        return keys

    def judged(
        self,
        given: Iterable[RunKey],
        categories: Iterable[str] | None,
        seeds: Iterable[int] | None,
        train_missing: bool,
    ) -> list[RunKey]:
        """The runs a session judges: the given checkpoints' runs (and, with ``train_missing``, the plan's runs
        of the categories without one); the plan's runs when no checkpoint was given."""
        planned = self.runs(list(categories) if categories else None, list(seeds) if seeds else None)
        given = list(given)
        if not given:
            return planned
        have = {r.category for r in given}
        return given + ([r for r in planned if r.category not in have] if train_missing else [])


@dataclass(frozen=True)
class ParityCriteria:
    """Exported models against the torch model: max abs error within ``tolerance``, zero flips, on ``images``."""

    tolerance: float = 1e-3
    images: int = 20


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


def _table(path: Path, value: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    """``value`` as a table whose keys are all in ``allowed``; ``where`` is its dotted key in the file."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CriteriaError(f"{path}: {where} must be a table")
    for k in value:
        if k not in allowed:
            raise CriteriaError(f"{path}: unknown key {where}.{k} (known: {', '.join(allowed)})")
    return value


def _criterion(path: Path, where: str, metric: str, spec: Any) -> Criterion:
    if not isinstance(spec, dict) or not spec:
        raise CriteriaError(f"{path}: {where} must be a table like {{ min = 0.9 }}")
    unknown = set(spec) - {"min", "min_lower", "reference", "tolerance", "note", "todo"}
    if unknown:
        known = "min, min_lower, reference, tolerance, note, todo"
        raise CriteriaError(f"{path}: unknown key {where}.{sorted(unknown)[0]} (known: {known})")
    if "todo" in spec:
        todo = spec["todo"]
        if set(spec) - {"todo", "note"}:
            raise CriteriaError(f"{path}: {where}: todo marks a placeholder; remove it where min or reference is set")
        if not isinstance(todo, str) or not todo.strip():
            raise CriteriaError(f"{path}: {where}.todo must be a non-empty string, got {todo!r}")
        table = where.rsplit(".", 1)[0]
        return Criterion.unset(metric, f"{path} [{table}]", todo.strip())
    numbers = {k: v for k, v in spec.items() if k != "note"}
    for k, v in numbers.items():
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise CriteriaError(f"{path}: {where}.{k} must be a number, got {v!r}")
    if len({"min", "min_lower", "reference"} & set(numbers)) > 1 or (
        "tolerance" in numbers and "reference" not in numbers
    ):
        raise CriteriaError(f"{path}: {where}: give one of min, min_lower, or reference + tolerance")
    if "min_lower" in numbers:
        return Criterion(metric, float(numbers["min_lower"]), on_lower=True)
    if "min" in numbers:
        return Criterion(metric, float(numbers["min"]))
    if "reference" in numbers and "tolerance" in numbers:
        ref, tol = float(numbers["reference"]), float(numbers["tolerance"])
        return Criterion(metric, ref - tol, ref, tol)
    raise CriteriaError(f"{path}: {where}: needs min, min_lower, or reference and tolerance")


def _metric_tables(path: Path, tables: dict[str, Any], where: str) -> dict[str, Criterion]:
    return {m: _criterion(path, f"{where}.{m}", m, v) for m, v in _table(path, tables, METRICS, where).items()}


def _false_alarm(path: Path, where: str, spec: Any) -> FalseAlarmLimit:
    """``{ max = X }`` (and an optional note) at ``where`` (``criteria.<method>.<category>``)."""
    key = f"{where}.{FALSE_ALARM_KEY}"
    if not isinstance(spec, dict) or "max" not in spec:
        raise CriteriaError(f"{path}: {key} must be a table like {{ max = 0.2 }}")
    for k in spec:
        if k not in ("max", "note"):
            raise CriteriaError(f"{path}: unknown key {key}.{k} (known: max, note)")
    limit = spec["max"]
    if not isinstance(limit, int | float) or isinstance(limit, bool) or not 0 < limit <= 1:
        raise CriteriaError(f"{path}: {key}.max must be a number in (0, 1], got {limit!r}")
    return FalseAlarmLimit(float(limit), path, where)


def _expected_failure(path: Path, where: str, spec: Any) -> str:
    """``{ expected_failure = "why" }`` at ``where``: the reason, which must say something."""
    key = f"{where}.{SANITY_KEY}"
    if not isinstance(spec, dict) or set(spec) != {"expected_failure"} or not str(spec["expected_failure"]).strip():
        raise CriteriaError(
            f'{path}: {key} must be a table like {{ expected_failure = "why the threshold is degenerate" }}'
        )
    return str(spec["expected_failure"]).strip()


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
    plan = _plan(path, data)
    known = set(plan.categories) | set(categories_known or ())
    criteria: dict[tuple[str, str], dict[str, Criterion]] = {}
    false_alarms: dict[tuple[str, str], FalseAlarmLimit] = {}
    expected_insane: dict[tuple[str, str], str] = {}
    for method, per_cat in _table(path, data.get("criteria"), METHODS, "criteria").items():
        for category, tables in _table(path, per_cat, tuple(sorted(known)), f"criteria.{method}").items():
            where = f"criteria.{method}.{category}"
            metrics = dict(_table(path, tables, (*METRICS, FALSE_ALARM_KEY, SANITY_KEY), where))
            if FALSE_ALARM_KEY in metrics:
                false_alarms[(method, category)] = _false_alarm(path, where, metrics.pop(FALSE_ALARM_KEY))
            if SANITY_KEY in metrics:
                expected_insane[(method, category)] = _expected_failure(path, where, metrics.pop(SANITY_KEY))
            criteria[(method, category)] = _metric_tables(path, metrics, where)
    deltas = {
        category: _metric_tables(path, tables, f"delta.{category}")
        for category, tables in _table(path, data.get("delta"), tuple(sorted(known)), "delta").items()
    }
    try:
        budgets = parse_budgets(path, data.get("latency"))
        candidates = parse_candidates(path, data.get("candidates"))
        run = parse_run(path, data.get("run"))
    except ValueError as exc:
        raise CriteriaError(str(exc)) from None
    parity = _parity(path, data.get("parity"))
    gate = _gate(path, data.get("gate"))
    dataset = str(data.get("dataset", ""))
    return Profile(
        path, dataset, plan, criteria, deltas, budgets, parity, gate, candidates, run, false_alarms, expected_insane
    )


def _gate(path: Path, value: Any) -> GateCriteria:
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
    table = _table(path, value, keys, "gate")
    defaults = GateCriteria()
    tolerance = dict(defaults.accuracy_tolerance)
    for metric, v in _table(path, table.get("accuracy_tolerance"), METRICS, "gate.accuracy_tolerance").items():
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


def _parity(path: Path, value: Any) -> ParityCriteria:
    table = _table(path, value, ("tolerance", "images", "note"), "parity")
    tolerance, images = table.get("tolerance", 1e-3), table.get("images", 20)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
        raise CriteriaError(f"{path}: parity.tolerance must be a number >= 0, got {tolerance!r}")
    if not isinstance(images, int) or isinstance(images, bool) or images < 2:
        raise CriteriaError(f"{path}: parity.images must be an integer >= 2, got {images!r}")
    return ParityCriteria(float(tolerance), images)


def _plan(path: Path, data: dict[str, Any]) -> Plan:
    keys = ("methods", "categories", "seeds", "coreset", "extra_seeds", "coreset_sweep")
    plan = _table(path, data.get("plan"), keys, "plan")
    methods: list[Method] = []
    for m in plan.get("methods", METHODS):
        if not is_method(m):
            raise CriteriaError(f"{path}: plan.methods: unknown method {m!r} (known: {', '.join(METHODS)})")
        methods.append(m)
    categories = tuple(plan.get("categories", ()))
    if not categories:
        raise CriteriaError(f"{path}: plan.categories is empty; list the categories to run")
    seeds = tuple(int(s) for s in plan.get("seeds", (0,)))
    coreset = float(plan.get("coreset", 0.01))
    extra = {
        c: tuple(int(s) for s in v)
        for c, v in _table(path, plan.get("extra_seeds"), categories, "plan.extra_seeds").items()
    }
    sweep = {
        c: tuple(float(r) for r in v)
        for c, v in _table(path, plan.get("coreset_sweep"), categories, "plan.coreset_sweep").items()
    }
    for ratio in (coreset, *(r for v in sweep.values() for r in v)):
        if not 0 < ratio <= 1:
            raise CriteriaError(f"{path}: coreset ratio {ratio} is not in (0, 1]")
    return Plan(tuple(methods), categories, seeds, coreset, extra, sweep)
