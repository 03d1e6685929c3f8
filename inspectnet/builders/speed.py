"""Builders of the records of the benchmarks that time InspectNet's own code: metrics, the coreset, the
latency harness's own overhead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from inspectnet.builders.blocks import environment_info
from inspectnet.records import (
    CardRun,
    CoresetScale,
    CoresetSpeedRecord,
    HarnessOverheadRecord,
    MetricSpeedRecord,
    NsStats,
    WholeCardRecord,
    now,
)

if TYPE_CHECKING:
    from inspectnet.measure.latency import Stats

CALL_NS = 5e6  # the model call the harness's overhead is judged against: 5 ms


def metric_speed_record(
    *, input: str, measure: str, inspectnet_s: float, reference_s: float, reference: str
) -> MetricSpeedRecord:
    """InspectNet's pixel metrics against the reference implementation's, timed on the same input."""
    return MetricSpeedRecord(
        input=input,
        measure=measure,
        inspectnet_s=round(inspectnet_s, 4),
        reference_s=round(reference_s, 4),
        reference=reference,
        speedup=round(reference_s / inspectnet_s, 2),
        environment=environment_info("cpu"),
        created=now(),
    )


def coreset_speed_record(*, measure: str, scales: Sequence[CoresetScale], device: str) -> CoresetSpeedRecord:
    """InspectNet's coreset sampling against anomalib's, at each scale (``harness.coreset_speed``)."""
    return CoresetSpeedRecord(measure=measure, scales=list(scales), environment=environment_info(device), created=now())


def harness_overhead_record(*, what: str, stats_ns: Stats, goal_ns: float) -> HarnessOverheadRecord:
    """The latency harness's cost per call; ``stats_ns``: statistics whose ``_ms`` fields hold nanoseconds
    (``measure.latency.statistics`` fed seconds x 1e6), rounded to 1e-4 ns."""
    s = stats_ns
    return HarnessOverheadRecord(
        what=what,
        stats_ns=NsStats(
            n=s.n,
            warmup=s.warmup,
            min_ns=round(s.min_ms, 4),
            median_ns=round(s.median_ms, 4),
            p95_ns=round(s.p95_ms, 4),
            p99_ns=round(s.p99_ms, 4),
            mean_ns=round(s.mean_ms, 4),
            std_ns=round(s.std_ms, 4),
        ),
        goal_ns=goal_ns,
        median_share_of_a_5ms_call=round(s.median_ms / CALL_NS, 8),
        created=now(),
    )


def whole_card_record(
    *, sizes: str, split_sizes: dict[str, list[int]], runs: list[CardRun], compared: int, differences: list[str]
) -> WholeCardRecord:
    """``make run``'s steps timed on clean checkouts (``harness.wholecard``); the speed-up of the last run
    over the first when there are two."""
    speedup = round(runs[0].wall_s / runs[-1].wall_s, 2) if len(runs) > 1 and runs[-1].wall_s > 0 else None
    return WholeCardRecord(
        measure=(
            "make run's steps (inspectnet.pipeline) on a clean checkout of each revision, empty store, "
            f"the generator's {sizes} split sizes, one revision after the other on this machine; each pytest "
            "process's seconds booked by suite and phase (exclusive), memory per category segment"
        ),
        sizes=sizes,
        split_sizes=split_sizes,
        runs=runs,
        speedup=speedup,
        differences=differences,
        compared_records=compared,
        environment=environment_info("cpu"),
        created=now(),
    )
