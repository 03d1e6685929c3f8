"""Record kinds about accuracy and what a run was judged by: the evaluation, the ablation, the dataset check,
threshold sanity and which criteria passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from inspectnet.records.base import (
    CheckpointInfo,
    Counts,
    DatasetInfo,
    Environment,
    IntervalInfo,
    ModelInfo,
    ModelSource,
    Record,
    Scoring,
    SplitSample,
    WeightsInfo,
)
from inspectnet.records.measured import CalibrationInfo, ThresholdFactsInfo
from inspectnet.typed_json import OMITTED_WHEN_NONE


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


METRIC_DEFINITIONS = {
    "image_auroc": "exact ROC area of raw image scores, ties counted half",
    "pixel_auroc": "exact ROC area of raw anomaly-map pixels over the whole test split",
    "aupro": "area under the PRO curve up to FPR 0.3, divided by 0.3; 8-connected regions; interpolated at 0.3",
}


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
    calibration: CalibrationInfo  # the deployed values, raw-score units
    facts: ThresholdFactsInfo
    limit: FalseAlarmLimitInfo | None  # None: the profile sets no false-alarm limit (the rate is only recorded)
    failures: list[str]  # one line each: what is wrong, the likely cause and what to do
    definitions: dict[str, str]
    evaluation: str  # the evaluation record of the same model (file name)
    created: str

    @property
    def sane(self) -> bool:
        return not self.failures


OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")  # a criterion's outcome, as pytest names it


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
