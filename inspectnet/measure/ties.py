"""Where PatchCore's image score jumps: the legitimate scores of an image whose discrete choices are near-ties.

PatchCore scores an image by its highest patch score ``s* = |x_p - m|`` re-weighted by the neighbourhood of
``m`` in the memory bank (PatchCore paper, eq. 7; anomalib's ``compute_anomaly_score``)::

    score = (1 - softmax_j(|x_p - M_j|, j in S)[first]) * |x_p - m|

with three discrete choices: the top patch ``p``, its nearest entry ``m``, and the support set ``S`` (the
``k`` entries nearest to ``m``, ``first`` the nearest of them). The score is continuous in the features but
not in these choices: where two options of a choice are closer than the reference's own float32 error,
float32 and float64 (or torch and an exported graph) may legitimately choose differently, and the score jumps
although no distance moved. Every score such a tied choice gives is a legitimate answer.

Pure numpy, float64, on one image's patch embeddings and the memory bank.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

LIMIT = 256  # combinations of tied choices evaluated per image, at most


@dataclass(frozen=True)
class Ties:
    """The legitimate raw scores of one image; ``scores[0]`` is the exact model's own choice."""

    scores: tuple[float, ...]
    margin: float | None  # the smallest gap between two tied options (None: no choice is tied)
    choices: dict[str, int]  # how many options each choice had within the band
    truncated: bool = False  # more than LIMIT combinations; the first LIMIT were evaluated

    @property
    def ambiguous(self) -> bool:
        return self.margin is not None


def distances(points: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Direct euclidean distances ``|p - m|``, len(points) x len(bank), float64 (meant for a few points)."""
    diff = np.asarray(points, np.float64)[:, None, :] - np.asarray(bank, np.float64)[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def patch_scores(embedding: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Each patch's distance to its nearest memory-bank entry (the anomaly map before upsampling).

    The expansion ``|x|^2 - 2 x.m + |m|^2`` in float64 (absolute error ~1e-12 at these norms, far below any
    float32 band), summed in place: one P x M matrix, bit for bit the three-temporary expression (``-2 x.m``
    is exact, and ``|x|^2 + (-2 x.m)`` is ``|x|^2 - 2 x.m`` in IEEE arithmetic)."""
    x, m = np.asarray(embedding, np.float64), np.asarray(bank, np.float64)
    squared = x @ m.T
    squared *= -2.0
    squared += (x * x).sum(1)[:, None]
    squared += (m * m).sum(1)[None, :]
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def _tied(values: np.ndarray, best: float, band: float) -> np.ndarray:
    return np.flatnonzero(np.abs(values - best) <= band)


def _gap(values: np.ndarray, chosen: np.ndarray) -> float | None:
    """The smallest gap between tied options' values (None for a single option)."""
    if chosen.size < 2:
        return None
    return float(np.diff(np.sort(values[chosen])).min())


def _supports(to_m: np.ndarray, k: int, band: float) -> Iterator[tuple[tuple[int, ...], int, float | None]]:
    """Every support set (as sorted indices with the 'first' entry moved to the front) within the band, and
    the gap that made it ambiguous."""
    order = np.argsort(to_m, kind="stable")
    kth = to_m[order[k - 1]]
    inside = [int(j) for j in order[:k] if to_m[j] < kth - band]
    boundary = [int(j) for j in np.flatnonzero(np.abs(to_m - kth) <= band)]
    need = k - len(inside)
    gap = _gap(to_m, np.asarray(boundary)) if len(boundary) > need else None
    for extra in itertools.combinations(sorted(boundary), need):
        members = np.asarray(inside + list(extra))
        nearest = members[np.abs(to_m[members] - to_m[members].min()) <= band]
        first_gap = _gap(to_m, nearest)
        for first in sorted(int(f) for f in nearest):
            rest = tuple(sorted(int(j) for j in members if j != first))
            gaps = [g for g in (gap, first_gap) if g is not None]
            yield (first, *rest), len(boundary), min(gaps) if gaps else None


def legitimate_scores(embedding: np.ndarray, bank: np.ndarray, k: int, band: float) -> Ties:
    """The raw image scores every choice within ``band`` of a tie gives (distances in float64); the first is
    the exact model's own (band 0).

    ``embedding``: P x D patch features of one image; ``bank``: M x D memory bank; ``k``: the re-weighting's
    neighbourhood (anomalib's ``num_neighbors``, capped at M); ``band``: how close two options' distances
    must be to count as tied (twice the reference's own float32 error of a distance).
    """
    embedding, bank = np.asarray(embedding, np.float64), np.asarray(bank, np.float64)
    k = min(k, bank.shape[0])
    scores = patch_scores(embedding, bank)
    own, _, _, _ = _enumerate(embedding, bank, scores, k, 0.0)
    found, gaps, counts, truncated = _enumerate(embedding, bank, scores, k, band)
    return Ties(tuple(dict.fromkeys(own[:1] + found)), min(gaps) if gaps else None, counts, truncated)


def _enumerate(
    embedding: np.ndarray, bank: np.ndarray, scores: np.ndarray, k: int, band: float
) -> tuple[list[float], list[float], dict[str, int], bool]:
    top = int(np.argmax(scores))
    tops = [top, *(int(p) for p in _tied(scores, scores[top], band) if p != top)]
    gaps = [g for g in [_gap(scores, np.asarray(tops))] if g is not None]
    counts = {"top_patch": len(tops), "nearest_entry": 1, "support": 0}
    found: list[float] = []
    truncated = False
    for p in tops:
        to_p = distances(embedding[p : p + 1], bank)[0]
        best = int(np.argmin(to_p))
        entries = [best, *(int(m) for m in _tied(to_p, to_p[best], band) if m != best)]
        counts["nearest_entry"] = max(counts["nearest_entry"], len(entries))
        gaps += [g for g in [_gap(to_p, np.asarray(entries))] if g is not None]
        for m in entries:
            to_m = distances(bank[m : m + 1], bank)[0]
            for support, boundary, gap in _supports(to_m, k, band):
                counts["support"] = max(counts["support"], boundary)
                if gap is not None:
                    gaps.append(gap)
                if len(found) >= LIMIT:
                    truncated = True
                    break
                d = to_p[list(support)]
                softmax_first = 1.0 / np.exp(d - d[0]).sum()
                found.append(float((1.0 - softmax_first) * to_p[m]))
    return found, gaps, counts, truncated
