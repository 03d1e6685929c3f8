"""Where PatchCore's score jumps: legitimate answers of tied choices, and parity that knows them.

A planted tie shows both sides: the other side of the tie is a legitimate answer (parity clean), and a real
deviation on the same tied image still fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspectnet.measure.parity import TiedScores, compare
from inspectnet.measure.ties import legitimate_scores

D, M, K = 8, 40, 3


def _bank(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(M, D))


def _tied_image(bank: np.ndarray, gap: float) -> np.ndarray:
    """Patches near the bank, except two far ones whose nearest-entry distances differ by ``gap`` and whose
    nearest entries (0 and 1) have different neighbourhoods."""
    rng = np.random.default_rng(1)
    patches = bank[rng.integers(2, M, 30)] + rng.normal(scale=0.01, size=(30, D))
    far = np.zeros((2, D))
    far[0], far[1] = bank[0], bank[1]
    far[0, 0] += 1.0
    far[1, 0] += 1.0 + gap  # a little farther: the top patch, by ``gap``
    return np.vstack([patches, far])


def _score(embedding: np.ndarray, bank: np.ndarray, top: int) -> float:
    """PatchCore's re-weighted score with ``top`` as the top patch, in plain float64 (paper, eq. 7)."""
    to_p = np.linalg.norm(bank - embedding[top], axis=1)
    m = int(np.argmin(to_p))
    support = np.argsort(np.linalg.norm(bank - bank[m], axis=1), kind="stable")[:K]
    d = to_p[support]
    return float((1 - np.exp(d[0]) / np.exp(d).sum()) * to_p[m])


def test_without_a_tie_the_only_answer_is_the_models_own() -> None:
    bank = _bank()
    image = _tied_image(bank, gap=0.5)
    ties = legitimate_scores(image, bank, K, band=1e-6)
    assert not ties.ambiguous and ties.scores == pytest.approx((_score(image, bank, 31),), abs=1e-12)


def test_a_tie_inside_the_band_gives_both_answers_with_its_margin() -> None:
    bank = _bank()
    image = _tied_image(bank, gap=1e-7)
    ties = legitimate_scores(image, bank, K, band=1e-6)
    assert ties.ambiguous and ties.margin == pytest.approx(1e-7, rel=1e-3)
    assert ties.choices["top_patch"] == 2
    assert ties.scores[0] == pytest.approx(_score(image, bank, 31), abs=1e-12)  # the exact model's own first
    assert set(np.round(ties.scores, 10)) == set(np.round([_score(image, bank, 31), _score(image, bank, 30)], 10))
    assert abs(ties.scores[0] - ties.scores[1]) > 1e-3  # the score jumps although no distance moved by 1e-6
    assert not legitimate_scores(image, bank, K, band=1e-8).ambiguous  # a band below the gap: no tie


def test_band_zero_reproduces_the_deployed_torch_model() -> None:
    """The enumeration's own answer is what StablePatchcoreModel computes (float64)."""
    from inspectnet.models.stable import StablePatchcoreModel

    model = StablePatchcoreModel(layers=["layer1"], backbone="resnet18", pre_trained=False, num_neighbors=K).double()
    bank = _bank(3)
    model.memory_bank = torch.from_numpy(bank)
    embedding = np.random.default_rng(4).normal(size=(64, D))
    scores, locations = model.nearest_neighbors(torch.from_numpy(embedding), 1)
    expected = model.compute_anomaly_score(scores[None], locations[None], torch.from_numpy(embedding)[None])
    assert legitimate_scores(embedding, bank, K, 0.0).scores[0] == pytest.approx(float(expected[0]), abs=1e-12)


def _outputs(scores: list[float]) -> dict[str, np.ndarray]:
    raw = np.asarray(scores, dtype=np.float32)
    norm = np.clip(raw / 2, 0, 1)
    maps = np.zeros((len(scores), 1, 4, 4), dtype=np.float32)
    return {
        "anomaly_map_raw": maps,
        "pred_score_raw": raw,
        "anomaly_map": maps,
        "pred_score": norm,
        "pred_label": norm > 0.5,
        "pred_mask": maps > 0.5,
    }


def test_parity_on_a_tied_image_takes_the_nearest_legitimate_answer_and_still_catches_a_deviation() -> None:
    names = ["good.png", "tied.png"]
    reference = _outputs([0.40, 1.02])
    tied = {1: TiedScores(raw=(1.02, 0.98), normalised=(0.51, 0.49), margin=1e-7)}
    other_side = _outputs([0.40, 0.98])  # the other side of the tie: a legitimate answer, label included
    plain = compare(reference, other_side, names, 1e-3)
    assert not plain.clean and plain.label_flips == 1  # without the tie rule this is a break
    knowing = compare(reference, other_side, names, 1e-3, ties=tied)
    assert knowing.clean, knowing.summary()
    assert knowing.ambiguous_label_flips == 1 and knowing.ambiguous_scores[0]["image"] == "tied.png"
    assert knowing.ambiguous_scores[0]["difference_raw"] == pytest.approx(0.04, abs=1e-6)
    deviated = _outputs([0.40, 0.98 + 2e-3])  # a real deviation on the tied image
    broken = compare(reference, deviated, names, 1e-3, ties=tied)
    assert not broken.clean and broken.max_abs_error["pred_score_raw"] == pytest.approx(2e-3, rel=1e-3)
    elsewhere = _outputs([0.40 + 2e-3, 1.02])  # and on the untied image, nothing is excused
    assert not compare(reference, elsewhere, names, 1e-3, ties=tied).clean


def test_the_in_place_expansion_is_the_three_temporary_expression_bit_for_bit() -> None:
    from inspectnet.measure.ties import patch_scores

    rng = np.random.default_rng(4)
    x, m = rng.normal(size=(300, 64)) * 3.0, rng.normal(size=(500, 64)) * 3.0
    squared = (x * x).sum(1)[:, None] - 2.0 * (x @ m.T) + (m * m).sum(1)[None, :]
    assert np.array_equal(patch_scores(x, m), np.sqrt(np.maximum(squared.min(axis=1), 0.0)))
