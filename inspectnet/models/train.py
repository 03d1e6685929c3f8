"""Fit anomalib 2.7's PatchCore and PaDiM torch models, with pinned seeds and replayed backbone features.

A model is anomalib's own ``PatchcoreModel`` / ``PadimModel``; what InspectNet stores is its *head*
(the PatchCore memory bank; PaDiM's feature index, mean and inverse covariance). The backbone comes from
the weights file whose sha256 is part of the model's key, so a checkpoint is a few MB, not a backbone copy.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet import progress
from inspectnet.models import coreset
from inspectnet.models.features import FeatureCache, replaying
from inspectnet.models.weights import ResolvedWeights, apply
from inspectnet.names import Method

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a trained model, apart from data and weights identity."""

    method: Method
    category: str
    seed: int
    backbone: str
    layers: tuple[str, ...]
    image_size: int = 256
    coreset: float | None = None  # PatchCore's coreset sampling ratio
    num_neighbors: int = 9  # PatchCore's image-score re-weighting neighbourhood
    n_features: int | None = None  # PaDiM's random feature subset (None: anomalib's default)

    def as_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data


def default_spec(
    method: Method, category: str, seed: int = 0, coreset: float | None = 0.01, image_size: int = 256
) -> ModelSpec:
    """The card's configurations: PatchCore wide_resnet50_2 layer2+3; PaDiM as anomalib ships it."""
    if method == "patchcore":
        return ModelSpec(method, category, seed, "wide_resnet50_2", ("layer2", "layer3"), image_size, coreset)
    return ModelSpec(method, category, seed, "resnet18", ("layer1", "layer2", "layer3"), image_size)


def pin_seed(seed: int) -> None:
    """Pin every RNG a fit touches: python, numpy, torch (CPU and CUDA; the coreset draws from torch)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def scoring(spec: ModelSpec, stable: bool = True) -> dict[str, Any]:
    """How ``spec``'s scores are computed: anomalib's arithmetic, or where InspectNet departs from it
    (PatchCore's stable distances; ``stable=False``: anomalib's own, as for a user's checkpoint)."""
    if spec.method == "patchcore" and stable:
        from inspectnet.models.stable import SCORING

        return dict(SCORING)
    model = "PatchcoreModel" if spec.method == "patchcore" else "PadimModel"
    return {"name": "anomalib", "departs_from_anomalib": False, "description": f"anomalib 2.7's {model} as is"}


@contextlib.contextmanager
def initialised_by_loading() -> Iterator[None]:
    """Modules built inside are left as allocated: ``torch.nn.init``'s in-place initialisers return their
    tensor untouched. Only for a model whose every tensor is loaded next (``apply`` and the head are strict,
    so none is left unset) and whose random state after construction is not used: PatchCore (its fit
    re-pins the seed before its one draw), not PaDiM (its feature subset is drawn after the backbone's init).
    Random init of a wide_resnet50_2 (layer4 included, which the features-only truncation drops) is about a
    second of CPU per build, and a card builds a model for every fit, evaluation and deployment."""
    from torch.nn import init

    names = [n for n in vars(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]
    saved = {n: getattr(init, n) for n in names}
    for name in names:
        setattr(init, name, _untouched)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)


def _untouched(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


def build(spec: ModelSpec, weights: ResolvedWeights, stable: bool = True, compared: bool = False) -> nn.Module:
    """An untrained anomalib model with ``weights`` in its backbone; PaDiM's feature subset drawn from the seed.

    PatchCore is ``StablePatchcoreModel`` (direct distances); ``stable=False`` gives anomalib's own class;
    ``compared``: the stable model that also gives anomalib's own outputs from the same pass (evaluation)."""
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    from inspectnet.models.stable import ComparedPatchcoreModel, StablePatchcoreModel

    pin_seed(spec.seed)
    model: nn.Module
    if spec.method == "patchcore":
        kind = ComparedPatchcoreModel if compared else StablePatchcoreModel if stable else PatchcoreModel
        with initialised_by_loading():  # every tensor is loaded below; the fit re-pins the seed before its draws
            model = kind(
                layers=list(spec.layers),
                backbone=spec.backbone,
                pre_trained=False,
                num_neighbors=spec.num_neighbors,
            )
    else:
        model = PadimModel(
            backbone=spec.backbone, layers=list(spec.layers), pre_trained=False, n_features=spec.n_features
        )
    apply(model.feature_extractor.feature_extractor, weights)
    return model.eval()


def extractor_identity(spec: ModelSpec, weights: ResolvedWeights, device: str) -> str:
    return f"{spec.backbone}|{','.join(spec.layers)}|{weights.sha256}|{spec.image_size}|{device}"


@dataclass
class FitTimings:
    feature_extraction_s: float = 0.0
    coreset_s: float = 0.0
    fit_s: float = 0.0


def _batches(x: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    for i in range(0, x.shape[0], size):
        yield x[i : i + size]


def fit(
    model: nn.Module,
    spec: ModelSpec,
    train: torch.Tensor,
    cache: FeatureCache,
    identity: str,
    batch_size: int = 8,
    perturb: Callable[[torch.Tensor], torch.Tensor] | None = None,
    label: str = "",
) -> FitTimings:
    """Fit ``model`` on ``train`` (N x 3 x S x S); backbone features come from ``cache`` when present.

    ``perturb`` (PatchCore) changes the training embeddings before the memory bank is built: what another
    machine's rounding would do, for the parity margin benchmark. ``label`` names the run in progress lines
    (default: the category)."""
    import torch

    anomalib_model: Any = model  # its embedding_store / memory_bank / fit are not typed as nn.Module
    timings = FitTimings()
    device = next(model.parameters()).device
    label = label or spec.category
    batches = -(-train.shape[0] // batch_size)
    started = time.perf_counter()
    model.train()
    with (
        progress.phase("feature extraction", batches, "batches", label) as shown,
        replaying(model, cache, identity),
        torch.no_grad(),
    ):
        for done, batch in enumerate(_batches(train, batch_size), 1):
            model(batch.to(device))
            shown.tick(done)
    timings.feature_extraction_s = time.perf_counter() - started
    started = time.perf_counter()
    pin_seed(spec.seed)
    if spec.method == "patchcore":
        assert spec.coreset is not None
        # anomalib's subsample_embedding, with its sampler replaced by the exact fast one (same picks)
        embeddings = _stacked(anomalib_model.embedding_store)  # emptied as it is copied: never twice in memory
        if perturb is not None:
            embeddings = perturb(embeddings)
        picks = coreset.coreset_size(embeddings.shape[0], spec.coreset)
        with progress.phase("coreset", picks, "picks", label) as shown:
            anomalib_model.memory_bank = coreset.sample(embeddings, spec.coreset, progress=shown.callback())
        timings.coreset_s = time.perf_counter() - started
    else:
        anomalib_model.fit()
        anomalib_model.memory_bank = []  # the stacked training embeddings are not part of the model
    timings.fit_s = time.perf_counter() - started
    model.eval()
    return timings


def _stacked(pieces: list[torch.Tensor]) -> torch.Tensor:
    """``torch.vstack(pieces)``, the same values, with ``pieces`` emptied as they are copied (each freed at once)."""
    import torch

    out = torch.empty((sum(p.shape[0] for p in pieces), *pieces[0].shape[1:]), dtype=pieces[0].dtype)
    row = 0
    pieces.reverse()
    while pieces:
        piece = pieces.pop()
        out[row : row + piece.shape[0]] = piece
        row += piece.shape[0]
    return out


def head_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The fitted part of a model: every tensor outside the backbone."""
    return {
        k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("feature_extractor.")
    }


def load_head(model: nn.Module, head: dict[str, torch.Tensor]) -> None:
    """``head``'s tensors become the model's own (assigned, not copied: a memory bank is held once however many
    models are built from one evaluation; nothing writes into a fitted model's buffers)."""
    result = model.load_state_dict(head, strict=False, assign=True)
    unexpected = list(result.unexpected_keys)
    missing = [k for k in result.missing_keys if not k.startswith("feature_extractor.")]
    if unexpected or missing:
        raise ValueError(f"checkpoint does not fit the model: unexpected {unexpected[:3]}, missing {missing[:3]}")
    model.eval()
