"""Small anti-aliased drawing primitives on float32 images in [0, 1] (H x W x 3), numpy only."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

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
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
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
    phi = np.arctan2(dy, dx)
    r = np.full_like(phi, radius)
    for k in (2, 3, 5):
        r = r + radius * roughness / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return (np.hypot(dx, dy) - r).astype(np.float32)


def segment_distance(size: int, p0: tuple[float, float], p1: tuple[float, float]) -> Field:
    """Distance of every pixel centre to the segment p0-p1 (points as (x, y))."""
    yy, xx = grid(size)
    x0, y0 = p0
    vx, vy = p1[0] - x0, p1[1] - y0
    t = ((xx - x0) * vx + (yy - y0) * vy) / max(vx * vx + vy * vy, 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(xx - (x0 + t * vx), yy - (y0 + t * vy)).astype(np.float32)


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
        pts.append((x + step * float(np.cos(heading)), y + step * float(np.sin(heading))))
    return pts


def finish(img: Image, rng: np.random.Generator, gain: float = 0.06, gradient: float = 0.05) -> np.ndarray:
    """Camera nuisance: global gain, a lighting gradient and sensor noise; quantised to uint8."""
    size = img.shape[0]
    yy, xx = grid(size)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - size / 2) * np.cos(theta) + (yy - size / 2) * np.sin(theta)) / size
    light = rng.uniform(1 - gain, 1 + gain) + rng.uniform(0, gradient) * ramp
    noisy = img * light[..., None] + rng.normal(0, rng.uniform(0.004, 0.01), img.shape)
    return quantise(noisy)


def quantise(img: Image) -> np.ndarray:
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
