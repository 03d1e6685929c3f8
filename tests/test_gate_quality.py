"""The gate quality benchmark's records table, wired as a latency run is: a peak measurement before the first
run and after every run, each trial decided by the gate's records decision. A fake machine that slows
down by 12% over the benchmark (models and kernels alike) raises no false alarm and still catches a real 10%
slowdown; each trial records the references its runs were put at."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from inspectnet.criteria import GateCriteria
from inspectnet.deploy.planted import Sizing
from inspectnet.harness.ab import Side
from inspectnet.harness.gate_quality import GateQuality, Planted
from inspectnet.harness.latency import Protocol
from inspectnet.measure.peak import KernelRate, PeakMeasurement
from inspectnet.names import RunKey

BASE, SLOWED = Side(Path("base.xml"), 8), Side(Path("slowed.xml"), 8)


@dataclass
class Machine:
    """Everything takes 1 + ``drift`` x (events so far) times longer: runs and kernels alike."""

    drift: float
    events: itertools.count[int] = field(default_factory=itertools.count)

    def speed(self) -> float:
        return 1 / (1 + self.drift * next(self.events))

    def measure(self) -> PeakMeasurement:  # the PeakMeter's interface
        speed = self.speed()
        kernels = [
            KernelRate("openvino", f"conv3x3 c{c}", 10**9, 0.01, round(200.0 * speed * c / 256, 2)) for c in (128, 256)
        ]
        return PeakMeasurement("cpu", round(kernels[1].gflops_per_s * 1e9), "openvino conv3x3 c256", kernels, 1.0)


@dataclass
class FakeQuality(GateQuality):
    machine: Machine = field(default_factory=lambda: Machine(0.001))

    @property
    def baseline(self) -> Side:
        return BASE

    def run_median_ms(self, side: Side) -> float:
        return 100.0 * (1.10 if side is SLOWED else 1.0) / self.machine.speed()

    def plant(self, fraction: float) -> Planted:
        return Planted(SLOWED, fraction, 8, "fake", Sizing(fraction, 8, fraction, [(8, fraction)], True))


def _quality(drift: float) -> FakeQuality:
    machine = Machine(drift)
    quality = FakeQuality(
        session=None,  # type: ignore[arg-type]
        run=RunKey("patchcore", "bottle", 0),
        settings=GateCriteria(),  # records: 95% interval, minimum effect 5%
        latency=Protocol(warmup=0, rounds=1, runs=3),
        log=lambda _: None,
        machine=machine,
    )
    quality._meter = machine  # type: ignore[assignment]
    return quality


def test_the_records_table_normalises_every_run_by_the_peak_measurements_around_it() -> None:
    table = _quality(drift=0.0003).records_table(0.10)  # ~130 events: the machine ends 4% slower
    assert table.false_alarms == 0 and table.detections == 10
    assert table.measured_slowdown == pytest.approx(0.10, abs=0.005)
    assert len(table.baseline_runs_ms) == 3 and table.baseline_references is not None
    for trial in table.unchanged + table.slowed:
        assert trial.references is not None and len(trial.references) == len(trial.units) == 3
        assert trial.decision.mode == "records" and trial.decision.reason is None
    last = table.unchanged[-1]  # its raw run medians drifted ~3%; at reference speed they did not
    assert last.units[-1] / table.baseline_runs_ms[0] > 1.03 and last.decision.ratio == pytest.approx(1.0, abs=0.003)


def test_a_machine_drifting_beyond_the_minimum_effect_gives_undecided_trials_not_false_alarms() -> None:
    table = _quality(drift=0.001).records_table(0.10)  # the machine ends 13% slower
    assert table.false_alarms == 0
    undecided = [c for c in table.unchanged if c.decision.verdict == "undecided"]
    assert undecided and all("the machine's speed moved too much" in str(c.decision.reason) for c in undecided)
