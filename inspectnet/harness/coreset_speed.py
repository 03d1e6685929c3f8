"""The coreset benchmark's measurements, plain Python: InspectNet's sampler against anomalib's
``KCenterGreedy`` on one embedding, at several ratios, with what each pick read and the memory it took.

anomalib's picks do not depend on how many are taken, so its loop is driven once, to the largest ratio's
count (or a prefix of it, where a full run would take an hour: then its time per ratio is the projection
plus its measured per-pick rate times the picks, and says so). Picks are compared with anomalib's own where
it ran, and on every pick with a replay of anomalib's arithmetic (``replay_anomalib``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inspectnet import progress
from inspectnet.ledger import status_kib
from inspectnet.models import coreset
from inspectnet.models.train import pin_seed
from inspectnet.records import CoresetRow, CoresetScale

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

RATIOS = (0.01, 0.10, 0.25)


class PeakRss:
    """The process's peak resident memory while the block runs, minus its resident memory before, sampled
    every 5 ms from /proc/self/status (0 where there is no /proc)."""

    def __init__(self) -> None:
        self.increase = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._base = self._peak = 0

    @staticmethod
    def _rss() -> int:
        return status_kib("VmRSS") * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._base = self._peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.increase = self._peak - self._base


def replay_anomalib(features: torch.Tensor, start: int, k: int, label: str = "", chunk: int = 4096) -> list[int]:
    """anomalib's picks by its own arithmetic (per row ``torch.linalg.norm(x - c)`` in float32, running
    minimum, first maximum, the pick's distance set to 0), over rows in chunks that stay in cache: the same
    numbers, several times faster than its one N x D difference per pick."""
    import torch

    n = features.shape[0]
    min_d = torch.full((n,), float("inf"), dtype=features.dtype, device=features.device)
    picks = [start]
    with progress.phase("replay of anomalib's arithmetic", k, "picks", label) as shown:
        for _ in range(k - 1):
            center = features[picks[-1]]
            for s in range(0, n, chunk):
                part = min_d[s : s + chunk]
                torch.minimum(part, torch.linalg.norm(features[s : s + chunk] - center, ord=2, dim=1), out=part)
            idx = int(torch.max(min_d, dim=0)[1])
            min_d[idx] = 0.0
            picks.append(idx)
            shown.tick(len(picks))
    return picks


@dataclass(frozen=True)
class AnomalibRun:
    projection_s: float
    seconds_at: dict[int, float]  # picks taken -> seconds since the start of its loop
    picks: list[int]
    features: torch.Tensor  # its projected embedding

    def seconds(self, k: int) -> tuple[float, bool]:
        """Its time for ``k`` picks, projection included, and whether it is estimated."""
        if k in self.seconds_at:
            return self.projection_s + self.seconds_at[k], False
        taken = len(self.picks)
        return self.projection_s + self.seconds_at[taken] / taken * k, True


def run_anomalib(
    embedding: torch.Tensor, ratio: float, stops: Sequence[int], limit: int, label: str = ""
) -> AnomalibRun:
    """anomalib's sampler from seed 0, timed at each pick count in ``stops``, for at most ``limit`` picks."""
    from inspectnet.models.anomalib_private import k_center_greedy_stepper

    pin_seed(0)
    started = time.perf_counter()
    features, steps = k_center_greedy_stepper(embedding, ratio)
    projection_s = time.perf_counter() - started
    started = time.perf_counter()
    picks: list[int] = []
    seconds_at: dict[int, float] = {}
    with progress.phase("anomalib KCenterGreedy", limit, "picks", label) as shown:
        for pick in steps:
            picks.append(pick)
            if len(picks) in stops or len(picks) == limit:
                seconds_at[len(picks)] = time.perf_counter() - started
            shown.tick(len(picks))
            if len(picks) == limit:
                break
    return AnomalibRun(projection_s, seconds_at, picks, features)


def measure_scale(
    name: str,
    embedding: torch.Tensor,
    what: str,
    anomalib_limit: int | None = None,
    ratios: Sequence[float] = RATIOS,
) -> CoresetScale:
    """InspectNet and anomalib at ``ratios`` on ``embedding``; anomalib for at most ``anomalib_limit`` picks
    (None: all of the largest ratio's)."""
    n = embedding.shape[0]
    sizes = [coreset.coreset_size(n, r) for r in ratios]
    limit = max(sizes) if anomalib_limit is None else min(anomalib_limit, max(sizes))
    theirs = run_anomalib(embedding, max(ratios), sizes, limit, name)
    full = limit == max(sizes)
    reference = theirs.picks
    if not full:
        reference = replay_anomalib(theirs.features, theirs.picks[0], max(sizes), name)
        if reference[:limit] != theirs.picks:
            raise AssertionError(f"{name}: the replay of anomalib's arithmetic departs from anomalib's own picks")
    rows, largest = [], coreset.GreedyStats()
    for ratio, k in zip(ratios, sizes, strict=True):
        stats = coreset.GreedyStats()
        pin_seed(0)
        with PeakRss() as memory, progress.phase("coreset", k, "picks", f"{name} {ratio}") as shown:
            started = time.perf_counter()
            ours = coreset.select(embedding, ratio, shown.callback(), stats)
            ours_s = time.perf_counter() - started
        anomalib_s, estimated = theirs.seconds(k)
        rows.append(
            CoresetRow(
                ratio=ratio,
                picks=k,
                identical_picks=ours == reference[:k],
                anomalib_s=round(anomalib_s, 3),
                anomalib_estimated=estimated,
                inspectnet_s=round(ours_s, 3),
                speedup=round(anomalib_s / ours_s, 2),
                bytes_per_pick=round(stats.bytes_read / k),
                exact_rows_per_pick=round(stats.exact_rows / k, 1),
                near_tie_picks=stats.near_tie_picks,
                working_set_bytes=stats.working_set_bytes,
                peak_rss_increase_bytes=memory.increase,
            )
        )
        if k == max(sizes):
            largest = stats
    dim = theirs.features.shape[1]
    if full:
        how = f"anomalib's loop driven once to {limit} picks, timed at each ratio's count; projection included"
        identity = "anomalib's own picks, every pick"
    else:
        how = (
            f"anomalib's loop timed on its first {limit} picks; each ratio = projection + that per-pick rate x "
            "picks (its per-pick cost does not change: one N x D difference and norm)"
        )
        identity = (
            f"anomalib's own picks for the first {limit}; every pick against a replay of its float32 arithmetic "
            "(row chunks, checked equal to its own picks on that prefix)"
        )
    return CoresetScale(
        name=name,
        embedding=what,
        patches=n,
        dim=embedding.shape[1],
        projected_dim=dim,
        anomalib=how,
        identity=identity,
        anomalib_bytes_per_pick=3 * n * dim * theirs.features.element_size(),
        bytes_per_pick_by_tenth=[round(b) for b in largest.bytes_per_pick_by_part(10)],
        rows=rows,
    )
