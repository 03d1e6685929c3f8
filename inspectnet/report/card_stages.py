"""The card's parity stage tables: where an export would stop agreeing with the torch model, stage by stage
(``measure.stages``), and the deployment path (anomalib's own inference on the original files)."""

from __future__ import annotations

from inspectnet.measure.stages import FACTOR, shown
from inspectnet.records import DeploymentPathRecord, ParityRecord
from inspectnet.report.cite import Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import table

HEADER = ["stage", "max abs error", "torch's own float32 error", "divergence limit", "check"]


def _row(s: Source[ParityRecord], i: int, cite: Citations) -> list[str]:
    stages = s.record.stages or []
    row = stages[i]
    label = f"{s.record.category} {s.record.runtime} {row.stage}"
    if row.flips is not None:
        return [
            shown(row.stage),
            f"{cite.num(s, lambda r: r.stages[i].flips, 'd', f'{label} flips')} flips",  # type: ignore[index]
            "",
            "",
            "",
        ]
    if row.max_abs_error is None:
        return [shown(row.stage), cite.num(s, lambda r: r.stages[i].note, "s", f"{label} note"), "", "", ""]  # type: ignore[index]
    return [
        shown(row.stage),
        cite.num(s, lambda r: r.stages[i].max_abs_error, ".1e", f"{label} max abs error"),  # type: ignore[index]
        cite.num(s, lambda r: r.stages[i].reference_fp32_error, ".1e", f"{label} fp32 error"),  # type: ignore[index]
        cite.num(s, lambda r: r.stages[i].divergence_limit, ".1e", f"{label} divergence limit"),  # type: ignore[index]
        "**diverged**" if row.diverged else "",
    ]


def _worst(records: list[Source[ParityRecord]], stage: str) -> tuple[Source[ParityRecord], int] | None:
    """The check whose error at ``stage`` comes closest to its divergence limit (flips: the most)."""
    best: tuple[float, Source[ParityRecord], int] | None = None
    for s in records:
        for i, row in enumerate(s.record.stages or []):
            if row.stage != stage:
                continue
            if row.flips is not None:
                closeness = float(row.flips)
            elif row.max_abs_error is not None and row.divergence_limit:
                closeness = row.max_abs_error / row.divergence_limit
            else:
                continue
            if best is None or closeness > best[0]:
                best = (closeness, s, i)
    return (best[1], best[2]) if best is not None else None


def stage_tables(records: list[Source[ParityRecord]], cite: Citations) -> list[str]:
    traced = [s for s in records if s.record.stages]  # made before stages were traced: None
    if not traced:
        return ["", "Stages: these records were made before InspectNet traced each stage of the deployed model."]
    lines = [
        "",
        "### Where an export would stop agreeing",
        "",
        "Each stage of the deployed model, traced in both the torch model and the exported graph (its stage "
        "tensors added as outputs at run time). A stage diverges when the export's max abs error there exceeds the "
        f"divergence limit: {FACTOR:g} x the torch model's own float32 error at that stage (against float64), "
        "floored at float32 resolution; a failing check names the first stage that diverged. Below, per stage, the "
        "check that came closest to its limit:",
        "",
    ]
    rows = []
    for stage in (row.stage for row in traced[0].record.stages or []):
        worst = _worst(traced, stage)
        if worst is not None:
            s, i = worst
            rows.append([*_row(s, i, cite)[:4], f"{s.record.category} {s.record.runtime} ({s.record.device})"])
    lines += table(HEADER, rows)
    for s in traced:
        if s.record.status != "parity_clean":
            diagnosis = cite.num(s, lambda r: r.diagnosis, "s", f"{s.record.category} {s.record.runtime} diagnosis")
            lines += ["", f"**{s.record.category} / {s.record.runtime} ({s.record.device})**: {diagnosis}", ""]
            lines += table(HEADER, [_row(s, i, cite) for i in range(len(s.record.stages or []))])
    return lines


def deployment_paths(reports: ReportSet, cite: Citations) -> list[str]:
    records = sorted(reports.of(DeploymentPathRecord), key=lambda s: (s.record.category, s.record.runtime))
    if not records:
        return []
    lines = [
        "",
        "### The deployment path",
        "",
        "The given checkpoint through anomalib's Lightning predict and each given export through anomalib's "
        "OpenVINOInferencer, on the original image files:",
        "",
    ]
    rows = []
    for s in records:
        p, label = s.record, f"{s.record.category} {s.record.runtime} deployment path"
        rows.append(
            [
                p.category,
                f"{p.runtime} export ({p.export_path.get('inference_precision_hint')})",
                f"{cite.num(s, lambda r: r.label_flips, 'd', f'{label} label flips')}/"
                f"{cite.derived([s], len(p.images), 'd', f'{label} images', 'len(images)')}",
                cite.num(s, lambda r: r.score_error, ".2e", f"{label} score error"),
                cite.num(s, lambda r: r.mask_iou_min, ".3f", f"{label} min mask IoU"),
                p.status,
                cite.num(s, lambda r: r.diagnosis, "s", f"{label} diagnosis"),
            ]
        )
    header = ["category", "export (precision run)", "label flips", "score error", "min mask IoU", "status", "why"]
    return lines + table(header, rows)
