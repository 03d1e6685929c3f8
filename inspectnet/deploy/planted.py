"""A planted slowdown that is real work: the deployed model plus extra convolutions in its graph.

The latency gate's quality is measured against candidates that are slower the way a real change is (more
FLOPs in the exported graph, run by the same runtime), not by sleeping. The extra branch crops the image to
``size`` x ``size``, lifts it to ``channels`` channels (1x1 convolution) and runs one 3x3 convolution; its
mean, times 1e-30, is added to the raw score, so no compiler can drop the branch while every output stays
bit-identical in float32 (a raw score is far above 1e-30 x anything the branch can produce).

How much slower a branch of given FLOPs makes the call depends on the machine (its rate on this branch's
kernel against its rate on the model's), so a slowdown is sized by measurement (``size_by_measurement``): a
first size, then the measured slowdown's FLOPs scaled by target / measured, until it is within a tenth of
the target. The measurement is injected (the gate's quality benchmark measures by A/B).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHANNELS = 256
NEGLIGIBLE = 1e-30
BAND = 0.1  # a planted slowdown is sized when measured within BAND x its target of the target
TRIES = 6
MAX_STEP = 4.0  # one resizing changes the branch's FLOPs by at most this factor (either way)


def extra_flops(size: int, channels: int = CHANNELS) -> int:
    """FLOPs of the extra branch (2 x multiply-accumulates): the 1x1 lift and the 3x3 convolution."""
    return 2 * 3 * channels * size * size + 2 * channels * channels * 9 * size * size


def size_for(flops: float, channels: int = CHANNELS) -> int:
    """The crop size whose extra branch costs about ``flops``."""
    per_pixel = extra_flops(1, channels)
    return max(1, round(math.sqrt(flops / per_pixel)))


def slowed(deployed: Any, size: int, channels: int = CHANNELS) -> Any:
    """``deployed`` (image -> outputs in ``OUTPUTS`` order) with the extra branch; weights from a fixed seed."""
    import torch
    from torch import nn

    class Slowed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.deployed = deployed
            gen = torch.Generator().manual_seed(0)
            self.lift = nn.Conv2d(3, channels, 1, bias=False)
            self.work = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            with torch.no_grad():
                for conv in (self.lift, self.work):
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.01)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            outputs = self.deployed(image)
            pooled = image[:, :, :size, :size]
            extra = self.work(self.lift(pooled)).mean() * NEGLIGIBLE
            return (outputs[0], outputs[1] + extra, *outputs[2:])

    return Slowed().eval()


@dataclass(frozen=True)
class Sizing:
    """A planted slowdown sized by measurement: every size tried with its measured slowdown, and the one used."""

    fraction: float  # the target slowdown
    size: int  # the crop size used: the first within the band, else the closest to the target
    measured: float  # that size's measured slowdown
    tries: list[tuple[int, float]]  # (size, measured slowdown), in order
    converged: bool  # the size used was measured within the band

    def describe(self) -> str:
        tried = "; ".join(f"{size}x{size}: {measured:+.2%}" for size, measured in self.tries)
        band = f"{self.fraction:.1%} +- {self.fraction * BAND:.2%}"
        if self.converged:
            return f"within {band} after {len(self.tries)} tries ({tried})"
        return (
            f"NOT within {band} after {len(self.tries)} tries ({tried}); the closest, {self.size}x{self.size} "
            f"at {self.measured:+.2%}, is used"
        )


def within(measured: float, fraction: float) -> bool:
    return abs(measured - fraction) <= fraction * BAND


def next_size(size: int, measured: float, fraction: float, max_size: int) -> int:
    """The size whose branch costs ``fraction / measured`` of ``size``'s FLOPs (that step clamped to
    ``MAX_STEP`` either way; 4x when the measured slowdown is too small to scale by), at least one pixel
    away from ``size`` in the needed direction, within [1, ``max_size``]."""
    step = MAX_STEP if measured <= fraction * BAND else min(MAX_STEP, max(1 / MAX_STEP, fraction / measured))
    new = size_for(extra_flops(size) * step)
    if new == size:
        new = size + (1 if measured < fraction else -1)
    return min(max(new, 1), max_size)


def size_by_measurement(
    fraction: float, first: int, measure: Callable[[int], float], max_size: int, tries: int = TRIES
) -> Sizing:
    """Size a planted slowdown of ``fraction`` by measuring it: ``measure(size)`` is the slowdown the branch
    of ``size`` causes (measured / baseline - 1); start at ``first`` and resize by ``next_size`` until the
    measurement is within ``BAND`` of ``fraction`` or ``tries`` are spent (or the size cannot move)."""
    size, tried = min(max(first, 1), max_size), []
    for _ in range(tries):
        measured = measure(size)
        tried.append((size, measured))
        if within(measured, fraction):
            return Sizing(fraction, size, measured, tried, True)
        following = next_size(size, measured, fraction, max_size)
        if following == size:
            break
        size = following
    best = min(tried, key=lambda t: abs(t[1] - fraction))
    return Sizing(fraction, best[0], best[1], tried, False)
