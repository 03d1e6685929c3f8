"""k-center-greedy coreset selection with anomalib 2.7's picks, at a fraction of its cost.

anomalib's ``KCenterGreedy`` projects the embeddings (``SparseRandomProjection(eps=0.9)``), starts at
``torch.randint(n)`` and, per pick, materialises ``features - center`` to take its norm. Here the same
projection object is fitted with the same random state and the same start is drawn, but each pick is one
matrix-vector product over precomputed squared norms: ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``. The argmax of
squared minimum distances is the argmax of their roots, so the picks are anomalib's, except where two
candidates are equal to float32 rounding (``tests/test_coreset.py`` shows the distances agree there).

Working set: the projected embeddings, their squared norms and one N-vector of minimum distances; no
N x N or N x M matrix is ever formed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def coreset_size(n: int, ratio: float) -> int:
    size = int(n * ratio)
    if size <= 0:
        raise ValueError(
            f"coreset_size must be a positive integer, got {size}. "
            f"Check sampling_ratio ({ratio}) and embedding size ({n})."
        )
    return size


def select(embedding: torch.Tensor, ratio: float) -> list[int]:
    """Indices of the k-center-greedy coreset of ``embedding`` (N x D), drawing from the global RNGs."""
    import torch
    from anomalib.models.components.dimensionality_reduction import SparseRandomProjection

    n = embedding.shape[0]
    k = coreset_size(n, ratio)
    projection = SparseRandomProjection(eps=0.9)
    projection.fit(embedding)
    features = projection.transform(embedding).contiguous()
    idx = torch.randint(high=n, size=(1,), device=features.device).squeeze()
    squared = (features * features).sum(dim=1)
    min_d2 = torch.full((n,), float("inf"), dtype=features.dtype, device=features.device)
    picks = [int(idx)]
    with torch.no_grad():
        for _ in range(k - 1):
            center = features[idx]
            d2 = torch.addmv(squared, features, center, alpha=-2.0).add_(squared[idx]).clamp_(min=0)
            torch.minimum(min_d2, d2, out=min_d2)
            idx = torch.argmax(min_d2)
            min_d2[idx] = 0.0
            picks.append(int(idx))
    return picks


def sample(embedding: torch.Tensor, ratio: float) -> torch.Tensor:
    """The coreset itself: ``embedding[select(embedding, ratio)]``."""
    return embedding[select(embedding, ratio)]
