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


def test_predictions_are_computed_once_then_reloaded_bit_for_bit(tmp_path: Path) -> None:
    import numpy as np

    from inspectnet.harness.stored_predictions import stored_predictions
    from inspectnet.measure.evaluate import Predictions

    store, calls = ArtifactStore(tmp_path), []
    rng = np.random.default_rng(0)
    made = Predictions(rng.random(5).astype(np.float32), rng.random((5, 8, 8)).astype(np.float32))

    def compute() -> tuple[Predictions, dict[str, float] | None]:
        calls.append(1)
        return made, {"image_auroc": 0.1 + 0.2}  # a float with no short decimal form

    (_, anomalib), computed = stored_predictions(store, "k" * 64, compute)
    (again, anomalib_again), computed_again = stored_predictions(store, "k" * 64, compute)
    assert (computed, computed_again, len(calls)) == (True, False, 1)
    assert np.array_equal(again.scores, made.scores) and np.array_equal(again.maps, made.maps)
    assert again.maps.dtype == np.float32 and anomalib_again == anomalib == {"image_auroc": 0.1 + 0.2}


def test_stored_predictions_whose_bytes_changed_are_computed_again(tmp_path: Path) -> None:
    import numpy as np

    store = ArtifactStore(tmp_path)
    store.save_arrays("p" * 64, {"scores": np.arange(4.0)}, {})
    path = store.predictions / ("p" * 64) / "arrays.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    assert store.load_arrays("p" * 64) is None
    (store.predictions / ("p" * 64) / "record.json").unlink()  # a write cut short: arrays without their record
    assert store.load_arrays("p" * 64) is None


def test_the_predictions_key_moves_with_the_code_that_computes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspectnet.harness import stored_predictions as module

    key = module.prediction_key({"model": 1}, "c" * 64, "stable-distances-v1", 8)
    assert key == module.prediction_key({"model": 1}, "c" * 64, "stable-distances-v1", 8)
    assert key != module.prediction_key({"model": 1}, "c" * 64, "anomalib", 8)
    assert key != module.prediction_key({"model": 1}, "c" * 64, "stable-distances-v1", 4)
    monkeypatch.setattr(module, "code_sha256", lambda: {"inspectnet.models.stable": "edited"})
    assert key != module.prediction_key({"model": 1}, "c" * 64, "stable-distances-v1", 8)
