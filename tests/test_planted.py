"""The gate's planted slowdown is real work that changes nothing: more FLOPs in the graph, the same outputs."""

from __future__ import annotations

import torch
from torch import nn

from inspectnet.deploy.planted import extra_flops, size_for, slowed
from inspectnet.measure.compute import count_flops


class Tiny(nn.Module):
    """Stands in for a deployed model: image -> six outputs, the second a per-image score."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.conv(image)
        score = maps.amax(dim=(1, 2, 3)) + 1.0
        return maps, score, maps.sigmoid(), score.sigmoid(), score > 1.5, maps > 0


def test_the_extra_branch_costs_what_it_says_and_sizes_invert() -> None:
    torch.manual_seed(0)
    base, planted = Tiny().eval(), slowed(Tiny().eval(), size=16)
    added = count_flops(planted, 32).total - count_flops(base, 32).total
    assert added == extra_flops(16)
    assert size_for(extra_flops(37)) == 37


def test_every_output_stays_bit_identical() -> None:
    torch.manual_seed(0)
    base = Tiny().eval()
    planted = slowed(base, size=16)
    image = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        for before, after in zip(base(image), planted(image), strict=True):
            assert torch.equal(before, after)
