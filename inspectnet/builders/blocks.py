"""Record blocks from typed producers: each producer's value mapped onto the record's own declaration
(``inspectnet.records``), field by field, so that a change to a producer cannot change a record unnoticed.

What arrives as a plain dict (a host's facts, a tool's settings) goes through the same ``typed_json.decode``
the reader uses (``block``), so a producer that drifts from the schema fails here, when the record is made,
not when somebody reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar

from inspectnet.hostinfo import environment
from inspectnet.records import (
    CalibrationInfo,
    CheckpointInfo,
    DatasetInfo,
    DecisionInfo,
    Environment,
    EvalRecord,
    ExportInfo,
    ExportSettings,
    FlopsInfo,
    GivenExport,
    IntervalInfo,
    KernelRateInfo,
    LatencyStats,
    LayerOpInfo,
    LayerTimingInfo,
    ModelInfo,
    ModelSource,
    PeakMeasurementInfo,
    Settings,
    SpeedUpInfo,
    SplitSample,
    StageDifferenceInfo,
    ThresholdFactsInfo,
    WarmupTailInfo,
    WeightsInfo,
    now,
)
from inspectnet.typed_json import decode

if TYPE_CHECKING:
    from inspectnet.data.licences import DatasetIdentity
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.deploy.export import Exported
    from inspectnet.measure.ab import RatioDecision
    from inspectnet.measure.candidates import SpeedUp
    from inspectnet.measure.compute import FlopCount
    from inspectnet.measure.deployment import StageDifference
    from inspectnet.measure.evaluate import SplitSample as MeasuredSample
    from inspectnet.measure.intervals import Interval
    from inspectnet.measure.latency import Stats, WarmupTail
    from inspectnet.measure.layers import LayerTiming
    from inspectnet.measure.peak import PeakMeasurement
    from inspectnet.measure.thresholds import ThresholdFacts
    from inspectnet.models.store import Checkpoint
    from inspectnet.models.train import ModelSpec
    from inspectnet.models.weights import ResolvedWeights

T = TypeVar("T")


def block(cls: type[T], data: Mapping[str, object]) -> T:
    """``data`` as the record block ``cls``, checked field by field (a mismatch is a bug: it raises)."""
    value: T = decode(cls, dict(data), cls.__name__)
    return value


def settings_block(settings: Mapping[str, object], where: str = "settings") -> Settings:
    """A runtime's or a tool's settings as it reports them, checked against ``records.Settings``."""
    value: Settings = decode(Settings, dict(settings), where)
    return value


# --------------------------------------------------------------------------- what every record names


def environment_info(device: str) -> Environment:
    return block(Environment, environment(device))


def model_info(spec: ModelSpec) -> ModelInfo:
    return ModelInfo(
        method=spec.method,
        category=spec.category,
        seed=spec.seed,
        backbone=spec.backbone,
        layers=list(spec.layers),
        image_size=spec.image_size,
        coreset=spec.coreset,
        num_neighbors=spec.num_neighbors,
        n_features=spec.n_features,
    )


def weights_info(weights: ResolvedWeights) -> WeightsInfo:
    return WeightsInfo(spec=weights.spec, kind=weights.kind, backbone=weights.backbone, sha256=weights.sha256)


def checkpoint_info(checkpoint: Checkpoint, trained_this_session: bool) -> CheckpointInfo:
    return CheckpointInfo(
        key=checkpoint.key,
        file=checkpoint.path.name,
        sha256=checkpoint.sha256,
        size_bytes=checkpoint.size_bytes,
        trained_this_session=trained_this_session,
    )


def export_info(exported: Exported) -> ExportInfo:
    return ExportInfo(
        key=exported.key,
        settings=block(ExportSettings, exported.settings),
        sha256=dict(exported.files),
        export_s=exported.export_s,
    )


def given_export_info(
    path: Path, input_name: str, input_shape: Sequence[object], outputs: Sequence[str]
) -> GivenExport:
    """A user's own export: its files' sha256 (an OpenVINO IR's .xml and .bin), its input and outputs."""
    from inspectnet._io import sha256_file

    files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    shape = " x ".join(str(d) if d is not None else "?" for d in input_shape)
    return GivenExport(
        kind="anomalib export",
        path=str(path),
        sha256={f.name: sha256_file(f) for f in files},
        input=f"{input_name}: {shape}",
        outputs=list(outputs),
    )


def dataset_info(identity: DatasetIdentity, root: str, fingerprint: str) -> DatasetInfo:
    """The dataset block, with the name, licence and note (resolved once, ``data.licences.resolve``) that say
    which data produced a number and under which licence."""
    return DatasetInfo(identity.name, root, fingerprint, identity.licence, identity.note)


def calibration_info(calibration: Calibration) -> CalibrationInfo:
    c = calibration
    return CalibrationInfo(
        image_threshold=c.image_threshold,
        pixel_threshold=c.pixel_threshold,
        image_min=c.image_min,
        image_max=c.image_max,
        pixel_min=c.pixel_min,
        pixel_max=c.pixel_max,
    )


class Provenance(TypedDict):
    """What a record judged against an evaluated model says about that model and where it ran: the fields
    parity and candidate records share (flattened into each record, as they are in its JSON)."""

    run_name: str
    method: str
    category: str
    checkpoint: CheckpointInfo
    weights: WeightsInfo
    dataset: DatasetInfo
    environment: Environment
    created: str
    source: ModelSource | None


def provenance(evaluation: EvalRecord, environment_device: str) -> Provenance:
    """``evaluation``'s model (run, checkpoint, weights, data, source) and this process's environment, now."""
    return Provenance(
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
        checkpoint=evaluation.checkpoint,
        weights=evaluation.weights,
        dataset=evaluation.dataset,
        environment=environment_info(environment_device),
        created=now(),
        source=evaluation.source,
    )


# --------------------------------------------------------------------------- measured blocks


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


def latency_stats(stats: Stats) -> LatencyStats:
    """Statistics of timed calls, rounded to 1e-4 ms."""
    return LatencyStats(
        n=stats.n,
        warmup=stats.warmup,
        min_ms=round(stats.min_ms, 4),
        median_ms=round(stats.median_ms, 4),
        p95_ms=round(stats.p95_ms, 4),
        p99_ms=round(stats.p99_ms, 4),
        mean_ms=round(stats.mean_ms, 4),
        std_ms=round(stats.std_ms, 4),
    )


def warmup_tail_info(tail: WarmupTail) -> WarmupTailInfo:
    return WarmupTailInfo(
        detected=tail.detected,
        first_decile_median_ms=round(tail.first_decile_median_ms, 4),
        rest_median_ms=round(tail.rest_median_ms, 4),
        ratio=round(tail.ratio, 4),
        threshold=round(tail.threshold, 4),
    )


def flops_info(flops: FlopCount) -> FlopsInfo:
    return FlopsInfo(total=flops.total, by_operator=dict(flops.by_operator), counter=flops.counter)


def peak_measurement_info(peak: PeakMeasurement) -> PeakMeasurementInfo:
    return PeakMeasurementInfo(
        device=peak.device,
        flops_per_s=peak.flops_per_s,
        best=peak.best,
        kernels=[KernelRateInfo(k.runtime, k.kernel, k.flops, k.best_s, k.gflops_per_s) for k in peak.kernels],
        seconds=peak.seconds,
    )


def layer_timing_info(timing: LayerTiming) -> LayerTimingInfo:
    return LayerTimingInfo(
        runtime=timing.runtime,
        threads=timing.threads,
        floor_ms=timing.floor_ms,
        ops=[LayerOpInfo(op.op, op.count, op.best_s) for op in timing.ops],
        seconds=timing.seconds,
    )


def speedup_info(fast: SpeedUp) -> SpeedUpInfo:
    return SpeedUpInfo(
        ratio=fast.ratio,
        low=fast.low,
        high=fast.high,
        confidence=fast.confidence,
        quads=fast.quads,
        fp32_median_ms=fast.fp32_median_ms,
        candidate_median_ms=fast.candidate_median_ms,
    )


def decision_info(decision: RatioDecision) -> DecisionInfo:
    d = decision
    return DecisionInfo(d.mode, d.ratio, d.low, d.high, d.confidence, d.units, d.verdict, d.reason)


def stage_difference_info(stage: StageDifference) -> StageDifferenceInfo:
    return StageDifferenceInfo(stage.stage, stage.max_abs_error, stage.reference_max_abs, stage.differs)


def threshold_facts_info(facts: ThresholdFacts) -> ThresholdFactsInfo:
    f = facts
    return ThresholdFactsInfo(
        image_threshold=f.image_threshold,
        normal_images=f.normal_images,
        anomalous_images=f.anomalous_images,
        lowest_normal=f.lowest_normal,
        highest_normal=f.highest_normal,
        lowest_anomalous=f.lowest_anomalous,
        highest_score=f.highest_score,
        false_alarms=f.false_alarms,
        missed=f.missed,
        false_alarm_rate=f.false_alarm_rate,
        false_alarm_upper=f.false_alarm_upper,
        confidence=f.confidence,
    )
