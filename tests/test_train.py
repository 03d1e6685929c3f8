"""Training: replayed features give the fresh fit's model; seeds pin it; the fast coreset picks anomalib's points."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inspectnet.models import coreset
from inspectnet.models.features import FeatureCache
from inspectnet.models.train import ModelSpec, build, extractor_identity, fit, head_state, load_head, pin_seed
from inspectnet.models.weights import ResolvedWeights, parse_weights, resolve

SIZE = 64


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> ResolvedWeights:
    return resolve(parse_weights("random:0"), "resnet18", tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(10, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def _patchcore(seed: int = 0, ratio: float = 0.1) -> ModelSpec:
    return ModelSpec("patchcore", "x", seed, "resnet18", ("layer2", "layer3"), SIZE, ratio)


def _padim(seed: int = 0) -> ModelSpec:
    return ModelSpec("padim", "x", seed, "resnet18", ("layer1", "layer2", "layer3"), SIZE, n_features=20)


def _fresh_fit(spec: ModelSpec, weights: ResolvedWeights, images: torch.Tensor) -> torch.nn.Module:
    """The plain anomalib path: no cache, anomalib's own sampler and fit."""
    model = build(spec, weights)
    model.train()
    with torch.no_grad():
        model(images)
    pin_seed(spec.seed)
    if spec.method == "patchcore":
        assert spec.coreset is not None
        model.subsample_embedding(spec.coreset)
    else:
        model.fit()
    return model.eval()


@pytest.mark.parametrize("ratio", [0.1, 0.25])
def test_patchcore_fit_from_replayed_features_equals_a_fresh_fit(
    weights: ResolvedWeights, images: torch.Tensor, ratio: float
) -> None:
    cache = FeatureCache()
    identity = extractor_identity(_patchcore(), weights, "cpu")
    warm = build(_patchcore(seed=1), weights)
    fit(warm, _patchcore(seed=1), images, cache, identity)  # fills the cache with another seed
    misses = cache.misses
    replayed = build(_patchcore(ratio=ratio), weights)
    fit(replayed, _patchcore(ratio=ratio), images, cache, identity)
    assert cache.misses == misses and cache.hits >= len(images), "the second fit must not run the backbone"
    fresh = _fresh_fit(_patchcore(ratio=ratio), weights, images)
    assert torch.equal(head_state(replayed)["memory_bank"], head_state(fresh)["memory_bank"])


def test_padim_fit_from_replayed_features_equals_a_fresh_fit(weights: ResolvedWeights, images: torch.Tensor) -> None:
    cache = FeatureCache()
    identity = extractor_identity(_padim(), weights, "cpu")
    fit(build(_padim(), weights), _padim(), images, cache, identity)
    replayed = build(_padim(), weights)
    fit(replayed, _padim(), images, cache, identity)
    fresh = _fresh_fit(_padim(), weights, images)
    for key, value in head_state(fresh).items():
        assert torch.equal(head_state(replayed)[key], value), key


def test_one_seed_gives_one_memory_bank_and_another_seed_another(
    weights: ResolvedWeights, images: torch.Tensor
) -> None:
    banks = []
    for seed in (3, 3, 4):
        model = build(_patchcore(seed=seed), weights)
        fit(model, _patchcore(seed=seed), images, FeatureCache(), "id")
        banks.append(head_state(model)["memory_bank"])
    assert torch.equal(banks[0], banks[1])
    assert not torch.equal(banks[0], banks[2])


def test_a_stored_head_rebuilds_the_same_model(weights: ResolvedWeights, images: torch.Tensor, tmp_path: Path) -> None:
    model = build(_patchcore(), weights)
    fit(model, _patchcore(), images, FeatureCache(), "id")
    rebuilt = build(_patchcore(), weights)
    load_head(rebuilt, head_state(model))
    with torch.no_grad():
        a, b = model(images[:2]), rebuilt(images[:2])
    assert torch.equal(a.pred_score, b.pred_score) and torch.equal(a.anomaly_map, b.anomaly_map)


def _anomalib_picks(embedding: torch.Tensor, ratio: float, seed: int) -> list[int]:
    from inspectnet.models.anomalib_private import k_center_greedy_indices

    pin_seed(seed)
    return k_center_greedy_indices(embedding, ratio)


@pytest.mark.parametrize(("n", "dim", "ratio"), [(500, 8, 0.2), (3000, 128, 0.05), (6000, 1536, 0.02)])
def test_fast_coreset_picks_anomalibs_points(n: int, dim: int, ratio: float) -> None:
    embedding = torch.randn(n, dim, generator=torch.Generator().manual_seed(n))
    expected = _anomalib_picks(embedding, ratio, seed=7)
    pin_seed(7)
    assert coreset.select(embedding, ratio) == expected


def test_fast_coreset_picks_anomalibs_points_on_real_features(weights: ResolvedWeights, images: torch.Tensor) -> None:
    model = build(_patchcore(), weights)
    model.train()
    with torch.no_grad():
        embedding = model(images)
    expected = _anomalib_picks(embedding, 0.1, seed=0)
    pin_seed(0)
    assert coreset.select(embedding, 0.1) == expected


def test_fast_coreset_refuses_an_empty_coreset() -> None:
    with pytest.raises(ValueError, match="coreset_size must be a positive integer"):
        coreset.select(torch.randn(10, 4), 0.01)
