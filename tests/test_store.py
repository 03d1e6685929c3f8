"""The artifact store: atomic checkpoints, sha256 verification, and one training across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import torch

from inspectnet.models.store import ArtifactStore, TamperedCheckpointError, spec_key
from tests._store_worker import ask


def test_key_depends_on_every_field_and_not_on_order() -> None:
    a = spec_key({"method": "patchcore", "coreset": 0.01, "seed": 0})
    assert a == spec_key({"seed": 0, "coreset": 0.01, "method": "patchcore"})
    assert a != spec_key({"method": "patchcore", "coreset": 0.1, "seed": 0})


def test_save_then_load_roundtrips_with_sha_and_size(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    saved = store.save("a" * 64, {"bank": torch.ones(3, 2)}, {"spec": 1})
    found = store.load("a" * 64)
    assert found is not None
    payload, checkpoint = found
    assert torch.equal(payload["bank"], torch.ones(3, 2))
    assert checkpoint == saved and checkpoint.size_bytes == saved.path.stat().st_size


def test_a_tampered_checkpoint_is_refused_not_loaded(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    saved = store.save("b" * 64, {"bank": torch.zeros(4)}, {"spec": 1})
    data = bytearray(saved.path.read_bytes())
    data[-20] ^= 0xFF
    saved.path.write_bytes(bytes(data))
    with pytest.raises(TamperedCheckpointError, match=str(saved.path)):
        store.load("b" * 64)


def test_a_checkpoint_without_its_record_counts_as_absent(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    saved = store.save("c" * 64, {"bank": torch.zeros(4)}, {"spec": 1})
    (saved.path.parent / "record.json").unlink()
    assert store.load("c" * 64) is None


def test_two_processes_asking_for_one_model_train_it_once(tmp_path: Path) -> None:
    counter = tmp_path / "trainings.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        shas = pool.starmap(ask, [(str(tmp_path / "store"), str(counter))] * 2)
    assert counter.read_text().splitlines() == ["trained"]
    assert shas[0] == shas[1]
