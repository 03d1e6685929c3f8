"""k-center-greedy coreset selection with anomalib 2.7's picks, at a fraction of its cost.

anomalib's ``KCenterGreedy`` projects the embeddings (``SparseRandomProjection(eps=0.9)``), starts at
``torch.randint(n)`` and, per pick, materialises ``features - center`` over every row to take its norm in
float32: N x D x 4 bytes written and read again per pick, whatever the coreset has become. Here the same
projection object is fitted with the same random state and the same start is drawn; then only the rows a new
center can reach are touched.

The bound. A row ``x`` moves to the new center ``c`` only if ``|x - c| < m(x)``, its distance to the nearest
center so far, and ``m(x) <= m0``, the largest such distance (the one ``c`` was picked at). For any
orthonormal ``P``, ``|P(x - c)| <= |x - c|``. ``P`` is the top principal directions of the embedding
(embeddings of one category are strongly low-rank), and the rows are stored sorted by their first
coordinate, so the rows ``c`` can reach lie in one contiguous slab ``|p1(x) - p1(c)| < m0``: it is read
without a gather, its rows are tested against ``|P(x - c)|^2 <= m(x)^2`` in P dimensions, and only the
survivors' full rows are read to compute their exact distances. As the coreset grows, ``m0`` shrinks, and so
do the slab and the survivors: the bytes read per pick fall.

Ties. anomalib compares float32 norms; distances here are float64 sums of squares of float32 inputs
(exact to ~1e-16). Rows whose minimum distance is within ``_NEAR_TIE`` (relative, in squared distance) of
the farthest are re-decided with anomalib's own float32 arithmetic: ``torch.linalg.norm(x - c)`` against the
row's nearest center, or, for the rare row that has another center within the same band, against every
such center; the first maximal row by index wins, as in ``torch.max``.

Working set: the float32 projected embedding (anomalib's too), N x P float64 coordinates and a few
N-vectors; no N x N or N x k matrix is ever formed (``GreedyStats.working_set_bytes``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

Progress = Callable[[int, int], None]  # (picks done, picks in all), called now and then during the loop

_NEAR_TIE = 1e-5  # rows this close (relative, squared) to the farthest are re-decided in float32, as anomalib
_WIDEN = 1.0 + _NEAR_TIE
_DIRECTIONS = 16  # principal directions of the bound (fewer when the embedding has fewer dimensions)
_PCA_ROWS = 16384  # at most this many rows (every k-th) estimate the principal directions
_BLOCK = 256  # rows per block of the running maxima
_CHUNK = 16384  # rows per exact-distance chunk (bounds the temporaries of dense picks)
_PROGRESS_EVERY = 512  # picks


def coreset_size(n: int, ratio: float) -> int:
    size = int(n * ratio)
    if size <= 0:
        raise ValueError(
            f"coreset_size must be a positive integer, got {size}. "
            f"Check sampling_ratio ({ratio}) and embedding size ({n})."
        )
    return size


@dataclass
class GreedyStats:
    """What the loop read, for the benchmark: bytes from the N-row arrays and the embedding, per kind."""

    picks: int = 0
    slab_rows: int = 0  # rows whose P coordinates were tested
    exact_rows: int = 0  # rows whose full distance was computed
    near_tie_picks: int = 0  # picks re-decided in float32
    crowded_rows: int = 0  # near-tie rows with a second center in the band (looked up through the slab)
    bytes_read: int = 0
    working_set_bytes: int = 0  # the loop's own tensors (not counting the embedding and its projection)
    bytes_after: list[int] = field(default_factory=list)  # bytes_read after each pick

    def bytes_per_pick_by_part(self, parts: int) -> list[float]:
        """Mean bytes read per pick over ``parts`` equal runs of consecutive picks."""
        done = [0, *self.bytes_after]
        cuts = [round(i * (len(done) - 1) / parts) for i in range(parts + 1)]
        return [(done[b] - done[a]) / max(1, b - a) for a, b in itertools.pairwise(cuts)]


def select(
    embedding: torch.Tensor, ratio: float, progress: Progress | None = None, stats: GreedyStats | None = None
) -> list[int]:
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
        return greedy(features, int(start), k, progress, stats)


def sample(embedding: torch.Tensor, ratio: float, progress: Progress | None = None) -> torch.Tensor:
    """The coreset itself: ``embedding[select(embedding, ratio)]``."""
    return embedding[select(embedding, ratio, progress)]


def _principal(features: torch.Tensor, directions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top ``directions`` principal directions (D x P, orthonormal, float64) from every k-th row."""
    import torch

    rows = features[:: max(1, features.shape[0] // _PCA_ROWS)].double()
    mean = rows.mean(dim=0)
    centred = rows - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return mean, vectors[:, -directions:].flip(1).contiguous()


class _Layout:
    """The rows in the order of their first principal coordinate: P coordinates, their squared norms, and
    the map between that order (``pos``) and the embedding's (``row``)."""

    def __init__(self, features: torch.Tensor) -> None:
        import torch

        n, dim = features.shape
        mean, basis = _principal(features, min(_DIRECTIONS, dim))
        coords = torch.cat([(features[i : i + _CHUNK].double() - mean) @ basis for i in range(0, n, _CHUNK)])
        self.row = torch.argsort(coords[:, 0], stable=True)  # pos -> row
        self.pos = torch.empty_like(self.row)
        self.pos[self.row] = torch.arange(n, device=features.device)
        self.coords = coords[self.row].contiguous()
        self.norms = (self.coords * self.coords).sum(dim=1)
        self.key = self.coords[:, 0].contiguous()
        # the bound's own rounding: |p|^2 - 2 p.q + |q|^2 in float64 loses ~1e-16 of the norms
        self.slack = 1e-12 * float(self.norms.max())

    def slab(self, pos: int, radius2: float) -> tuple[int, int]:
        """The positions whose first coordinate is within sqrt(``radius2``) of ``pos``'s."""
        import torch

        r = (radius2 + self.slack) ** 0.5
        k = float(self.key[pos])
        return int(torch.searchsorted(self.key, k - r)), int(torch.searchsorted(self.key, k + r, right=True))

    def lower2(self, at: slice | torch.Tensor, pos: int) -> torch.Tensor:
        """Squared P-dimensional distances from the positions ``at`` to ``pos``: lower bounds of the squared
        distances, to within ``slack``."""
        import torch

        return torch.addmv(self.norms[at], self.coords[at], self.coords[pos], alpha=-2.0).add_(self.norms[pos])

    def reachable(self, pos: int, lo: int, hi: int, limit2: torch.Tensor) -> torch.Tensor:
        """Positions in [lo, hi) whose P-dimensional distance to ``pos`` may be within sqrt(``limit2``)."""
        import torch

        return torch.nonzero(self.lower2(slice(lo, hi), pos) <= limit2 + self.slack).squeeze(1).add_(lo)


def greedy(
    features: torch.Tensor,
    start: int,
    k: int,
    progress: Progress | None = None,
    stats: GreedyStats | None = None,
) -> list[int]:
    """anomalib's k-center-greedy loop over ``features`` (N x D float32, already projected) from ``start``."""
    loop = _Loop(features, k, stats if stats is not None else GreedyStats())
    picks = [start]
    top = float("inf")  # the farthest row's squared distance: no center yet
    for j in range(k):
        loop.add_center(j, picks[-1], top)
        loop.stats.bytes_after.append(loop.stats.bytes_read)
        if progress is not None and (j + 1) % _PROGRESS_EVERY == 0:
            progress(j + 1, k)
        if j == k - 1:
            break
        top = float(loop.block_max.max())
        picks.append(loop.argmax_as_anomalib(top))
        loop.stats.bytes_after[-1] = loop.stats.bytes_read
    loop.stats.picks = len(picks)
    if progress is not None:
        progress(len(picks), k)
    return picks


class _Loop:
    """The loop's state, in layout order (padded to whole blocks): each row's squared distance to its nearest
    center, that center's pick number, whether another center is within the near-tie band, each block's
    maximum, which rows are centers."""

    def __init__(self, features: torch.Tensor, k: int, stats: GreedyStats) -> None:
        import torch

        self.features, self.stats = features, stats
        n, dim = features.shape
        device = features.device
        self.layout = _Layout(features)
        self.blocks = -(-n // _BLOCK)
        padded = self.blocks * _BLOCK
        self.min_d2 = torch.full((padded,), float("inf"), dtype=torch.float64, device=device)
        self.min_d2[n:] = -1.0  # padding, never a maximum
        self.owner = torch.zeros(padded, dtype=torch.long, device=device)
        self.crowded = torch.zeros(padded, dtype=torch.bool, device=device)
        self.block_max = torch.full((self.blocks,), float("inf"), dtype=torch.float64, device=device)
        self.is_center = torch.zeros(n, dtype=torch.bool, device=device)
        self.picked = torch.empty(k, dtype=torch.long, device=device)  # pick number -> row
        layout = self.layout
        tensors = [layout.row, layout.pos, layout.coords, layout.norms, layout.key]
        tensors += [self.min_d2, self.owner, self.crowded, self.is_center, self.picked]
        chunk = min(n, _CHUNK) * dim * 8 * 3  # a chunk's float64 rows, differences and squares
        stats.working_set_bytes = sum(t.numel() * t.element_size() for t in tensors) + chunk
        self.row_bytes = layout.coords.shape[1] * 8 + 16  # per slab row: P coordinates, norm, minimum distance

    def add_center(self, j: int, row: int, top: float) -> None:
        """Make ``row`` the ``j``-th center: update every row it can reach (``top``: the farthest distance)."""
        import torch

        layout, features, n = self.layout, self.features, self.features.shape[0]
        self.picked[j] = row
        pos = int(layout.pos[row])
        self.is_center[pos] = True
        lo, hi = (0, n) if j == 0 else layout.slab(pos, top * _WIDEN)
        shortlist = layout.reachable(pos, lo, hi, self.min_d2[lo:hi] * _WIDEN)
        center = features[row].double()
        moved = [torch.tensor([pos], device=features.device)]
        for s in range(0, shortlist.numel(), _CHUNK):
            chunk = shortlist[s : s + _CHUNK]
            d2 = (features[layout.row[chunk]].double() - center).square_().sum(dim=1)
            old = self.min_d2[chunk]
            closer = d2 < old
            # another center within the band of the row's (new) minimum: the old one, or this one
            self.crowded[chunk] = torch.where(closer, old <= d2 * _WIDEN, self.crowded[chunk] | (d2 <= old * _WIDEN))
            self.min_d2[chunk[closer]] = d2[closer]
            self.owner[chunk[closer]] = j
            moved.append(chunk[closer])
        self.min_d2[pos] = 0.0
        touched = torch.unique(torch.cat(moved) // _BLOCK)
        self.block_max[touched] = self.min_d2.view(self.blocks, _BLOCK)[touched].max(dim=1).values
        self.stats.slab_rows += hi - lo
        self.stats.exact_rows += shortlist.numel()
        row_bytes = features.shape[1] * 4 + 8
        self.stats.bytes_read += (hi - lo) * self.row_bytes + shortlist.numel() * row_bytes
        self.stats.bytes_read += touched.numel() * _BLOCK * 8

    def argmax_as_anomalib(self, top: float) -> int:
        """The row anomalib picks next: the farthest from every center by its float32 norms, first by index."""
        import torch

        floor = top * (1.0 - _NEAR_TIE)
        blocks = torch.nonzero(self.block_max >= floor).squeeze(1)
        hits = torch.nonzero(self.min_d2.view(-1, _BLOCK)[blocks] >= floor)
        near = blocks[hits[:, 0]] * _BLOCK + hits[:, 1]
        self.stats.bytes_read += self.block_max.numel() * 8 + blocks.numel() * _BLOCK * 8
        if near.numel() == 1:
            return int(self.layout.row[near[0]])
        rows, order = torch.sort(self.layout.row[near])  # by index: torch.max keeps the first maximum
        near = near[order]
        self.stats.near_tie_picks += 1
        features = self.features
        best = torch.linalg.norm(features[rows] - features[self.picked[self.owner[near]]], ord=2, dim=1)
        for i in torch.nonzero(self.crowded[near]).squeeze(1).tolist():
            self.stats.crowded_rows += 1
            best[i] = self._crowded_distance(int(near[i]))
        return int(rows[torch.max(best, dim=0)[1]])

    def _crowded_distance(self, pos: int) -> torch.Tensor:
        """anomalib's float32 minimum distance of the row at ``pos`` over every center in its near-tie band."""
        import torch

        layout, features = self.layout, self.features
        band = float(self.min_d2[pos]) * _WIDEN
        lo, hi = layout.slab(pos, band)
        centers = torch.nonzero(self.is_center[lo:hi]).squeeze(1).add_(lo)
        centers = layout.row[centers[layout.lower2(centers, pos) <= band + layout.slack]]
        x = features[layout.row[pos]]
        exact2 = (features[centers].double() - x.double()).square_().sum(dim=1)
        centers = centers[exact2 <= band]
        return torch.linalg.norm(x.unsqueeze(0) - features[centers], ord=2, dim=1).min()
