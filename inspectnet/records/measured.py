"""Record blocks whose values are measured in ``measure`` and ``deploy``: the record's own declaration of them.

Each mirrors a producer's dataclass (named in its docstring) as it is written into a record; ``builders``
maps the producer's value onto it field by field, so a change to a producer cannot change a record's JSON
without a change here (and to the schema fingerprint, ``records.schema``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspectnet.typed_json import OMITTED_WHEN_NONE


@dataclass(frozen=True)
class CalibrationInfo:
    """The deployed calibration (``deploy.calibration.Calibration``): thresholds and normalisation bounds, in
    raw-score units."""

    image_threshold: float
    pixel_threshold: float
    image_min: float
    image_max: float
    pixel_min: float
    pixel_max: float


@dataclass(frozen=True)
class LatencyStats:
    """Statistics of one runtime's timed calls (``measure.latency.Stats``), rounded to 1e-4 ms."""

    n: int
    warmup: int
    min_ms: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float


@dataclass(frozen=True)
class WarmupTailInfo:
    """Was the first timed decile much slower than the rest (``measure.latency.WarmupTail``), rounded."""

    detected: bool
    first_decile_median_ms: float
    rest_median_ms: float
    ratio: float
    threshold: float


@dataclass(frozen=True)
class FlopsInfo:
    """The model's counted FLOPs at batch 1 (``measure.compute.FlopCount``)."""

    total: int
    by_operator: dict[str, int]
    counter: str


@dataclass(frozen=True)
class KernelRateInfo:
    """One dense kernel's rate in one runtime (``measure.peak.KernelRate``)."""

    runtime: str
    kernel: str
    flops: int
    best_s: float
    gflops_per_s: float


@dataclass(frozen=True)
class PeakMeasurementInfo:
    """The device's peak float32 rate, measured once (``measure.peak.PeakMeasurement``)."""

    device: str
    flops_per_s: int
    best: str
    kernels: list[KernelRateInfo]
    seconds: float


@dataclass(frozen=True)
class LayerOpInfo:
    """One of the model's dense ops timed alone (``measure.layers.LayerOp``)."""

    op: str
    count: int
    best_s: float


@dataclass(frozen=True)
class LayerTimingInfo:
    """A runtime's own time for the model's dense ops (``measure.layers.LayerTiming``)."""

    runtime: str
    threads: int
    floor_ms: float
    ops: list[LayerOpInfo]
    seconds: float


@dataclass(frozen=True)
class SpeedUpInfo:
    """FP32 time over a candidate's, from an A/B timing (``measure.candidates.SpeedUp``)."""

    ratio: float
    low: float
    high: float
    confidence: float
    quads: int
    fp32_median_ms: float
    candidate_median_ms: float

    def describe(self) -> str:
        return f"x{self.ratio:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.confidence:.1%}, n={self.quads})"


@dataclass(frozen=True)
class DecisionInfo:
    """A latency verdict (``measure.ab.RatioDecision``): current over baseline, its interval and the verdict."""

    mode: str  # "ab" | "records"
    ratio: float
    low: float
    high: float
    confidence: float
    units: int
    verdict: str  # regressed | improved | same | undecided
    reason: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # why undecided


@dataclass(frozen=True)
class StageDifferenceInfo:
    """One stage of the two deployment paths compared (``measure.deployment.StageDifference``)."""

    stage: str
    max_abs_error: float | None  # None: one path does not expose it
    reference_max_abs: float
    differs: bool


@dataclass(frozen=True)
class ThresholdFactsInfo:
    """Where the image threshold sits among a test split's raw scores (``measure.thresholds.ThresholdFacts``)."""

    image_threshold: float
    normal_images: int
    anomalous_images: int
    lowest_normal: float | None
    highest_normal: float | None
    lowest_anomalous: float | None
    highest_score: float
    false_alarms: int
    missed: int
    false_alarm_rate: float | None
    false_alarm_upper: float | None
    confidence: float
