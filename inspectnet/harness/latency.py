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

from inspectnet.builders import latency_entry, latency_record
from inspectnet.measure.latency import Floor, Timer, statistics, warmup_tail
from inspectnet.names import latency_record_name
from inspectnet.records import RuntimeLatency

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
        images = self.session.test_images(run)
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
        device, profile = runner.device, self.session.options.profile
        stats = statistics(sampler.timed_s, warmup=len(sampler.warmup_s))
        floor = self.floor(run, device)
        entry = latency_entry(
            runtime=runner.runtime,
            stats=stats,
            timed_s=sampler.timed_s,
            warmup_s=sampler.warmup_s,
            tail=warmup_tail(sampler.timed_s),
            floor_ms=floor.ms,
            efficiency=floor.efficiency(stats.median_ms),
            budget=profile.budget(device, runner.runtime),
            budget_source=profile.path.name,
            settings=runner.settings,
            artifact=self.session.export_block(run, runner.runtime),
        )
        entries = self._entries.setdefault((run, device), {})
        entries[runner.runtime] = entry
        record = latency_record(
            evaluation=self.session.evaluate(run).record,
            device=device,
            warmup=self.protocol.warmup,
            rounds=self.protocol.rounds,
            flops=self.flops(run),
            gemm=self.gemm(device),
            floor_ms=floor.ms,
            entries=entries,
        )
        return entry, self.session.emit(latency_record_name(run.name, device), record)
