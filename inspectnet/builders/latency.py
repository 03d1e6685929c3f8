"""Builders of the latency records: one model's latency per runtime, the gate's quality and the floor's
portability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.builders.blocks import (
    block,
    decision_info,
    flops_info,
    latency_stats,
    layer_timing_info,
    peak_measurement_info,
    settings_block,
    warmup_tail_info,
)
from inspectnet.hostinfo import platform_block
from inspectnet.measure.latency import STAT_DEFINITIONS
from inspectnet.measure.layers import METHOD as LAYER_METHOD
from inspectnet.measure.peak import METHOD as PEAK_METHOD
from inspectnet.records import (
    BudgetInfo,
    EvalRecord,
    ExportInfo,
    FloorPortabilityRecord,
    FloorRow,
    GateQualityRecord,
    GateSettings,
    GateTrial,
    GivenExport,
    LatencyRecord,
    LatencyRun,
    Platform,
    Protocol,
    QualityTable,
    RuntimeLatency,
    now,
)

if TYPE_CHECKING:
    from inspectnet.criteria.latency import Budget
    from inspectnet.measure.ab import RatioDecision
    from inspectnet.measure.compute import FlopCount
    from inspectnet.measure.latency import Stats, WarmupTail
    from inspectnet.measure.layers import LayerTiming
    from inspectnet.measure.peak import PeakMeasurement


def latency_run(index: int, started: str, warmup_s: Sequence[float], timed_s: Sequence[float]) -> LatencyRun:
    """One run of a runtime's timing, in milliseconds."""
    timed_ms = [round(s * 1e3, 4) for s in timed_s]
    return LatencyRun(
        index=index,
        started=started,
        warmup_samples_ms=[round(s * 1e3, 4) for s in warmup_s],
        samples_ms=timed_ms,
        median_ms=round(float(np.median(timed_ms)), 4),
    )


def latency_entry(
    *,
    runtime: str,
    stats: Stats,
    runs: Sequence[LatencyRun],
    tail: WarmupTail,
    peaks: Sequence[PeakMeasurement],
    floor_ms: float,
    efficiency: float,
    layer_timings: Sequence[LayerTiming],
    budget: Budget,
    budget_source: str,
    records: str,
    settings: Mapping[str, object],
    artifact: ExportInfo | GivenExport | None,
) -> RuntimeLatency:
    """One runtime's entry of a latency record: statistics, every run, both floors and the budget verdict
    (``records``: where these records go, for the line that says how to write a class budget from them)."""
    layer_floor = float(np.median([t.floor_ms for t in layer_timings]))
    layer_efficiency = layer_floor / stats.median_ms
    m = budget.machine
    budget_info = BudgetInfo(
        min_layer_efficiency=budget.min_layer_efficiency,
        machine_class=budget.machine_class,
        class_budget=m.pattern if m else None,
        median_ms=m.median_ms if m else None,
        p95_ms=m.p95_ms if m else None,
        not_judged=budget.not_judged(records),
        source=budget_source,
    )
    return RuntimeLatency(
        runtime=runtime,
        stats=latency_stats(stats),
        runs=list(runs),
        warmup_tail=warmup_tail_info(tail),
        calibrations=[peak_measurement_info(p) for p in peaks],
        compute_floor_ms=round(floor_ms, 4),
        efficiency=round(efficiency, 4),
        layer_calibrations=[layer_timing_info(t) for t in layer_timings],
        layer_floor_ms=round(layer_floor, 4),
        layer_efficiency=round(layer_efficiency, 4),
        budget=budget_info,
        budget_failures=budget.failures(stats.median_ms, stats.p95_ms, round(layer_efficiency, 4)),
        settings=settings_block(settings),
        artifact=artifact,
        measured=now(),
    )


PROTOCOL_TEXT = {
    "inputs": "the category's test images (normal and defective) in order, cycled; preprocessed "
    "1x3xSxS float32 (resize and normalisation are not timed)",
    "timer": "time.perf_counter_ns around one call; the device is synchronised before start and stop",
    "harness": "pytest-benchmark pedantic mode (one call per round); each run is its own test, and the test "
    "order puts runs outermost, so one runtime's runs are spread over the session",
    "outputs": "raw and normalised map and score, label, mask (anomalib PostProcessor in the graph)",
}


def latency_record(
    *,
    evaluation: EvalRecord,
    device: str,
    runs: int,
    warmup: int,
    rounds: int,
    flops: FlopCount,
    entries: Mapping[str, RuntimeLatency],
) -> LatencyRecord:
    """Latency of ``evaluation``'s model on ``device``: an entry per runtime, the floor and the platform."""
    peak = max(p.flops_per_s for e in entries.values() for p in e.calibrations)
    return LatencyRecord(
        run_name=evaluation.run_name,
        method=evaluation.method,
        category=evaluation.category,
        device=device,
        model=evaluation.model,
        scoring=evaluation.scoring,
        weights=evaluation.weights,
        dataset=evaluation.dataset,
        checkpoint=evaluation.checkpoint,
        protocol=Protocol(
            batch_size=1,
            image_size=evaluation.model.image_size,
            runs=runs,
            warmup_calls=warmup,
            timed_calls=rounds,
            **PROTOCOL_TEXT,
        ),
        flops=flops_info(flops),
        peak_method=PEAK_METHOD,
        layer_method=LAYER_METHOD,
        peak_gflops_per_s=round(peak / 1e9, 2),
        compute_floor_ms=round(flops.total / peak * 1e3, 4),
        platform=block(Platform, platform_block(device)),
        stat_definitions=STAT_DEFINITIONS,
        runtimes=dict(sorted(entries.items())),
        created=now(),
        source=evaluation.source,
    )


def gate_trial(
    decision: RatioDecision, seconds: float, units: Sequence[float], references: Sequence[float] | None = None
) -> GateTrial:
    """One candidate of the gate's quality benchmark, decided against the baseline in ``seconds``."""
    return GateTrial(
        decision_info(decision), seconds, list(units), list(references) if references is not None else None
    )


def gate_quality_record(
    *,
    subject: str,
    host: str,
    settings: GateSettings,
    ab_protocol: str,
    records_protocol: str,
    baseline_median_ms: float,
    tables: Sequence[QualityTable],
) -> GateQualityRecord:
    """The gate's quality on this machine: one table per decision mode against its planted slowdown."""
    return GateQualityRecord(
        subject=subject,
        host=host,
        settings=settings,
        ab_protocol=ab_protocol,
        records_protocol=records_protocol,
        baseline_median_ms=round(baseline_median_ms, 3),
        tables=list(tables),
        created=now(),
    )


def floor_portability_record(
    *,
    machine_class: str,
    floors: Mapping[str, float],
    goal: float,
    rows: Sequence[FloorRow],
    worst_honest: Mapping[str, float],
    problems: Sequence[str],
) -> FloorPortabilityRecord:
    """The portable floor against configurations of this machine (``harness.floor_portability``)."""
    return FloorPortabilityRecord(
        machine_class=machine_class,
        floors=dict(floors),
        goal=goal,
        rows=list(rows),
        worst_honest=dict(worst_honest),
        problems=list(problems),
        created=now(),
    )
