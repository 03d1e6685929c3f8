"""k-center-greedy coreset selection with anomalib 2.7's picks, at a fraction of its cost.

anomalib's ``KCenterGreedy`` projects the embeddings (``SparseRandomProjection(eps=0.9)``), starts at
``torch.randint(n)`` and, per pick, materialises ``features - center`` to take its norm. Here the same
projection object is fitted with the same random state and the same start is drawn, but each pick is one
matrix-vector product over precomputed squared norms: ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``. The argmax of
squared minimum distances is the argmax of their roots, so the picks are anomalib's, except where two
candidates are equal to float32 rounding (``tests/test_train.py`` checks the picks against anomalib's
``KCenterGreedy`` on random and real embeddings).

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
    start = torch.randint(high=n, size=(1,), device=features.device).squeeze()
    with torch.no_grad():
        return _greedy(features, int(start), k)


def _greedy(exact: torch.Tensor, start: int, k: int) -> list[int]:
    """The greedy loop: distances in float64 via one matrix-vector product per pick, skipping rows the new
    center provably cannot move; near-ties re-decided with anomalib's own float32 arithmetic on ``exact``.

    A row whose nearest center ``a`` is at distance ``m`` from it cannot get closer than ``m`` to a new
    center ``c`` when ``|c - a| >= 2 m`` (triangle inequality); only the other rows are recomputed.
    In float64 the rounding of ``|x|^2 - 2 x.c + |c|^2`` is ~1e-15 of the norms; the bound keeps a margin.
    """
    import torch

    features = exact.double()
    n, dim = features.shape
    squared = (features * features).sum(dim=1)
    slack = 1e-12 * float(squared.max())
    min_d2 = torch.full((n,), float("inf"), dtype=features.dtype, device=features.device)
    owner = torch.zeros(n, dtype=torch.long, device=features.device)  # which pick each row is nearest to
    centers = torch.empty((k, dim), dtype=features.dtype, device=features.device)
    center_sq = torch.empty(k, dtype=features.dtype, device=features.device)
    picks = [start]
    idx = start
    for j in range(k):
        center = features[idx]
        centers[j], center_sq[j] = center, squared[idx]
        dense = j == 0
        if not dense:  # squared distances from the new center to every earlier one
            cc2 = torch.addmv(center_sq[:j], centers[:j], center, alpha=-2.0).add_(squared[idx]).clamp_(min=0)
            may_move = cc2[owner] <= 4.0 * min_d2 * _MARGIN + 5.0 * slack
            dense = int(may_move.sum()) > n // 2  # then one pass over all rows beats gathering most of them
        if dense:
            d2 = torch.addmv(squared, features, center, alpha=-2.0).add_(squared[idx]).clamp_(min=0)
            owner = torch.where(d2 < min_d2, j, owner)
            torch.minimum(min_d2, d2, out=min_d2)
        else:
            rows = torch.nonzero(may_move).squeeze(1)
            d2 = torch.addmv(squared[rows], features[rows], center, alpha=-2.0).add_(squared[idx]).clamp_(min=0)
            closer = d2 < min_d2[rows]
            moved = rows[closer]
            min_d2[moved] = d2[closer]
            owner[moved] = j
        if j == k - 1:
            break
        idx = _argmax_as_anomalib(exact, features, min_d2, picks)
        min_d2[idx] = 0.0
        picks.append(idx)
    return picks


_MARGIN = 1.000001  # relative margin on the pruning bound
_NEAR_TIE = 1e-5  # rows this close (relative) to the farthest are re-decided in anomalib's float32 arithmetic


def _argmax_as_anomalib(exact: torch.Tensor, features: torch.Tensor, min_d2: torch.Tensor, picks: list[int]) -> int:
    """The row anomalib would pick next: the farthest from every center, by its own arithmetic.

    anomalib takes ``torch.linalg.norm(x - c)`` in float32, whose rounding (~1e-7 relative) can reorder rows
    that float64 separates by less than that. Rows within ``_NEAR_TIE`` of the maximum get their minimum
    distance recomputed exactly so, over the centers that can be their nearest, and the first maximal row
    wins, as in ``torch.max``.
    """
    import torch

    top = min_d2.max()
    near = torch.nonzero(min_d2 >= top * (1.0 - _NEAR_TIE)).squeeze(1)
    if near.numel() == 1:
        return int(near[0])
    index = torch.tensor(picks, device=features.device)
    rows, centers = features[near], features[index]
    approx = (rows * rows).sum(dim=1, keepdim=True) - 2.0 * rows @ centers.T + (centers * centers).sum(dim=1)
    pairs = torch.nonzero(approx <= approx.min(dim=1, keepdim=True).values * (1.0 + _NEAR_TIE))
    dist = torch.linalg.norm(exact[near[pairs[:, 0]]] - exact[index[pairs[:, 1]]], ord=2, dim=1)
    best = torch.full((near.numel(),), float("inf"), dtype=exact.dtype, device=exact.device)
    best = best.scatter_reduce(0, pairs[:, 0], dist, reduce="amin")
    return int(near[torch.max(best, dim=0)[1]])


def sample(embedding: torch.Tensor, ratio: float) -> torch.Tensor:
    """The coreset itself: ``embedding[select(embedding, ratio)]``."""
    return embedding[select(embedding, ratio)]
