"""Versioned JSON records, typed all the way down: one frozen dataclass per record kind and per nested block.

Every record is read through ``Record.from_json`` (``read`` dispatches on ``kind``) and written through
``to_json``; both go by the dataclasses' declared fields (``typed_json``), never by the data. All kinds
share one ``SCHEMA_VERSION``. Builders that fill these from a session live in ``inspectnet.builders``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from inspectnet._io import atomic_write_json
from inspectnet.deploy.calibration import Calibration
from inspectnet.measure.ab import RatioDecision
from inspectnet.measure.candidates import SpeedUp
from inspectnet.measure.compute import FlopCount
from inspectnet.measure.deployment import StageDifference
from inspectnet.measure.latency import Stats, WarmupTail
from inspectnet.measure.layers import LayerCalibration
from inspectnet.measure.peak import PeakCalibration
from inspectnet.measure.thresholds import ThresholdFacts
from inspectnet.typed_json import OMITTED_WHEN_NONE, DecodeError, decode, encode

SCHEMA_VERSION = 5  # 2: ROC / PRO curves, latency and parity records; 3: scoring, tied scores, fp64 errors;
# 4: latency runs spread over a session and peak calibrations (no GEMM floor); gate quality by decision mode;
# 5: machine classes and class budgets, the portable floor (each runtime's rate on the model's own layers)

Scalar = str | int | float | bool | None
Settings = dict[str, Scalar | list[str]]  # a runtime's or a tool's settings, as it reports them
JsonObject = dict[str, object]
R = TypeVar("R", bound="Record")


class RecordError(ValueError):
    """A malformed or schema-mismatched record file; one line naming it."""


# --------------------------------------------------------------------------- blocks shared by records


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "synthetic" | "mvtec_ad"
    root: str
    fingerprint: str  # sha256 over the category's files (paths and contents)
    licence: str
    note: str


@dataclass(frozen=True)
class Counts:
    train: int
    test_good: int
    test_defective: int


@dataclass(frozen=True)
class ModelInfo:
    """The ModelSpec: everything that defines a trained model apart from data and weights."""

    method: str
    category: str
    seed: int
    backbone: str
    layers: list[str]
    image_size: int
    coreset: float | None  # PatchCore's coreset sampling ratio
    num_neighbors: int
    n_features: int | None  # PaDiM's random feature subset (None: anomalib's default)


@dataclass(frozen=True)
class Scoring:
    """How scores are computed, where that departs from anomalib, and (PatchCore) the measured effect."""

    name: str
    departs_from_anomalib: bool
    description: str
    effect_on_metrics: dict[str, float] | None = field(
        default=None, metadata=OMITTED_WHEN_NONE
    )  # metric minus the same model's with anomalib's
    effect_definition: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class WeightsInfo:
    spec: str
    kind: str
    backbone: str
    sha256: str


@dataclass(frozen=True)
class CheckpointInfo:
    key: str
    file: str
    sha256: str
    size_bytes: int
    trained_this_session: bool


@dataclass(frozen=True)
class ModelSource:
    """Where a model under test came from when InspectNet did not train it: the user's checkpoint."""

    kind: str  # "checkpoint"
    path: str  # as the user gave it
    sha256: str
    size_bytes: int
    lightning_version: str
    anomalib_version: str | None  # anomalib 2.7 does not store its version in a checkpoint
    thresholds_from: str  # "checkpoint": its PostProcessor's values, deployed as they are; or why not
    thresholds: dict[str, float] | None  # the checkpoint's own (None: NaN in the file)
    notes: list[str]


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    torch: str
    anomalib: str
    timm: str
    numpy: str
    cpu: str
    cpu_count: int | None
    torch_threads: int
    device: str
    gpu: str | None
    git_commit: str | None


@dataclass(frozen=True)
class ExportInput:
    name: str
    shape: list[str | int]
    dtype: str


@dataclass(frozen=True)
class ExportSettings:
    onnx_exporter: str
    opset: int
    precision: str
    input: ExportInput
    dynamic_axes: dict[str, str]
    outputs: list[str]
    openvino_conversion: str
    torch: str
    onnx: str
    openvino: str


@dataclass(frozen=True)
class ExportInfo:
    """An exported model: its store key, how it was exported, the sha256 of each file and (when this session
    exported it) how long that took."""

    key: str
    settings: ExportSettings
    sha256: dict[str, str]
    # the wall time of the export when this session made it; absent when it came from the store (and in
    # records written before it was kept)
    export_s: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class GivenExport:
    """A user's own export (``--export``), checked instead of exporting: the files and what they are."""

    kind: str  # "anomalib export"
    path: str  # as the user gave it
    sha256: dict[str, str]  # file name -> sha256 (an OpenVINO IR: the .xml and its .bin)
    input: str  # name and shape, e.g. "input: batch_size x 3 x 256 x 256"
    outputs: list[str]


# --------------------------------------------------------------------------- the record kinds


@dataclass(frozen=True, kw_only=True)
class Record:
    """What every record has; each kind declares ``KIND`` and its own fields (``kind`` is filled from it)."""

    KIND: ClassVar[str] = ""
    kind: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.KIND)
        if self.kind != self.KIND:
            raise ValueError(f"a {type(self).__name__} has kind {self.KIND!r}, not {self.kind!r}")

    def to_json(self) -> JsonObject:
        data: JsonObject = encode(self)
        return data

    @classmethod
    def from_json(cls: type[R], data: object, source: Path | str = "<record>") -> R:
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            article = "an" if cls.KIND[0] in "aeiou" else "a"
            raise RecordError(f"{source}: not {article} {cls.KIND} record")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise RecordError(
                f"{source}: schema_version {data.get('schema_version')!r}, this InspectNet reads {SCHEMA_VERSION}"
            )
        try:
            record: R = decode(cls, data)
        except DecodeError as exc:
            raise RecordError(f"{source}: malformed {cls.KIND} record ({exc})") from None
        return record


@dataclass(frozen=True)
class IntervalInfo:
    """A number with its interval on the test split it was measured on."""

    value: float
    low: float
    high: float
    level: float  # 0.95
    method: str  # delong | delong-paired | bootstrap | bootstrap-paired
    n_images: int


@dataclass(frozen=True)
class SplitSample:
    """What pairs a model's numbers with another model's on the same test images (the split's image order):
    each image's label and raw score (paired DeLong), and each pixel metric under the seeded stratified
    bootstrap draws (``replicates``; ``at_one``: the same statistic on the whole split)."""

    anomalous: list[bool]
    scores: list[float]
    bootstrap_seed: int
    replicates: dict[str, list[float]]
    at_one: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class EvalRecord(Record):
    """One trained model evaluated on one category's test split."""

    KIND: ClassVar[str] = "evaluation"
    run_name: str
    method: str
    category: str
    seed: int
    seed_pinned: bool
    coreset: float | None
    model: ModelInfo
    scoring: Scoring
    weights: WeightsInfo
    dataset: DatasetInfo
    counts: Counts
    metrics: dict[str, float]  # image_auroc, pixel_auroc, aupro (raw scores; exact)
    metric_definitions: dict[str, str]
    curves: dict[str, dict[str, list[float]]]  # roc (image level) and pro (pixel level, to the FPR limit)
    checkpoint: CheckpointInfo
    timings_s: dict[str, float]
    environment: Environment
    created: str
    # a model given with --model / --model-dir; absent for the models InspectNet trains
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    intervals: dict[str, IntervalInfo] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # 95%, per metric
    sample: SplitSample | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # None: made before intervals
    image_auroc_step: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # 1 / (good x defective)
    # per image-AUROC tolerance of the profile ("0.01"): test images a paired test against a model as uncertain as
    # this one, with uncorrelated errors, needs to resolve it (an upper bound; retrains correlate)
    paired_images_needed: dict[str, int] | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class BudgetInfo:
    """What a runtime was held to: the portable floor, and the class budget where one matched this machine."""

    min_layer_efficiency: float | None  # the portable floor (layer floor / median)
    machine_class: str  # the class of the machine the run was on
    class_budget: str | None  # the profile's class pattern that matched it; None: no absolute budget applies
    median_ms: float | None  # the class budget's limits (None without one)
    p95_ms: float | None
    not_judged: str | None  # why no absolute budget was judged here, and what writes one
    source: str  # the criteria profile's file name


@dataclass(frozen=True)
class LatencyRun:
    """One run of a runtime's timing: its own warm-up, then timed calls. A record's runs are spread over
    its session (other runtimes and categories run in between), so their spread shows the machine's drift."""

    index: int
    started: str  # UTC
    warmup_samples_ms: list[float]
    samples_ms: list[float]  # the timed calls, in order
    median_ms: float


@dataclass(frozen=True)
class RuntimeLatency:
    """One runtime's latency on one (category, device)."""

    runtime: str
    stats: Stats  # over every run's timed calls
    runs: list[LatencyRun]
    warmup_tail: WarmupTail  # of the first run (the one right after the model was loaded)
    calibrations: list[PeakCalibration]  # the device's peak rate, measured before and after each run
    compute_floor_ms: float  # counted FLOPs over the best of those calibrations
    efficiency: float  # compute floor / median: at most 1 when the floor is a floor; machine-dependent
    layer_calibrations: list[LayerCalibration]  # this runtime's own time for the model's dense ops, after each run
    layer_floor_ms: float  # the median of those
    layer_efficiency: float  # layer floor / median: what the portable floor judges
    budget: BudgetInfo
    budget_failures: list[str]
    settings: Settings  # threads, precision hint, providers, input transfer
    artifact: ExportInfo | GivenExport | None  # the exported file (None for torch)
    measured: str

    @property
    def samples_ms(self) -> list[float]:
        """Every timed call of every run, in order."""
        return [s for run in self.runs for s in run.samples_ms]

    @property
    def run_medians_ms(self) -> list[float]:
        return [run.median_ms for run in self.runs]

    @property
    def peak_flops_per_s(self) -> int:
        return max(c.flops_per_s for c in self.calibrations)


@dataclass(frozen=True)
class Protocol:
    batch_size: int
    image_size: int
    runs: int  # runs per runtime, spread over the session
    warmup_calls: int  # per run
    timed_calls: int  # per run
    inputs: str
    timer: str
    harness: str
    outputs: str


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_mib: int
    compute_capability: str
    driver: str | None
    cuda_runtime: str | None
    cudnn: int | None


@dataclass(frozen=True)
class Platform:
    cpu: str
    logical_cores: int | None
    physical_cores: int | None
    usable_cores: int | None
    isa: str  # the CPU's widest vector ISA level (hostinfo.isa_level)
    machine_class: str  # what an absolute budget is keyed by (hostinfo.machine_class)
    gpu: GpuInfo | None
    os: str
    python: str
    torch: str
    anomalib: str
    onnxruntime: str
    openvino: str
    numpy: str
    threads: dict[str, int | str | None]  # torch's intra- and inter-op threads, the thread variables


@dataclass(frozen=True, kw_only=True)
class LatencyRecord(Record):
    """Latency of one model on one device: one entry per runtime, with the compute floor and the platform."""

    KIND: ClassVar[str] = "latency"
    run_name: str
    method: str
    category: str
    device: str
    model: ModelInfo
    scoring: Scoring
    weights: WeightsInfo
    dataset: DatasetInfo
    checkpoint: CheckpointInfo
    protocol: Protocol
    flops: FlopCount
    peak_method: str  # how the device's peak float32 rate was calibrated
    layer_method: str  # how each runtime's layer floor was measured
    peak_gflops_per_s: float  # the best calibration among the runtimes'
    compute_floor_ms: float  # counted FLOPs over that rate
    platform: Platform
    stat_definitions: dict[str, str]
    runtimes: dict[str, RuntimeLatency]
    created: str
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # as the evaluation's


@dataclass(frozen=True)
class ParityImage:
    path: str  # relative to the dataset root
    anomalous: bool


@dataclass(frozen=True)
class Band:
    pred_score: float
    anomaly_map: float


@dataclass(frozen=True)
class AmbiguousFlips:
    """Flips within the reference's own float32 error of the threshold: reported, not counted."""

    labels: int
    mask_pixels: int
    band: Band
    definition: str


@dataclass(frozen=True)
class TiedScore:
    """An image whose score sits on a jump of PatchCore's score: every legitimate answer and the margin."""

    image: str
    margin: float
    legitimate_raw: list[float]
    legitimate_truncated: bool
    reference_raw: float
    candidate_raw: float
    difference_raw: float
    error_raw: float
    error_normalised: float
    band: float | None = field(
        default=None, metadata=OMITTED_WHEN_NONE
    )  # twice the reference's largest patch-score error (parity records)


@dataclass(frozen=True)
class Fp32Error:
    """Each side's max abs error against the same deployed model in float64, per output."""

    reference: dict[str, float]
    candidate: dict[str, float]
    definition: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class StageError:
    """One stage of the deployed model (``measure.stages``): the candidate's max abs error against the torch
    reference there, the reference's own float32-against-float64 error, and whether it diverged (None: the
    stage was not reached, ``note`` says why; label and mask count flips instead)."""

    stage: str
    max_abs_error: float | None
    reference_fp32_error: float | None
    reference_max_abs: float
    divergence_limit: float | None
    flips: int | None
    diverged: bool
    note: str


@dataclass(frozen=True)
class WayOutInfo:
    """A user's checkpoint exported with InspectNet's stable distances, when anomalib's own arithmetic cannot
    meet the tolerance: the export (a separate store directory), its parity against its own torch model and
    its decisions against the checkpoint's; ``offered`` when both hold."""

    export_directory: str
    scoring: str
    status: str
    max_abs_error: dict[str, float]
    label_flips_against_checkpoint: int
    mask_iou_min_against_checkpoint: float
    offered: bool
    description: str


@dataclass(frozen=True, kw_only=True)
class ParityRecord(Record):
    """One exported model on one runtime against the torch model, on N test images."""

    KIND: ClassVar[str] = "parity"
    run_name: str
    method: str
    category: str
    runtime: str
    device: str
    reference: str
    images: list[ParityImage]
    status: str  # parity_clean | parity_broken
    tolerance: float
    n_images: int
    max_abs_error: dict[str, float]  # anomaly_map_raw, pred_score_raw, anomaly_map, pred_score
    label_flips: int
    mask_pixel_flips: int
    mask_pixels: int
    ambiguous_flips: AmbiguousFlips
    ambiguous_scores: list[TiedScore]
    reference_fp32_error: Fp32Error
    where: list[str]  # where parity is broken: output, image, how far
    stages: list[StageError] | None = field(
        default=None, metadata=OMITTED_WHEN_NONE
    )  # in flow order (None: not traced)
    diagnosis: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # the first diverged stage
    stage_images: list[str] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # the images traced
    way_out: WayOutInfo | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # reference-limited only
    runtime_settings: Settings  # versions, precision hint, bf16 capability, providers
    export: ExportInfo | GivenExport
    scoring: Scoring
    calibration: Calibration
    checkpoint: CheckpointInfo
    weights: WeightsInfo
    dataset: DatasetInfo
    environment: Environment
    created: str
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # as the evaluation's


@dataclass(frozen=True)
class PathImage:
    path: str  # relative to the dataset root
    width: int
    height: int


@dataclass(frozen=True, kw_only=True)
class DeploymentPathRecord(Record):
    """A user's checkpoint and one of its exports, each through anomalib's own inference path, on the original
    image files (``measure.deployment``): the export's decisions against the checkpoint's."""

    KIND: ClassVar[str] = "deployment_path"
    run_name: str
    method: str
    category: str
    runtime: str
    checkpoint_path: str  # "anomalib Engine.predict (Lightning), batch 1, on the files"
    export_path: Settings  # the inferencer, its device and the precision it ran
    images: list[PathImage]
    status: str  # paths_agree | paths_disagree
    tolerance: float
    label_flips: int
    flipped: list[str]
    score_error: float
    map_error: float
    mask_iou_min: float
    mask_iou_mean: float
    stages: list[StageDifference]
    diagnosis: str
    export: GivenExport
    checkpoint: CheckpointInfo
    dataset: DatasetInfo
    environment: Environment
    created: str


@dataclass(frozen=True)
class CandidateLimits:
    """What a candidate must meet against its FP32 model (None: measured, not judged)."""

    max_drop: dict[str, float]
    min_label_agreement: float | None
    min_mask_iou: float | None
    min_speedup: float | None
    max_size_ratio: float | None


@dataclass(frozen=True)
class CandidateBuild:
    """How a candidate was built: its store key (None: it runs the FP32 IR), settings, files and cost."""

    key: str | None
    settings: Settings  # NNCF version and scope, calibration images and their sha256, OpenVINO version
    sha256: dict[str, str]
    size_bytes: int
    build_s: float | None  # None when reused from the store


@dataclass(frozen=True, kw_only=True)
class CandidateRecord(Record):
    """A cheaper model built from the FP32 deployed model, judged against it on the full test split."""

    KIND: ClassVar[str] = "candidate"
    run_name: str
    method: str
    category: str
    candidate: str  # int8 | int8-fp32-search | fp16 | bf16
    description: str
    runtime: str
    device: str
    status: str  # accepted | rejected
    failures: list[str]  # each criterion missed, by how much
    criteria: CandidateLimits
    n_images: int
    fp32_metrics: dict[str, float]  # the FP32 OpenVINO model's, on the same images, by the same code
    metrics: dict[str, float]
    drop: dict[str, float]  # FP32 minus candidate
    label_agreement: float
    mask_iou: float
    speedup: SpeedUp  # FP32 OpenVINO time over the candidate's, A/B in one process
    latency_protocol: str
    fp32_size_bytes: int
    size_ratio: float
    build: CandidateBuild
    fp32_export: ExportInfo
    runtime_settings: Settings
    calibration: Calibration
    checkpoint: CheckpointInfo
    weights: WeightsInfo
    dataset: DatasetInfo
    environment: Environment
    created: str
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    drop_intervals: dict[str, IntervalInfo] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # paired
    # per judged metric: could this split certify a drop within the limit at all (interval half-width < limit)
    resolvable: dict[str, bool] | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class Aggregate:
    """One metric over seeds: mean, population std (pstdev) and n; a single seed has no spread (no ``pstd``)."""

    mean: float
    n: int
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    pstd: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    interval: IntervalInfo | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # the mean's, on the test split


@dataclass(frozen=True, kw_only=True)
class AblationRecord(Record):
    """PatchCore (over seeds) against PaDiM on one category, with deltas."""

    KIND: ClassVar[str] = "ablation"
    category: str
    dataset: str
    patchcore: dict[str, Aggregate]
    padim: dict[str, Aggregate]
    deltas: dict[str, float]  # PatchCore mean - PaDiM mean
    delta_intervals: dict[str, IntervalInfo] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # paired
    records: dict[str, list[str]]  # method -> the evaluation records aggregated
    scoring: dict[str, str]  # method -> the scoring its records name
    created: str


@dataclass(frozen=True)
class CategoryCheck:
    category: str
    train_good: int
    test_good: int
    test_defect: dict[str, int]
    fingerprint: str
    image_auroc_step: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # 1 / (good x defective)
    # per image-AUROC tolerance of the profile ("0.01"): test images a paired test needs to resolve it (planning)
    paired_images_needed: dict[str, int] | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class ManifestInfo:
    generator: str
    generator_version: int
    seed: int
    image_size: int


@dataclass(frozen=True, kw_only=True)
class DatasetCheckRecord(Record):
    KIND: ClassVar[str] = "dataset_check"
    root: str
    dataset: str
    synthetic_manifest: ManifestInfo | None
    categories: list[CategoryCheck]
    planning: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # how paired_images_needed is estimated


@dataclass(frozen=True, kw_only=True)
class MetricSpeedRecord(Record):
    KIND: ClassVar[str] = "metric_speed"
    input: str
    measure: str
    inspectnet_s: float
    reference_s: float
    reference: str
    speedup: float
    environment: Environment
    created: str


@dataclass(frozen=True)
class CoresetRow:
    ratio: float
    picks: int
    identical_picks: bool  # to anomalib's, on every pick (``CoresetScale.identity`` says against what)
    anomalib_s: float
    anomalib_estimated: bool  # True: anomalib timed on a prefix of its picks, the rest at its per-pick rate
    inspectnet_s: float
    speedup: float
    bytes_per_pick: float  # InspectNet's loop: what its tensor operations read, mean over the picks
    exact_rows_per_pick: float  # rows whose full distance was computed
    near_tie_picks: int  # picks re-decided in anomalib's float32 arithmetic
    working_set_bytes: int  # the loop's own tensors
    peak_rss_increase_bytes: int  # the process's peak resident memory during the call, minus before it


@dataclass(frozen=True)
class CoresetScale:
    name: str
    embedding: str  # what it is: category, dataset, images, backbone, layers, weights, shape
    patches: int
    dim: int
    projected_dim: int
    anomalib: str  # how anomalib was timed
    identity: str  # what the picks were compared with
    anomalib_bytes_per_pick: int  # by its code: features read, their difference written and read (3 N D 4)
    bytes_per_pick_by_tenth: list[float]  # InspectNet, the largest ratio's picks in ten equal parts
    rows: list[CoresetRow]


@dataclass(frozen=True, kw_only=True)
class CoresetSpeedRecord(Record):
    KIND: ClassVar[str] = "coreset_speed"
    measure: str
    scales: list[CoresetScale]
    environment: Environment
    created: str


@dataclass(frozen=True)
class NsStats:
    n: int
    warmup: int
    min_ns: float
    median_ns: float
    p95_ns: float
    p99_ns: float
    mean_ns: float
    std_ns: float


@dataclass(frozen=True, kw_only=True)
class HarnessOverheadRecord(Record):
    KIND: ClassVar[str] = "harness_overhead"
    what: str
    stats_ns: NsStats
    goal_ns: float
    median_share_of_a_5ms_call: float
    created: str


@dataclass(frozen=True)
class GateSettings:
    alpha: float
    min_effect: float
    records_alpha: float
    records_min_effect: float


@dataclass(frozen=True)
class Candidate:
    """One candidate decided against the baseline, and what the decision cost in wall time."""

    decision: RatioDecision
    seconds: float
    units: list[float]  # what it was decided on: the A/B quads' ratios, or the candidate record's run medians (ms)
    # records mode: each run's reference speed (GFLOP/s); the decision is on units x references
    references: list[float] | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class QualityTable:
    """One decision mode against one planted slowdown: unchanged candidates (false alarms) and slowed ones
    (detections), decided one by one."""

    mode: str  # "ab" | "records"
    slowdown: float  # planted, as a fraction of the baseline's call
    planted: str  # how
    measured_slowdown: float  # the median ratio over the slowed candidates, minus 1
    false_alarms: int
    detections: int
    candidates: int  # of each kind
    seconds_per_decision: float  # median wall time of one decision
    baseline_runs_ms: list[float]  # records mode: the baseline record's run medians (empty for A/B)
    unchanged: list[Candidate]
    slowed: list[Candidate]
    baseline_references: list[float] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # GFLOP/s per run


@dataclass(frozen=True, kw_only=True)
class GateQualityRecord(Record):
    KIND: ClassVar[str] = "gate_quality"
    subject: str
    host: str  # the CPU it ran on
    settings: GateSettings
    ab_protocol: str
    records_protocol: str
    baseline_median_ms: float
    tables: list[QualityTable]
    created: str


@dataclass(frozen=True)
class MarginRow:
    variant: str
    torch_threads: int
    runtime: str
    status: str
    max_abs_error: dict[str, float]
    reference_fp32_error: Fp32Error
    tie_band: float
    ambiguous_scores: list[TiedScore]
    label_flips: int
    mask_pixel_flips: int


@dataclass(frozen=True)
class MarginSummary:
    runs: int
    max_normalised_error: float
    max_raw_error: float
    margin_x: float
    verdicts: list[str]
    ambiguous_images: list[str]


@dataclass(frozen=True)
class MarginCategory:
    category: str
    rows: list[MarginRow]
    summary: dict[str, MarginSummary]  # runtime -> its worst case


@dataclass(frozen=True)
class Perturbations:
    torch_threads: list[int]
    feature_noise_relative: float
    noise_and_model_seeds: list[int]
    runtimes: list[str]


@dataclass(frozen=True, kw_only=True)
class ParityMarginRecord(Record):
    KIND: ClassVar[str] = "parity_margin"
    perturbations: Perturbations
    tolerance: float
    goal: float
    worst_normalised_error: float
    categories: list[MarginCategory]
    created: str


OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")  # a criterion's outcome, as pytest names it


@dataclass(frozen=True)
class FloorRow:
    """One runtime's latency under one configuration of the machine (``inspectnet.harness.floor_portability``)."""

    config: str
    environment: dict[str, str]  # what the configuration sets in the subprocess's environment
    misconfigured: bool  # a configuration the floor must catch
    category: str
    runtime: str
    runs: int
    median_ms: float
    layer_floor_ms: float
    layer_efficiency: float
    peak_efficiency: float
    peak_gflops_per_s: float
    torch_threads: int  # torch's threads in the runner (0 for the other runtimes)


@dataclass(frozen=True, kw_only=True)
class FloorPortabilityRecord(Record):
    """The portable latency floor against configurations of this machine: honest ones (as it is, its ISA
    restricted) must sit ``goal`` x above each runtime's floor, a misconfigured one below it."""

    KIND: ClassVar[str] = "floor_portability"
    machine_class: str
    floors: dict[str, float]  # the profile's min_layer_efficiency per runtime
    goal: float  # the least margin of an honest configuration over its floor
    rows: list[FloorRow]
    worst_honest: dict[str, float]  # per runtime, the lowest honest layer efficiency
    problems: list[str]  # what keeps the floor from being portable (empty: none)
    created: str


@dataclass(frozen=True)
class CriterionOutcome:
    """One acceptance test's outcome in the session that last ran it."""

    outcome: str  # one of OUTCOMES; an error in setup or teardown is "failed"
    suite: str  # the criterion's marker: accuracy | latency | parity | candidates
    message: str  # failed: the failure's first line (truncated); skipped, xfailed: the reason; "" otherwise
    created: str  # when the session that ran it ended (UTC)


@dataclass(frozen=True, kw_only=True)
class CriteriaRecord(Record):
    """Which acceptance criteria passed: a session replaces the entries of the tests it ran and keeps the
    others (``make run``'s pytest sessions share one record)."""

    KIND: ClassVar[str] = "criteria"
    ran: int  # tests in ``tests``
    counts: dict[str, int]  # outcome -> tests, every one of OUTCOMES (zeros included)
    tests: dict[str, CriterionOutcome]  # pytest node id -> its outcome
    created: str  # when the last session that wrote it ended (UTC)


KINDS: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        EvalRecord,
        LatencyRecord,
        ParityRecord,
        DeploymentPathRecord,
        CandidateRecord,
        AblationRecord,
        DatasetCheckRecord,
        MetricSpeedRecord,
        CoresetSpeedRecord,
        HarnessOverheadRecord,
        GateQualityRecord,
        ParityMarginRecord,
        FloorPortabilityRecord,
        CriteriaRecord,
    )
}

METRIC_DEFINITIONS = {
    "image_auroc": "exact ROC area of raw image scores, ties counted half",
    "pixel_auroc": "exact ROC area of raw anomaly-map pixels over the whole test split",
    "aupro": "area under the PRO curve up to FPR 0.3, divided by 0.3; 8-connected regions; interpolated at 0.3",
}


def parse(data: object, source: Path | str = "<record>") -> Record:
    """Any record kind, by its ``kind`` field; RecordError naming ``source`` otherwise."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise RecordError(f"{source}: unknown record kind {kind!r} (known: {known}); remove the file or fix its kind")
    return KINDS[kind].from_json(data, source)


def _read_json(path: Path) -> object:
    try:
        data: object = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from None
    return data


def read(path: Path) -> Record:
    return parse(_read_json(path), path)


def read_as(cls: type[R], path: Path) -> R:
    return cls.from_json(_read_json(path), path)


def write_record(path: Path, record: Record) -> None:
    atomic_write_json(path, record.to_json())


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- threshold sanity


@dataclass(frozen=True)
class FalseAlarmLimitInfo:
    """The profile's ``false_alarm_rate = { max = X }`` a run was held to."""

    max: float  # the most the rate's Clopper-Pearson upper bound may be
    source: str  # the profile file and key


@dataclass(frozen=True, kw_only=True)
class ThresholdRecord(Record):
    """The deployed thresholds of one model against its test split: where the image threshold sits among the
    raw scores, the false alarms it makes, and why it is not sane (``failures``; empty: it is)."""

    KIND: ClassVar[str] = "thresholds"
    run_name: str
    method: str
    category: str
    seed: int
    coreset: float | None
    thresholds_from: str  # "checkpoint" (the user's own, deployed as they are) or "inspectnet" (the test split)
    checkpoint: str | None  # the user's checkpoint, as given (None: InspectNet calibrated)
    calibration: Calibration  # the deployed values, raw-score units
    facts: ThresholdFacts
    limit: FalseAlarmLimitInfo | None  # None: the profile sets no false-alarm limit (the rate is only recorded)
    failures: list[str]  # one line each: what is wrong, the likely cause and what to do
    definitions: dict[str, str]
    evaluation: str  # the evaluation record of the same model (file name)
    created: str

    @property
    def sane(self) -> bool:
        return not self.failures


KINDS[ThresholdRecord.KIND] = ThresholdRecord
