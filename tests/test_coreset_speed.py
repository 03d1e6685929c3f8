"""The coreset benchmark's measurements: anomalib driven step by step is anomalib, the replay of its arithmetic
gives its picks, and a sampler that departs from them is reported as such."""

from __future__ import annotations

import time

import pytest
import torch

from inspectnet.harness import coreset_speed
from inspectnet.models import coreset
from inspectnet.models.anomalib_private import k_center_greedy_indices, k_center_greedy_stepper
from inspectnet.models.train import pin_seed


def _embedding(n: int = 3000, dim: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    centres = torch.randn(12, dim, generator=g) * 3
    return centres[torch.randint(12, (n,), generator=g)] + 0.4 * torch.randn(n, dim, generator=g)


def test_the_stepper_and_the_replay_give_anomalibs_picks() -> None:
    embedding = _embedding()
    pin_seed(0)
    expected = k_center_greedy_indices(embedding, 0.1)
    pin_seed(0)
    features, steps = k_center_greedy_stepper(embedding, 0.1)
    assert list(steps) == expected
    assert coreset_speed.replay_anomalib(features, expected[0], len(expected), chunk=700) == expected


@pytest.mark.parametrize("limit", [None, 40])
def test_a_scale_compares_every_pick_and_times_both(limit: int | None) -> None:
    scale = coreset_speed.measure_scale("t", _embedding(), "clusters", anomalib_limit=limit, ratios=(0.02, 0.1))
    assert [r.picks for r in scale.rows] == [60, 300]
    assert all(r.identical_picks for r in scale.rows)
    assert [r.anomalib_estimated for r in scale.rows] == ([False, False] if limit is None else [True, True])
    assert all(r.anomalib_s > 0 and r.inspectnet_s > 0 and r.bytes_per_pick > 0 for r in scale.rows)
    assert len(scale.bytes_per_pick_by_tenth) == 10
    assert scale.anomalib_bytes_per_pick == 3 * 3000 * scale.projected_dim * 4


def test_a_sampler_that_departs_from_anomalib_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = coreset.greedy

    def swapped(*args: object, **kwargs: object) -> list[int]:
        picks = real(*args, **kwargs)  # type: ignore[arg-type]
        picks[-1], picks[-2] = picks[-2], picks[-1]  # the planted defect: two picks in the wrong order
        return picks

    monkeypatch.setattr(coreset, "greedy", swapped)
    scale = coreset_speed.measure_scale("t", _embedding(), "clusters", anomalib_limit=40, ratios=(0.02,))
    assert not scale.rows[0].identical_picks


def test_peak_rss_sees_an_allocation() -> None:
    """64 MiB of fresh pages (an anonymous mapping, every page written): a tensor from the allocator may reuse
    pages the process already holds after a long test session, which then do not show as an increase."""
    import mmap

    size = 64 * 1024 * 1024
    with coreset_speed.PeakRss() as memory:
        block = mmap.mmap(-1, size)
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1
        time.sleep(0.05)
    block.close()
    assert memory.increase >= 48 * 1024 * 1024


def test_bytes_per_pick_by_part() -> None:
    stats = coreset.GreedyStats(bytes_after=[10, 20, 60, 100])
    assert stats.bytes_per_pick_by_part(2) == [10.0, 40.0]
