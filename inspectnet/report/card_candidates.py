"""The card's "Deployment candidates" section: per category, each cheaper model against its FP32 model."""

from __future__ import annotations

from collections.abc import Callable

from inspectnet.names import CANDIDATES, METRICS
from inspectnet.records import CandidateRecord
from inspectnet.report import FIGURES_DIR
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import table

FIGURE = f"{FIGURES_DIR}/candidates.png"
HEADER = ["candidate", "image AUROC drop", "pixel AUROC drop", "AUPRO drop", "label agreement", "mask IoU", "speed-up"]


def _order(source: Source[CandidateRecord]) -> tuple[str, int]:
    r = source.record
    return (r.category, CANDIDATES.index(r.candidate) if r.candidate in CANDIDATES else len(CANDIDATES))


def _drop(metric: str) -> Callable[[CandidateRecord], float]:
    return lambda r: r.drop[metric]


def candidates(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "deployment candidates"
    records = sorted(reports.of(CandidateRecord), key=_order)
    lines = ["## Deployment candidates", ""]
    if not records:
        return [*lines, NOT_MEASURED, ""]
    first = records[0]
    lines += [
        "Cheaper OpenVINO models built from each category's FP32 IR (INT8 by NNCF post-training quantisation "
        f"calibrated on {first.record.build.settings.get('calibration_images', 'the')} train/good images, never "
        "the test split; INT8 with the nearest-neighbour search and post-processing kept FP32; FP16 weights; bf16 "
        "inference where the CPU has BF16), each judged on the whole test split "
        f"({cite.num(first, lambda r: r.n_images, 'd', 'candidate test images')} images) against the FP32 OpenVINO "
        "model by the same exact metrics. Drop = FP32 minus candidate (negative: the candidate scored higher); "
        "label agreement and mask IoU are against the FP32 model's labels and masks; speed-up is FP32 time over "
        "the candidate's, both timed alternately in one process (median of per-quad ratios, sign-test "
        "interval); size is the candidate's IR over the FP32 IR.",
        "",
    ]
    for category in sorted({s.record.category for s in records}):
        rows = []
        reasons = []
        for s in (s for s in records if s.record.category == category):
            r = s.record
            label = f"{category} {r.candidate}"
            deltas = [cite.num(s, _drop(m), ".4f", f"{label} {m} drop") for m in METRICS]
            fast = r.speedup
            speed = (
                f"{cite.num(s, lambda x: x.speedup.ratio, '.2f', f'{label} speed-up')}x "
                f"[{fast.low:.2f}, {fast.high:.2f}]"
            )
            rows.append(
                [
                    r.candidate,
                    *deltas,
                    cite.num(s, lambda x: x.label_agreement, ".1%", f"{label} label agreement"),
                    cite.num(s, lambda x: x.mask_iou, ".3f", f"{label} mask IoU"),
                    speed,
                    cite.num(s, lambda x: x.size_ratio, ".2f", f"{label} size ratio"),
                    r.status,
                    f"`{s.name}`",
                ]
            )
            reasons += [f"- {r.candidate}: {f}" for f in r.failures]
        lines += [f"### {category}", "", *table([*HEADER, "size", "verdict", "record"], rows), ""]
        if reasons:
            lines += ["Rejected because:", "", *reasons, ""]
    if (reports.root / FIGURE).is_file():
        lines += [
            "Image AUROC against median latency per category: the FP32 runtimes at their latency record's medians, "
            "each candidate at FP32 OpenVINO's median divided by its speed-up (so both sit on one time scale).",
            "",
            f"![accuracy against median latency, FP32 runtimes and candidates]({FIGURE})",
            "",
        ]
    return lines
