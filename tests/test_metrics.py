"""Exact metrics against independent references (scikit-learn, anomalib) and their defining properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import roc_auc_score

from inspectnet.measure.metrics import MetricInputError, aupro, auroc, pixel_metrics


def _labels_with_both(draw: st.DrawFn, n: int) -> np.ndarray:
    labels = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    labels[0], labels[-1] = True, False
    return labels


@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 200))
    # few distinct values: many ties
    scores = draw(arrays(np.float64, n, elements=st.integers(0, 6).map(float)))
    return scores, _labels_with_both(draw, n)


@given(scored())
def test_auroc_equals_sklearn_with_ties(data: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = data
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)


@given(scored())
def test_auroc_is_invariant_under_strictly_increasing_transforms(data: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = data
    assert auroc(np.exp(scores / 3) * 5 - 2, labels) == pytest.approx(auroc(scores, labels), abs=1e-12)


@given(scored())
def test_swapping_labels_gives_one_minus_auroc(data: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = data
    assert auroc(scores, ~labels) == pytest.approx(1 - auroc(scores, labels), abs=1e-12)


@given(st.integers(1, 50), st.integers(1, 50))
def test_perfect_separator_scores_one(n_pos: int, n_neg: int) -> None:
    scores = np.concatenate([np.linspace(2, 3, n_pos), np.linspace(0, 1, n_neg)])
    labels = np.array([True] * n_pos + [False] * n_neg)
    assert auroc(scores, labels) == 1.0


def _maps_and_masks(seed: int, n: int = 12, size: int = 48, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(0, n, 2):
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.integers(0, size - 8, 2)
            h, w = rng.integers(1, 10, 2)
            masks[i, y : y + h, x : x + w] = True
    maps = rng.random((n, size, size)).astype(np.float32) + 0.4 * masks * rng.random()
    if levels:
        maps = np.round(maps * levels) / levels
    return maps, masks


def _anomalib_aupro(maps: np.ndarray, masks: np.ndarray) -> float:
    from inspectnet.models.anomalib_private import aupro as anomalib_aupro

    return anomalib_aupro(torch.from_numpy(maps), torch.from_numpy(masks.astype(np.int64)), fpr_limit=0.3)


@pytest.mark.parametrize(("seed", "levels"), [(0, None), (1, None), (2, 20), (3, 5)])
def test_aupro_equals_anomalib(seed: int, levels: int | None) -> None:
    maps, masks = _maps_and_masks(seed, levels=levels)
    assert aupro(maps, masks) == pytest.approx(_anomalib_aupro(maps, masks), abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_auroc_equals_sklearn(seed: int) -> None:
    maps, masks = _maps_and_masks(seed, levels=30)
    assert pixel_metrics(maps, masks).pixel_auroc == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30))
def test_aupro_invariant_under_increasing_transforms_and_perfect_is_one(seed: int, levels: int) -> None:
    maps, masks = _maps_and_masks(seed, n=4, size=24, levels=levels)
    base = aupro(maps, masks)
    assert aupro(np.exp(maps.astype(np.float64)) * 3 + 1, masks) == pytest.approx(base, abs=1e-9)
    assert aupro(masks.astype(np.float32) + maps * 0.01, masks) == pytest.approx(1.0)


def test_aupro_counts_eight_connected_regions_as_one() -> None:
    """Diagonal neighbours form one region. Finding one pixel of a two-pixel diagonal region (of two regions)
    gives PRO 0.25 at FPR 0; with 4-connectivity it would be one region of three, PRO 1/3."""
    masks = np.zeros((2, 8, 8), dtype=bool)
    masks[0, 2, 2] = masks[0, 3, 3] = True
    masks[0, 6, 6] = masks[0, 6, 7] = True
    maps = np.zeros((2, 8, 8), dtype=np.float32)
    maps[0, 2, 2] = 1.0
    # then one tie group runs linearly to (1, 1): area/0.3 = P0 + 0.15 (1 - P0)
    assert aupro(maps, masks, fpr_limit=0.3) == pytest.approx(0.25 + 0.15 * 0.75)


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0.1, 0.2], [True, True], "both"),
        ([0.1, np.nan], [True, False], "NaN"),
        ([0.1, 0.2, 0.3], [True, False], "differ"),
    ],
)
def test_auroc_rejects_undefined_input(scores: list[float], labels: list[bool], match: str) -> None:
    with pytest.raises(MetricInputError, match=match):
        auroc(np.array(scores), np.array(labels))


def test_pixel_metrics_reject_mismatched_shapes() -> None:
    with pytest.raises(MetricInputError, match="N x H x W"):
        pixel_metrics(np.zeros((2, 4, 4)), np.zeros((2, 4, 5), dtype=bool))
