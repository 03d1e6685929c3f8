"""Record kinds that compare a deployed model with its reference: parity, the deployment path, deployment
candidates and the parity margin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from inspectnet.records.base import (
    CheckpointInfo,
    DatasetInfo,
    Environment,
    ExportInfo,
    GivenExport,
    IntervalInfo,
    ModelSource,
    Record,
    Scoring,
    Settings,
    WeightsInfo,
)
from inspectnet.records.measured import CalibrationInfo, SpeedUpInfo, StageDifferenceInfo
from inspectnet.typed_json import OMITTED_WHEN_NONE


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
    candidate_raw: float  # the compared model's (the field keeps its name)
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
    candidate: dict[str, float]  # the compared model's (the field keeps its name)
    definition: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class StageError:
    """One stage of the deployed model (``measure.stages``): the compared model's max abs error against the torch
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
    calibration: CalibrationInfo
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
    stages: list[StageDifferenceInfo]
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
    settings: Settings  # NNCF version and scope, quantisation images and their sha256, OpenVINO version
    sha256: dict[str, str]
    size_bytes: int
    build_s: float | None  # None when reused from the store


# how ``latency_protocol`` opens for a candidate timed on the short screening A/B: no verdict rests on its
# speed-up (another criterion already rejects it, or its criteria set no min_speedup): recorded, not judged
SCREENED = "screening, no verdict resting on the speed-up (recorded, not judged): "


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
    speedup: SpeedUpInfo  # FP32 OpenVINO time over the candidate's, A/B in one process
    latency_protocol: str
    fp32_size_bytes: int
    size_ratio: float
    build: CandidateBuild
    fp32_export: ExportInfo
    runtime_settings: Settings
    calibration: CalibrationInfo
    checkpoint: CheckpointInfo
    weights: WeightsInfo
    dataset: DatasetInfo
    environment: Environment
    created: str
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    drop_intervals: dict[str, IntervalInfo] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # paired
    # per judged metric: could this split certify a drop within the limit at all (interval half-width < limit)
    resolvable: dict[str, bool] | None = field(default=None, metadata=OMITTED_WHEN_NONE)

    @property
    def screened(self) -> bool:
        """Timed on the screening A/B: rejected before its speed was measured, or judged on no speed-up."""
        return self.latency_protocol.startswith(SCREENED)


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
