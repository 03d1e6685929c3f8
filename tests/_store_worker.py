"""A process that asks the artifact store for a model (used by the two-process test)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from inspectnet.models.store import ArtifactStore


def ask(store_dir: str, counter: str) -> str:
    def create() -> dict[str, torch.Tensor]:
        with Path(counter).open("a") as fh:
            fh.write("trained\n")
        time.sleep(0.5)
        return {"bank": torch.arange(6.0)}

    _, checkpoint, _ = ArtifactStore(Path(store_dir)).get_or_create("k" * 64, {"spec": 1}, create)
    return checkpoint.sha256
