"""The gate's planted slowdown is real work that changes nothing: more FLOPs in the graph, the same outputs;
it is sized by measurement into a tenth of its target (a fake measurer), or says it could not be."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inspectnet.deploy.planted import extra_flops, size_by_measurement, size_for, slowed, within
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


def _machine(per_gflop: float, noise: list[float] | None = None):  # type: ignore[no-untyped-def]
    """A fake A/B measurer: the slowdown a branch of ``size`` causes is ``per_gflop`` per GFLOP (the machine's
    rate on the branch against the model's), plus the next of ``noise`` (a measurement's error)."""
    errors = iter(noise or [])
    asked: list[int] = []

    def measure(size: int) -> float:
        asked.append(size)
        return extra_flops(size) / 1e9 * per_gflop + next(errors, 0.0)

    return measure, asked


def test_sizing_by_measurement_converges_into_the_band() -> None:
    # the first guess (from the model's FLOPs) measures 3.3%: the branch runs slower than guessed; resized
    measure, asked = _machine(per_gflop=0.025, noise=[0.0, 0.004, -0.003])
    first = size_for(0.05 / 0.025 * 1e9 * 0.66)
    sizing = size_by_measurement(0.05, first, measure, max_size=256)
    assert sizing.converged and within(sizing.measured, 0.05) and abs(sizing.measured - 0.05) <= 0.005
    assert sizing.tries[0][0] == first and sizing.tries[0][1] == pytest.approx(0.033, abs=0.001)
    assert len(sizing.tries) >= 2
    assert asked == [size for size, _ in sizing.tries] and sizing.size == asked[-1]
    assert sizing.describe().startswith("within 5.0% +- 0.50% after")


def test_a_first_size_far_off_and_a_branch_too_small_to_see_still_converge() -> None:
    measure, _ = _machine(per_gflop=0.05)
    sizing = size_by_measurement(0.05, 2, measure, max_size=256)  # 2x2: +0.05%, too small to scale by
    assert sizing.converged and len(sizing.tries) <= 6
    assert [size for size, _ in sizing.tries][:2] == [2, 4]  # 4x the FLOPs (the largest step) while unseen


def test_sizing_that_cannot_reach_the_band_says_so() -> None:
    noisy = [0.02, -0.02] * 3  # every measurement +-2 points off: never within +-0.5 points of 5%
    measure, asked = _machine(per_gflop=0.025, noise=noisy)
    sizing = size_by_measurement(0.05, size_for(2e9), measure, max_size=256)
    assert not sizing.converged and len(asked) == 6
    assert sizing.size == min(sizing.tries, key=lambda t: abs(t[1] - 0.05))[0]
    assert "NOT within 5.0% +- 0.50% after 6 tries" in sizing.describe() and "is used" in sizing.describe()
    # the branch cannot grow past the image: it stops at the largest size and says so
    measure, asked = _machine(per_gflop=1e-4)
    capped = size_by_measurement(0.05, 200, measure, max_size=256)
    assert not capped.converged and asked[-1] == 256 and len(asked) < 6
