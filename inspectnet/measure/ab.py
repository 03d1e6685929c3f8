"""Latency decisions that hold on a noisy machine: A/B blocks in one process, or run-level spread.

A shared machine drifts by several per cent over minutes, and every call of one run shares that run's
drift, so a test over pooled per-call samples of two runs made at different times mistakes drift for an
effect. Two ways out, each deciding on units that are independent of that drift:

- **A/B** (``time_ab``): both models loaded in one process and timed alternately in short blocks, in ABBA
  quads (A B B A, then B A A B, ...) whose first side is drawn from a seed. Each quad gives one ratio, the
  sum of its two B block medians over the sum of its two A block medians; a drift that is linear over the
  quad cancels. The decision is on the median of those ratios with a distribution-free (sign-test)
  interval.
- **Records only** (``decide_records``): each record holds R >= 3 runs spread over its session; the
  decision is on the run medians (a Welch interval on their logarithms, ``decide_runs``), so the spread
  between runs, not between calls, sets the width. A machine's speed also moves between sessions (a 7% drift
  between two records of one machine was measured), so each run's median is first put at a reference speed
  measured in that same run: ``median_ms x reference``, where a run's reference is the geometric mean, over
  the peak measurements before and after it, of the geometric mean of their kernel rates (the kernels both
  records measured). Geometric means, so that no single kernel (the best one, say) sets the reference, and
  a uniform slowdown of the machine cancels. Two guards make the verdict ``undecided`` instead: records of
  other machine classes (models and kernels do not move alike between CPUs: the peak rate moved 1.64x
  between an AMD and an Intel host while the models moved 1.15-1.38x), and a reference that moved between
  the records by more than ``min_effect`` (the machine's speed moved too much for records to decide).

Either way a regression needs the whole interval above 1 *and* the estimate at least ``min_effect`` above 1.
Plain Python: the timer and the calls are injected, so the schedule is testable with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from inspectnet.measure.latency import Timer
from inspectnet.typed_json import OMITTED_WHEN_NONE

MODES = {
    "ab": "A/B: both models timed alternately in one process (ABBA blocks); median block ratio, sign-test interval",
    "records": "records only: run medians of each record (R >= 3 runs spread over a session), each at the reference "
    "speed measured in its run; Welch interval on logs",
}
VERDICTS = ("regressed", "improved", "same", "undecided")  # undecided: records that cannot decide (its reason says)


@dataclass(frozen=True)
class ABProtocol:
    quads: int = 12  # ABBA quads: one ratio each (and the step by which an undecided run is extended)
    max_quads: int = 36  # the most an undecided run is extended to
    block_calls: int = 3  # calls per block; a block's value is their median
    warmup: int = 5  # untimed calls per side before the first block
    seed: int = 0  # draws which side opens the first quad

    def describe(self) -> str:
        extended = (
            f", extended by {self.quads} at a time up to {self.max_quads} while the interval holds both 1 and "
            "1 + min_effect"
            if self.max_quads > self.quads
            else ""
        )
        return (
            f"{self.quads} ABBA quads of {self.block_calls}-call blocks after {self.warmup} warm-up calls per side"
            f"{extended}; first side drawn with seed {self.seed}"
        )


@dataclass(frozen=True)
class ABTiming:
    """What ``time_ab`` measured: block medians in ms, one ratio per quad, and its wall time."""

    a_block_ms: list[float]
    b_block_ms: list[float]
    ratios: list[float]  # per quad: (B1 + B2) / (A1 + A2)
    first: str  # "A" or "B": the side that opened the first quad
    seconds: float


def quad_orders(quads: int, seed: int) -> list[str]:
    """The block order of each quad: "ABBA" and "BAAB" alternate, the first drawn from ``seed``."""
    first_b = bool(np.random.default_rng(seed).integers(2))
    return ["BAAB" if (q % 2 == 0) == first_b else "ABBA" for q in range(quads)]


def time_ab(
    call_a: Callable[[Any], Any],
    call_b: Callable[[Any], Any],
    inputs_a: Sequence[Any],
    inputs_b: Sequence[Any],
    protocol: ABProtocol = ABProtocol(),
    timer: Timer | None = None,
    undecided: Callable[[list[float]], bool] | None = None,
) -> ABTiming:
    """Time ``call_a`` and ``call_b`` alternately in ABBA quads; both sides see the same input sequence.
    After every ``protocol.quads`` quads, while ``undecided(ratios)`` holds, go on (up to ``max_quads``)."""
    if protocol.quads < 1 or protocol.block_calls < 1:
        raise ValueError("an A/B protocol needs at least one quad of one-call blocks")
    timer = timer or Timer()
    sides = {"A": (call_a, inputs_a), "B": (call_b, inputs_b)}
    started = time.perf_counter()
    for call, inputs in sides.values():
        for i in range(protocol.warmup):
            call(inputs[i % len(inputs)])
    blocks: dict[str, list[float]] = {"A": [], "B": []}
    ratios: list[float] = []
    orders = quad_orders(max(protocol.quads, protocol.max_quads), protocol.seed)
    for q, order in enumerate(orders):
        if q and q % protocol.quads == 0 and (undecided is None or not undecided(ratios)):
            break
        quad: dict[str, float] = {"A": 0.0, "B": 0.0}
        for b, side in enumerate(order):
            call, inputs = sides[side]
            start = (q * 4 + b) * protocol.block_calls
            ms = [timer.time(call, inputs[(start + i) % len(inputs)]) * 1e3 for i in range(protocol.block_calls)]
            median = float(np.median(ms))
            blocks[side].append(median)
            quad[side] += median
        ratios.append(quad["B"] / quad["A"])
    return ABTiming(blocks["A"], blocks["B"], ratios, orders[0][0], time.perf_counter() - started)


@dataclass(frozen=True)
class RatioDecision:
    """A latency verdict: current over baseline, its interval, the units it came from and the verdict."""

    mode: str  # "ab" | "records"
    ratio: float
    low: float
    high: float
    confidence: float  # the interval's coverage (exact for the sign test, nominal for Welch)
    units: int  # ratios (A/B quads) or runs per side (records)
    verdict: str  # regressed | improved | same | undecided
    reason: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # why undecided, in one line

    def describe(self) -> str:
        shown = (
            f"x{self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.confidence:.1%}, {self.mode}, n={self.units})"
        )
        return f"{shown}; undecided: {self.reason}" if self.reason else shown


def verdict_of(ratio: float, low: float, high: float, min_effect: float) -> str:
    if low > 1.0 and ratio - 1.0 >= min_effect:
        return "regressed"
    if high < 1.0 and 1.0 - ratio >= min_effect:
        return "improved"
    return "same"


def sign_interval(values: Sequence[float], alpha: float) -> tuple[float, float, float]:
    """Distribution-free interval for the median: order statistics k and n+1-k with k the largest such
    that 2 P(Binomial(n, 1/2) <= k - 1) <= alpha (k = 1, the range, when none is). Returns (low, high,
    coverage)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")

    def tail(k: int) -> float:  # P(Binomial(n, 1/2) <= k - 1)
        return sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k + 1 <= (n + 1) // 2 and 2 * tail(k + 1) <= alpha:
        k += 1
    return ordered[k - 1], ordered[n - k], 1.0 - 2 * tail(k)


def decide_ab(ratios: Sequence[float], alpha: float, min_effect: float) -> RatioDecision:
    low, high, coverage = sign_interval(ratios, alpha)
    ratio = float(np.median(ratios))
    return RatioDecision("ab", ratio, low, high, coverage, len(ratios), verdict_of(ratio, low, high, min_effect))


def straddles(ratios: Sequence[float], alpha: float, min_effect: float) -> bool:
    """The A/B interval holds both 1 and 1 + ``min_effect``: the quads so far cannot tell no change from the
    smallest slowdown that counts (``time_ab`` then extends the run). Regressions only: the gate's question."""
    d = decide_ab(ratios, alpha, min_effect)
    return d.verdict == "same" and d.low <= 1.0 and d.high >= 1.0 + min_effect


def _enough_runs(base_run_ms: Sequence[float], cur_run_ms: Sequence[float]) -> None:
    for side, runs in (("baseline", base_run_ms), ("current", cur_run_ms)):
        if len(runs) < 3:
            raise ValueError(f"the {side} record holds {len(runs)} run(s); a records-only decision needs 3 or more")


def decide_runs(
    base_run_ms: Sequence[float], cur_run_ms: Sequence[float], alpha: float, min_effect: float
) -> RatioDecision:
    """Current over baseline from each record's run medians: the ratio of geometric means with a Welch
    interval on the logarithms (each side needs at least 3 runs)."""
    from scipy.stats import t as student

    _enough_runs(base_run_ms, cur_run_ms)
    b, c = np.log(np.asarray(base_run_ms, dtype=np.float64)), np.log(np.asarray(cur_run_ms, dtype=np.float64))
    vb, vc = b.var(ddof=1) / b.size, c.var(ddof=1) / c.size
    diff = float(c.mean() - b.mean())
    se = math.sqrt(vb + vc)
    if se == 0.0:
        low = high = diff
    else:
        df = (vb + vc) ** 2 / (vb**2 / (b.size - 1) + vc**2 / (c.size - 1))
        half = float(student.ppf(1 - alpha / 2, df)) * se
        low, high = diff - half, diff + half
    ratio, lo, hi = math.exp(diff), math.exp(low), math.exp(high)
    units = min(b.size, c.size)
    return RatioDecision("records", ratio, lo, hi, 1 - alpha, units, verdict_of(ratio, lo, hi, min_effect))


class KernelRated(Protocol):
    """One kernel's rate in a peak measurement: ``measure.peak.KernelRate``, or a record's copy of one."""

    @property
    def runtime(self) -> str: ...
    @property
    def kernel(self) -> str: ...
    @property
    def gflops_per_s(self) -> float: ...


class PeakRates(Protocol):
    """A peak measurement as the records-only decision reads it: ``measure.peak.PeakMeasurement``, or a latency
    record's copy of one (``records.PeakMeasurementInfo``)."""

    @property
    def kernels(self) -> Sequence[KernelRated]: ...


@dataclass(frozen=True)
class RunSeries:
    """One record's runs of one runtime, as the records-only decision reads them."""

    run_ms: Sequence[float]  # each run's median
    peaks: Sequence[PeakRates]  # before and after each run: 2k and 2k + 1 bracket run k
    machine_class: str  # hostinfo.machine_class of the host the runs were made on


def _geomean(values: Sequence[float]) -> float:
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


def common_kernels(*series: RunSeries) -> frozenset[tuple[str, str]]:
    """The (runtime, kernel) pairs that every peak measurement of every series measured at a positive rate."""
    peaks = [p for s in series for p in s.peaks]
    sets = [frozenset((k.runtime, k.kernel) for k in p.kernels if k.gflops_per_s > 0) for p in peaks]
    return frozenset.intersection(*sets) if sets else frozenset()


def peak_speed(peak: PeakRates, kernels: frozenset[tuple[str, str]]) -> float:
    """The geometric mean of ``peak``'s rates (GFLOP/s) over ``kernels``."""
    return _geomean([k.gflops_per_s for k in peak.kernels if (k.runtime, k.kernel) in kernels])


def run_references(series: RunSeries, kernels: frozenset[tuple[str, str]]) -> list[float]:
    """Each run's reference speed (GFLOP/s): the geometric mean of the peak measurement before it and the one after
    it, each the geometric mean of its rates over ``kernels``."""
    runs, peaks = len(series.run_ms), len(series.peaks)
    if peaks != 2 * runs:
        raise ValueError(f"{runs} run(s) with {peaks} peak measurement(s); each run needs one before and after")
    speeds = [peak_speed(p, kernels) for p in series.peaks]
    return [math.sqrt(speeds[2 * k] * speeds[2 * k + 1]) for k in range(runs)]


def at_reference(series: RunSeries, references: Sequence[float]) -> list[float]:
    """Each run's median at its reference speed: ms x GFLOP/s (the run's time in units of that speed)."""
    return [m * r for m, r in zip(series.run_ms, references, strict=True)]


def undecided(decision: RatioDecision, reason: str) -> RatioDecision:
    return replace(decision, verdict="undecided", reason=reason)


def decide_records(base: RunSeries, cur: RunSeries, alpha: float, min_effect: float) -> RatioDecision:
    """Records-only: current over baseline on run medians at each run's reference speed (``decide_runs``).
    Undecided (with its reason) for records of other machine classes, when the reference speed itself moved
    between the records by more than ``min_effect`` either way (ratio of the runs' geometric means), and when
    the plain run medians do not reach the same verdict (a drift the reference over- or under-corrects): a
    regression must show both ways.
    ValueError (one line) when a record holds fewer than 3 runs or not two peak measurements per run."""
    _enough_runs(base.run_ms, cur.run_ms)
    for side, series in (("baseline", base), ("current", cur)):
        runs, peaks = len(series.run_ms), len(series.peaks)
        if peaks != 2 * runs:
            raise ValueError(
                f"the {side} record holds {runs} run(s) and {peaks} peak measurement(s); a records-only "
                "decision needs one before and one after each run"
            )
    if base.machine_class != cur.machine_class:
        raw = decide_runs(base.run_ms, cur.run_ms, alpha, min_effect)
        return undecided(
            raw,
            f"records from other machine classes ({base.machine_class} vs {cur.machine_class}): run medians of "
            "different machines are not comparable, not even through a peak rate; re-run A/B on one machine",
        )
    kernels = common_kernels(base, cur)
    if not kernels:
        raw = decide_runs(base.run_ms, cur.run_ms, alpha, min_effect)
        return undecided(raw, "the records' peak measurements share no kernel: no reference speed to normalise by")
    b_ref, c_ref = run_references(base, kernels), run_references(cur, kernels)
    d = decide_runs(at_reference(base, b_ref), at_reference(cur, c_ref), alpha, min_effect)
    moved = _geomean(c_ref) / _geomean(b_ref)
    if abs(math.log(moved)) > math.log1p(min_effect):
        return undecided(
            d,
            f"the reference speed moved x{moved:.3f} between the records (beyond x{1 + min_effect:g} either way): "
            "the machine's speed moved too much for records to decide; re-run A/B on one machine",
        )
    raw = decide_runs(base.run_ms, cur.run_ms, alpha, min_effect)
    if d.verdict != "same" and raw.verdict != d.verdict:
        return undecided(
            d,
            f"at reference speed x{d.ratio:.3f} ({d.verdict}) but in plain run medians x{raw.ratio:.3f} "
            f"({raw.verdict}): the model and its reference drifted apart; re-run A/B on one machine",
        )
    return d
