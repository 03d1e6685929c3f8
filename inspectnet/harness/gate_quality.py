"""How good is the latency gate on this machine? Unchanged and really slower candidates, each decided
against one baseline by the gate's own decisions (``inspectnet.measure.ab``).

- A/B table: the baseline's exported model against 10 unchanged candidates (the same file, loaded anew)
  and 10 slowed ones (extra convolution work in the graph, sized to ``ab_slowdown`` of the baseline's
  call), each decided by an ABBA run. Unchanged and slowed candidates alternate.
- Records table: a baseline record of R runs measured first, then 10 + 10 candidate records of R runs each
  (slowed by ``records_slowdown``), decided on run medians alone. The runs go round-robin over the
  candidates, so each candidate's runs are spread over minutes, as a session's are.

A planted slowdown is sized from the peak calibration's rate for the branch's own kernel, then measured by a
long A/B and resized until it is within an eighth of its target, so that "5%" means 5% of the call measured
here; each table also reports the slowdown its slowed candidates measured. Plain Python: the benchmark
``benchmarks/test_gate_quality.py`` wires it to a session and publishes the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.harness.ab import Side, gate_protocol, time_models
from inspectnet.measure.ab import ABProtocol, RatioDecision, decide_ab, decide_runs
from inspectnet.records import Candidate, GateSettings, QualityTable

if TYPE_CHECKING:
    from inspectnet.criteria import GateCriteria, RunKey
    from inspectnet.harness.latency import Protocol
    from inspectnet.harness.session import Session

RUNTIME = "openvino"
BRANCH_KERNEL = ("openvino", "conv3x3 c256")  # the peak calibration's kernel closest to the planted branch
SIZING_QUADS = 24  # the A/B that measures a planted slowdown while sizing it (twice the gate's)
SIZING_TRIES = 3


@dataclass(frozen=True)
class Planted:
    side: Side
    fraction: float
    size: int
    description: str


@dataclass
class GateQuality:
    session: Session
    run: RunKey
    settings: GateCriteria
    latency: Protocol  # the records mode's runs: warm-up, timed calls, runs per record
    candidates: int = 10
    log: Callable[[str], None] = print

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

    def plant(self, fraction: float, baseline_ms: float) -> Planted:
        """The baseline model with extra work costing ``fraction`` of its call, as an exported OpenVINO model:
        sized from the peak calibration's rate for the branch's kernel, then measured by a long A/B and
        resized until the measured slowdown is within an eighth of ``fraction`` (at most ``SIZING_TRIES``)."""
        from inspectnet.deploy.planted import extra_flops, size_for
        from inspectnet.measure.peak import PeakMeter

        calibration = PeakMeter("cpu").measure()
        rate = next(
            k.gflops_per_s * 1e9
            for k in calibration.kernels
            if (k.runtime, " ".join(k.kernel.split()[:2])) == BRANCH_KERNEL
        )
        size = size_for(fraction * baseline_ms / 1e3 * rate)
        long = ABProtocol(quads=SIZING_QUADS, max_quads=SIZING_QUADS, block_calls=self.settings.ab_block_calls, seed=1)
        tried: list[str] = []
        for attempt in range(SIZING_TRIES):
            side = self._export(size)
            measured = float(np.median(time_models(RUNTIME, "cpu", self.baseline, side, long).ratios)) - 1
            tried.append(f"{size}x{size}: {measured:+.2%}")
            self.log(f"planted {fraction:.0%}: crop {size}x{size} measured {measured:+.2%}")
            if abs(measured - fraction) <= fraction / 8 or measured <= 0.002 or attempt + 1 == SIZING_TRIES:
                break
            size = size_for(extra_flops(size) * fraction / measured)  # the branch's FLOPs scaled by planted / measured
        description = (
            f"extra graph work: the image cropped to {size}x{size}, a 1x1 and a 3x3 convolution with 256 channels "
            f"({extra_flops(size) / 1e9:.2f} GFLOP), sized at the {RUNTIME} conv3x3 rate of the peak calibration, "
            f"then measured by {SIZING_QUADS}-quad A/B runs ({'; '.join(tried)})"
        )
        return Planted(side, fraction, size, description)

    def _export(self, size: int) -> Side:
        from inspectnet.deploy.export import export
        from inspectnet.deploy.planted import slowed

        deployment = self.session.deployment(self.run)
        module = slowed(deployment.module.to("cpu"), size)
        identity = {**deployment.identity, "planted_slowdown": {"pooled_size": size}}
        exported = export(module, self.session.spec(self.run).image_size, self.session.options.store_dir, identity)
        return Side(exported.openvino, self.session.spec(self.run).image_size)

    def ab_table(self, fraction: float) -> QualityTable:
        baseline_ms = self.run_median_ms(self.baseline)
        planted = self.plant(fraction, baseline_ms)
        slowed = planted.side
        decided: dict[str, list[Candidate]] = {"unchanged": [], "slowed": []}
        for i in range(self.candidates):
            for kind, side in (("unchanged", self.baseline), ("slowed", slowed)):
                started = time.perf_counter()
                timing = time_models(RUNTIME, "cpu", self.baseline, side, *gate_protocol(self.settings))
                d = decide_ab(timing.ratios, self.settings.alpha, self.settings.min_effect)
                seconds = round(time.perf_counter() - started, 2)
                decided[kind].append(Candidate(_rounded(d), seconds, [round(r, 5) for r in timing.ratios]))
                self.log(f"ab {kind} {i + 1}: {d.describe()} -> {d.verdict}")
        return _table("ab", planted, decided, [])

    def records_table(self, fraction: float) -> QualityTable:
        baseline_ms = self.run_median_ms(self.baseline)
        planted = self.plant(fraction, baseline_ms)
        slowed = planted.side
        started = time.perf_counter()
        base_runs = [self.run_median_ms(self.baseline) for _ in range(self.latency.runs)]
        record_s = time.perf_counter() - started  # what one record's R runs cost
        kinds = [("unchanged", self.baseline), ("slowed", slowed)] * self.candidates
        runs: list[list[float]] = [[] for _ in kinds]
        for _ in range(self.latency.runs):  # round-robin: each record's runs are minutes apart
            for i, (_, side) in enumerate(kinds):
                runs[i].append(self.run_median_ms(side))
        decided: dict[str, list[Candidate]] = {"unchanged": [], "slowed": []}
        for (kind, _), cand_runs in zip(kinds, runs, strict=True):
            d = decide_runs(base_runs, cand_runs, self.settings.records_alpha, self.settings.records_min_effect)
            decided[kind].append(Candidate(_rounded(d), round(record_s, 2), [round(m, 4) for m in cand_runs]))
            self.log(f"records {kind}: {d.describe()} -> {d.verdict}")
        return _table("records", planted, decided, [round(m, 4) for m in base_runs])


def _rounded(d: RatioDecision) -> RatioDecision:
    return RatioDecision(
        d.mode, round(d.ratio, 5), round(d.low, 5), round(d.high, 5), round(d.confidence, 5), d.units, d.verdict
    )


def _table(mode: str, planted: Planted, decided: dict[str, list[Candidate]], base_runs: list[float]) -> QualityTable:
    unchanged, slowed = decided["unchanged"], decided["slowed"]
    return QualityTable(
        mode=mode,
        slowdown=planted.fraction,
        planted=planted.description,
        measured_slowdown=round(float(np.median([c.decision.ratio for c in slowed])) - 1, 5),
        false_alarms=sum(c.decision.verdict == "regressed" for c in unchanged),
        detections=sum(c.decision.verdict == "regressed" for c in slowed),
        candidates=len(unchanged),
        seconds_per_decision=round(float(np.median([c.seconds for c in unchanged + slowed])), 2),
        baseline_runs_ms=base_runs,
        unchanged=unchanged,
        slowed=slowed,
    )
