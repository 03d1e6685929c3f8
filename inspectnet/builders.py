"""Per-kind record builders, next to the records: typed producers (a ModelSpec, a Checkpoint, Stats, a
ParityResult ...) in, a validated record out.

Each nested block goes through the same ``typed_json.decode`` the reader uses, so a producer that drifts
from the schema fails here, when the record is made, not when somebody reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from inspectnet.data.check import CheckResult, manifest_identity
from inspectnet.data.licences import DatasetIdentity
from inspectnet.deploy.calibration import Calibration
from inspectnet.hostinfo import environment, platform_block
from inspectnet.measure.latency import STAT_DEFINITIONS, Stats, WarmupTail
from inspectnet.measure.layers import METHOD as LAYER_METHOD
from inspectnet.measure.peak import METHOD as PEAK_METHOD
from inspectnet.records import (
    METRIC_DEFINITIONS,
    OUTCOMES,
    AblationRecord,
    Aggregate,
    AmbiguousFlips,
    Band,
    BudgetInfo,
    CandidateBuild,
    CandidateLimits,
    CandidateRecord,
    CategoryCheck,
    CheckpointInfo,
    Counts,
    CriteriaRecord,
    CriterionOutcome,
    DatasetCheckRecord,
    DatasetInfo,
    DeploymentPathRecord,
    Environment,
    EvalRecord,
    ExportInfo,
    FalseAlarmLimitInfo,
    Fp32Error,
    GivenExport,
    IntervalInfo,
    LatencyRecord,
    LatencyRun,
    ManifestInfo,
    ModelInfo,
    ModelSource,
    ParityImage,
    ParityRecord,
    PathImage,
    Platform,
    Protocol,
    RuntimeLatency,
    Scoring,
    Settings,
    SplitSample,
    StageError,
    ThresholdRecord,
    TiedScore,
    WayOutInfo,
    WeightsInfo,
    now,
)
from inspectnet.typed_json import decode

if TYPE_CHECKING:
    from inspectnet.criteria.candidates import CandidateCriteria
    from inspectnet.criteria.latency import Budget
    from inspectnet.data.layout import CategorySummary
    from inspectnet.deploy.candidates import Built
    from inspectnet.deploy.export import Exported
    from inspectnet.measure import compute, latency
    from inspectnet.measure.candidates import Agreement, SpeedUp
    from inspectnet.measure.deployment import PathComparison
    from inspectnet.measure.evaluate import AccuracyMetrics
    from inspectnet.measure.evaluate import SplitSample as MeasuredSample
    from inspectnet.measure.intervals import Interval
    from inspectnet.measure.layers import LayerCalibration
    from inspectnet.measure.parity import ParityResult
    from inspectnet.measure.peak import PeakCalibration
    from inspectnet.measure.thresholds import ThresholdFacts
    from inspectnet.models.store import Checkpoint
    from inspectnet.models.train import ModelSpec
    from inspectnet.models.weights import ResolvedWeights

T = TypeVar("T")


def block(cls: type[T], data: Mapping[str, object]) -> T:
    """``data`` as the record block ``cls``, checked field by field (a mismatch is a bug: it raises)."""
    value: T = decode(cls, dict(data), cls.__name__)
    return value


def environment_info(device: str) -> Environment:
    return block(Environment, environment(device))


def model_info(spec: ModelSpec) -> ModelInfo:
    return block(ModelInfo, spec.as_record())


def weights_info(weights: ResolvedWeights) -> WeightsInfo:
    return block(WeightsInfo, weights.as_record())


def checkpoint_info(checkpoint: Checkpoint, trained_this_session: bool) -> CheckpointInfo:
    return block(CheckpointInfo, {**checkpoint.as_record(), "trained_this_session": trained_this_session})


def export_info(exported: Exported) -> ExportInfo:
    return block(ExportInfo, exported.as_record())


def given_export_info(
    path: Path, input_name: str, input_shape: Sequence[object], outputs: Sequence[str]
) -> GivenExport:
    """A user's own export: its files' sha256 (an OpenVINO IR's .xml and .bin), its input and outputs."""
    from inspectnet.models.weights import file_sha256

    files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    shape = " x ".join(str(d) if d is not None else "?" for d in input_shape)
    return GivenExport(
        kind="anomalib export",
        path=str(path),
        sha256={f.name: file_sha256(f) for f in files},
        input=f"{input_name}: {shape}",
        outputs=list(outputs),
    )


def dataset_info(identity: DatasetIdentity, root: str, fingerprint: str) -> DatasetInfo:
    """The dataset block, with the name, licence and note (resolved once, ``data.licences.resolve``) that say
    which data produced a number and under which licence."""
    return DatasetInfo(identity.name, root, fingerprint, identity.licence, identity.note)


def evaluation_record(
    *,
    run_name: str,
    spec: ModelSpec,
    scoring: Mapping[str, object],
    weights: ResolvedWeights,
    dataset: DatasetInfo,
    summary: CategorySummary,
    metrics: AccuracyMetrics,
    checkpoint: Checkpoint,
    trained_this_session: bool,
    timings_s: Mapping[str, float],
    device: str,
    source: ModelSource | None = None,
    tolerances: Sequence[float] = (),
) -> EvalRecord:
    """One model's evaluation; ``source`` names the user's checkpoint when InspectNet did not train it (its
    seed then was not pinned by InspectNet)."""
    from inspectnet.measure.intervals import resolution as auroc_step  # scipy, imported when a record is built

    return EvalRecord(
        run_name=run_name,
        method=spec.method,
        category=spec.category,
        seed=spec.seed,
        seed_pinned=source is None,
        coreset=spec.coreset,
        model=model_info(spec),
        scoring=block(Scoring, scoring),
        weights=weights_info(weights),
        dataset=dataset,
        counts=Counts(summary.train_good, summary.test_good, summary.test_defect_total),
        metrics=metrics.as_dict(),
        metric_definitions=METRIC_DEFINITIONS,
        curves=metrics.curves,
        checkpoint=checkpoint_info(checkpoint, trained_this_session),
        timings_s={k: round(v, 3) for k, v in timings_s.items()},
        environment=environment_info(device),
        created=now(),
        source=source,
        intervals={m: interval_info(i) for m, i in metrics.intervals.items()} or None,
        sample=split_sample(metrics.sample) if metrics.sample is not None else None,
        image_auroc_step=auroc_step(summary.test_good, summary.test_defect_total),
        paired_images_needed=_needed(metrics, summary, tolerances),
    )


def _needed(metrics: AccuracyMetrics, summary: CategorySummary, tolerances: Sequence[float]) -> dict[str, int] | None:
    """Per tolerance, the test images a paired test against an equally uncertain, uncorrelated model needs (twice
    this model's DeLong variance)."""
    from inspectnet.measure.intervals import delong_variance, images_needed

    if metrics.sample is None or not tolerances:
        return None
    variance = 2 * delong_variance(metrics.sample.scores, metrics.sample.anomalous)
    good, defective = summary.test_good, summary.test_defect_total
    return {f"{t:g}": images_needed(t, good, defective, variance) for t in sorted(set(tolerances))}


def interval_info(interval: Interval) -> IntervalInfo:
    return IntervalInfo(interval.value, interval.low, interval.high, interval.level, interval.method, interval.n_images)


def split_sample(sample: MeasuredSample) -> SplitSample:
    seeds = {r.seed for r in sample.replicates.values()}
    return SplitSample(
        anomalous=[bool(a) for a in sample.anomalous],
        scores=[float(x) for x in sample.scores],
        bootstrap_seed=seeds.pop() if len(seeds) == 1 else -1,
        replicates={m: [round(float(v), 9) for v in r.values] for m, r in sample.replicates.items()},
        at_one={m: r.at_one for m, r in sample.replicates.items()},
    )


def latency_run(index: int, started: str, warmup_s: Sequence[float], timed_s: Sequence[float]) -> LatencyRun:
    """One run of a runtime's timing, in milliseconds."""
    timed_ms = [round(s * 1e3, 4) for s in timed_s]
    return LatencyRun(
        index=index,
        started=started,
        warmup_samples_ms=[round(s * 1e3, 4) for s in warmup_s],
        samples_ms=timed_ms,
        median_ms=round(float(np.median(timed_ms)), 4),
    )


def latency_entry(
    *,
    runtime: str,
    stats: latency.Stats,
    runs: Sequence[LatencyRun],
    tail: latency.WarmupTail,
    calibrations: Sequence[PeakCalibration],
    floor_ms: float,
    efficiency: float,
    layer_calibrations: Sequence[LayerCalibration],
    budget: Budget,
    budget_source: str,
    records: str,
    settings: Mapping[str, object],
    artifact: ExportInfo | GivenExport | None,
) -> RuntimeLatency:
    """One runtime's entry of a latency record: statistics, every run, both floors and the budget verdict
    (``records``: where these records go, for the line that says how to write a class budget from them)."""
    layer_floor = float(np.median([c.floor_ms for c in layer_calibrations]))
    layer_efficiency = layer_floor / stats.median_ms
    m = budget.machine
    budget_info = BudgetInfo(
        min_layer_efficiency=budget.min_layer_efficiency,
        machine_class=budget.machine_class,
        class_budget=m.pattern if m else None,
        median_ms=m.median_ms if m else None,
        p95_ms=m.p95_ms if m else None,
        not_judged=budget.not_judged(records),
        source=budget_source,
    )
    return RuntimeLatency(
        runtime=runtime,
        stats=block(Stats, stats.as_record()),
        runs=list(runs),
        warmup_tail=block(WarmupTail, tail.as_record()),
        calibrations=list(calibrations),
        compute_floor_ms=round(floor_ms, 4),
        efficiency=round(efficiency, 4),
        layer_calibrations=list(layer_calibrations),
        layer_floor_ms=round(layer_floor, 4),
        layer_efficiency=round(layer_efficiency, 4),
        budget=budget_info,
        budget_failures=budget.failures(stats.median_ms, stats.p95_ms, round(layer_efficiency, 4)),
        settings=decode(Settings, dict(settings), "settings"),
        artifact=artifact,
        measured=now(),
    )


PROTOCOL_TEXT = {
    "inputs": "the category's test images (normal and defective) in order, cycled; preprocessed "
    "1x3xSxS float32 (resize and normalisation are not timed)",
    "timer": "time.perf_counter_ns around one call; the device is synchronised before start and stop",
    "harness": "pytest-benchmark pedantic mode (one call per round); each run is its own test, and the test "
    "order puts runs outermost, so one runtime's runs are spread over the session",
    "outputs": "raw and normalised map and score, label, mask (anomalib PostProcessor in the graph)",
}


def latency_record(
    *,
    evaluation: EvalRecord,
    device: str,
    runs: int,
    warmup: int,
    rounds: int,
    flops: compute.FlopCount,
    entries: Mapping[str, RuntimeLatency],
) -> LatencyRecord:
    """Latency of ``evaluation``'s model on ``device``: an entry per runtime, the floor and the platform."""
    peak = max(c.flops_per_s for e in entries.values() for c in e.calibrations)
    return LatencyRecord(
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
        device=device,
        model=evaluation.model,
        scoring=evaluation.scoring,
        weights=evaluation.weights,
        dataset=evaluation.dataset,
        checkpoint=evaluation.checkpoint,
        protocol=Protocol(
            batch_size=1,
            image_size=evaluation.model.image_size,
            runs=runs,
            warmup_calls=warmup,
            timed_calls=rounds,
            **PROTOCOL_TEXT,
        ),
        flops=flops,
        peak_method=PEAK_METHOD,
        layer_method=LAYER_METHOD,
        peak_gflops_per_s=round(peak / 1e9, 2),
        compute_floor_ms=round(flops.total / peak * 1e3, 4),
        platform=block(Platform, platform_block(device)),
        stat_definitions=STAT_DEFINITIONS,
        runtimes=dict(sorted(entries.items())),
        created=now(),
        source=evaluation.source,
    )


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
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
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
        stages=[block(StageError, row.as_record()) for row in result.stages] if result.stages else None,
        diagnosis=result.diagnosis() if result.stages else None,
        stage_images=list(result.stage_images) if result.stages else None,
        way_out=block(WayOutInfo, way_out) if way_out is not None else None,
        runtime_settings=decode(Settings, dict(runtime_settings), "runtime_settings"),
        export=export,
        scoring=evaluation.scoring,
        calibration=calibration,
        checkpoint=evaluation.checkpoint,
        weights=evaluation.weights,
        dataset=evaluation.dataset,
        environment=environment_info(environment_device),
        created=now(),
        source=evaluation.source,
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
        export_path=decode(Settings, dict(export_settings), "export_path"),
        images=[PathImage(path, width, height) for path, width, height in images],
        status="paths_agree" if comparison.agrees else "paths_disagree",
        tolerance=comparison.tolerance,
        label_flips=comparison.label_flips,
        flipped=list(comparison.flipped),
        score_error=comparison.score_error,
        map_error=comparison.map_error,
        mask_iou_min=comparison.mask_iou_min,
        mask_iou_mean=comparison.mask_iou_mean,
        stages=list(comparison.stages),
        diagnosis=comparison.diagnosis(),
        export=export,
        checkpoint=evaluation.checkpoint,
        dataset=evaluation.dataset,
        environment=environment_info(environment_device),
        created=now(),
    )


def ablation_record(
    category: str,
    dataset: str,
    per_method: Mapping[str, Mapping[str, Aggregate]],
    records: Mapping[str, list[str]],
    scoring: Mapping[str, str],
    delta_intervals: Mapping[str, Interval] | None = None,
) -> AblationRecord:
    """PatchCore against PaDiM on ``category``: each metric aggregated over seeds, and the deltas (with their
    paired intervals where the evaluations keep their samples)."""
    patchcore, padim = dict(per_method["patchcore"]), dict(per_method["padim"])
    return AblationRecord(
        category=category,
        dataset=dataset,
        patchcore=patchcore,
        padim=padim,
        deltas={m: patchcore[m].mean - padim[m].mean for m in patchcore},
        delta_intervals={m: interval_info(i) for m, i in delta_intervals.items()} if delta_intervals else None,
        records=dict(records),
        scoring=dict(scoring),
        created=now(),
    )


def dataset_check_record(result: CheckResult, tolerances: Sequence[float] = ()) -> DatasetCheckRecord:
    """What ``inspectnet data check`` found: each category's counts and fingerprint, the generator if any, and
    what its test split can resolve: image AUROC's step, and for each image-AUROC ``tolerance`` the test images
    a paired comparison would need (``measure.intervals.planned_images``)."""
    from inspectnet.measure.intervals import PLANNING_AUROC, POWER, planned_images
    from inspectnet.measure.intervals import resolution as auroc_step

    manifest = manifest_identity(result.root)
    categories = []
    for s in result.summaries:
        block_ = asdict(s) | {"fingerprint": result.fingerprints[s.category]}
        if s.test_good and s.test_defect_total:
            block_["image_auroc_step"] = auroc_step(s.test_good, s.test_defect_total)
            block_["paired_images_needed"] = {
                f"{t:g}": planned_images(t, s.test_good, s.test_defect_total) for t in sorted(set(tolerances))
            } or None
        categories.append(block(CategoryCheck, block_))
    planning = (
        f"test images, at the split's class balance, that a paired test (95% interval, {POWER:.0%} power) needs to "
        f"resolve an image-AUROC difference of each tolerance, for two models at image AUROC {PLANNING_AUROC} with "
        "uncorrelated errors (Hanley-McNeil variance): an upper bound, since retrains of one model correlate"
    )
    return DatasetCheckRecord(
        root=result.root.as_posix(),
        dataset=result.dataset,
        synthetic_manifest=block(ManifestInfo, manifest) if manifest is not None else None,
        categories=categories,
        planning=planning if tolerances else None,
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
    from inspectnet.deploy.candidates import DESCRIPTIONS

    return CandidateRecord(
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
        candidate=built.name,
        description=DESCRIPTIONS[built.name],
        runtime="openvino",
        device="cpu",
        status="rejected" if failures else "accepted",
        failures=list(failures),
        criteria=block(CandidateLimits, limits.as_record()),
        n_images=measured.n_images,
        fp32_metrics=dict(fp32_metrics),
        metrics=dict(metrics),
        drop={m: fp32_metrics[m] - metrics[m] for m in metrics},
        label_agreement=measured.label_agreement,
        mask_iou=measured.mask_iou,
        speedup=fast,
        latency_protocol=latency_protocol,
        fp32_size_bytes=fp32_size_bytes,
        size_ratio=built.size_bytes / fp32_size_bytes,
        build=CandidateBuild(
            built.key, decode(Settings, dict(built.settings), "settings"), built.sha256, built.size_bytes, built.build_s
        ),
        fp32_export=export,
        runtime_settings=decode(Settings, dict(runtime_settings), "runtime_settings"),
        calibration=calibration,
        checkpoint=evaluation.checkpoint,
        weights=evaluation.weights,
        dataset=evaluation.dataset,
        environment=environment_info(environment_device),
        created=now(),
        source=evaluation.source,
        drop_intervals={m: interval_info(i) for m, i in drop_intervals.items()} if drop_intervals else None,
        resolvable={
            m: (i.high - i.low) / 2 < limits.max_drop[m] for m, i in drop_intervals.items() if m in limits.max_drop
        }
        if drop_intervals
        else None,
    )


def criteria_record(tests: Mapping[str, CriterionOutcome], created: str) -> CriteriaRecord:
    """The criteria record of ``tests`` (pytest node id -> outcome), in node-id order, counted by outcome."""
    unknown = sorted({t.outcome for t in tests.values()} - set(OUTCOMES))
    if unknown:
        raise ValueError(f"criteria outcomes {unknown}: not one of {', '.join(OUTCOMES)}")
    ordered = {node: tests[node] for node in sorted(tests)}
    counts = {o: sum(t.outcome == o for t in ordered.values()) for o in OUTCOMES}
    return CriteriaRecord(ran=len(ordered), counts=counts, tests=ordered, created=created)


def threshold_record(
    run_name: str,
    spec: ModelSpec,
    calibration: Calibration,
    facts: ThresholdFacts,
    checkpoint: str | None,
    limit: tuple[float, str] | None,
    failures: Sequence[str],
    evaluation: str,
) -> ThresholdRecord:
    """The deployed thresholds of ``run_name`` against its test split (``facts``); ``checkpoint``: the user's
    file they came from (None: InspectNet calibrated); ``limit``: the profile's false-alarm limit and its key."""
    from inspectnet.measure.thresholds import DEFINITIONS

    return ThresholdRecord(
        run_name=run_name,
        method=spec.method,
        category=spec.category,
        seed=spec.seed,
        coreset=spec.coreset,
        thresholds_from="checkpoint" if checkpoint is not None else "inspectnet",
        checkpoint=checkpoint,
        calibration=calibration,
        facts=facts,
        limit=FalseAlarmLimitInfo(*limit) if limit is not None else None,
        failures=list(failures),
        definitions=dict(DEFINITIONS),
        evaluation=evaluation,
        created=now(),
    )
