"""Curves as the records keep them: finite 1-D arrays, monotone curves downsampled to a fixed size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def floats(values: Sequence[float], what: str) -> np.ndarray:
    """``values`` as a 1-D float array; ValueError naming ``what`` when empty or not finite."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D sequence of numbers, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what}: empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what}: contains NaN or infinite values")
    return array


def _check_monotone(x: np.ndarray, y: np.ndarray) -> None:
    if x.size != y.size:
        raise ValueError(f"downsample_curve: x has {x.size} points but y has {y.size}")
    if np.any(np.diff(x) < 0):
        raise ValueError("downsample_curve: x must be non-decreasing")


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def downsample_curve(x: Sequence[float], y: Sequence[float], points: int = 101) -> tuple[list[float], list[float]]:
    """Reduce a monotone curve (``x`` non-decreasing) to at most ``points`` points, rounded to 6 decimals.

    Curves with at most ``points`` points are returned unchanged (rounded). Longer ones are resampled at ``points``
    evenly spaced x values from ``x[0]`` to ``x[-1]`` with ``np.interp``; the first and last points are the input's
    own first and last points (so a vertical step at either end keeps both of its ends).
    """
    if points < 2:
        raise ValueError(f"downsample_curve: points must be at least 2, got {points}")
    xs = floats(x, "downsample_curve x")
    ys = floats(y, "downsample_curve y")
    _check_monotone(xs, ys)
    if xs.size <= points:
        return _rounded(xs), _rounded(ys)
    if xs[0] == xs[-1]:
        return _rounded(xs[[0, -1]]), _rounded(ys[[0, -1]])
    grid = np.linspace(xs[0], xs[-1], points)
    values = np.interp(grid, xs, ys)
    grid[0], grid[-1] = xs[0], xs[-1]
    values[0], values[-1] = ys[0], ys[-1]
    return _rounded(grid), _rounded(values)
