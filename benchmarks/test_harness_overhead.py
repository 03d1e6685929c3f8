"""The latency harness's own cost: a no-op timed through exactly the path a model call takes (pytest-benchmark
pedantic mode, the Sampler, the synchronising Timer). Goal: under 1% of a 5 ms call (50 us) per sample.
Publishes ``<report-dir>/harness_overhead.json``.
"""

from __future__ import annotations

from typing import Any

import pytest

from inspectnet.builders import harness_overhead_record
from inspectnet.harness.latency import Sampler
from inspectnet.measure.latency import Timer, statistics
from inspectnet.report.emit import Publisher

pytestmark = pytest.mark.latency
GOAL_S = 0.01 * 5e-3


def test_harness_overhead(benchmark: Any, inspectnet_publisher: Publisher) -> None:
    sampler = Sampler(lambda x: None, [object()], Timer(), warmup=10)
    benchmark.pedantic(sampler.target, setup=sampler.setup, rounds=1000, warmup_rounds=10, iterations=1)
    if not sampler.timed_s:
        pytest.skip("pytest-benchmark is disabled: nothing was timed")
    # statistics() reports milliseconds of seconds; fed seconds x 1e6 its "ms" fields are nanoseconds
    stats = statistics([s * 1e6 for s in sampler.timed_s], warmup=len(sampler.warmup_s))
    path = inspectnet_publisher.emit(
        "harness_overhead.json",
        harness_overhead_record(
            what="a no-op call timed through pytest-benchmark pedantic + Sampler + Timer (perf_counter_ns)",
            stats_ns=stats,
            goal_ns=GOAL_S * 1e9,
        ),
    )
    assert stats.median_ms < GOAL_S * 1e9, f"harness overhead median {stats.median_ms:.0f} ns >= 50 us; {path}"
