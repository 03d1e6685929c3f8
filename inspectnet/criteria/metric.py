"""A metric's criterion and its verdict: ``{ min = X }``, ``{ reference = R, tolerance = T }``, ``{ min_lower = X }``
or the placeholder ``{ todo = "..." }``, and beside them a false-alarm limit and a known degenerate threshold
(``[criteria.<method>.<category>]`` tables)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspectnet.criteria.tables import CriteriaError, checked_table
from inspectnet.names import METRICS

FALSE_ALARM_KEY = "false_alarm_rate"  # beside the metrics in a [criteria.<method>.<category>] table
SANITY_KEY = "threshold_sanity"  # { expected_failure = "why" }: a known degenerate threshold, reported as xfail


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


def parse_metric_tables(path: Path, tables: dict[str, Any], where: str) -> dict[str, Criterion]:
    return {m: _criterion(path, f"{where}.{m}", m, v) for m, v in checked_table(path, tables, METRICS, where).items()}


def parse_false_alarm(path: Path, where: str, spec: Any) -> FalseAlarmLimit:
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


def parse_expected_failure(path: Path, where: str, spec: Any) -> str:
    """``{ expected_failure = "why" }`` at ``where``: the reason, which must say something."""
    key = f"{where}.{SANITY_KEY}"
    if not isinstance(spec, dict) or set(spec) != {"expected_failure"} or not str(spec["expected_failure"]).strip():
        raise CriteriaError(
            f'{path}: {key} must be a table like {{ expected_failure = "why the threshold is degenerate" }}'
        )
    return str(spec["expected_failure"]).strip()
