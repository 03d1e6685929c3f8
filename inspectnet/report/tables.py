"""What the card's sections share: the metric names, lookups of base runs and the markdown table."""

from __future__ import annotations

from inspectnet.names import METRIC_LABELS, run_name
from inspectnet.report.cite import NOT_MEASURED
from inspectnet.report.load import ReportSet, Source

METRICS = tuple(METRIC_LABELS.items())  # (key, label) in the card's column order


def categories(reports: ReportSet) -> list[str]:
    return sorted({s.data["category"] for s in reports.of("evaluation") if s.data["method"] == "patchcore"})


def base(reports: ReportSet, method: str, category: str) -> Source | None:
    return reports.one("evaluation", run_name=run_name(method, category))


def dataset_of(reports: ReportSet) -> dict[str, str]:
    for source in reports.of("evaluation"):
        return dict(source.data["dataset"])
    return {}


def weights_kind(reports: ReportSet) -> str:
    kinds = sorted({s.data["weights"].get("kind", "?") for s in reports.of("evaluation")})
    return ", ".join(kinds) if kinds else NOT_MEASURED


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]
