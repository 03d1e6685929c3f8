"""What the card's sections share: the metric labels, lookups of base runs and the markdown table."""

from __future__ import annotations

from inspectnet.names import METRIC_LABELS, run_name
from inspectnet.records import DatasetInfo, EvalRecord
from inspectnet.report.cite import NOT_MEASURED
from inspectnet.report.load import ReportSet, Source

METRICS = tuple(METRIC_LABELS.items())  # (key, label) in the card's column order


def categories(reports: ReportSet) -> list[str]:
    return sorted({s.record.category for s in reports.of(EvalRecord) if s.record.method == "patchcore"})


def base(reports: ReportSet, method: str, category: str) -> Source[EvalRecord] | None:
    """The category's base model of ``method`` (first seed, the plan's coreset), by its run name."""
    name = run_name(method, category)
    return reports.one(EvalRecord, lambda r: r.run_name == name)


def dataset_of(reports: ReportSet) -> DatasetInfo | None:
    return next((s.record.dataset for s in reports.of(EvalRecord)), None)


def weights_kind(reports: ReportSet) -> str:
    kinds = sorted({s.record.weights.kind for s in reports.of(EvalRecord)})
    return ", ".join(kinds) if kinds else NOT_MEASURED


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]
