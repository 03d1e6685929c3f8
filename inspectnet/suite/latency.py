"""Latency acceptance: per category x device x runtime, batch 1, warm-up then timed calls on real test images.

`pytest -m latency` (CPU: torch eager, onnxruntime, OpenVINO f32; `--inspectnet-device cuda` on a GPU).
Each test times its runtime through pytest-benchmark's pedantic mode (so --benchmark-json and
--benchmark-compare work), writes ``patchcore_<category>_latency_<device>.json`` with an entry per runtime,
and checks the profile's budget on the last run: the portable floor (layer efficiency: the runtime's own
time for the model's dense ops over its median) on any machine, and median / p95 in ms where the profile
has a budget for this machine's class (on another class the numbers are recorded, not judged, and a
warning says how to write one).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from inspectnet import ledger
from inspectnet.harness.latency import LatencyRecorder
from inspectnet.harness.session import Session

pytestmark = pytest.mark.latency


def test_latency(
    inspectnet: Session,
    inspectnet_latency: LatencyRecorder,
    inspectnet_latency_case: tuple[str, str, str, int],
    benchmark: Any,
    inspectnet_latency_wrap: Callable[[Callable[[Any], Any]], Callable[[Any], Any]],
) -> None:
    from inspectnet.criteria.latency import BudgetNotJudged
    from inspectnet.deploy.runtimes import RuntimeUnavailable
    from inspectnet.hostinfo import machine_class
    from inspectnet.records import now

    category, device, runtime, run_index = inspectnet_latency_case
    run = inspectnet.measured_run(category)
    if run is None:
        pytest.skip(f"no model of {category} to measure (the given checkpoints hold none)")
    budget = inspectnet.options.profile.budget(device, runtime, machine_class(device))  # missing: fails untimed
    try:
        with ledger.phase("load runtime"):
            runner = inspectnet.runner(run, runtime, device)
    except RuntimeUnavailable as exc:
        pytest.skip(str(exc))
    protocol = inspectnet_latency.protocol
    sampler = inspectnet_latency.sampler(run, runner, inspectnet_latency_wrap)
    benchmark.extra_info.update(category=category, device=device, runtime=runtime, run=run_index + 1)
    before, started = inspectnet_latency.before_run(device), now()
    with ledger.phase("timed calls"):
        benchmark.pedantic(
            sampler.target, setup=sampler.setup, rounds=protocol.rounds, warmup_rounds=protocol.warmup, iterations=1
        )
    if len(sampler.timed_s) != protocol.rounds:
        pytest.fail(
            f"{len(sampler.timed_s)} of {protocol.rounds} calls were timed: pytest-benchmark is disabled "
            "(--benchmark-disable, or under xdist); latency was not measured",
            pytrace=False,
        )
    with ledger.phase("record"):
        entry, path = inspectnet_latency.record(run, runner, sampler, before, started)
    if run_index + 1 < protocol.runs:
        return  # timed and recorded (checked above); the budget is judged by the last run, over every run
    stats = entry.stats
    runs = f"{len(entry.runs)} run{'s' * (len(entry.runs) != 1)}"
    summary = (
        f"{category}-{device}-{runtime} ({runs}): median {stats.median_ms:.3f} ms, "
        f"p95 {stats.p95_ms:.3f} ms, "
        f"min {stats.min_ms:.3f}, std {stats.std_ms:.3f} (n={stats.n}, warm-up {stats.warmup}); "
        f"layer floor {entry.layer_floor_ms:.3f} ms, layer efficiency {entry.layer_efficiency:.3f}; "
        f"peak efficiency {entry.efficiency:.3f}"
    )
    if entry.budget.not_judged is not None:
        warnings.warn(BudgetNotJudged(f"{category}-{device}-{runtime}: {entry.budget.not_judged}"), stacklevel=1)
    if entry.budget_failures:  # the line and the record, not the session objects' reprs
        failures = "; ".join(entry.budget_failures)
        pytest.fail(f"{summary}; {failures} -- {budget.describe()}; record: {path}", pytrace=False)
