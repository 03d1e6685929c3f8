"""Latency measurement: a timer that is right on a device, the statistics, the warm-up tail and budgets.

Each sample is one call at batch 1: the device is drained before the clock starts and synchronised before
it stops, so asynchronous work (CUDA kernels) is inside the sample. Statistics are plain functions of the
samples: population standard deviation, nearest-rank percentiles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STAT_DEFINITIONS = {
    "unit": "milliseconds per call, batch 1",
    "median": "the middle sample (mean of the two middle ones for even n)",
    "p95": "nearest rank: the ceil(0.95 n)-th smallest sample",
    "p99": "nearest rank: the ceil(0.99 n)-th smallest sample",
    "std": "population standard deviation (divides by n)",
    "warmup_tail": "first timed decile's median over the rest's median; a tail when above the threshold",
    "efficiency": "compute floor / median, the floor being the counted FLOPs over the device's peak float32 rate "
    "(the best of several convolution and matrix shapes in torch, onnxruntime and OpenVINO, calibrated before "
    "and after each run); at most 1 up to the calibration's own noise",
    "runs": "each runtime is timed in several runs spread over the session; a run's median is one unit of "
    "the records-only gate",
}
TAIL_THRESHOLD = 1.25


@dataclass(frozen=True)
class Timer:
    """Times one call: ``sync`` before starting (drain queued work) and before stopping (finish this call)."""

    clock_ns: Callable[[], int] = time.perf_counter_ns
    sync: Callable[[], None] | None = None  # None: a host call, done when it returns

    def time(self, call: Callable[[Any], Any], arg: Any) -> float:
        """Seconds ``call(arg)`` took, device work included."""
        sync = self.sync
        if sync is not None:
            sync()
        start = self.clock_ns()
        call(arg)
        if sync is not None:
            sync()
        return (self.clock_ns() - start) / 1e9


def nearest_rank(sorted_samples: Sequence[float], q: float) -> float:
    """The ceil(q n)-th smallest of ``sorted_samples`` (q in (0, 1])."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q * len(sorted_samples) - 1e-9))
    return float(sorted_samples[rank - 1])


@dataclass(frozen=True)
class Stats:
    n: int
    warmup: int
    min_ms: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float


def statistics(samples_s: Sequence[float], warmup: int) -> Stats:
    """Statistics of timed samples (seconds in, milliseconds out)."""
    ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no timed samples")
    ordered = np.sort(ms).tolist()
    return Stats(
        n=int(ms.size),
        warmup=warmup,
        min_ms=float(ordered[0]),
        median_ms=float(np.median(ms)),
        p95_ms=nearest_rank(ordered, 0.95),
        p99_ms=nearest_rank(ordered, 0.99),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=0)),
    )


@dataclass(frozen=True)
class WarmupTail:
    detected: bool
    first_decile_median_ms: float
    rest_median_ms: float
    ratio: float
    threshold: float = TAIL_THRESHOLD


def warmup_tail(samples_s: Sequence[float], threshold: float = TAIL_THRESHOLD) -> WarmupTail:
    """Is the first tenth of the timed samples much slower than the rest (warm-up too short)?"""
    ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    head = max(1, math.ceil(ms.size / 10))
    if ms.size < 2 * head:
        raise ValueError(f"{ms.size} samples are too few to look for a warm-up tail")
    first, rest = float(np.median(ms[:head])), float(np.median(ms[head:]))
    ratio = first / rest if rest > 0 else math.inf
    return WarmupTail(ratio > threshold, first, rest, ratio, threshold)


@dataclass(frozen=True)
class Floor:
    """The compute floor: counted FLOPs over the device's measured peak float32 rate."""

    flops: int
    peak_flops_per_s: float

    @property
    def ms(self) -> float:
        return self.flops / self.peak_flops_per_s * 1e3

    def efficiency(self, median_ms: float) -> float:
        return self.ms / median_ms
