"""Builders of the records that compare a deployed model with its reference: parity, the deployment path,
deployment candidates and the parity margin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.builders.blocks import (
    block,
    calibration_info,
    environment_info,
    interval_info,
    provenance,
    settings_block,
    speedup_info,
    stage_difference_info,
)
from inspectnet.records import (
    AmbiguousFlips,
    Band,
    CandidateBuild,
    CandidateLimits,
    CandidateRecord,
    DeploymentPathRecord,
    EvalRecord,
    ExportInfo,
    Fp32Error,
    GivenExport,
    MarginCategory,
    ParityImage,
    ParityMarginRecord,
    ParityRecord,
    PathImage,
    Perturbations,
    StageError,
    TiedScore,
    WayOutInfo,
    now,
)

if TYPE_CHECKING:
    from inspectnet.criteria.candidates import CandidateCriteria
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.deploy.candidates import Built
    from inspectnet.measure.candidates import Agreement, SpeedUp
    from inspectnet.measure.deployment import PathComparison
    from inspectnet.measure.intervals import Interval
    from inspectnet.measure.parity import ParityResult
    from inspectnet.measure.stages import StageRow


AMBIGUOUS_DEFINITION = (
    "flips where the reference lies within its own float32 error (against float64 on the same images) of the "
    "normalised threshold 0.5, or where a tied choice of the score gives the candidate's label; reported, not "
    "counted against parity"
)


FP32_DEFINITION = (
    "max abs error of each side against the same deployed model in float64 on the CPU, same images (on a tied "
    "image, to the nearest legitimate score)"
)


def tied_scores(result: ParityResult, band: float | None = None) -> list[TiedScore]:
    """The result's images on a jump of the score, each with its legitimate answers (and the tie band)."""
    out = []
    for entry in result.ambiguous_scores:
        data = dict(entry) | ({"band": band} if band is not None else {})
        out.append(block(TiedScore, data))
    return out


def fp32_error(result: ParityResult, definition: str | None = FP32_DEFINITION) -> Fp32Error:
    errors = result.reference_fp32_error
    return Fp32Error(errors["reference"], errors["candidate"], definition)


def stage_error(row: StageRow) -> StageError:
    """One row of the stage table (``measure.stages``); a label or mask stage counts flips instead of a limit."""
    return StageError(
        stage=row.stage,
        max_abs_error=row.error,
        reference_fp32_error=row.band,
        reference_max_abs=row.scale,
        divergence_limit=row.limit if row.flips is None else None,
        flips=row.flips,
        diverged=row.diverged,
        note=row.note,
    )


def candidate_limits(limits: CandidateCriteria) -> CandidateLimits:
    """What a candidate is held to (None: measured, not judged)."""
    return CandidateLimits(
        max_drop=dict(limits.max_drop),
        min_label_agreement=limits.min_label_agreement,
        min_mask_iou=limits.min_mask_iou,
        min_speedup=limits.min_speedup,
        max_size_ratio=limits.max_size_ratio,
    )


def parity_record(
    *,
    evaluation: EvalRecord,
    runtime: str,
    device: str,
    images: Sequence[tuple[str, bool]],
    result: ParityResult,
    tie_band: float,
    runtime_settings: Mapping[str, object],
    export: ExportInfo | GivenExport,
    calibration: Calibration,
    environment_device: str,
    way_out: Mapping[str, object] | None = None,
) -> ParityRecord:
    """One runtime against the torch model on ``images`` (path, anomalous), with the reference's own error."""
    return ParityRecord(
        **provenance(evaluation, environment_device),
        runtime=runtime,
        device=device,
        reference=f"the trained anomalib torch model, eager fp32 on {device}, same images at batch 1",
        images=[ParityImage(path, anomalous) for path, anomalous in images],
        status=result.status,
        tolerance=result.tolerance,
        n_images=result.n_images,
        max_abs_error=result.max_abs_error,
        label_flips=result.label_flips,
        mask_pixel_flips=result.mask_pixel_flips,
        mask_pixels=result.mask_pixels,
        ambiguous_flips=AmbiguousFlips(
            labels=result.ambiguous_label_flips,
            mask_pixels=result.ambiguous_mask_pixel_flips,
            band=Band(pred_score=result.ambiguity_band[0], anomaly_map=result.ambiguity_band[1]),
            definition=AMBIGUOUS_DEFINITION,
        ),
        ambiguous_scores=tied_scores(result, tie_band),
        reference_fp32_error=fp32_error(result),
        where=[w.describe() for w in result.where],
        stages=[stage_error(row) for row in result.stages] if result.stages else None,
        diagnosis=result.diagnosis() if result.stages else None,
        stage_images=list(result.stage_images) if result.stages else None,
        way_out=block(WayOutInfo, way_out) if way_out is not None else None,
        runtime_settings=settings_block(runtime_settings, "runtime_settings"),
        export=export,
        scoring=evaluation.scoring,
        calibration=calibration_info(calibration),
    )


def deployment_path_record(
    *,
    evaluation: EvalRecord,
    runtime: str,
    export_settings: Mapping[str, object],
    images: Sequence[tuple[str, int, int]],
    comparison: PathComparison,
    export: GivenExport,
    environment_device: str,
) -> DeploymentPathRecord:
    """A given checkpoint's and its export's decisions, each through anomalib's own inference path."""
    return DeploymentPathRecord(
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
        runtime=runtime,
        checkpoint_path="anomalib Engine.predict (Lightning) on the files, batch 1, the checkpoint's PreProcessor",
        export_path=settings_block(export_settings, "export_path"),
        images=[PathImage(path, width, height) for path, width, height in images],
        status="paths_agree" if comparison.agrees else "paths_disagree",
        tolerance=comparison.tolerance,
        label_flips=comparison.label_flips,
        flipped=list(comparison.flipped),
        score_error=comparison.score_error,
        map_error=comparison.map_error,
        mask_iou_min=comparison.mask_iou_min,
        mask_iou_mean=comparison.mask_iou_mean,
        stages=[stage_difference_info(s) for s in comparison.stages],
        diagnosis=comparison.diagnosis(),
        export=export,
        checkpoint=evaluation.checkpoint,
        dataset=evaluation.dataset,
        environment=environment_info(environment_device),
        created=now(),
    )


def candidate_record(
    *,
    evaluation: EvalRecord,
    built: Built,
    limits: CandidateCriteria,
    fp32_metrics: Mapping[str, float],
    metrics: Mapping[str, float],
    measured: Agreement,
    fast: SpeedUp,
    latency_protocol: str,
    fp32_size_bytes: int,
    failures: Sequence[str],
    export: ExportInfo,
    runtime_settings: Mapping[str, object],
    calibration: Calibration,
    environment_device: str,
    drop_intervals: Mapping[str, Interval] | None = None,
) -> CandidateRecord:
    """A candidate judged against its FP32 model: what was built, what it measured, the verdict and why; each
    drop's paired interval, and whether this split could certify a drop within its limit at all (the
    interval's half-width below the limit)."""
    from inspectnet.deploy.candidates import BASE_RUNTIME, DESCRIPTIONS

    return CandidateRecord(
        **provenance(evaluation, environment_device),
        candidate=built.name,
        description=DESCRIPTIONS[built.name],
        runtime=BASE_RUNTIME,
        device="cpu",
        status="rejected" if failures else "accepted",
        failures=list(failures),
        criteria=candidate_limits(limits),
        n_images=measured.n_images,
        fp32_metrics=dict(fp32_metrics),
        metrics=dict(metrics),
        drop={m: fp32_metrics[m] - metrics[m] for m in metrics},
        label_agreement=measured.label_agreement,
        mask_iou=measured.mask_iou,
        speedup=speedup_info(fast),
        latency_protocol=latency_protocol,
        fp32_size_bytes=fp32_size_bytes,
        size_ratio=built.size_bytes / fp32_size_bytes,
        build=CandidateBuild(
            built.key, settings_block(built.settings), dict(built.sha256), built.size_bytes, built.build_s
        ),
        fp32_export=export,
        runtime_settings=settings_block(runtime_settings, "runtime_settings"),
        calibration=calibration_info(calibration),
        drop_intervals={m: interval_info(i) for m, i in drop_intervals.items()} if drop_intervals else None,
        resolvable={
            m: (i.high - i.low) / 2 < limits.max_drop[m] for m, i in drop_intervals.items() if m in limits.max_drop
        }
        if drop_intervals
        else None,
    )


def parity_margin_record(
    categories: Sequence[MarginCategory],
    *,
    tolerance: float,
    goal: float,
    torch_threads: Sequence[int],
    feature_noise_relative: float,
    seeds: Sequence[int],
) -> ParityMarginRecord:
    """Every category's margin (``harness.parity_margin``), the perturbations applied and the worst normalised
    error over every category and runtime."""
    return ParityMarginRecord(
        perturbations=Perturbations(
            torch_threads=list(torch_threads),
            feature_noise_relative=feature_noise_relative,
            noise_and_model_seeds=list(seeds),
            runtimes=sorted({r for c in categories for r in c.summary}),
        ),
        tolerance=tolerance,
        goal=goal,
        worst_normalised_error=float(np.max([s.max_normalised_error for c in categories for s in c.summary.values()])),
        categories=list(categories),
        created=now(),
    )
