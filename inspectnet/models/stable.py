"""PatchCore with well-conditioned distances: the one place InspectNet's arithmetic departs from anomalib's.

anomalib computes every patch-to-memory distance as ``sqrt(|x|^2 - 2 x.m + |m|^2)``. That expansion is what
makes the nearest-neighbour search one matrix product, but in float32 it cancels: over the embedded test
images the patch scores sit up to 1e-4 from float64, which is a tenth of the parity tolerance spent before
any runtime is compared. Here the expansion still *selects* (a shortlist of the nearest few per query, so a
near-tie in the selection cannot pick a far entry), and the distances that become scores are recomputed
directly as ``|x - m|`` (error ~1e-6). The same three choices as anomalib's (the nearest entry of every
patch, the top patch, the support set of the re-weighting) are made on those direct distances, in torch,
ONNX and OpenVINO alike, since the exported graph is traced from this module.

The model is anomalib's ``PatchcoreModel`` (same buffers, same checkpoint, same training); only
``nearest_neighbors`` and ``compute_anomaly_score`` are replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from anomalib.models.image.patchcore.torch_model import DEFAULT_CHUNK_SIZE, PatchcoreModel
from torch.nn import functional as F

SLACK = 3  # extra entries the expansion shortlists per query before the direct distances decide
SCORING = {
    "name": "stable-distances-v1",
    "departs_from_anomalib": True,
    "description": (
        "anomalib 2.7's PatchCore, except that distances are recomputed directly as |x - m| after the "
        f"expansion |x|^2 - 2x.m + |m|^2 has selected the {SLACK} + k nearest candidates; nearest entry, top "
        "patch and support set are decided on the direct distances"
    ),
}


def direct_distances(x: torch.Tensor, bank: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``|x_i - bank[index[i, j]]|`` for x (N x D) and index (N x K): N x K, no cancellation."""
    return (x.unsqueeze(1) - bank[index]).pow(2).sum(-1).sqrt()


def nearest(
    x: torch.Tensor, bank: torch.Tensor, k: int, minima: list[Any] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest entries of ``bank`` to each row of ``x``, ascending: (distances, indices), N x k.

    The expansion (anomalib's ``euclidean_dist``) shortlists ``k + SLACK`` entries, direct distances rank them.
    ``minima``: anomalib's own nearest entry of each row (its ``min(1)`` of the same expansion) is appended.
    """
    keep = min(k + SLACK, bank.shape[0])
    expansion = PatchcoreModel.euclidean_dist(x, bank)
    if minima is not None:
        minima.append(expansion.min(1))
    _, shortlist = expansion.topk(keep, dim=1, largest=False)
    distances, order = direct_distances(x, bank, shortlist).topk(k, dim=1, largest=False)
    return distances, shortlist.gather(1, order)


class StablePatchcoreModel(PatchcoreModel):  # type: ignore[misc]
    """anomalib's PatchcoreModel with direct (well-conditioned) distances; see the module docstring."""

    def nearest_neighbors(self, embedding: torch.Tensor, n_neighbors: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._search(embedding, n_neighbors)

    def _search(
        self, embedding: torch.Tensor, n_neighbors: int, minima: list[Any] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The stable search, in anomalib's chunks (``minima``: see ``nearest``)."""
        bank = self.memory_bank
        n = embedding.shape[0]
        if n <= DEFAULT_CHUNK_SIZE:  # one chunk; also the traced (exported) path
            distances, locations = nearest(embedding, bank, n_neighbors, minima)
        else:
            parts = [
                nearest(embedding[i : i + DEFAULT_CHUNK_SIZE], bank, n_neighbors, minima)
                for i in range(0, n, DEFAULT_CHUNK_SIZE)
            ]
            distances = torch.cat([p[0] for p in parts])
            locations = torch.cat([p[1] for p in parts])
        if n_neighbors == 1:
            return distances.squeeze(1), locations.squeeze(1)
        return distances, locations

    def compute_anomaly_score(
        self, patch_scores: torch.Tensor, locations: torch.Tensor, embedding: torch.Tensor
    ) -> torch.Tensor:
        """anomalib's re-weighting (PatchCore paper, eq. 7) with the support distances computed directly."""
        if self.num_neighbors == 1:
            return patch_scores.amax(1)
        batch_size, num_patches = patch_scores.shape
        rows = torch.arange(batch_size, device=patch_scores.device)
        max_patches = torch.argmax(patch_scores, dim=1)
        max_features = embedding.reshape(batch_size, num_patches, -1)[rows, max_patches]
        score = patch_scores[rows, max_patches]
        nn_sample = self.memory_bank[locations[rows, max_patches], :]
        _, support = self.nearest_neighbors(nn_sample, n_neighbors=min(self.num_neighbors, self.memory_bank.shape[0]))
        distances = direct_distances(max_features, self.memory_bank, support)
        weights = (1 - F.softmax(distances, 1))[..., 0]
        return weights * score


class ComparedPatchcoreModel(StablePatchcoreModel):
    """Evaluation only: the stable model's outputs, and beside them (``anomalib_outputs``, one per call) what
    anomalib's own ``PatchcoreModel`` computes for the same images, from the same pass. anomalib's nearest
    entry of every patch is the minimum of the very expansion the stable search shortlists from (same chunks,
    same matrix), and its score's support set is its own search (anomalib's code, run on this model); so
    the second model and its second pass over the test split are not needed, and the numbers are the ones
    that pass gave. Never exported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anomalib_outputs: list[Any] = []
        self._phase = "stable"  # "patches": the forward's own search is next; "anomalib": anomalib's search
        self._patches: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._grid: tuple[int, int] = (0, 0)

    def reshape_embedding(self, embedding: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._grid = (int(embedding.shape[2]), int(embedding.shape[3]))
        return super().reshape_embedding(embedding)  # type: ignore[no-any-return]

    def nearest_neighbors(self, embedding: torch.Tensor, n_neighbors: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._phase == "anomalib":
            return PatchcoreModel.nearest_neighbors(self, embedding, n_neighbors)  # type: ignore[no-any-return]
        if self._phase != "patches":
            return self._search(embedding, n_neighbors)
        self._phase = "stable"  # the forward's search over every patch: anomalib's minima collected on the way
        minima: list[Any] = []
        found = self._search(embedding, n_neighbors, minima)
        values = torch.cat([m.values for m in minima])
        indices = torch.cat([m.indices for m in minima])
        self._patches = (values, indices, embedding)
        return found

    def forward(self, input_tensor: torch.Tensor) -> Any:
        from anomalib.data import InferenceBatch

        self._phase = "patches"
        out = super().forward(input_tensor)
        if self._patches is None:  # training: no search was made
            return out
        values, indices, embedding = self._patches
        self._patches = None
        batch = input_tensor.shape[0]
        patch_scores, locations = values.reshape((batch, -1)), indices.reshape((batch, -1))
        self._phase = "anomalib"
        try:
            pred_score = PatchcoreModel.compute_anomaly_score(self, patch_scores, locations, embedding)
        finally:
            self._phase = "stable"
        grid = patch_scores.reshape((batch, 1, *self._grid))
        anomaly_map = self.anomaly_map_generator(grid, input_tensor.shape[-2:])
        self.anomalib_outputs.append(InferenceBatch(pred_score=pred_score, anomaly_map=anomaly_map))
        return out


def embedding_of(model: Any, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """The forward's embedding (B x P x D) from the backbone's ``features`` (e.g. captured by a hook)."""
    with torch.no_grad():
        pooled = {layer: model.feature_pooler(f) for layer, f in features.items()}
        embedding = model.generate_embedding(pooled)
        return model.reshape_embedding(embedding).reshape(embedding.shape[0], -1, embedding.shape[1])


def searched(model: Any, embeddings: Iterable[torch.Tensor]) -> torch.Tensor:
    """Each patch's distance to its nearest entry (``model.nearest_neighbors``, k = 1) for the rows of
    ``embeddings`` (B x P x D each), in order. anomalib's search and ``_search`` both take rows in
    ``DEFAULT_CHUNK_SIZE`` chunks; the rows are handed over in exactly those chunks, so the result is bit for
    bit one search of their concatenation, holding one chunk of rows at a time instead of all of them."""
    scores: list[torch.Tensor] = []
    pending: list[torch.Tensor] = []
    held = 0
    with torch.no_grad():
        for embedding in embeddings:
            pending.append(embedding.reshape(-1, embedding.shape[-1]))
            held += pending[-1].shape[0]
            while held >= DEFAULT_CHUNK_SIZE:
                rows = torch.cat(pending)
                scores.append(model.nearest_neighbors(rows[:DEFAULT_CHUNK_SIZE], 1)[0])
                pending, held = [rows[DEFAULT_CHUNK_SIZE:]], held - DEFAULT_CHUNK_SIZE
        if held:
            scores.append(model.nearest_neighbors(torch.cat(pending), 1)[0])
    return torch.cat(scores)
