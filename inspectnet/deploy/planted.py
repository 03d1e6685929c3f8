"""A planted slowdown that is real work: the deployed model plus extra convolutions in its graph.

The latency gate's quality is measured against candidates that are slower the way a real change is (more
FLOPs in the exported graph, run by the same runtime), not by sleeping. The extra branch crops the image to
``size`` x ``size``, lifts it to ``channels`` channels (1x1 convolution) and runs one 3x3 convolution; its
mean, times 1e-30, is added to the raw score, so no compiler can drop the branch while every output stays
bit-identical in float32 (a raw score is far above 1e-30 x anything the branch can produce).
"""

from __future__ import annotations

import math
from typing import Any

CHANNELS = 256
NEGLIGIBLE = 1e-30


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
