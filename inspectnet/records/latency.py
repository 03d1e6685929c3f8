"""Record kinds about latency: one model's latency per runtime, the gate's quality and the floor's portability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from inspectnet.records.base import (
    CheckpointInfo,
    DatasetInfo,
    ExportInfo,
    GivenExport,
    ModelInfo,
    ModelSource,
    Record,
    Scoring,
    Settings,
    WeightsInfo,
)
from inspectnet.records.measured import (
    DecisionInfo,
    FlopsInfo,
    LatencyStats,
    LayerTimingInfo,
    PeakMeasurementInfo,
    WarmupTailInfo,
)
from inspectnet.typed_json import OMITTED_WHEN_NONE


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
    stats: LatencyStats  # over every run's timed calls
    runs: list[LatencyRun]
    warmup_tail: WarmupTailInfo  # of the first run (the one right after the model was loaded)
    calibrations: list[PeakMeasurementInfo]  # the device's peak rate, measured before and after each run
    compute_floor_ms: float  # counted FLOPs over the best of those peak measurements
    efficiency: float  # compute floor / median: at most 1 when the floor is a floor; machine-dependent
    layer_calibrations: list[LayerTimingInfo]  # this runtime's own time for the model's dense ops, after each run
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
        return max(p.flops_per_s for p in self.calibrations)


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
    flops: FlopsInfo
    peak_method: str  # how the device's peak float32 rate was measured
    layer_method: str  # how each runtime's layer floor was measured
    peak_gflops_per_s: float  # the best peak measurement among the runtimes'
    compute_floor_ms: float  # counted FLOPs over that rate
    platform: Platform
    stat_definitions: dict[str, str]
    runtimes: dict[str, RuntimeLatency]
    created: str
    source: ModelSource | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # as the evaluation's


@dataclass(frozen=True)
class GateSettings:
    alpha: float
    min_effect: float
    records_alpha: float
    records_min_effect: float


@dataclass(frozen=True)
class GateTrial:
    """One trial of the gate (an unchanged or a slowed copy of the model) decided against the baseline, and what
    the decision cost in wall time."""

    decision: DecisionInfo
    seconds: float
    units: list[float]  # what it was decided on: the A/B quads' ratios, or the trial record's run medians (ms)
    # records mode: each run's reference speed (GFLOP/s); the decision is on units x references
    references: list[float] | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class QualityTable:
    """One decision mode against one planted slowdown: unchanged trials (false alarms) and slowed ones
    (detections), decided one by one."""

    mode: str  # "ab" | "records"
    slowdown: float  # planted, as a fraction of the baseline's call
    planted: str  # how
    measured_slowdown: float  # the median ratio over the slowed trials, minus 1
    false_alarms: int
    detections: int
    candidates: int  # trials of each kind (the JSON field keeps its name)
    seconds_per_decision: float  # median wall time of one decision
    baseline_runs_ms: list[float]  # records mode: the baseline record's run medians (empty for A/B)
    unchanged: list[GateTrial]
    slowed: list[GateTrial]
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
