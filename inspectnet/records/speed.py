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


@dataclass(frozen=True)
class PhaseTime:
    phase: str  # a path: "parity / export", exclusive of the phases inside it
    seconds: float
    calls: int


@dataclass(frozen=True)
class StepTime:
    command: str  # one of make run's steps (``inspectnet.pipeline``)
    wall_s: float
    phases: list[PhaseTime]  # a pytest step's account (``inspectnet.ledger``); empty for the other steps
    unbooked_s: float  # wall minus the phases: interpreter start-up and imports before the ledger opened


@dataclass(frozen=True)
class MemorySegment:
    command: str
    suite: str
    category: str  # "" for tests about no category
    tests: int
    start_mib: int  # resident memory when the segment's first test began
    peak_mib: int  # its peak during the segment (the kernel's counter reset at its start)


@dataclass(frozen=True)
class CardRun:
    revision: str  # the commit the run is of
    wall_s: float
    exit_status: int
    steps: list[StepTime]
    segments: list[MemorySegment]
    peak_rss_mib: int  # the largest segment peak (each step's process)
    peak_rss_per_category_mib: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class WholeCardRecord(Record):
    KIND: ClassVar[str] = "whole_card"
    measure: str  # what was run and how
    sizes: str  # the generator's split sizes ("embedded" or "mvtec")
    split_sizes: dict[str, list[int]]  # category -> [train, test good, test defective]
    runs: list[CardRun]  # one per revision, in the order given (older first when compared)
    speedup: float | None  # the first run's wall over the last's, when there are two
    differences: list[str]  # metric and parity numbers that differ between the runs' records (none: same)
    compared_records: int  # how many accuracy and parity records were compared
    environment: Environment
    created: str
