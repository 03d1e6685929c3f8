"""Training: replayed features give the fresh fit's model; seeds pin it; the fast coreset picks anomalib's points."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
    rebuilt, again, head = build(_patchcore(), weights), build(_patchcore(), weights), head_state(model)
    load_head(rebuilt, head)
    load_head(again, head)
    with torch.no_grad():
        a, b = model(images[:2]), rebuilt(images[:2])
    assert torch.equal(a.pred_score, b.pred_score) and torch.equal(a.anomaly_map, b.anomaly_map)
    banks = {m.memory_bank.data_ptr() for m in (rebuilt, again)}  # type: ignore[union-attr]
    assert banks == {head["memory_bank"].data_ptr()}  # one bank in memory, however many models hold it


def _anomalib_picks(embedding: torch.Tensor, ratio: float, seed: int) -> list[int]:
    from inspectnet.models.anomalib_private import k_center_greedy_indices

    pin_seed(seed)
    return k_center_greedy_indices(embedding, ratio)


def _clustered(n: int, dim: int, clusters: int, spread: float, seed: int) -> torch.Tensor:
    """Tight Gaussian clusters at random centres: most picks prune almost every row."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=g) * 4
    return centres[torch.randint(clusters, (n,), generator=g)] + spread * torch.randn(n, dim, generator=g)


def _ties(n: int, dim: int, seed: int) -> torch.Tensor:
    """Exact duplicates and mirror pairs b + v, b - v: rows at equal distances from a center in exact
    arithmetic, which float32 rounding orders (or leaves equal, for the first index to win)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n // 8, dim, generator=g)
    offsets = torch.randn(n // 8, dim, generator=g) * 0.25
    mirrored = torch.cat([base + offsets, base - offsets, base, base.round()])
    return torch.cat([mirrored, mirrored])[torch.randperm(n // 8 * 8, generator=g)]


EMBEDDINGS = {
    "random-500x8": lambda: torch.randn(500, 8, generator=torch.Generator().manual_seed(500)),
    "random-3000x128": lambda: torch.randn(3000, 128, generator=torch.Generator().manual_seed(3000)),
    "random-6000x1536": lambda: torch.randn(6000, 1536, generator=torch.Generator().manual_seed(6000)),
    "clustered-8000x256": lambda: _clustered(8000, 256, 40, 0.05, 1),
    "clustered-4000x64-loose": lambda: _clustered(4000, 64, 8, 1.0, 2),
    "ties-4000x32": lambda: _ties(4000, 32, 3),
    "ties-2000x1536": lambda: _ties(2000, 1536, 4),
}


@pytest.mark.parametrize("ratio", [0.02, 0.25])
@pytest.mark.parametrize("name", sorted(EMBEDDINGS))
def test_fast_coreset_picks_anomalibs_points(name: str, ratio: float) -> None:
    embedding = EMBEDDINGS[name]()
    expected = _anomalib_picks(embedding, ratio, seed=7)
    pin_seed(7)
    assert coreset.select(embedding, ratio) == expected


def test_ties_embedding_has_exact_ties() -> None:
    """The tie case is real: duplicated rows, so equal minimum distances occur and the first index decides."""
    embedding = EMBEDDINGS["ties-4000x32"]()
    assert torch.unique(embedding, dim=0).shape[0] <= embedding.shape[0] // 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fast_coreset_picks_anomalibs_points_on_cuda() -> None:
    embedding = _clustered(20000, 512, 60, 0.2, 5).cuda()
    expected = _anomalib_picks(embedding, 0.1, seed=7)
    pin_seed(7)
    assert coreset.select(embedding, 0.1) == expected


def test_fast_coreset_reports_progress_and_what_it_read() -> None:
    embedding = _clustered(8000, 64, 20, 0.3, 6)
    calls: list[tuple[int, int]] = []
    stats = coreset.GreedyStats()
    pin_seed(0)
    picks = coreset.select(embedding, 0.2, lambda done, total: calls.append((done, total)), stats)
    assert calls[-1] == (1600, 1600) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert stats.picks == len(picks) == 1600
    assert stats.exact_rows < 1600 * 8000 // 4  # the bound pruned most of the rows a dense loop would read
    assert stats.bytes_read > 0
    small = coreset.GreedyStats()
    pin_seed(0)
    coreset.select(embedding, 0.01, stats=small)
    # no N x k anything: the working set grows with the coreset only by the pick list (8 bytes a pick)
    assert 0 < stats.working_set_bytes - small.working_set_bytes == (1600 - 80) * 8


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


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(40, 400),
    dim=st.integers(1, 24),
    levels=st.integers(1, 4),
    ratio=st.sampled_from([0.05, 0.3, 0.9]),
    jitter=st.sampled_from([0.0, 1e-7, 1e-5]),
    seed=st.integers(0, 2**16),
)
def test_fast_coreset_picks_anomalibs_points_on_small_integer_grids(
    n: int, dim: int, levels: int, ratio: float, jitter: float, seed: int
) -> None:
    """Integer features on a few levels: duplicates and exactly equal distances everywhere, the hardest ties;
    with a jitter, distances that differ by about float32's rounding, which anomalib's own arithmetic orders."""
    g = torch.Generator().manual_seed(seed)
    embedding = torch.randint(0, levels + 1, (n, dim), generator=g).float()
    embedding += jitter * torch.randn(n, dim, generator=g)
    if int(n * ratio) == 0:
        return
    expected = _anomalib_picks(embedding, ratio, seed=seed)
    pin_seed(seed)
    assert coreset.select(embedding, ratio) == expected


def test_a_patchcore_built_without_random_init_equals_one_built_with_it(
    weights: ResolvedWeights, images: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The skipped initialisation is only speed: every tensor is loaded, the fit's coreset draws the same
    points (its seed is re-pinned), and torch's initialisers are themselves again afterwards."""
    import contextlib

    from inspectnet.models import train

    spec, skipping = _patchcore(), train.initialised_by_loading
    skipped = build(spec, weights)
    fit(skipped, spec, images, FeatureCache(), "skipped")
    monkeypatch.setattr(train, "initialised_by_loading", contextlib.nullcontext)
    initialised = build(spec, weights)
    fit(initialised, spec, images, FeatureCache(), "initialised")
    a, b = skipped.state_dict(), initialised.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    zeros = torch.zeros(4, 4)
    assert torch.nn.init.kaiming_uniform_(zeros).abs().sum() > 0  # restored: it writes again
    with pytest.raises(RuntimeError), skipping():
        assert torch.nn.init.normal_(torch.zeros(3)).abs().sum() == 0
        raise RuntimeError("restored on the way out of an error too")
    assert torch.nn.init.normal_(torch.zeros(3)).abs().sum() > 0
