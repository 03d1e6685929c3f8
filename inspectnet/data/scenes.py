"""Renderers of the embedded dataset's four categories: synthetic analogues of MVTec AD's
bottle, cable, capsule (objects with pose, lighting and noise nuisance) and leather (a texture
built from a real photograph).

A renderer draws one clean image (float32, [0, 1]) from a pose generator and, optionally, one defect
drawn from a second generator. The caller renders the same pose with and without the defect; the
mask is exactly the set of pixels whose clean 8-bit value the defect changed.

Pixel values come from IEEE-exact arithmetic only (see :mod:`inspectnet.data._exactmath`): no numpy or
libm transcendental function, whose last bit depends on the CPU, feeds an image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from importlib import resources

import numpy as np
from PIL import Image as PILImage

from inspectnet.data import _exactmath as em
from inspectnet.data._draw import (
    Image,
    blend,
    blob_distance,
    coverage,
    fill,
    frame,
    gaussian_blur,
    grid,
    polyline_distance,
    random_polyline,
)

SIZE = 256
Renderer = Callable[[np.random.Generator, str | None, np.random.Generator | None], Image]


def _rgb(*c: float) -> np.ndarray:
    return np.asarray(c, dtype=np.float32)


def _require(drng: np.random.Generator | None) -> np.random.Generator:
    if drng is None:
        raise ValueError("a defect needs its own random generator")
    return drng


# --------------------------------------------------------------------------------------------- bottle
BOTTLE_DEFECTS = ("broken_large", "broken_small", "contamination", "crack")


def bottle(pose: np.random.Generator, defect: str | None, drng: np.random.Generator | None) -> Image:
    """Top view of a glass bottle: dark opening, bright mouth rim, tinted glass shoulder."""
    cx, cy = 128 + pose.uniform(-6, 6), 128 + pose.uniform(-6, 6)
    radius = 96 + pose.uniform(-2.5, 2.5)
    light = pose.uniform(-0.4, 0.4)
    glass = _rgb(0.36, 0.29, 0.13) * np.float32(pose.uniform(0.92, 1.08))
    yy, xx = grid(SIZE)
    r = em.hypot(xx - cx, yy - cy).astype(np.float32)
    phi = em.arctan2(yy - cy, xx - cx).astype(np.float32) - light
    background = np.clip(0.07 + 0.04 * (1 - r / 180), 0.03, 0.12)[..., None] * _rgb(1, 1, 1.05)
    img = background.astype(np.float32)
    body = glass * (0.55 + 0.45 * np.clip(r / radius, 0, 1))[..., None]
    img = blend(img, body, coverage(r - radius))
    rim = _rgb(0.78, 0.7, 0.52) * (0.8 + 0.2 * em.cos(phi).astype(np.float32))[..., None]
    img = blend(img, rim, coverage(np.abs(r - 0.68 * radius) - 0.07 * radius))
    opening = _rgb(0.05, 0.045, 0.04) * (0.7 + 0.6 * r / radius)[..., None]
    img = blend(img, opening, coverage(r - 0.61 * radius))
    hx, hy = cx + 0.38 * radius * em.cos(0.8 + light), cy + 0.38 * radius * em.sin(0.8 + light)
    glint = 0.35 * em.exp(-(((xx - hx) ** 2 + (yy - hy) ** 2) / 60.0))
    img = img + glint[..., None].astype(np.float32)
    if defect is None:
        return img
    d = _require(drng)
    if defect in ("broken_large", "broken_small"):
        size = d.uniform(16, 28) if defect == "broken_large" else d.uniform(4, 8)
        ang = d.uniform(0, 2 * np.pi)
        at = radius - d.uniform(0, size * 0.5)
        blob = blob_distance(SIZE, cx + at * em.cos(ang), cy + at * em.sin(ang), size, d)
        region = coverage(blob) * coverage(0.55 * radius - r) * coverage(r - radius)
        return blend(img, background * 1.4 + 0.03, region)
    if defect == "contamination":
        at = d.uniform(0.76, 0.94) * radius if d.random() < 0.6 else d.uniform(0.1, 0.5) * radius
        ang = d.uniform(0, 2 * np.pi)
        blob = blob_distance(SIZE, cx + at * em.cos(ang), cy + at * em.sin(ang), d.uniform(3, 11), d, 0.4)
        color = _rgb(0.22, 0.16, 0.1) if d.random() < 0.5 else _rgb(0.62, 0.6, 0.5)
        return blend(img, color, coverage(blob) * np.float32(d.uniform(0.5, 0.9)))
    if defect == "crack":
        at, ang = d.uniform(0.72, 0.95) * radius, d.uniform(0, 2 * np.pi)
        line = random_polyline(d, (cx + at * em.cos(ang), cy + at * em.sin(ang)), d.uniform(12, 36))
        crack = coverage(polyline_distance(SIZE, line) - d.uniform(0.5, 1.2)) * coverage(r - radius)
        return blend(img, _rgb(0.85, 0.82, 0.75), crack * np.float32(d.uniform(0.5, 0.9)))
    raise ValueError(f"unknown bottle defect {defect!r}")


# --------------------------------------------------------------------------------------------- capsule
CAPSULE_DEFECTS = ("crack", "faulty_imprint", "poke", "squeeze")
_SEGMENTS = {  # seven-segment glyphs: (u0, v0, u1, v1) boxes in a 12 x 22 cell centred on its origin
    "a": (-6, -11, 6, -8),
    "b": (3, -11, 6, 0),
    "c": (3, 0, 6, 11),
    "d": (-6, 8, 6, 11),
    "e": (-6, 0, -3, 11),
    "f": (-6, -11, -3, 0),
    "g": (-6, -1.5, 6, 1.5),
}
_PRINT = (("5", 18.0, "afgcd"), ("0", 36.0, "abcdef"), ("0", 54.0, "abcdef"))


def _box_distance(u: np.ndarray, v: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    u0, v0, u1, v1 = box
    du = np.maximum(u0 - u, u - u1)
    dv = np.maximum(v0 - v, v - v1)
    return np.maximum(du, dv)


def _imprint(u: np.ndarray, v: np.ndarray, drop: set[tuple[int, str]]) -> np.ndarray:
    ink = np.zeros_like(u)
    for i, (_, centre, segments) in enumerate(_PRINT):
        for seg in segments:
            if (i, seg) not in drop:
                ink = np.maximum(ink, coverage(_box_distance(u - centre, v, _SEGMENTS[seg])))
    return ink


def capsule(pose: np.random.Generator, defect: str | None, drng: np.random.Generator | None) -> Image:
    """A two-colour capsule (dark cap, orange body) with a printed '500' on the body."""
    cx, cy = 128 + pose.uniform(-5, 5), 128 + pose.uniform(-5, 5)
    angle = pose.uniform(-0.03, 0.03)
    half_len, half_w = 82 + pose.uniform(-2, 2), 30 + pose.uniform(-1, 1)
    ink_tone = np.float32(pose.uniform(0.1, 0.13))
    u, v = frame(SIZE, cx, cy, angle)
    yy, _ = grid(SIZE)
    img = fill(SIZE, (0.8, 0.8, 0.78)) * (0.95 + 0.05 * yy / SIZE)[..., None]
    width = np.full_like(v, half_w)
    d = _require(drng) if defect is not None else None
    if defect == "squeeze" and d is not None:
        u0, sigma, depth = d.uniform(-60, 60), d.uniform(8, 22), d.uniform(5, 14)
        side = np.sign(v) == (1 if d.random() < 0.5 else -1)
        bulge = depth * em.exp(-(((u - u0) / sigma) ** 2)).astype(np.float32)
        width = width - np.where(side, bulge, 0).astype(np.float32)
    axis_dist = em.hypot(np.maximum(np.abs(u) - (half_len - half_w), 0), v).astype(np.float32)
    body_dist = axis_dist - half_w
    shape_dist = axis_dist - width
    shade = np.sqrt(np.clip(1 - (v / half_w) ** 2, 0, 1))
    color = np.where((u < 0)[..., None], _rgb(0.13, 0.12, 0.13), _rgb(0.9, 0.52, 0.13))
    color = (
        color * (0.5 + 0.5 * shade)[..., None]
        + 0.28 * em.exp(-(((v + 0.45 * half_w) / 4) ** 2)).astype(np.float32)[..., None]
    )
    seam = coverage(np.abs(u) - 0.8)
    color = blend(color.astype(np.float32), (0.05, 0.05, 0.05), seam * 0.6)
    drop: set[tuple[int, str]] = set()
    if defect == "faulty_imprint" and d is not None:
        glyph = int(d.integers(0, len(_PRINT)))
        segs = _PRINT[glyph][2]
        for seg in d.choice(list(segs), size=int(d.integers(1, len(segs) + 1)), replace=False):
            drop.add((glyph, str(seg)))
    color = blend(color, ink_tone * np.ones(3, np.float32), _imprint(u, v, drop) * 0.9)
    if defect == "faulty_imprint" and d is not None and d.random() < 0.4:
        smudge = blob_distance(SIZE, cx + d.uniform(20, 60), cy + d.uniform(-12, 12), d.uniform(2, 5), d)
        color = blend(color, ink_tone * np.ones(3, np.float32), coverage(smudge) * 0.8)
    img = blend(img, color, coverage(shape_dist))
    if defect is None or defect in ("squeeze", "faulty_imprint"):
        return img
    assert d is not None
    inside = coverage(body_dist + 3)
    if defect == "crack":
        start = (cx + d.uniform(-60, 60), cy + d.uniform(-15, 15))
        crack = coverage(polyline_distance(SIZE, random_polyline(d, start, d.uniform(12, 50))) - d.uniform(0.7, 1.5))
        return blend(img, img * 0.3, crack * inside * np.float32(d.uniform(0.6, 0.95)))
    if defect == "poke":
        px, py = cx + d.uniform(-65, 65), cy + d.uniform(-18, 18)
        hole = blob_distance(SIZE, px, py, d.uniform(2.5, 6.0), d, 0.15)
        return blend(img, (0.06, 0.05, 0.05), coverage(hole) * inside)
    raise ValueError(f"unknown capsule defect {defect!r}")


# --------------------------------------------------------------------------------------------- cable
CABLE_DEFECTS = ("cable_swap", "cut_inner_insulation", "missing_wire", "poke_insulation")
_WIRE_COLORS = (_rgb(0.2, 0.55, 0.25), _rgb(0.2, 0.3, 0.72), _rgb(0.5, 0.32, 0.16))


def cable(pose: np.random.Generator, defect: str | None, drng: np.random.Generator | None) -> Image:
    """Cross-section of a three-conductor cable: green, blue, brown in a fixed clockwise order."""
    cx, cy = 128 + pose.uniform(-5, 5), 128 + pose.uniform(-5, 5)
    angle = pose.uniform(-0.12, 0.12)
    sheath_r = 112 + pose.uniform(-2, 2)
    yy, xx = grid(SIZE)
    r = em.hypot(xx - cx, yy - cy).astype(np.float32)
    img = fill(SIZE, (0.07, 0.07, 0.08))
    img = blend(img, (0.58, 0.58, 0.6), coverage(r - sheath_r))
    filler = _rgb(0.74, 0.71, 0.64) * (0.92 + 0.08 * em.cos(r / 3.0).astype(np.float32))[..., None]
    img = blend(img, filler, coverage(r - (sheath_r - 11)))
    colors = list(_WIRE_COLORS)
    d = _require(drng) if defect is not None else None
    target = int(d.integers(0, 3)) if d is not None else -1
    if defect == "cable_swap" and d is not None:
        colors[target] = _WIRE_COLORS[(target + int(d.integers(1, 3))) % 3]
    for k in range(3):
        phi = angle - np.pi / 2 + 2 * np.pi * k / 3
        wx, wy = cx + 52 * float(em.cos(phi)), cy + 52 * float(em.sin(phi))
        dr = em.hypot(xx - wx, yy - wy).astype(np.float32)
        if defect == "missing_wire" and k == target:
            img = blend(img, filler * 0.82, coverage(dr - 34))
            continue
        ins_shade = 0.75 + 0.25 * ((xx - wx) * 0.697 - (yy - wy) * 0.717) / np.maximum(dr, 1e-3)
        img = blend(img, colors[k] * ins_shade[..., None], coverage(dr - 34))
        core = _rgb(0.85, 0.56, 0.3) * (0.55 + 0.45 * np.clip(1 - dr / 19, 0, 1))[..., None]
        img = blend(img, core, coverage(dr - 19))
        strands = np.zeros_like(dr)
        for s in range(6):
            sx, sy = (
                wx + 11 * float(em.cos(phi + s * np.pi / 3)),
                wy + 11 * float(em.sin(phi + s * np.pi / 3)),
            )
            ring = em.hypot(xx - sx, yy - sy).astype(np.float32)
            strands = np.maximum(strands, coverage(np.abs(ring - 6) - 0.5))
        img = blend(img, (0.35, 0.2, 0.1), strands * 0.6)
        if d is not None and k == target and defect in ("poke_insulation", "cut_inner_insulation"):
            img = _insulation_damage(img, d, defect, wx, wy, dr, filler)
    return img


def _insulation_damage(
    img: Image, d: np.random.Generator, defect: str, wx: float, wy: float, dr: np.ndarray, filler: Image
) -> Image:
    yy, xx = grid(SIZE)
    a = d.uniform(0, 2 * np.pi)
    if defect == "poke_insulation":
        at = d.uniform(23, 30)
        hole = blob_distance(SIZE, wx + at * em.cos(a), wy + at * em.sin(a), d.uniform(2, 4.5), d, 0.2)
        return blend(img, (0.08, 0.07, 0.07), coverage(hole))
    width, depth = d.uniform(0.12, 0.45), d.uniform(5, 12)
    rel = em.wrap_angle(em.arctan2(yy - wy, xx - wx) - a).astype(np.float32)  # angle from a, in [-pi, pi]
    wedge = coverage((np.abs(rel) - width / 2) * dr) * coverage(dr - 34) * coverage((34 - depth) - dr)
    return blend(img, filler * 0.6, wedge)


# --------------------------------------------------------------------------------------------- leather
LEATHER_DEFECTS = ("color", "cut", "glue", "poke")


@cache
def _grain() -> np.ndarray:
    """Leather-like grain from scikit-image's gravel photograph (CC0), zero mean and unit std.

    Smoothed and standardised in float64; mean and variance are exactly rounded sums (``math.fsum``),
    so they do not depend on the order numpy's reductions happen to add in.
    """
    with resources.as_file(resources.files("skimage") / "data" / "gravel.png") as path:
        photo = np.asarray(PILImage.open(path).convert("L"), dtype=np.float64) / 255.0
    smooth = gaussian_blur(photo, (1.2, 1.2), mode="wrap")
    centred = smooth - math.fsum(smooth.ravel().tolist()) / smooth.size
    std = math.sqrt(math.fsum((centred * centred).ravel().tolist()) / smooth.size)
    grain = (centred / std).astype(np.float32)
    grain.setflags(write=False)
    return grain


def leather(pose: np.random.Generator, defect: str | None, drng: np.random.Generator | None) -> Image:
    """A crop of brown leather grain, at a random offset and orientation of the source photograph."""
    grain = _grain()
    ox, oy = int(pose.integers(0, grain.shape[1] - SIZE)), int(pose.integers(0, grain.shape[0] - SIZE))
    patch = np.rot90(grain[oy : oy + SIZE, ox : ox + SIZE], int(pose.integers(0, 4)))
    if pose.random() < 0.5:
        patch = patch[:, ::-1]
    tone = _rgb(0.47, 0.28, 0.15) * np.float32(pose.uniform(0.94, 1.06))
    img = (tone * (1 + 0.14 * patch)[..., None]).astype(np.float32)
    if defect is None:
        return img
    d = _require(drng)
    x, y = d.uniform(24, SIZE - 24), d.uniform(24, SIZE - 24)
    if defect == "color":
        radius = d.uniform(8, 28)
        dist = blob_distance(SIZE, x, y, radius, d, 0.35)
        alpha = np.clip(-dist / (0.5 * radius), 0, 1) * np.float32(d.uniform(0.5, 0.85))
        shift = _rgb(1.25, 0.95, 0.85) if d.random() < 0.5 else _rgb(0.8, 0.85, 1.0)
        return blend(img, img * shift, alpha.astype(np.float32))
    if defect == "cut":
        line = polyline_distance(SIZE, random_polyline(d, (x, y), d.uniform(18, 70)))
        return blend(img, img * 0.25, coverage(line - d.uniform(0.8, 1.8)) * np.float32(d.uniform(0.7, 0.95)))
    if defect == "glue":
        smooth = gaussian_blur(img, (4, 4, 0), mode="reflect") * 1.12 + 0.03
        dist = blob_distance(SIZE, x, y, d.uniform(6, 20), d, 0.35)
        return blend(img, smooth.astype(np.float32), coverage(dist) * np.float32(d.uniform(0.7, 0.95)))
    if defect == "poke":
        hole = blob_distance(SIZE, x, y, d.uniform(2.5, 5.5), d, 0.2)
        return blend(img, img * 0.2, coverage(hole))
    raise ValueError(f"unknown leather defect {defect!r}")


RENDERERS: dict[str, tuple[Renderer, tuple[str, ...]]] = {
    "bottle": (bottle, BOTTLE_DEFECTS),
    "cable": (cable, CABLE_DEFECTS),
    "capsule": (capsule, CAPSULE_DEFECTS),
    "leather": (leather, LEATHER_DEFECTS),
}
