"""Record kinds of the benchmarks that time InspectNet's own code: metrics, the coreset, the harness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from inspectnet.records.base import Environment, Record


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
