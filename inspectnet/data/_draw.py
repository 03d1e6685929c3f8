"""Small anti-aliased drawing primitives on float32 images in [0, 1] (H x W x 3), numpy only.

Every value that reaches a pixel is computed with IEEE-exact arithmetic only: trigonometry, ``exp`` and
``hypot`` come from :mod:`inspectnet.data._exactmath`, never from numpy's CPU-dispatched functions, so
the same seed draws the same bits on every CPU.
"""

from __future__ import annotations

import itertools
import math
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from inspectnet.data import _exactmath as em

Image = np.ndarray  # float32, H x W x 3
Field = np.ndarray  # float32, H x W


@cache
def grid(size: int) -> tuple[Field, Field]:
    """Pixel-centre coordinates ``(y, x)``; cached and read-only."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def frame(size: int, cx: float, cy: float, angle: float) -> tuple[Field, Field]:
    """Object-frame coordinates ``(u, v)`` of every pixel for an object at (cx, cy) rotated by ``angle``."""
    yy, xx = grid(size)
    c, s = np.float32(em.cos(angle)), np.float32(em.sin(angle))
    dx, dy = xx - np.float32(cx), yy - np.float32(cy)
    return dx * c + dy * s, -dx * s + dy * c


def coverage(signed_distance: Field) -> Field:
    """Anti-aliased inside-ness from a signed distance (negative inside), one-pixel ramp."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0).astype(np.float32)


def blend(img: Image, color: np.ndarray | tuple[float, ...] | Image, alpha: Field) -> Image:
    """``img`` with ``color`` (an RGB triple or an image) laid over it with per-pixel ``alpha``."""
    a = alpha[..., None]
    col = np.asarray(color, dtype=np.float32)
    return (img * (1.0 - a) + col * a).astype(np.float32, copy=False)


def fill(size: int, color: tuple[float, float, float]) -> Image:
    return np.broadcast_to(np.asarray(color, dtype=np.float32), (size, size, 3)).copy()


def blob_distance(
    size: int, cx: float, cy: float, radius: float, rng: np.random.Generator, roughness: float = 0.25
) -> Field:
    """Signed distance-like field of an irregular blob (a disc with a few random radial lobes)."""
    yy, xx = grid(size)
    dx, dy = xx - np.float32(cx), yy - np.float32(cy)
    phi = em.arctan2(dy, dx).astype(np.float32)
    r = np.full_like(phi, radius)
    for k in (2, 3, 5):
        r = r + radius * roughness / k * em.cos(k * phi + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return (em.hypot(dx, dy).astype(np.float32) - r).astype(np.float32)


def segment_distance(size: int, p0: tuple[float, float], p1: tuple[float, float]) -> Field:
    """Distance of every pixel centre to the segment p0-p1 (points as (x, y))."""
    yy, xx = grid(size)
    x0, y0 = p0
    vx, vy = p1[0] - x0, p1[1] - y0
    t = ((xx - x0) * vx + (yy - y0) * vy) / max(vx * vx + vy * vy, 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return em.hypot(xx - (x0 + t * vx), yy - (y0 + t * vy)).astype(np.float32)


def polyline_distance(size: int, points: list[tuple[float, float]]) -> Field:
    segments = [segment_distance(size, a, b) for a, b in itertools.pairwise(points)]
    return np.minimum.reduce(segments)


def random_polyline(
    rng: np.random.Generator, start: tuple[float, float], length: float, bends: int = 2
) -> list[tuple[float, float]]:
    """A gently bending line of total ``length`` from ``start``."""
    heading = rng.uniform(0, 2 * np.pi)
    pts = [start]
    for _ in range(bends + 1):
        heading += rng.normal(0, 0.35)
        x, y = pts[-1]
        step = length / (bends + 1)
        pts.append((x + step * float(em.cos(heading)), y + step * float(em.sin(heading))))
    return pts


def finish(img: Image, rng: np.random.Generator, gain: float = 0.06, gradient: float = 0.05) -> np.ndarray:
    """Camera nuisance: global gain, a lighting gradient and sensor noise; quantised to uint8."""
    size = img.shape[0]
    yy, xx = grid(size)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - size / 2) * em.cos(theta) + (yy - size / 2) * em.sin(theta)) / size
    light = rng.uniform(1 - gain, 1 + gain) + rng.uniform(0, gradient) * ramp
    noisy = img * light[..., None] + rng.normal(0, rng.uniform(0.004, 0.01), img.shape)
    return quantise(noisy)


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> NDArray[np.float64]:
    """scipy.ndimage's normalised 1-D Gaussian (same radius and formula), from exact arithmetic."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = em.exp(-0.5 / (sigma * sigma) * (x * x))
    return weights / math.fsum(weights.tolist())  # fsum: the exactly rounded sum, order-free


def gaussian_blur(array: np.ndarray, sigma: tuple[float, ...], mode: Literal["wrap", "reflect"]) -> NDArray[np.float64]:
    """Separable Gaussian filter in float64, like ``scipy.ndimage.gaussian_filter(array, sigma, mode=mode)``.

    One sigma per axis (0 leaves that axis alone); ``mode`` 'reflect' is scipy's (``d c b a | a b c d``),
    which is numpy's pad mode 'symmetric'. Each tap is a separate multiply and add in a fixed order,
    so the result is the same bits on every CPU (no ``dot``/``convolve``).
    """
    out = np.asarray(array, dtype=np.float64)
    for axis, s in enumerate(sigma):
        if s == 0:
            continue
        weights = gaussian_kernel(s)
        radius, n = len(weights) // 2, out.shape[axis]
        widths = [(0, 0)] * out.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(out, widths, mode="wrap" if mode == "wrap" else "symmetric")
        acc = weights[radius] * _window(padded, axis, radius, n)
        for k in range(1, radius + 1):  # the kernel is exactly symmetric: w[radius - k] == w[radius + k]
            pair = _window(padded, axis, radius + k, n) + _window(padded, axis, radius - k, n)
            acc = acc + weights[radius + k] * pair
        out = acc
    return out


def _window(padded: NDArray[np.float64], axis: int, start: int, n: int) -> NDArray[np.float64]:
    index = [slice(None)] * padded.ndim
    index[axis] = slice(start, start + n)
    return padded[tuple(index)]


def quantise(img: Image) -> np.ndarray:
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
