"""How sure an accuracy number is: DeLong's interval against an independent O(m n) implementation, the image
bootstrap's statistics against the exact metrics, its draws seeded, and its coverage measured by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from inspectnet.measure.intervals import (
    aupro_under,
    bootstrap,
    delong,
    delong_contrast,
    pixel_auroc_under,
    pixel_statistics,
    replicates,
)
from inspectnet.measure.metrics import auroc, pixel_metrics


def _naive(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and DeLong's placements from the pairwise kernel itself (1 above, 1/2 tied)."""
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(psi.mean()), psi.mean(axis=1), psi.mean(axis=0)


def _naive_var(v10: np.ndarray, v01: np.ndarray) -> float:
    return float(np.var(v10, ddof=1) / v10.size + np.var(v01, ddof=1) / v01.size)


scores = st.lists(st.integers(0, 6), min_size=3, max_size=30)  # few values: many ties


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores, tied=st.booleans())
def test_delong_equals_the_pairwise_definition(pos: list[int], neg: list[int], tied: bool) -> None:
    p = np.array(pos, dtype=float) if tied else np.array(pos) + np.random.default_rng(len(pos)).random(len(pos))
    n = np.array(neg, dtype=float)
    s, y = np.r_[p, n], np.r_[np.ones(p.size, bool), np.zeros(n.size, bool)]
    auc, v10, v01 = _naive(p, n)
    got = delong(s, y)
    var = _naive_var(v10, v01)
    if 0 < auc < 1 and var > 0:  # the Wald interval on the logit scale, from the pairwise variance
        centre, se = math.log(auc / (1 - auc)), math.sqrt(var) / (auc * (1 - auc))
        z = stats.norm.ppf(0.975)
        low, high = (1 / (1 + math.exp(-(centre + k * z * se))) for k in (-1, 1))
    else:
        low = high = auc
    assert got.value == pytest.approx(auc, abs=1e-12) and got.value == pytest.approx(auroc(s, y), abs=1e-12)
    assert (got.low, got.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))


@settings(max_examples=60, deadline=None)
@given(base=scores, current=scores)
def test_paired_delong_equals_the_pairwise_covariance(base: list[int], current: list[int]) -> None:
    k = min(len(base), len(current))
    labels = np.arange(k) % 2 == 0
    if labels.sum() < 2 or (~labels).sum() < 2:
        return
    a, b = np.array(base[:k], dtype=float), np.array(current[:k], dtype=float)
    auc_a, a10, a01 = _naive(a[labels], a[~labels])
    auc_b, b10, b01 = _naive(b[labels], b[~labels])
    var = _naive_var(a10 - b10, a01 - b01)  # the difference's placements: the paired variance
    got = delong_contrast([a, b], labels, [1.0, -1.0])  # baseline a minus current b
    half = stats.norm.ppf(0.975) * math.sqrt(var)
    assert got.value == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert got.low == pytest.approx(max(-1.0, auc_a - auc_b - half), abs=1e-9)
    assert got.high == pytest.approx(min(1.0, auc_a - auc_b + half), abs=1e-9)


def _split(rng: np.random.Generator, good: int, defective: int, size: int, shift: float) -> tuple[np.ndarray, ...]:
    """Maps of ``good`` normal and ``defective`` images with one square defect each: normal pixels N(0, 1),
    defect pixels N(shift, 1), so the population pixel AUROC is Phi(shift / sqrt 2)."""
    masks = np.zeros((good + defective, size, size), dtype=bool)
    for i in range(good, good + defective):
        y, x = rng.integers(0, size - 4, 2)
        masks[i, y : y + 4, x : x + 4] = True
    maps = rng.normal(size=masks.shape) + shift * masks
    return maps, masks


def test_pixel_statistics_give_the_exact_metrics() -> None:
    maps, masks = _split(np.random.default_rng(3), 6, 10, 32, 1.0)
    exact = pixel_metrics(maps, masks)
    st_ = pixel_statistics(maps, masks)
    ones = np.ones((1, maps.shape[0]))
    assert pixel_auroc_under(st_, ones)[0] == pytest.approx(exact.pixel_auroc, abs=1e-12)
    assert aupro_under(st_, ones)[0] == pytest.approx(exact.aupro, abs=2e-3)  # a threshold grid, not every step
    twice = replicates("pixel_auroc", st_)
    assert np.array_equal(twice.values, replicates("pixel_auroc", st_).values)  # seeded: the same draws
    assert not np.array_equal(twice.values, replicates("pixel_auroc", st_, seed=1).values)


def test_bootstrap_coverage_on_a_simulation() -> None:
    """500 test splits drawn from two known distributions: the 95% interval holds the population pixel AUROC in
    95% +- 2% of them."""
    rng = np.random.default_rng(2026)
    shift = 1.0
    truth = stats.norm.cdf(shift / math.sqrt(2))
    hits = 0
    for _ in range(500):
        maps, masks = _split(rng, 16, 32, 12, shift)
        exact = pixel_metrics(maps, masks).pixel_auroc
        st_ = pixel_statistics(maps, masks)
        interval = bootstrap(exact, replicates("pixel_auroc", st_, seed=int(rng.integers(1 << 30))), 48)
        hits += interval.low <= truth <= interval.high
    assert 0.93 <= hits / 500 <= 0.97, hits / 500


def test_delong_coverage_on_a_simulation() -> None:
    """2,000 splits of 32 defective and 16 good images, scores N(1, 1) and N(0, 1): the 95% interval holds the
    population AUROC, Phi(1 / sqrt 2), in 95% +- 2% of them."""
    rng = np.random.default_rng(7)
    truth = stats.norm.cdf(1 / math.sqrt(2))
    labels = np.r_[np.ones(32, bool), np.zeros(16, bool)]
    hits = 0
    for _ in range(2000):
        interval = delong(np.r_[rng.normal(1, 1, 32), rng.normal(0, 1, 16)], labels)
        hits += interval.low <= truth <= interval.high
    assert 0.93 <= hits / 2000 <= 0.97, hits / 2000


def test_planning_a_split() -> None:
    """Hanley-McNeil at AUROC 0.5 is the Mann-Whitney variance (m + n + 1) / (12 m n); the images a paired test
    needs grow as one over the squared difference, and never fall below the split itself."""
    from inspectnet.measure.intervals import hanley_mcneil, images_needed, planned_images, resolution

    assert hanley_mcneil(0.5, 16, 32) == pytest.approx((16 + 32 + 1) / (12 * 16 * 32), rel=1e-12)
    assert resolution(16, 32) == 1 / 512
    wide, narrow = planned_images(0.02, 16, 32), planned_images(0.01, 16, 32)
    assert narrow / wide == pytest.approx(4, rel=0.01)
    assert images_needed(0.5, 16, 32, 1e-6) == 48  # already resolved by this split


def test_the_paired_bootstrap_pairs_the_draws() -> None:
    """A model against itself differs by exactly zero in every draw; a model whose defect pixels score lower
    drops by its exact difference, with an interval around it that excludes zero."""
    from inspectnet.measure.intervals import bootstrap_contrast

    maps, masks = _split(np.random.default_rng(5), 8, 16, 24, 1.5)
    worse = maps - 1.0 * masks
    base, cur = pixel_metrics(maps, masks), pixel_metrics(worse, masks)
    reps_base = replicates("pixel_auroc", pixel_statistics(maps, masks))
    reps_cur = replicates("pixel_auroc", pixel_statistics(worse, masks))
    exact = [base.pixel_auroc, cur.pixel_auroc]
    same = bootstrap_contrast([base.pixel_auroc] * 2, [reps_base, reps_base], [1.0, -1.0], 24)
    assert (same.low, same.high) == (0.0, 0.0)
    drop = bootstrap_contrast(exact, [reps_base, reps_cur], [1.0, -1.0], 24)
    assert drop.value == pytest.approx(base.pixel_auroc - cur.pixel_auroc) and 0 < drop.low < drop.value < drop.high
    assert drop.method == "bootstrap-paired"
    mean = bootstrap_contrast(exact, [reps_base, reps_cur], [0.5, 0.5], 24)
    assert mean.method == "bootstrap-mean" and mean.low < mean.value < mean.high
