"""Latency acceptance: per category x device x runtime, batch 1, warm-up then timed calls on real test images.

`pytest benchmarks` (CPU: torch eager, onnxruntime, OpenVINO f32) or `pytest benchmarks --device cuda`.
Each test times its runtime through pytest-benchmark's pedantic mode (so --benchmark-json and
--benchmark-compare work), writes ``patchcore_<category>_latency_<device>.json`` with an entry per runtime,
and checks the profile's budget: median / p95 in ms and/or a minimum efficiency (compute floor / median).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inspectnet.harness.latency import LatencyRecorder
from inspectnet.harness.session import Session

pytestmark = pytest.mark.latency


def test_latency(
    inspectnet: Session,
    latency_recorder: LatencyRecorder,
    latency_case: tuple[str, str, str, int],
    benchmark: Any,
    inspectnet_latency_wrap: Callable[[Callable[[Any], Any]], Callable[[Any], Any]],
) -> None:
    from inspectnet.deploy.runtimes import RuntimeUnavailable
    from inspectnet.records import now

    category, device, runtime, run_index = latency_case
    run = inspectnet.measured_run(category)
    if run is None:
        pytest.skip(f"no model of {category} to measure (--model gave none)")
    budget = inspectnet.options.profile.budget(device, runtime)  # a missing budget fails before any timing
    try:
        runner = inspectnet.runner(run, runtime, device)
    except RuntimeUnavailable as exc:
        pytest.skip(str(exc))
    protocol = latency_recorder.protocol
    sampler = latency_recorder.sampler(run, runner, inspectnet_latency_wrap)
    benchmark.extra_info.update(category=category, device=device, runtime=runtime, run=run_index + 1)
    before, started = latency_recorder.before_run(device), now()
    benchmark.pedantic(
        sampler.target, setup=sampler.setup, rounds=protocol.rounds, warmup_rounds=protocol.warmup, iterations=1
    )
    if len(sampler.timed_s) != protocol.rounds:
        pytest.fail(
            f"{len(sampler.timed_s)} of {protocol.rounds} calls were timed: pytest-benchmark is disabled "
            "(--benchmark-disable, or under xdist); latency was not measured",
            pytrace=False,
        )
    entry, path = latency_recorder.record(run, runner, sampler, before, started)
    if run_index + 1 < protocol.runs:
        return  # timed and recorded (checked above); the budget is judged by the last run, over every run
    stats = entry.stats
    summary = (
        f"{category}-{device}-{runtime} ({len(entry.runs)} runs): median {stats.median_ms:.3f} ms, "
        f"p95 {stats.p95_ms:.3f} ms, "
        f"min {stats.min_ms:.3f}, std {stats.std_ms:.3f} (n={stats.n}, warm-up {stats.warmup}); "
        f"floor {entry.compute_floor_ms:.3f} ms, efficiency {entry.efficiency:.3f}"
    )
    assert not entry.budget_failures, (
        f"{summary}; {'; '.join(entry.budget_failures)} -- {budget.describe()}; record: {path}"
    )
