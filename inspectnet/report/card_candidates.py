"""The card's "Deployment candidates" section: per category, each cheaper model against its FP32 model."""

from __future__ import annotations

from collections.abc import Callable

from inspectnet.names import CANDIDATES, METRIC_LABELS, METRICS
from inspectnet.records import CandidateRecord, IntervalInfo
from inspectnet.report import FIGURES_DIR
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import bounded, seed_of, table

FIGURE = f"{FIGURES_DIR}/candidates.png"
HEADER = ["candidate", "image AUROC drop", "pixel AUROC drop", "AUPRO drop", "label agreement", "mask IoU", "speed-up"]


def _drop_cell(s: Source[CandidateRecord], metric: str, label: str, cite: Citations) -> str:
    """A drop with its paired interval, both at the drop's precision."""
    drop = cite.num(s, _drop(metric), ".4f", f"{label} {metric} drop")
    return bounded(cite, s, _drop_interval(metric), drop, f"{label} {metric} drop", ".4f")


def _certifiable(r: CandidateRecord) -> str:
    """The metrics whose drop limit this split could certify at all (the paired interval narrower than it)."""
    if r.resolvable is None:
        return NOT_MEASURED
    shown = [METRIC_LABELS[m] for m in METRICS if r.resolvable.get(m)]
    return ", ".join(shown) if shown else "none"


def _order(source: Source[CandidateRecord]) -> tuple[str, int]:
    r = source.record
    return (r.category, CANDIDATES.index(r.candidate) if r.candidate in CANDIDATES else len(CANDIDATES))


def _drop(metric: str) -> Callable[[CandidateRecord], float]:
    return lambda r: r.drop[metric]


def _drop_interval(metric: str) -> Callable[[CandidateRecord], IntervalInfo | None]:
    return lambda r: r.drop_intervals[metric] if r.drop_intervals is not None else None


# (column, limit name, accessor, format); a limit the record leaves None is not judged
LIMITS: tuple[tuple[str, str, Callable[[CandidateRecord], object], str], ...] = (
    ("image AUROC drop ≤", "max_drop.image_auroc", lambda r: r.criteria.max_drop["image_auroc"], ".4f"),
    ("pixel AUROC drop ≤", "max_drop.pixel_auroc", lambda r: r.criteria.max_drop["pixel_auroc"], ".4f"),
    ("AUPRO drop ≤", "max_drop.aupro", lambda r: r.criteria.max_drop["aupro"], ".4f"),
    ("label agreement ≥", "min_label_agreement", lambda r: r.criteria.min_label_agreement, ".1%"),
    ("mask IoU ≥", "min_mask_iou", lambda r: r.criteria.min_mask_iou, ".3f"),
    ("speed-up ≥", "min_speedup", lambda r: r.criteria.min_speedup, ".2f"),
    ("size ≤", "max_size_ratio", lambda r: r.criteria.max_size_ratio, ".2f"),
)


def _criteria(records: list[Source[CandidateRecord]], cite: Citations) -> list[str]:
    """What each candidate must meet against its FP32 model (- : not judged): one row per candidate, or per
    category and candidate where the categories' limits differ."""
    distinct: dict[str, set[str]] = {}
    for s in records:
        distinct.setdefault(s.record.candidate, set()).add(repr(s.record.criteria))
    rows, shown = [], set()
    for s in records:
        r = s.record
        name = r.candidate if len(distinct[r.candidate]) == 1 else f"{r.category} {r.candidate}"
        if name in shown:
            continue
        shown.add(name)
        cells = [cite.num(s, get, fmt, f"{r.category} {r.candidate} {key}") for _, key, get, fmt in LIMITS]
        rows.append([name, *("-" if c == NOT_MEASURED else c for c in cells)])
    return table(["candidate", *(column for column, *_ in LIMITS)], rows)


def _ship(mine: list[Source[CandidateRecord]], cite: Citations) -> str:
    """The fastest accepted candidate of a category, or none."""
    accepted = [s for s in mine if s.record.status == "accepted"]
    if not accepted:
        return "**What to ship**: the FP32 model; no candidate was accepted."
    best = max(accepted, key=lambda s: s.record.speedup.ratio)
    r = best.record
    speed = cite.num(best, lambda x: x.speedup.ratio, ".2f", f"{r.category} {r.candidate} speed-up")
    size = cite.num(best, lambda x: x.size_ratio, ".2f", f"{r.category} {r.candidate} size ratio")
    why = " (its speed-up interval does not exclude no speed-up: it is accepted for its size)"
    return (
        f"**What to ship**: {r.candidate}, the fastest accepted candidate: {speed}x the FP32 model's speed at "
        f"{size} of its size{why if r.speedup.low <= 1 else ''}."
    )


def candidates(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "deployment candidates"
    records = sorted(reports.of(CandidateRecord), key=_order)
    lines = ["## Deployment candidates", ""]
    if not records:
        return [*lines, NOT_MEASURED, ""]
    first = records[0]
    quantisation_images = cite.num(first, lambda r: r.build.settings["calibration_images"], "d", "calibration images")
    runs = sorted({(s.record.category, s.record.run_name) for s in records})
    built_from = ", ".join(f"`{run}` ({seed_of(reports, run, cite)})" for _, run in runs)
    lines += [
        "Cheaper OpenVINO models built from each category's FP32 IR (INT8 by NNCF post-training quantisation "
        f"calibrated on {quantisation_images} train/good images, never "
        "the test split; INT8 with the nearest-neighbour search and post-processing kept FP32; FP16 weights; bf16 "
        "inference where the CPU has BF16), each judged on the whole test split "
        f"({cite.num(first, lambda r: r.n_images, 'd', 'candidate test images')} images) against the FP32 OpenVINO "
        "model by the same exact metrics. Drop = FP32 minus candidate (negative: the candidate scored higher); "
        "label agreement and mask IoU are against the FP32 model's labels and masks; speed-up is FP32 time over "
        "the candidate's, both timed alternately in one process (median of per-quad ratios, sign-test "
        "interval; where no verdict rests on it, because another criterion already rejects the candidate or its "
        "criteria set no minimum, it is timed on a short screening run, marked (screening), and not judged); "
        "size is the candidate's IR over the FP32 IR. Each drop "
        "carries its paired 95% interval (both "
        "models on the same images: DeLong for image AUROC, the image bootstrap for the pixel metrics); a drop's "
        "limit is certifiable on this split only where that interval is narrower than the limit (its half-width "
        "below it): elsewhere the split cannot tell a drop at the limit from none.",
        "",
        f"Built from: {built_from}.",
        "",
        "The criteria each candidate is judged by (the profile's `[candidates]` tables; - : not judged):",
        "",
        *_criteria(records, cite),
        "",
    ]
    for category in sorted({s.record.category for s in records}):
        rows = []
        reasons = []
        mine = [s for s in records if s.record.category == category]
        for s in mine:
            r = s.record
            label = f"{category} {r.candidate}"
            deltas = [_drop_cell(s, m, label, cite) for m in METRICS]
            low = cite.num(s, lambda x: x.speedup.low, ".2f", f"{label} speed-up interval low")
            high = cite.num(s, lambda x: x.speedup.high, ".2f", f"{label} speed-up interval high")
            speed = f"{cite.num(s, lambda x: x.speedup.ratio, '.2f', f'{label} speed-up')}x [{low}, {high}]"
            speed += " (screening)" if r.screened else ""
            rows.append(
                [
                    r.candidate,
                    *deltas,
                    cite.num(s, lambda x: x.label_agreement, ".1%", f"{label} label agreement"),
                    cite.num(s, lambda x: x.mask_iou, ".3f", f"{label} mask IoU"),
                    speed,
                    cite.num(s, lambda x: x.size_ratio, ".2f", f"{label} size ratio"),
                    r.status,
                    _certifiable(r),
                    f"`{s.name}`",
                ]
            )
            reasons += [
                f"- {r.candidate}: {cite.num(s, lambda x: x.failures[k], 's', f'{label} failure')}"
                for k in range(len(r.failures))
            ]
        lines += [f"### {category}", "", *table([*HEADER, "size", "verdict", "certifiable drops", "record"], rows), ""]
        if reasons:
            lines += ["Rejected because:", "", *reasons, ""]
        lines += [_ship(mine, cite), ""]
    if (reports.root / FIGURE).is_file():
        lines += [
            "Image AUROC against median latency per category: the FP32 runtimes at their latency record's medians, "
            "each candidate at FP32 OpenVINO's median divided by its speed-up (so both sit on one time scale).",
            "",
            f"![accuracy against median latency, FP32 runtimes and candidates]({FIGURE})",
            "",
        ]
    return lines
