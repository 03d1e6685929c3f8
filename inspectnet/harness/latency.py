"""Latency of a session's deployed models: timed calls on real test images, in several runs per runtime
spread over the session, then one record per (category, device) with an entry per runtime, the compute
floor (counted FLOPs over the device's peak rate, measured around each run), the runtime's layer floor
(its own time for the model's dense ops, measured after each run: what the portable floor judges) and the
platform.

Plain Python: ``Sampler`` gives pytest-benchmark's pedantic mode its ``setup`` and ``target`` (or is driven
by ``drive`` without pytest); ``LatencyRecorder`` turns the runs into records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet import ledger
from inspectnet.builders import latency_entry, latency_record, latency_run
from inspectnet.measure.latency import Floor, Timer, statistics, warmup_tail
from inspectnet.names import latency_record_name
from inspectnet.records import LatencyRun, RuntimeLatency

if TYPE_CHECKING:
    from inspectnet.deploy.dense import DenseOp
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.session import Session
    from inspectnet.measure.compute import FlopCount
    from inspectnet.measure.layers import LayerMeter, LayerTiming
    from inspectnet.measure.peak import PeakMeasurement, PeakMeter
    from inspectnet.names import RunKey


@dataclass(frozen=True)
class Protocol:
    warmup: int = 5  # untimed calls before each run
    rounds: int = 12  # timed calls per run
    runs: int = 5  # runs per runtime, spread over the session


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


_Run = tuple[LatencyRun, "PeakMeasurement", "PeakMeasurement", "LayerTiming"]  # a run, peak before/after, layers


@dataclass
class LatencyRecorder:
    """Collects each runtime's runs (a test per run; runs of one case are spread over the session) and
    rewrites the (category, device) record after each. The device's peak rate is measured before the
    first run and after every run; a run's floor uses the peak measurements on both sides of it."""

    session: Session
    protocol: Protocol = field(default_factory=Protocol)
    _meters: dict[str, PeakMeter] = field(default_factory=dict)
    _last: dict[str, PeakMeasurement] = field(default_factory=dict)
    _flops: dict[RunKey, FlopCount] = field(default_factory=dict)
    _ops: dict[RunKey, Counter[DenseOp]] = field(default_factory=dict)  # each model's dense ops, captured once
    _layer_meters: dict[tuple[RunKey, str, str], LayerMeter] = field(default_factory=dict)
    _runs: dict[tuple[RunKey, str, str], list[tuple[LatencyRun, PeakMeasurement, PeakMeasurement, LayerTiming]]] = (
        field(default_factory=dict)
    )
    _entries: dict[tuple[RunKey, str], dict[str, RuntimeLatency]] = field(default_factory=dict)
    _images: dict[RunKey, np.ndarray] = field(default_factory=dict)  # the test images a run's calls cycle through

    def images(self, run: RunKey) -> np.ndarray:
        """The first warm-up + rounds test images of ``run`` (normal and defective; all a run's calls use), kept
        for every category: its cases are spread over the session, which holds one category's split at a time."""
        if run not in self._images:
            wanted = self.protocol.warmup + self.protocol.rounds
            self._images[run] = np.array(self.session.test_images(run)[:wanted])
        return self._images[run]

    def sampler(self, run: RunKey, runner: Runner, wrap: Callable[[Any], Any] | None = None) -> Sampler:
        """A sampler over ``run``'s test images (normal and defective), placed on the runner's device."""
        images = self.images(run)
        placed = [runner.place(np.ascontiguousarray(images[i : i + 1])) for i in range(images.shape[0])]
        call = runner.call if wrap is None else wrap(runner.call)
        return Sampler(call, placed, Timer(sync=runner.sync), self.protocol.warmup)

    def measure_peak(self, device: str) -> PeakMeasurement:
        """The device's peak float32 rate now (the meter's kernels are built once per device)."""
        from inspectnet.measure.peak import PeakMeter

        if device not in self._meters:
            self._meters[device] = PeakMeter(device)
        with ledger.phase("peak rate"):
            self._last[device] = self._meters[device].measure()
        return self._last[device]

    def before_run(self, device: str) -> PeakMeasurement:
        """The peak measurement a run starts from: the one after the previous run on ``device``, or a new one."""
        return self._last[device] if device in self._last else self.measure_peak(device)

    def flops(self, run: RunKey) -> FlopCount:
        from inspectnet.measure.compute import count_flops

        if run not in self._flops:
            module = self.session.deployment(run).module
            self._flops[run] = count_flops(module, self.session.spec(run).image_size, self.session.options.device)
        return self._flops[run]

    def layer_meter(self, run: RunKey, runtime: str, device: str) -> LayerMeter:
        """``runtime``'s meter for ``run``'s model's dense ops (captured and built once), at the usable cores."""
        from inspectnet.hostinfo import usable_cores
        from inspectnet.measure.layers import LayerMeter, dense_ops

        key = (run, runtime, device)
        if key not in self._layer_meters:
            if run not in self._ops:
                module = self.session.deployment(run).module
                self._ops[run] = dense_ops(module, self.session.spec(run).image_size, self.session.options.device)
            self._layer_meters[key] = LayerMeter(runtime, device, self._ops[run], usable_cores() or 1)
        return self._layer_meters[key]

    def record(
        self, run: RunKey, runner: Runner, sampler: Sampler, before: PeakMeasurement, started: str
    ) -> tuple[RuntimeLatency, Path]:
        """Add ``sampler``'s run (measuring after it: the peak rate, then the runtime's layer floor) to the
        runtime's entry; rewrite the record with it."""
        from inspectnet.hostinfo import machine_class

        device, profile = runner.device, self.session.options.profile
        after = self.measure_peak(device)
        meter = self.layer_meter(run, runner.runtime, device)
        with ledger.phase("layer floor"):
            layers = meter.measure()
        runs = self._runs.setdefault((run, device, runner.runtime), [])
        runs.append((latency_run(len(runs), started, sampler.warmup_s, sampler.timed_s), before, after, layers))
        timed_s = [s / 1e3 for r, *_ in runs for s in r.samples_ms]
        stats = statistics(timed_s, warmup=self.protocol.warmup)
        peaks = [p for _, b, a, _ in runs for p in (b, a)]
        floor = Floor(self.flops(run).total, max(p.flops_per_s for p in peaks))
        entry = latency_entry(
            runtime=runner.runtime,
            stats=stats,
            runs=[r for r, *_ in runs],
            tail=warmup_tail([s / 1e3 for s in runs[0][0].samples_ms]),
            peaks=peaks,
            floor_ms=floor.ms,
            efficiency=floor.efficiency(stats.median_ms),
            layer_timings=[t for *_, t in runs],
            budget=profile.budget(device, runner.runtime, machine_class(device)),
            budget_source=profile.path.name,
            records=str(self.session.options.report_dir),
            settings=runner.settings,
            artifact=self.session.export_block(run, runner.runtime),
        )
        entries = self._entries.setdefault((run, device), {})
        entries[runner.runtime] = entry
        record = latency_record(
            evaluation=self.session.evaluate(run).record,
            device=device,
            runs=self.protocol.runs,
            warmup=self.protocol.warmup,
            rounds=self.protocol.rounds,
            flops=self.flops(run),
            entries=entries,
        )
        return entry, self.session.emit(latency_record_name(run.name, device), record)
