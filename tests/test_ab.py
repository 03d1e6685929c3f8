"""A/B and records-only latency decisions as plain Python: the ABBA schedule under a fake clock (drift
cancels, a real difference shows), the sign-test interval, and the decisions on planted effects; records
put at each run's reference speed (synthetic run medians and peak measurements): drift is not a regression,
other machine classes and a machine whose speed moved are undecided."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inspectnet.measure.ab import (
    ABProtocol,
    RatioDecision,
    RunSeries,
    common_kernels,
    decide_ab,
    decide_records,
    decide_runs,
    quad_orders,
    run_references,
    sign_interval,
    straddles,
    time_ab,
)
from inspectnet.measure.latency import Timer
from inspectnet.measure.peak import KernelRate, PeakMeasurement


class DriftingMachine:
    """A fake clock whose calls take ``cost`` x (1 + ``drift`` per call made so far): a machine slowing down."""

    def __init__(self, drift: float) -> None:
        self.now_ns = 0
        self.calls = 0
        self.drift = drift

    def clock(self) -> int:
        return self.now_ns

    def model(self, cost_ms: float):  # type: ignore[no-untyped-def]
        def call(_: object) -> None:
            self.now_ns += round(cost_ms * 1e6 * (1 + self.drift * self.calls))
            self.calls += 1

        return call


def test_quads_alternate_and_the_first_side_is_drawn_from_the_seed() -> None:
    orders = quad_orders(6, seed=0)
    assert set(orders) == {"ABBA", "BAAB"} and all(a != b for a, b in itertools.pairwise(orders))
    assert {quad_orders(2, seed)[0] for seed in range(20)} == {"ABBA", "BAAB"}


def test_abba_cancels_a_linear_drift_that_would_bias_a_then_b() -> None:
    machine = DriftingMachine(drift=0.001)  # +0.1% per call: the machine is 30% slower by the end
    same = machine.model(100.0), machine.model(100.0)
    timing = time_ab(*same, [0], [0], ABProtocol(quads=8, block_calls=3, warmup=2), Timer(clock_ns=machine.clock))
    assert abs(float(np.median(timing.ratios)) - 1) < 0.002
    # the planted defect ABBA guards against: all of A, then all of B, on the same drifting machine
    machine = DriftingMachine(drift=0.001)
    a, b = machine.model(100.0), machine.model(100.0)
    timer = Timer(clock_ns=machine.clock)
    first = [timer.time(a, 0) for _ in range(48)]
    then = [timer.time(b, 0) for _ in range(48)]
    assert float(np.median(then) / np.median(first)) > 1.04  # drift read as a 4% slowdown


def test_a_real_difference_shows_in_every_quad() -> None:
    machine = DriftingMachine(drift=0.0005)
    timing = time_ab(
        machine.model(100.0), machine.model(105.0), [0], [0], ABProtocol(quads=12), Timer(clock_ns=machine.clock)
    )
    assert len(timing.ratios) == 12 and len(timing.a_block_ms) == len(timing.b_block_ms) == 24
    assert all(1.049 < r < 1.051 for r in timing.ratios)


def test_sign_interval_order_statistics_and_coverage() -> None:
    values = list(range(1, 13))  # n = 12, alpha 0.01: k = 2 (2 P(B <= 1) = 26/4096 <= 0.01 < 2 P(B <= 2))
    low, high, coverage = sign_interval(values, 0.01)
    assert (low, high) == (2, 11) and coverage == pytest.approx(1 - 26 / 4096)
    low, high, coverage = sign_interval([3.0, 1.0, 2.0], 0.01)  # too few for 99%: the range, its coverage said
    assert (low, high) == (1.0, 3.0) and coverage == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("shift", "verdict"), [(0.0, "same"), (0.05, "regressed"), (0.02, "same"), (-0.05, "improved")]
)
def test_ab_decision_needs_the_interval_and_the_minimum_effect(shift: float, verdict: str) -> None:
    noise = np.random.default_rng(0).normal(0, 0.008, 12)  # the block-ratio spread measured on this machine
    assert decide_ab(list(1 + shift + noise), alpha=0.01, min_effect=0.03).verdict == verdict


def test_ab_false_alarm_and_detection_rates_under_this_machine_s_noise() -> None:
    """Simulated: block ratios with 0.8% spread (measured here); 0 of 500 false alarms, 500 of 500 at 5%."""
    rng = np.random.default_rng(1)
    alarms = sum(decide_ab(list(1 + rng.normal(0, 0.008, 12)), 0.01, 0.03).verdict == "regressed" for _ in range(500))
    caught = sum(
        decide_ab(list(1.05 + rng.normal(0, 0.008, 12)), 0.01, 0.03).verdict == "regressed" for _ in range(500)
    )
    assert alarms == 0 and caught == 500


def test_an_undecided_run_is_extended_and_a_clear_one_is_not() -> None:
    assert straddles([1.04, 0.99, 1.10, 1.02, 0.97, 1.06, 1.05, 1.03, 0.96, 1.08, 1.01, 1.07], 0.01, 0.03)
    assert not straddles([1.05 + 0.001 * i for i in range(12)], 0.01, 0.03)  # regressed: decided
    assert not straddles([0.99 + 0.002 * i for i in range(12)], 0.01, 0.03)  # [0.992, 1.010]: no 3% slowdown
    protocol = ABProtocol(quads=4, max_quads=12, block_calls=1, warmup=0)
    machine = DriftingMachine(drift=0.0)
    a, b = machine.model(100.0), machine.model(100.0)
    asked: list[int] = []

    def undecided(ratios: list[float]) -> bool:
        asked.append(len(ratios))
        return True

    assert len(time_ab(a, b, [0], [0], protocol, Timer(clock_ns=machine.clock), undecided).ratios) == 12
    assert asked == [4, 8]  # asked after each step of 4 quads, stopped at max_quads
    assert len(time_ab(a, b, [0], [0], protocol, Timer(clock_ns=machine.clock), lambda r: False).ratios) == 4
    assert len(time_ab(a, b, [0], [0], protocol, Timer(clock_ns=machine.clock)).ratios) == 4


def test_extension_recovers_a_noisy_slowdown_without_false_alarms() -> None:
    """Simulated noisy stretch (quad ratios spread 4%, as on this machine's worst measured hour): 12 quads
    alone miss 127 of 300 slowdowns of 5%; extended up to 36 while undecided they miss 1, and 300 unchanged
    trials still raise no alarm."""
    rng = np.random.default_rng(2)

    def run(shift: float, extend: bool) -> str:
        ratios = list(1 + shift + rng.normal(0, 0.04, 12))
        while extend and len(ratios) < 36 and straddles(ratios, 0.01, 0.03):
            ratios += list(1 + shift + rng.normal(0, 0.04, 12))
        return decide_ab(ratios, 0.01, 0.03).verdict

    fixed = sum(run(0.05, False) == "regressed" for _ in range(300))
    extended = sum(run(0.05, True) == "regressed" for _ in range(300))
    alarms = sum(run(0.0, True) == "regressed" for _ in range(300))
    assert fixed < 200 and extended >= 295 and alarms == 0


def test_records_decision_on_run_medians() -> None:
    base = [150.0, 152.0, 149.0]
    assert decide_runs(base, [165.0, 166.5, 164.0], 0.01, 0.05).verdict == "regressed"
    assert decide_runs(base, [151.0, 150.0, 152.5], 0.01, 0.05).verdict == "same"
    drifting = decide_runs(base, [140.0, 175.0, 160.0], 0.01, 0.05)  # +5% on average, but runs spread 25%
    assert drifting.verdict == "same" and drifting.low < 1 < drifting.high
    d = decide_runs(base, [x * 1.1 for x in base], 0.01, 0.05)
    assert d.ratio == pytest.approx(1.1) and d.mode == "records" and d.units == 3
    assert math.isclose(d.low, d.high, rel_tol=0.2)
    with pytest.raises(ValueError, match="the current record holds 2 run"):
        decide_runs(base, [150.0, 151.0], 0.01, 0.05)


KERNELS = {
    ("torch", "conv3x3 c256 32x32"): 200.0,
    ("openvino", "conv3x3 c256 32x32"): 260.0,
    ("torch", "matmul 1024"): 90.0,
}
CLASS = "Test CPU/avx512/2"


def _peak(speed: float, kernels: dict[tuple[str, str], float] | None = None) -> PeakMeasurement:
    """A peak measurement on a machine running at ``speed`` x the nominal kernel rates."""
    rates = [KernelRate(r, k, 10**9, 0.01, round(g * speed, 2)) for (r, k), g in (kernels or KERNELS).items()]
    top = max(rates, key=lambda k: k.gflops_per_s)
    return PeakMeasurement("cpu", round(top.gflops_per_s * 1e9), f"{top.runtime} {top.kernel}", rates, 1.0)


def _series(run_ms: list[float], speeds: list[float], machine: str = CLASS) -> RunSeries:
    """Runs whose peak measurements (before, after each) ran at ``speeds``: one per run, or two per run."""
    pairs = speeds if len(speeds) == 2 * len(run_ms) else [s for s in speeds for _ in range(2)]
    return RunSeries(run_ms, [_peak(s) for s in pairs], machine)


BASE_MS = [150.0, 152.0, 149.0]


def _decide(base: RunSeries, cur: RunSeries) -> RatioDecision:
    return decide_records(base, cur, alpha=0.05, min_effect=0.05)


def test_a_run_s_reference_is_the_geometric_mean_of_its_two_peak_measurements_kernel_geometric_means() -> None:
    series = _series([100.0, 100.0, 100.0], [1.0, 1.0, 0.9, 1.1, 1.0, 1.21])
    nominal = math.prod(KERNELS.values()) ** (1 / 3)
    refs = run_references(series, common_kernels(series))
    assert refs == pytest.approx([nominal, nominal * math.sqrt(0.99), nominal * 1.1], rel=1e-4)
    only_torch = _peak(1.0, {k: v for k, v in KERNELS.items() if k[0] == "torch"})
    partial = RunSeries(series.run_ms, [only_torch, *series.peaks[1:]], CLASS)
    assert common_kernels(series, partial) == {k for k in KERNELS if k[0] == "torch"}  # kernels both measured


def test_drift_of_the_machine_in_model_and_reference_alike_is_not_a_regression() -> None:
    """The defect this guards against: unchanged trials read x1.056-1.070 because the machine drifted."""
    base = _series(BASE_MS, [1.0, 1.0, 1.0])
    drift = 1.045  # the machine 4.5% slower (within the guard): model and kernels alike
    same = _series([m * drift for m in BASE_MS], [1 / drift] * 3)
    d = _decide(base, same)
    assert d.verdict == "same" and d.ratio == pytest.approx(1.0, abs=1e-3) and d.reason is None
    # a real 3% change plus that drift: raw run medians call it a 7.6% regression, at reference speed it is 3%
    slower = [m * drift * 1.03 for m in BASE_MS]
    assert decide_runs(BASE_MS, slower, 0.05, 0.05).verdict == "regressed"
    assert _decide(base, _series(slower, [1 / drift] * 3)).verdict == "same"
    assert _decide(base, _series(slower, [1 / drift] * 3)).ratio == pytest.approx(1.03, abs=1e-3)
    # drift beyond the guard (7%, as measured): undecided, never regressed
    seven = _decide(base, _series([m * 1.07 for m in BASE_MS], [1 / 1.07] * 3))
    assert seven.verdict == "undecided" and "the machine's speed moved too much" in str(seven.reason)


def test_a_real_slowdown_with_a_steady_reference_regresses() -> None:
    base = _series(BASE_MS, [1.0, 1.01, 0.99, 1.0, 1.0, 1.01])
    d = _decide(base, _series([m * 1.10 for m in BASE_MS], [1.0, 0.99, 1.01, 1.0, 1.0, 0.995]))
    assert d.verdict == "regressed" and d.ratio == pytest.approx(1.10, abs=0.01) and d.reason is None
    assert _decide(base, _series([m / 1.10 for m in BASE_MS], [1.0, 1.0, 1.0])).verdict == "improved"


def test_records_of_other_machine_classes_are_undecided() -> None:
    base = _series(BASE_MS, [1.0, 1.0, 1.0], "AMD EPYC 9R14/avx512/2")
    cur = _series([m * 1.3 for m in BASE_MS], [1.64, 1.64, 1.64], "Intel Xeon Platinum 8488C/avx512-amx/2")
    d = _decide(base, cur)
    assert d.verdict == "undecided" and d.mode == "records"
    assert "records from other machine classes (AMD EPYC 9R14/avx512/2 vs Intel Xeon Platinum 8488C/avx512-amx/2)" in (
        d.describe()
    )
    assert str(d.reason).endswith("re-run A/B on one machine") and "\n" not in str(d.reason)


@pytest.mark.parametrize("moved", [1.06, 1 / 1.06])
def test_a_reference_that_moved_beyond_the_minimum_effect_is_undecided(moved: float) -> None:
    base = _series(BASE_MS, [1.0, 1.0, 1.0])
    d = _decide(base, _series(BASE_MS, [moved] * 3))  # the same run medians; the kernels ran 6% faster (slower)
    assert d.verdict == "undecided" and f"moved x{moved:.3f}" in str(d.reason)
    assert _decide(base, _series(BASE_MS, [1.04] * 3)).verdict == "same"  # within 5%: decided


def test_records_need_a_peak_measurement_before_and_after_each_run() -> None:
    base = _series(BASE_MS, [1.0, 1.0, 1.0])
    short = RunSeries(BASE_MS, base.peaks[:5], CLASS)
    with pytest.raises(ValueError, match="the current record holds 3 run\\(s\\) and 5 peak measurement"):
        _decide(base, short)
    with pytest.raises(ValueError, match="the baseline record holds 2 run"):
        _decide(_series(BASE_MS[:2], [1.0, 1.0]), base)


def test_a_reference_that_overcorrects_cannot_make_a_regression_alone() -> None:
    """Measured in the gate-quality run: unchanged trials ran 1.4-2.7% faster in plain run medians while
    the reference kernels ran 3.6-5.7% faster. Where only the normalised medians call it a regression (the
    model 3% slower, its kernels 4% faster: x1.07 at reference speed), the verdict is undecided."""
    base = _series(BASE_MS, [1.0, 1.0, 1.0])
    cur = _series([m * 1.03 for m in BASE_MS], [1.04] * 3)
    assert decide_runs(BASE_MS, cur.run_ms, 0.05, 0.05).verdict == "same"
    d = _decide(base, cur)
    assert d.verdict == "undecided" and d.ratio == pytest.approx(1.03 * 1.04, abs=1e-3)
    assert "in plain run medians x1.030 (same)" in str(d.reason)
