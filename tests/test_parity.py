"""Parity as pure functions: errors raw and normalised, flips, the ambiguity band, image choice."""

from __future__ import annotations

import numpy as np
import pytest

from inspectnet.measure.parity import ambiguity_band, choose_images, compare

N, H = 4, 8
NAMES = [f"img{i}.png" for i in range(N)]


def _outputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw_map = rng.random((N, 1, H, H)).astype(np.float32)
    raw_score = rng.random(N).astype(np.float32) * 4
    norm_map = np.clip(raw_map, 0, 1)
    norm_score = np.clip(raw_score / 4, 0, 1)
    return {
        "anomaly_map_raw": raw_map,
        "pred_score_raw": raw_score,
        "anomaly_map": norm_map,
        "pred_score": norm_score,
        "pred_label": norm_score > 0.5,
        "pred_mask": norm_map > 0.5,
    }


def _copy(o: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in o.items()}


def test_identical_outputs_are_clean() -> None:
    ref = _outputs()
    result = compare(ref, _copy(ref), NAMES, 1e-3)
    assert result.clean and result.status == "parity_clean" and not result.where
    assert result.mask_pixels == N * H * H and all(e == 0 for e in result.max_abs_error.values())


def test_an_error_beyond_tolerance_says_where() -> None:
    ref = _outputs()
    cand = _copy(ref)
    cand["anomaly_map_raw"][2, 0, 3, 3] += 2e-3
    result = compare(ref, cand, NAMES, 1e-3)
    assert not result.clean
    assert result.max_abs_error["anomaly_map_raw"] == pytest.approx(2e-3, rel=1e-3)
    assert [w.describe() for w in result.where] == ["anomaly_map_raw: abs error 2.000e-03 on img2.png"]


def test_a_clamped_normalised_score_cannot_hide_a_raw_difference() -> None:
    ref = _outputs()
    ref["pred_score_raw"][0], ref["pred_score"][0], ref["pred_label"][0] = 9.0, 1.0, True
    cand = _copy(ref)
    cand["pred_score_raw"][0] = 9.5  # still clamped to 1.0 after normalisation
    result = compare(ref, cand, NAMES, 1e-3)
    assert result.max_abs_error["pred_score"] == 0.0 and not result.clean


def test_flips_count_unless_within_the_references_own_error() -> None:
    ref = _outputs()
    ref["anomaly_map"][1, 0, 0, 0], ref["pred_mask"][1, 0, 0, 0] = 0.50001, True  # 1e-5 above the threshold
    ref["anomaly_map"][3, 0, 5, 5], ref["pred_mask"][3, 0, 5, 5] = 0.6, True  # clearly above
    ref["pred_score"][2], ref["pred_label"][2] = 0.5001, True
    cand = _copy(ref)
    cand["pred_mask"][1, 0, 0, 0] = cand["pred_mask"][3, 0, 5, 5] = False
    cand["pred_label"][2] = False
    strict = compare(ref, cand, NAMES, 1e-3)
    assert (strict.mask_pixel_flips, strict.label_flips) == (2, 1) and not strict.clean
    banded = compare(ref, cand, NAMES, 1e-3, band=(2e-4, 2e-5))
    assert (banded.mask_pixel_flips, banded.ambiguous_mask_pixel_flips) == (1, 1)  # the clear one still counts
    assert (banded.label_flips, banded.ambiguous_label_flips) == (0, 1)
    assert not banded.clean
    assert "pred_mask: 1 pixels flipped on img3.png" in [w.describe() for w in banded.where]


def test_ambiguity_band_is_the_references_own_normalised_error() -> None:
    ref = _outputs()
    exact = _copy(ref)
    exact["anomaly_map"] = exact["anomaly_map"].astype(np.float64) + 3e-5
    exact["pred_score"] = exact["pred_score"].astype(np.float64) - 1e-6
    band = ambiguity_band(ref, exact)
    assert band == pytest.approx((1e-6, 3e-5), rel=1e-3)


def test_mismatched_shapes_are_refused() -> None:
    ref = _outputs()
    cand = _copy(ref)
    cand["anomaly_map"] = cand["anomaly_map"][:, :, :4]
    with pytest.raises(ValueError, match="anomaly_map: shapes"):
        compare(ref, cand, NAMES, 1e-3)


def test_images_are_half_normal_half_anomalous_and_deterministic() -> None:
    labels = np.array([False] * 16 + [True] * 32)
    chosen = choose_images(labels, 20)
    assert chosen == choose_images(labels, 20) and len(set(chosen)) == 20
    assert sum(labels[chosen]) == 10 and chosen[0] == 0 and chosen[-1] == 47
    few = np.array([False] * 30 + [True] * 3)
    assert sum(few[choose_images(few, 20)]) == 3 and len(choose_images(few, 20)) == 20
