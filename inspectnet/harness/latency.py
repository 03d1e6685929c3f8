"""Latency of a session's deployed models: timed calls on real test images, then one record per
(category, device) with an entry per runtime, the compute floor and the platform.

Plain Python: ``Sampler`` gives pytest-benchmark's pedantic mode its ``setup`` and ``target`` (or is driven
by ``drive`` without pytest); ``LatencyRecorder`` turns the samples into records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet.measure.latency import STAT_DEFINITIONS, Floor, Timer, statistics, warmup_tail
from inspectnet.names import latency_record_name
from inspectnet.records import SCHEMA_VERSION, LatencyRecord, RuntimeLatency, now

if TYPE_CHECKING:
    from inspectnet.criteria import RunKey
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.session import Session
    from inspectnet.measure.compute import FlopCount, Gemm


@dataclass(frozen=True)
class Protocol:
    warmup: int = 10
    rounds: int = 50


@dataclass
class Sampler:
    """Cycles through placed inputs; the first ``warmup`` timed calls are kept apart from the rest."""

    call: Callable[[Any], Any]
    inputs: list[Any]
    timer: Timer
    warmup: int
    warmup_s: list[float] = field(default_factory=list)
    timed_s: list[float] = field(default_factory=list)
    _next: int = 0

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        x = self.inputs[self._next % len(self.inputs)]
        self._next += 1
        return (x,), {}

    def target(self, x: Any) -> None:
        seconds = self.timer.time(self.call, x)
        (self.warmup_s if len(self.warmup_s) < self.warmup else self.timed_s).append(seconds)


def drive(sampler: Sampler, rounds: int) -> None:
    """What pytest-benchmark's pedantic mode does with ``sampler``, without pytest."""
    for _ in range(sampler.warmup + rounds):
        args, _ = sampler.setup()
        sampler.target(*args)


@dataclass
class LatencyRecorder:
    session: Session
    protocol: Protocol = field(default_factory=Protocol)
    _gemm: dict[str, Gemm] = field(default_factory=dict)
    _flops: dict[RunKey, FlopCount] = field(default_factory=dict)
    _entries: dict[tuple[RunKey, str], dict[str, RuntimeLatency]] = field(default_factory=dict)

    def sampler(self, run: RunKey, runner: Runner, wrap: Callable[[Any], Any] | None = None) -> Sampler:
        """A sampler over ``run``'s test images (normal and defective), placed on the runner's device."""
        images = self.session.evaluate(run).inputs.test.numpy()
        placed = [runner.place(np.ascontiguousarray(images[i : i + 1])) for i in range(images.shape[0])]
        call = runner.call if wrap is None else wrap(runner.call)
        return Sampler(call, placed, Timer(sync=runner.sync), self.protocol.warmup)

    def gemm(self, device: str) -> Gemm:
        from inspectnet.measure.compute import gemm_throughput

        if device not in self._gemm:
            self._gemm[device] = gemm_throughput(device)
        return self._gemm[device]

    def flops(self, run: RunKey) -> FlopCount:
        from inspectnet.measure.compute import count_flops

        if run not in self._flops:
            module = self.session.deployment(run).module
            self._flops[run] = count_flops(module, self.session.spec(run).image_size, self.session.options.device)
        return self._flops[run]

    def floor(self, run: RunKey, device: str) -> Floor:
        return Floor(self.flops(run).total, self.gemm(device).flops_per_s)

    def record(self, run: RunKey, runner: Runner, sampler: Sampler) -> tuple[RuntimeLatency, Path]:
        """The runtime's entry from ``sampler``'s samples; the (category, device) record rewritten with it."""
        device = runner.device
        stats = statistics(sampler.timed_s, warmup=len(sampler.warmup_s))
        floor = self.floor(run, device)
        efficiency = floor.efficiency(stats.median_ms)
        budget = self.session.options.profile.budget(device, runner.runtime)
        artifact = None if runner.runtime == "torch" else self.session.exported(run).as_record()
        entry = RuntimeLatency(
            runtime=runner.runtime,
            stats=stats.as_record(),
            samples_ms=[round(s * 1e3, 4) for s in sampler.timed_s],
            warmup_samples_ms=[round(s * 1e3, 4) for s in sampler.warmup_s],
            warmup_tail=warmup_tail(sampler.timed_s).as_record(),
            compute_floor_ms=round(floor.ms, 4),
            efficiency=round(efficiency, 4),
            budget=budget.as_record() | {"source": str(self.session.options.profile.path.name)},
            budget_failures=budget.failures(stats.median_ms, stats.p95_ms, efficiency),
            settings=runner.settings,
            artifact=artifact,
            measured=now(),
        )
        entries = self._entries.setdefault((run, device), {})
        entries[runner.runtime] = entry
        record = self._latency_record(run, device, entries)
        path = self.session.emit(latency_record_name(run.name, device), record.to_json())
        return entry, path

    def _latency_record(self, run: RunKey, device: str, entries: dict[str, RuntimeLatency]) -> LatencyRecord:
        from inspectnet.hostinfo import platform_block

        session = self.session
        evaluation = session.evaluate(run)
        spec = session.spec(run)
        return LatencyRecord(
            kind="latency",
            schema_version=SCHEMA_VERSION,
            run_name=run.name,
            method=spec.method,
            category=spec.category,
            device=device,
            model=evaluation.record.model,
            scoring=evaluation.record.scoring,
            weights=evaluation.record.weights,
            dataset=evaluation.record.dataset,
            checkpoint=evaluation.record.checkpoint,
            protocol={
                "batch_size": 1,
                "image_size": spec.image_size,
                "warmup_calls": self.protocol.warmup,
                "timed_calls": self.protocol.rounds,
                "inputs": "the category's test images (normal and defective) in order, cycled; preprocessed "
                "1x3xSxS float32 (resize and normalisation are not timed)",
                "timer": "time.perf_counter_ns around one call; the device is synchronised before start and stop",
                "harness": "pytest-benchmark pedantic mode (one call per round)",
                "outputs": "raw and normalised map and score, label, mask (anomalib PostProcessor in the graph)",
            },
            flops=self.flops(run).as_record(),
            gemm=self.gemm(device).as_record(),
            compute_floor_ms=round(self.floor(run, device).ms, 4),
            platform=platform_block(device),
            stat_definitions=STAT_DEFINITIONS,
            runtimes=dict(sorted(entries.items())),
            created=now(),
        )
