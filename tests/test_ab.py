"""A/B and records-only latency decisions as plain Python: the ABBA schedule under a fake clock (drift
cancels, a real difference shows), the sign-test interval, and the decisions on planted effects."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inspectnet.measure.ab import (
    ABProtocol,
    decide_ab,
    decide_runs,
    quad_orders,
    sign_interval,
    straddles,
    time_ab,
)
from inspectnet.measure.latency import Timer


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
    candidates still raise no alarm."""
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
