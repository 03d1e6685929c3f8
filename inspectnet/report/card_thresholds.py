"""The card's "Thresholds" section: per model, the deployed image threshold against its raw test scores, the
false alarms it makes on normal test images, and why it is not sane where it is not."""

from __future__ import annotations

from inspectnet.records import ThresholdRecord
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import table

HEADER = [
    "run",
    "thresholds from",
    "image threshold",
    "lowest normal",
    "highest score",
    "false alarms",
    "rate",
    "upper bound",
    "limit",
    "verdict",
    "record",
]
ORIGIN = {"checkpoint": "checkpoint", "inspectnet": "InspectNet (test split)"}


def _order(source: Source[ThresholdRecord]) -> tuple[str, str, str]:
    r = source.record
    return (r.category, r.method, r.run_name)


def _row(s: Source[ThresholdRecord], cite: Citations) -> list[str]:
    r, run = s.record, s.record.run_name
    flagged = cite.num(s, lambda r: r.facts.false_alarms, "d", f"{run} false alarms")
    normal = cite.num(s, lambda r: r.facts.normal_images, "d", f"{run} normal test images")
    limit = "none"
    if r.limit is not None:
        limit = cite.num(s, lambda r: r.limit.max, "g", f"{run} false-alarm limit")  # type: ignore[union-attr]
    return [
        run,
        ORIGIN.get(r.thresholds_from, r.thresholds_from),
        cite.num(s, lambda r: r.calibration.image_threshold, ".4f", f"{run} image threshold"),
        cite.num(s, lambda r: r.facts.lowest_normal, ".4f", f"{run} lowest normal test score"),
        cite.num(s, lambda r: r.facts.highest_score, ".4f", f"{run} highest test score"),
        f"{flagged}/{normal}",
        cite.num(s, lambda r: r.facts.false_alarm_rate, ".3f", f"{run} false-alarm rate"),
        cite.num(s, lambda r: r.facts.false_alarm_upper, ".3f", f"{run} false-alarm rate 95% upper bound"),
        limit,
        "sane" if r.sane else "**fails**",
        f"`{s.name}`",
    ]


def thresholds(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "thresholds"
    records = sorted(reports.of(ThresholdRecord), key=_order)
    lines = ["## Thresholds", ""]
    if not records:
        return [*lines, NOT_MEASURED, ""]
    lines += [
        "The deployed image threshold of each model against its raw test scores (a model flags an image whose raw "
        "score is above it). Sane: finite, above the lowest normal test score and below the highest test score, "
        "with normalisation bounds min < max. False alarms are the normal test images flagged; a profile's limit "
        "(`false_alarm_rate = { max = X }`) is judged on the rate's exact (Clopper-Pearson) upper bound at "
        f"{cite.num(records[0], lambda r: r.facts.confidence, '.0%', 'false-alarm bound confidence')} confidence. "
        "InspectNet calibrates its own models on this test split (F1-adaptive), so their rates are in-sample, "
        "not a held-out estimate; a given checkpoint keeps its own thresholds.",
        "",
        *table(HEADER, [_row(s, cite) for s in records]),
        "",
    ]
    failures = [
        f"- {s.record.run_name}: {cite.num(s, lambda r: r.failures[i], 's', f'{s.record.run_name} failure')}"
        for s in records
        for i in range(len(s.record.failures))
    ]
    if failures:
        lines += ["Not sane because:", "", *failures, ""]
    return lines
