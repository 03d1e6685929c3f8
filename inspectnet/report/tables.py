"""What the card's sections share: the metric labels, lookups of base runs and the markdown table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from inspectnet.names import METRIC_LABELS, run_name
from inspectnet.records import AblationRecord, DatasetInfo, EvalRecord, IntervalInfo
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source

T = TypeVar("T")
METRICS = tuple(METRIC_LABELS.items())  # (key, label) in the card's column order
METHOD_LABELS = {"patchcore": "PatchCore", "padim": "PaDiM"}


def categories(reports: ReportSet) -> list[str]:
    return sorted({s.record.category for s in reports.of(EvalRecord) if s.record.method == "patchcore"})


def base(reports: ReportSet, method: str, category: str) -> Source[EvalRecord] | None:
    """The category's base model of ``method`` (first seed, the plan's coreset), by its run name."""
    name = run_name(method, category)
    return reports.one(EvalRecord, lambda r: r.run_name == name)


def bounded(
    cite: Citations,
    source: Source[T] | None,
    get: Callable[[T], IntervalInfo | None],
    value: str,
    label: str,
    fmt: str = ".2f",
) -> str:
    """``value`` with its 95% interval ``[low, high]`` (the record's ``get``), each bound cited; the value alone
    where the record holds no interval (made before intervals, or not on a shared split)."""
    if source is None or value == NOT_MEASURED:
        return value
    try:
        found = get(source.record)
    except (KeyError, TypeError):
        found = None
    if found is None:
        return value
    low = cite.num(source, lambda r: get(r).low, fmt, f"{label} 95% low")  # type: ignore[union-attr]
    high = cite.num(source, lambda r: get(r).high, fmt, f"{label} 95% high")  # type: ignore[union-attr]
    return f"{value} [{low}, {high}]"


def method_metric(
    reports: ReportSet, method: str, category: str, key: str, cite: Citations, interval: bool = True
) -> str:
    """A method's ``key`` on ``category`` as the summary tables show it: the mean over the plan's seeds (the
    ablation record), or the base run's value where there is no ablation record; with its 95% interval on the
    test split unless ``interval`` is False (the model-index's bare value)."""
    label = f"{METHOD_LABELS[method]} {category} {METRIC_LABELS[key]}"
    ablation = reports.one(AblationRecord, lambda r: r.category == category)
    if ablation is not None and key in getattr(ablation.record, method):
        mean = cite.num(ablation, lambda r: getattr(r, method)[key].mean, ".4f", f"{label} mean over seeds")
        return (
            bounded(cite, ablation, lambda r: getattr(r, method)[key].interval, mean, f"{label} mean")
            if interval
            else mean
        )
    source = base(reports, method, category)
    value = cite.num(source, lambda r: r.metrics[key], ".4f", label)
    return bounded(cite, source, lambda r: r.intervals[key], value, label) if interval else value  # type: ignore[index]


def seeds_label(reports: ReportSet, method: str, category: str, cite: Citations) -> str:
    """What a method's summary numbers for ``category`` are: "mean over N seeds" or "single seed"."""
    ablation = reports.one(AblationRecord, lambda r: r.category == category)
    aggregates = getattr(ablation.record, method) if ablation is not None else {}
    if "image_auroc" not in aggregates or aggregates["image_auroc"].n == 1:
        return "single seed"
    n = cite.num(ablation, lambda r: getattr(r, method)["image_auroc"].n, "d", f"{method} {category} seeds")
    return f"mean over {n} seeds"


def seed_of(reports: ReportSet, run: str, cite: Citations) -> str:
    """The seed of the evaluated run ``run`` (the model a parity check or a candidate was built from)."""
    source = reports.one(EvalRecord, lambda r: r.run_name == run)
    if source is None:
        return "seed not recorded"
    return f"seed {cite.num(source, lambda r: r.seed, 'd', f'{run} seed')}"


def dataset_of(reports: ReportSet) -> DatasetInfo | None:
    return next((s.record.dataset for s in reports.of(EvalRecord)), None)


def weights_kind(reports: ReportSet) -> str:
    kinds = sorted({s.record.weights.kind for s in reports.of(EvalRecord)})
    return ", ".join(kinds) if kinds else NOT_MEASURED


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]
