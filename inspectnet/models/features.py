"""Backbone features computed once per (backbone, weights, layers, image) and replayed afterwards.

Every seed and coreset ratio of a category, and every evaluation of its test split, runs anomalib's own
``forward``; only the backbone call is answered from this cache when the same image was seen before.
Features are a deterministic function of the input in eval mode, so a replayed fit equals a fresh one
(``tests/test_train.py`` proves it).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


class FeatureCache:
    """In-memory backbone outputs keyed by (extractor identity, image bytes)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def drop_prefix(self, prefix: str) -> None:
        """Forget every entry whose extractor identity starts with ``prefix`` (e.g. a finished category)."""
        for key in [k for k in self._items if k[0].startswith(prefix)]:
            del self._items[key]

    def features(self, extractor: nn.Module, identity: str, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        keys = [
            (identity, hashlib.blake2b(x.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest()) for x in batch
        ]
        todo = [i for i, k in enumerate(keys) if k not in self._items]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            with torch.no_grad():
                fresh = extractor(batch[todo])
            for j, i in enumerate(todo):
                self._items[keys[i]] = {name: f[j].clone() for name, f in fresh.items()}
        names = self._items[keys[0]].keys()
        return {name: torch.stack([self._items[k][name] for k in keys]).to(batch.device) for name in names}


def _replayer(extractor: nn.Module, cache: FeatureCache, identity: str) -> nn.Module:
    from torch import nn

    class Replay(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = extractor

        def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
            return cache.features(self.inner, identity, batch)

    return Replay()


@contextlib.contextmanager
def replaying(model: nn.Module, cache: FeatureCache, identity: str) -> Iterator[nn.Module]:
    """Within the block, ``model.feature_extractor`` answers from ``cache``; restored afterwards."""
    original: Any = model.feature_extractor
    model.feature_extractor = _replayer(original, cache, identity)
    try:
        yield model
    finally:
        model.feature_extractor = original
