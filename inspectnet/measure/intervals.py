"""How sure an accuracy number is on the test split it was measured on: pure functions, numpy in, floats out.

- ``delong``: image AUROC with DeLong's variance (midranks, so ties count half, as ``metrics.auroc``), its
  interval a Wald interval on the logit scale.
- ``pixel_statistics``, ``replicates``, ``bootstrap``: pixel AUROC and AUPRO under a stratified bootstrap over
  test images, from per-image sufficient statistics (no pixel is touched again).
- ``delong_contrast``, ``bootstrap_contrast``: several models on the same images, image by image: a mean over
  seeds, or a difference (DeLong's covariance of the models' placements; the same bootstrap draws for all).
- ``resolution`` and ``images_needed``: what a split of G good and D defective images can show at all (image
  AUROC moves in steps of 1 / (G x D)) and how many test images a paired comparison would need to resolve
  a given difference (a normal-approximation power estimate from the split's own variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from inspectnet.measure.metrics import MetricInputError, _check_scores_labels

LEVEL = 0.95  # the confidence level of every interval InspectNet reports
POWER = 0.8  # the power a split is planned for: the chance that a real difference of the tolerance is resolved


@dataclass(frozen=True)
class Interval:
    """A point value with its two-sided ``level`` interval, how it was made, and on how many images."""

    value: float
    low: float
    high: float
    level: float
    method: str  # delong | delong-mean | delong-paired | bootstrap | bootstrap-mean | bootstrap-paired
    n_images: int


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given their mean rank."""
    return stats.rankdata(x, method="average")


def _placements(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive, the share of negatives it beats (ties half), and for
    each negative, the share of positives that beat it (Sun and Xu's midrank form)."""
    s, y = _check_scores_labels(scores, labels)
    pos, neg = s[y], s[~y]
    m, n = pos.size, neg.size
    combined = _midranks(np.concatenate([pos, neg]))
    v10 = (combined[:m] - _midranks(pos)) / n
    v01 = 1.0 - (combined[m:] - _midranks(neg)) / m
    return v10, v01


def normal_quantile(level: float) -> float:
    """The two-sided normal quantile of ``level`` (1.96 at 95%)."""
    return float(stats.norm.ppf(0.5 + level / 2))


_z = normal_quantile


def delong(scores: np.ndarray, labels: np.ndarray, level: float = LEVEL) -> Interval:
    """Image AUROC with DeLong's interval."""
    return delong_contrast([scores], labels, [1.0], level)


def delong_variance(scores: np.ndarray, labels: np.ndarray) -> float:
    """DeLong's variance of one model's image AUROC on this split."""
    v10, v01 = _placements(scores, labels)
    return float(_variance(v10[:, None], v01[:, None])[0, 0])


def logit_interval(auc: float, variance: float, level: float = LEVEL) -> tuple[float, float]:
    """The Wald interval on the logit scale, mapped back: it stays inside [0, 1] and holds its level on small
    splits (on 32 defective and 16 good images, 95.5% of 2,000 simulated splits against 91.9% for the plain
    interval; tests/test_intervals.py). At an AUROC of 0 or 1 DeLong's variance is 0: the interval is the point."""
    if auc <= 0.0 or auc >= 1.0 or variance <= 0.0:
        return auc, auc
    se = math.sqrt(variance) / (auc * (1 - auc))
    centre = math.log(auc / (1 - auc))
    z = _z(level)
    return 1 / (1 + math.exp(-(centre - z * se))), 1 / (1 + math.exp(-(centre + z * se)))


def _variance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong's covariance matrix of k AUROCs from their placements (columns: models)."""
    m, n = v10.shape[0], v01.shape[0]
    if m < 2 or n < 2:
        raise MetricInputError("DeLong's variance needs at least two positive and two negative images")
    return np.atleast_2d(np.cov(v10, rowvar=False)) / m + np.atleast_2d(np.cov(v01, rowvar=False)) / n


def resolution(good: int, defective: int) -> float | None:
    """The smallest change of image AUROC a split of ``good`` and ``defective`` images can show (None: a split
    without one of the classes shows none)."""
    return 1.0 / (good * defective) if good and defective else None


def hanley_mcneil(auc: float, good: int, defective: int) -> float:
    """The variance of an image AUROC of ``auc`` on ``good`` normal and ``defective`` anomalous images (Hanley
    and McNeil's approximation, for planning a split before any model is measured)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    spread = auc * (1 - auc) + (defective - 1) * (q1 - auc * auc) + (good - 1) * (q2 - auc * auc)
    return spread / (good * defective)


def images_needed(
    difference: float,
    good: int,
    defective: int,
    variance: float,
    level: float = LEVEL,
    power: float = POWER,
) -> int:
    """Test images, at this split's class balance, a paired test needs to resolve an image-AUROC difference of
    ``difference`` with ``power``, when the paired difference's variance on this split (``good`` + ``defective``
    images) is ``variance``; the variance shrinks as one over the number of images."""
    if difference <= 0:
        raise ValueError(f"difference must be positive, got {difference}")
    n = good + defective
    wanted = (difference / (_z(level) + float(stats.norm.ppf(power)))) ** 2
    return n if variance <= wanted else math.ceil(n * variance / wanted)


PLANNING_AUROC = 0.9  # what ``inspectnet data check`` assumes two models score when it plans a split


def planned_images(difference: float, good: int, defective: int, auc: float = PLANNING_AUROC) -> int:
    """``images_needed`` before any model is measured: two models at image AUROC ``auc`` whose errors are
    uncorrelated (the paired variance is twice one model's; correlated models, such as one model's retrains,
    need fewer images, so this is an upper bound)."""
    return images_needed(difference, good, defective, 2 * hanley_mcneil(auc, good, defective))


# --------------------------------------------------------------------------- pixel metrics: image bootstrap

BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 0
GRID = 1024  # thresholds of the PRO curve's bootstrap statistics (the point value is the exact metric)
GRID_FPR = 0.6  # the grid reaches this pooled false-positive rate, past the limit a resampled set can move to


@dataclass(frozen=True)
class PixelStatistics:
    """Per-image sufficient statistics of pixel AUROC and AUPRO: any resampling of the test images (a weight
    per image) gives both metrics without touching a pixel again.

    ``pairs[i, k]``: image i's defect pixels above image k's normal pixels (ties half), so pixel AUROC under
    weights w is w'Cw / ((w . defect)(w . normal)). ``above[i, t]``: image i's normal pixels above threshold t;
    ``overlap[i, t]``: the sum over image i's defect regions of the region's share above t; so the PRO curve
    under w is (w . above / w . normal, w . overlap / w . regions) on a fixed threshold grid."""

    anomalous: np.ndarray  # (n,) bool: the image's label, the bootstrap's strata
    pairs: np.ndarray
    defect: np.ndarray
    normal: np.ndarray
    above: np.ndarray
    overlap: np.ndarray
    regions: np.ndarray
    fpr_limit: float


def pixel_statistics(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> PixelStatistics:
    """The sufficient statistics of anomaly maps (N x H x W) against boolean masks."""
    from inspectnet.measure.metrics import region_labels

    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks).astype(bool)
    if maps.shape != masks.shape or maps.ndim != 3:
        raise MetricInputError(f"maps {maps.shape} and masks {masks.shape} must both be N x H x W")
    n = maps.shape[0]
    flat, fg = maps.reshape(n, -1), masks.reshape(n, -1)
    labels, _ = region_labels(masks)
    regions = labels.reshape(n, -1)
    normals = [np.sort(flat[i][~fg[i]]) for i in range(n)]
    pooled = np.sort(np.concatenate(normals))
    levels = np.linspace(0.0, GRID_FPR, GRID)[1:]
    thresholds = pooled[np.clip((pooled.size * (1 - levels)).astype(np.int64), 0, pooled.size - 1)]
    defect_scores = flat[fg]
    owner = np.repeat(np.arange(n), fg.sum(axis=1))
    pairs = np.zeros((n, n))
    above = np.zeros((n, thresholds.size))
    overlap = np.zeros((n, thresholds.size))
    region_count = np.zeros(n)
    for k in range(n):
        below = np.searchsorted(normals[k], defect_scores, side="left")
        equal = np.searchsorted(normals[k], defect_scores, side="right") - below
        pairs[:, k] = np.bincount(owner, weights=below + 0.5 * equal, minlength=n)
        above[k] = normals[k].size - np.searchsorted(normals[k], thresholds, side="right")
        ids = regions[k][fg[k]]
        if ids.size:
            unique, inverse, sizes = np.unique(ids, return_inverse=True, return_counts=True)
            region_count[k] = unique.size
            scores = flat[k][fg[k]]
            order = np.argsort(scores)
            cum = np.concatenate([[0.0], np.cumsum((1.0 / sizes[inverse])[order])])
            overlap[k] = cum[-1] - cum[np.searchsorted(scores[order], thresholds, side="right")]
    return PixelStatistics(
        anomalous=np.asarray(fg.any(axis=1), dtype=bool),
        pairs=pairs,
        defect=fg.sum(axis=1).astype(np.float64),
        normal=(~fg).sum(axis=1).astype(np.float64),
        above=above,
        overlap=overlap,
        regions=region_count,
        fpr_limit=fpr_limit,
    )


def stratified_weights(anomalous: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(draws x n) image multiplicities: each draw resamples the normal and the defective images separately,
    with replacement, keeping each class's count. The same seed and labels give the same draws, so two models
    judged on the same images share them (a paired bootstrap)."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((draws, anomalous.size))
    for stratum in (np.flatnonzero(~anomalous), np.flatnonzero(anomalous)):
        picks = rng.integers(0, stratum.size, size=(draws, stratum.size))
        for b in range(draws):
            weights[b] += np.bincount(stratum[picks[b]], minlength=anomalous.size)
    return weights


def pixel_auroc_under(stats_: PixelStatistics, weights: np.ndarray) -> np.ndarray:
    """Pixel AUROC under each row of image weights."""
    u = np.einsum("bi,ik,bk->b", weights, stats_.pairs, weights)
    return u / ((weights @ stats_.defect) * (weights @ stats_.normal))


def aupro_under(stats_: PixelStatistics, weights: np.ndarray) -> np.ndarray:
    """AUPRO@limit under each row of image weights, on the statistics' threshold grid (trapezoids)."""
    fpr = (weights @ stats_.above) / (weights @ stats_.normal)[:, None]
    pro = (weights @ stats_.overlap) / (weights @ stats_.regions)[:, None]
    limit = stats_.fpr_limit
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        f, p = np.r_[0.0, fpr[b]], np.r_[0.0, pro[b]]
        inside = f <= limit
        f_in, p_in = np.r_[f[inside], limit], np.r_[p[inside], np.interp(limit, f, p)]
        out[b] = np.trapezoid(p_in, f_in) / limit
    return out


def _percentile(exact: float, replicates: np.ndarray, at_one: float, level: float) -> tuple[float, float]:
    """The replicates' percentile interval, moved by the grid's own offset from the exact value (zero for
    pixel AUROC, whose statistics are exact; within 1e-5 for AUPRO's threshold grid)."""
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(low + exact - at_one), float(high + exact - at_one)


UNDER = {"pixel_auroc": pixel_auroc_under, "aupro": aupro_under}


@dataclass(frozen=True)
class Replicates:
    """One metric under the seeded stratified draws of a test split (and under no resampling): what a record
    keeps so that another model's record on the same images can be paired with it."""

    metric: str
    seed: int
    values: np.ndarray  # (draws,)
    at_one: float  # the statistic on the whole split, unresampled (the grid's value of the exact metric)


def replicates(metric: str, stats_: PixelStatistics, seed: int = BOOTSTRAP_SEED) -> Replicates:
    under = UNDER[metric]
    values = under(stats_, stratified_weights(stats_.anomalous, seed=seed))
    return Replicates(metric, seed, values, float(under(stats_, np.ones((1, stats_.anomalous.size)))[0]))


def bootstrap(exact: float, reps: Replicates, n_images: int, level: float = LEVEL) -> Interval:
    """A pixel metric whose exact value is ``exact``, with its stratified bootstrap interval over test images."""
    low, high = _percentile(exact, reps.values, reps.at_one, level)
    return Interval(exact, low, high, level, "bootstrap", n_images)


# --------------------------------------------------------------------------- several models on one split


def delong_contrast(
    score_sets: list[np.ndarray], labels: np.ndarray, coefficients: list[float], level: float = LEVEL
) -> Interval:
    """sum_k c_k AUROC_k of k models scored on the same images, with DeLong's variance c'Sc. Coefficients that
    are weights (non-negative, summing to one: a mean over seeds) give an AUROC, with the logit interval; any
    other contrast (a difference) gets the plain Wald interval, clipped to [-1, 1]."""
    placements = [_placements(s, labels) for s in score_sets]
    v10 = np.column_stack([p[0] for p in placements])
    v01 = np.column_stack([p[1] for p in placements])
    c = np.asarray(coefficients, dtype=np.float64)
    value = float(v10.mean(axis=0) @ c)
    variance = float(c @ _variance(v10, v01) @ c)
    n = v10.shape[0] + v01.shape[0]
    if np.all(c >= 0) and abs(c.sum() - 1) < 1e-12:
        low, high = logit_interval(value, variance, level)
        return Interval(value, low, high, level, "delong" if c.size == 1 else "delong-mean", n)
    half = _z(level) * math.sqrt(max(variance, 0.0))
    return Interval(value, max(-1.0, value - half), min(1.0, value + half), level, "delong-paired", n)


def bootstrap_contrast(
    exact: list[float], reps: list[Replicates], coefficients: list[float], n_images: int, level: float = LEVEL
) -> Interval:
    """sum_k c_k metric_k of k models on the same images, every model under the same bootstrap draws."""
    if len({r.seed for r in reps}) != 1 or len({r.values.shape for r in reps}) != 1:
        raise MetricInputError("a paired bootstrap needs every model's replicates from the same draws")
    c = np.asarray(coefficients, dtype=np.float64)
    values = np.column_stack([r.values for r in reps]) @ c
    at_one = float(np.array([r.at_one for r in reps]) @ c)
    value = float(np.array(exact) @ c)
    low, high = _percentile(value, values, at_one, level)
    paired = c.size > 1
    method = "bootstrap-mean" if paired and np.all(c >= 0) else "bootstrap-paired" if paired else "bootstrap"
    return Interval(value, low, high, level, method, n_images)
