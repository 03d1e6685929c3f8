"""How good is the latency gate on this machine? Unchanged and really slower trials, each decided
against one baseline by the gate's own decisions (``inspectnet.measure.ab``).

- A/B table: the baseline's exported model against 10 unchanged trials (the same file, loaded anew)
  and 10 slowed ones (extra convolution work in the graph, sized to ``ab_slowdown`` of the baseline's
  call), each decided by an ABBA run. Unchanged and slowed trials alternate.
- Records table: a baseline record of R runs measured first, then 10 + 10 trial records of R runs each
  (slowed by ``records_slowdown``), decided on run medians alone. Each run is made as a latency run is: a
  peak measurement before the first run and after every run, so every run is bracketed by two and the
  decision puts its median at the reference speed measured in it; the decision is the gate's own
  (``inspectnet.measure.ab.decide_records``, which ``inspectnet.gate.decide_records`` calls on two latency
  records). The runs go round-robin over the trials, so each trial's runs are spread over
  minutes, as a session's are.

A planted slowdown is sized by measurement, not from a peak rate: its first size costs ``fraction`` of the
model's own counted FLOPs, then each size is measured by a long A/B against the baseline and the branch's
FLOPs are scaled by target / measured until the measured slowdown is within a tenth of its target
(``inspectnet.deploy.planted.size_by_measurement``); the table's ``planted`` lists every try and says so when
the band was not reached, and ``measured_slowdown`` is what the slowed trials themselves measured.
Plain Python: the benchmark ``benchmarks/test_gate_quality.py`` wires it to a session and publishes the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.builders import gate_trial
from inspectnet.deploy.candidates import BASE_RUNTIME
from inspectnet.deploy.planted import Sizing
from inspectnet.harness.ab import Side, gate_protocol, time_models
from inspectnet.measure.ab import (
    ABProtocol,
    RatioDecision,
    RunSeries,
    common_kernels,
    decide_ab,
    decide_records,
    run_references,
)
from inspectnet.records import GateSettings, GateTrial, QualityTable

if TYPE_CHECKING:
    from inspectnet.criteria import GateCriteria
    from inspectnet.harness.latency import Protocol
    from inspectnet.harness.session import Session
    from inspectnet.measure.peak import PeakMeasurement, PeakMeter
    from inspectnet.names import RunKey

RUNTIME = BASE_RUNTIME  # the planted slowdowns are OpenVINO IRs
SIZING_QUADS = 24  # the A/B that measures a planted slowdown while sizing it (twice the gate's)


@dataclass(frozen=True)
class Planted:
    side: Side
    fraction: float
    size: int
    description: str
    sizing: Sizing


@dataclass(frozen=True)
class Run:
    """One run of a records-mode trial: its median and the peak measurements before and after it."""

    median_ms: float
    before: PeakMeasurement
    after: PeakMeasurement


@dataclass
class GateQuality:
    session: Session
    run: RunKey
    settings: GateCriteria
    latency: Protocol  # the records mode's runs: warm-up, timed calls, runs per record
    trials: int = 10
    log: Callable[[str], None] = print
    _meter: PeakMeter | None = field(default=None, repr=False)

    @property
    def ab_protocol(self) -> ABProtocol:
        return gate_protocol(self.settings)[0]

    @property
    def gate_settings(self) -> GateSettings:
        s = self.settings
        return GateSettings(s.alpha, s.min_effect, s.records_alpha, s.records_min_effect)

    @property
    def baseline(self) -> Side:
        return Side(self.session.exported(self.run).openvino, self.session.spec(self.run).image_size)

    @property
    def meter(self) -> PeakMeter:
        """The CPU's peak meter, its kernels built once and measured around every records-mode run."""
        from inspectnet.measure.peak import PeakMeter

        if self._meter is None:
            self._meter = PeakMeter("cpu")
        return self._meter

    def run_median_ms(self, side: Side) -> float:
        """One run as the latency benchmark makes it: the model loaded, warm-up calls, timed calls."""
        from inspectnet.harness.ab import inputs_for
        from inspectnet.measure.latency import Timer

        runner = side.runner(RUNTIME, "cpu")
        inputs = [runner.place(x) for x in inputs_for(side.image_size)]
        timer = Timer(sync=runner.sync)
        for i in range(self.latency.warmup):
            runner.call(inputs[i % len(inputs)])
        ms = [timer.time(runner.call, inputs[i % len(inputs)]) * 1e3 for i in range(self.latency.rounds)]
        return float(np.median(ms))

    def first_size(self, fraction: float) -> int:
        """The crop whose branch counts ``fraction`` of the deployed model's own FLOPs (no peak rate)."""
        from inspectnet.deploy.planted import size_for
        from inspectnet.measure.compute import count_flops

        module = self.session.deployment(self.run).module
        device = str(next(module.parameters()).device)  # where it is now (``_export`` moves it to the CPU)
        return size_for(fraction * count_flops(module, self.session.spec(self.run).image_size, device).total)

    def measured_slowdown(self, size: int) -> float:
        """The slowdown a branch of ``size`` causes here: the median quad ratio of a long A/B, minus 1."""
        long = ABProtocol(quads=SIZING_QUADS, max_quads=SIZING_QUADS, block_calls=self.settings.ab_block_calls, seed=1)
        measured = float(np.median(time_models(RUNTIME, "cpu", self.baseline, self._export(size), long).ratios)) - 1
        self.log(f"planted: crop {size}x{size} measured {measured:+.2%}")
        return measured

    def plant(self, fraction: float) -> Planted:
        """The baseline model with extra work measured at ``fraction`` of its call (within a tenth of it), as an
        exported OpenVINO model; the description lists every size tried and says when the band was missed."""
        from inspectnet.deploy.planted import extra_flops, size_by_measurement

        image_size = self.session.spec(self.run).image_size
        sizing = size_by_measurement(fraction, self.first_size(fraction), self.measured_slowdown, image_size)
        if not sizing.converged:
            self.log(f"planted {fraction:.0%}: {sizing.describe()}")
        size = sizing.size
        description = (
            f"extra graph work: the image cropped to {size}x{size}, a 1x1 and a 3x3 convolution with 256 channels "
            f"({extra_flops(size) / 1e9:.2f} GFLOP); first size at {fraction:.0%} of the model's counted FLOPs, "
            f"then measured by {SIZING_QUADS}-quad A/B runs against the baseline and resized: {sizing.describe()}"
        )
        return Planted(self._export(size), fraction, size, description, sizing)

    def _export(self, size: int) -> Side:
        from inspectnet.deploy.export import export
        from inspectnet.deploy.planted import slowed

        deployment = self.session.deployment(self.run)
        module = slowed(deployment.module.to("cpu"), size)
        identity = {**deployment.identity, "planted_slowdown": {"pooled_size": size}}
        exported = export(module, self.session.spec(self.run).image_size, self.session.options.store_dir, identity)
        return Side(exported.openvino, self.session.spec(self.run).image_size)

    def ab_table(self, fraction: float) -> QualityTable:
        planted = self.plant(fraction)
        slowed = planted.side
        decided: dict[str, list[GateTrial]] = {"unchanged": [], "slowed": []}
        for i in range(self.trials):
            for kind, side in (("unchanged", self.baseline), ("slowed", slowed)):
                started = time.perf_counter()
                timing = time_models(RUNTIME, "cpu", self.baseline, side, *gate_protocol(self.settings))
                d = decide_ab(timing.ratios, self.settings.alpha, self.settings.min_effect)
                seconds = round(time.perf_counter() - started, 2)
                decided[kind].append(gate_trial(_rounded(d), seconds, [round(r, 5) for r in timing.ratios]))
                self.log(f"ab {kind} {i + 1}: {d.describe()} -> {d.verdict}")
        return _table("ab", planted, decided, [], None)

    def records_table(self, fraction: float) -> QualityTable:
        from inspectnet.hostinfo import machine_class

        planted = self.plant(fraction)
        machine = machine_class("cpu")
        before = self.meter.measure()  # the peak measurement before the first run

        def timed(side: Side) -> Run:  # one run and the peak measurement after it, which is the next run's before
            nonlocal before
            run = Run(self.run_median_ms(side), before, self.meter.measure())
            before = run.after
            return run

        started = time.perf_counter()
        base_runs = [timed(self.baseline) for _ in range(self.latency.runs)]
        record_s = time.perf_counter() - started  # what one record's R runs cost, peak measurements included
        kinds = [("unchanged", self.baseline), ("slowed", planted.side)] * self.trials
        runs: list[list[Run]] = [[] for _ in kinds]
        for _ in range(self.latency.runs):  # round-robin: each record's runs are minutes apart
            for i, (_, side) in enumerate(kinds):
                runs[i].append(timed(side))
        base = _series(base_runs, machine)
        decided: dict[str, list[GateTrial]] = {"unchanged": [], "slowed": []}
        for (kind, _), trial_runs in zip(kinds, runs, strict=True):
            cur = _series(trial_runs, machine)
            d = decide_records(base, cur, self.settings.records_alpha, self.settings.records_min_effect)
            references = [round(r, 3) for r in run_references(cur, common_kernels(base, cur))]
            medians = [round(r.median_ms, 4) for r in trial_runs]
            decided[kind].append(gate_trial(_rounded(d), round(record_s, 2), medians, references))
            self.log(f"records {kind}: {d.describe()} -> {d.verdict}")
        base_references = [round(r, 3) for r in run_references(base, common_kernels(base))]
        return _table("records", planted, decided, [round(r.median_ms, 4) for r in base_runs], base_references)


def _series(runs: list[Run], machine: str) -> RunSeries:
    """A trial's runs as the gate reads a latency record's: medians, peak measurements in (before, after) pairs."""
    peaks = [p for r in runs for p in (r.before, r.after)]
    return RunSeries([r.median_ms for r in runs], peaks, machine)


def _rounded(d: RatioDecision) -> RatioDecision:
    return replace(
        d, ratio=round(d.ratio, 5), low=round(d.low, 5), high=round(d.high, 5), confidence=round(d.confidence, 5)
    )


def _table(
    mode: str,
    planted: Planted,
    decided: dict[str, list[GateTrial]],
    base_runs: list[float],
    base_references: list[float] | None,
) -> QualityTable:
    unchanged, slowed = decided["unchanged"], decided["slowed"]
    return QualityTable(
        mode=mode,
        slowdown=planted.fraction,
        planted=planted.description,
        measured_slowdown=round(float(np.median([c.decision.ratio for c in slowed])) - 1, 5),
        false_alarms=sum(c.decision.verdict == "regressed" for c in unchanged),
        detections=sum(c.decision.verdict == "regressed" for c in slowed),
        candidates=len(unchanged),  # the record's field: trials of each kind
        seconds_per_decision=round(float(np.median([c.seconds for c in unchanged + slowed])), 2),
        baseline_runs_ms=base_runs,
        unchanged=unchanged,
        slowed=slowed,
        baseline_references=base_references,
    )
