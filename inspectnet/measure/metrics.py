"""Exact threshold-free detection metrics on raw (un-normalised) scores: pure functions, numpy in, float out.

- ``auroc``: area under the ROC curve, ties counted half (equal to scikit-learn's ``roc_auc_score``).
- ``aupro``: area under the per-region-overlap curve up to a false-positive rate limit (default 0.3),
  divided by the limit (MVTec AD's definition: 8-connected ground-truth regions, FPR over all normal
  pixels of the set, the exact step curve with linear interpolation at the limit).

Both avoid a full argsort of every pixel: ROC area is the Mann-Whitney statistic (a sort of one class
and a binary search of the other), and PRO area needs only the normal pixels above the FPR limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class MetricInputError(ValueError):
    """Arrays that a metric is not defined on (shape mismatch, one class only, NaN)."""


def _check_scores_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise MetricInputError(f"scores ({s.size}) and labels ({y.size}) differ in size")
    if not np.isfinite(s).all():
        raise MetricInputError("scores contain NaN or infinity")
    if y.all() or not y.any():
        raise MetricInputError("AUROC needs both positive and negative labels")
    return s, y


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(equal): the exact ROC area."""
    s, y = _check_scores_labels(scores, labels)
    return _mann_whitney(s[y], np.sort(s[~y]))


def _mann_whitney(pos: np.ndarray, neg_sorted: np.ndarray) -> float:
    below = np.searchsorted(neg_sorted, pos, side="left")  # negatives strictly below each positive
    equal = np.searchsorted(neg_sorted, pos, side="right") - below
    u = below.sum(dtype=np.float64) + 0.5 * equal.sum(dtype=np.float64)
    return float(u / (pos.size * neg_sorted.size))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact ROC curve (FPR, TPR), one point per distinct score, from (0, 0) to (1, 1)."""
    s, y = _check_scores_labels(scores, labels)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]  # last index of each tie group
    tps = np.cumsum(y_sorted)[ends]
    fps = ends + 1 - tps
    return np.r_[0.0, fps / (~y).sum()], np.r_[0.0, tps / y.sum()]


@dataclass(frozen=True)
class PixelMetrics:
    pixel_auroc: float
    aupro: float
    pro_fpr: np.ndarray | None = None  # the PRO curve up to the FPR limit, for figures
    pro: np.ndarray | None = None


def region_labels(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected regions of a stack of masks, numbered 1..R across the whole stack (0 = normal)."""
    labels = np.zeros(masks.shape, dtype=np.int64)
    offset = 0
    for i, mask in enumerate(masks):
        lab, n = ndimage.label(mask, structure=_EIGHT_CONNECTED)
        labels[i] = np.where(lab > 0, lab + offset, 0)
        offset += n
    return labels, offset


def aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (in (0, 1])."""
    return pixel_metrics(maps, masks, fpr_limit).aupro


def pixel_metrics(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> PixelMetrics:
    """Pixel AUROC and AUPRO@``fpr_limit`` of anomaly maps (N x H x W) against boolean masks."""
    maps = np.asarray(maps)
    masks = np.asarray(masks).astype(bool)
    if maps.shape != masks.shape or maps.ndim != 3:
        raise MetricInputError(f"maps {maps.shape} and masks {masks.shape} must both be N x H x W")
    if not 0 < fpr_limit <= 1:
        raise MetricInputError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    flat = maps.reshape(-1)
    fg = masks.reshape(-1)
    if not np.isfinite(flat).all():
        raise MetricInputError("anomaly maps contain NaN or infinity")
    if fg.all() or not fg.any():
        raise MetricInputError("pixel metrics need both normal and defect pixels")
    pos, neg = flat[fg], flat[~fg]
    labels, n_regions = region_labels(masks)
    sizes = np.bincount(labels.reshape(-1)[fg], minlength=n_regions + 1)
    weights = 1.0 / (n_regions * sizes[labels.reshape(-1)[fg]])
    neg_sorted = np.sort(neg)  # the one sort both areas share
    area, fpr, pro = _pro_area(pos, weights, neg_sorted, fpr_limit)
    return PixelMetrics(_mann_whitney(pos, neg_sorted), area, fpr, pro)


def _pro_area(
    pos: np.ndarray, weights: np.ndarray, neg_sorted: np.ndarray, fpr_limit: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """The normalised PRO area up to ``fpr_limit`` and the curve's corner points (FPR, PRO) up to it."""
    n_neg = neg_sorted.size
    k_lim = int(np.ceil(fpr_limit * n_neg))  # only the top k_lim normal pixels reach FPR <= limit
    cutoff = neg_sorted[n_neg - k_lim]
    top = neg_sorted[np.searchsorted(neg_sorted, cutoff, side="left") :][::-1]  # whole tie groups, descending
    starts = np.flatnonzero(np.concatenate([[True], top[1:] != top[:-1]]))
    counts = np.diff(np.concatenate([starts, [top.size]])).astype(np.float64)
    top = top[starts]  # distinct normal scores, highest first, with their pixel counts
    order = np.argsort(pos)
    pos_sorted, cum = pos[order], np.concatenate([[0.0], np.cumsum(weights[order])])
    total = cum[-1]
    lo = np.searchsorted(pos_sorted, top, side="left")
    hi = np.searchsorted(pos_sorted, top, side="right")
    pro_above = total - cum[hi]  # PRO of defect pixels strictly above each threshold
    pro_equal = cum[hi] - cum[lo]  # defect pixels tied with it
    width = counts / n_neg
    f_start = np.concatenate([[0.0], np.cumsum(width)[:-1]])
    full = f_start + width <= fpr_limit
    area = float(np.sum(width[full] * (pro_above[full] + 0.5 * pro_equal[full])))
    fpr_points, pro_points = np.r_[0.0, (f_start + width)[full]], np.r_[0.0, (pro_above + pro_equal)[full]]
    partial = np.flatnonzero(~full)
    if partial.size:
        i = partial[0]
        w = fpr_limit - f_start[i]
        area += w * (pro_above[i] + 0.5 * pro_equal[i] * w / width[i])
        fpr_points = np.r_[fpr_points, fpr_limit]
        pro_points = np.r_[pro_points, pro_above[i] + pro_equal[i] * w / width[i]]
    return float(area / fpr_limit), fpr_points, pro_points
