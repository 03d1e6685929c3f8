"""The artifact store: trained model heads cached on disk under a hash of everything that defines them.

Layout: ``<root>/models/<key>/checkpoint.pt`` and ``record.json`` (sha256, size, the defining spec). The store
also owns the folders beside it, and is the only place that spells them: ``exports/<key>/`` (``deploy.export``),
``candidates/<key>/`` (``deploy.candidates``), ``predictions/<key>/`` (a model's test-split outputs: ``arrays``),
``weights/`` (backbone weights files) and ``locks/``.
A checkpoint is loaded only when its bytes hash to the sha256 its record holds (checkpoints are pickles;
they are also loaded with ``weights_only=True``). Writes are atomic; a per-key file lock makes two
processes (pytest-xdist workers) asking for the same model train it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspectnet._io import atomic_write_bytes, atomic_write_json, sha256_bytes

if TYPE_CHECKING:
    import numpy as np


class TamperedCheckpointError(RuntimeError):
    """A checkpoint whose bytes no longer match its record; it is refused, never unpickled."""


@dataclass(frozen=True)
class Checkpoint:
    key: str
    path: Path
    sha256: str
    size_bytes: int

    def as_record(self) -> dict[str, object]:
        return {"key": self.key, "file": self.path.name, "sha256": self.sha256, "size_bytes": self.size_bytes}


def spec_key(spec: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``spec`` (sorted keys): equal specs, equal keys."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str).encode()
    return sha256_bytes(blob)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def candidates(self) -> Path:
        return self.root / "candidates"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    def model_dir(self, key: str) -> Path:
        return self.models / key

    def export_dir(self, key: str) -> Path:
        return self.exports / key

    def candidate_dir(self, key: str) -> Path:
        return self.candidates / key

    def weights_file(self, name: str) -> Path:
        return self.weights / name

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def save(self, key: str, payload: Mapping[str, Any], spec: Mapping[str, Any]) -> Checkpoint:
        import torch

        buf = io.BytesIO()
        torch.save(dict(payload), buf)
        data = buf.getvalue()
        directory = self.model_dir(key)
        path = directory / "checkpoint.pt"
        atomic_write_bytes(path, data)
        checkpoint = Checkpoint(key, path, sha256_bytes(data), len(data))
        atomic_write_json(directory / "record.json", {"checkpoint": checkpoint.as_record(), "spec": dict(spec)})
        return checkpoint

    def load(self, key: str) -> tuple[dict[str, Any], Checkpoint] | None:
        """The verified payload of ``key``, or None when there is none (or only half of one)."""
        import torch

        directory = self.model_dir(key)
        record_path, path = directory / "record.json", directory / "checkpoint.pt"
        if not record_path.is_file() or not path.is_file():
            return None
        expected = json.loads(record_path.read_text())["checkpoint"]["sha256"]
        data = path.read_bytes()
        actual = sha256_bytes(data)
        if actual != expected:
            raise TamperedCheckpointError(
                f"{path}: sha256 {actual[:16]}... does not match its record {expected[:16]}...; refusing to load "
                f"a modified checkpoint (it is a pickle); delete {path.parent} to retrain"
            )
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return payload, Checkpoint(key, path, actual, len(data))

    def save_arrays(self, key: str, arrays: Mapping[str, np.ndarray], facts: Mapping[str, Any]) -> None:
        """Keep ``arrays`` (and small JSON ``facts``) under ``predictions/<key>/``: the arrays first, then the
        record holding their sha256, so a write cut short leaves nothing that loads."""
        import numpy as np

        buf = io.BytesIO()
        named: dict[str, Any] = dict(arrays)
        np.savez(buf, allow_pickle=False, **named)
        data = buf.getvalue()
        directory = self.predictions / key
        atomic_write_bytes(directory / "arrays.npz", data)
        atomic_write_json(directory / "record.json", {"sha256": sha256_bytes(data), "facts": dict(facts)})

    def load_arrays(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """What ``save_arrays`` kept under ``key``; None when there is none, or its bytes no longer match their
        sha256 (then the caller computes them again and overwrites them; no pickle is ever loaded)."""
        import numpy as np

        directory = self.predictions / key
        record_path, path = directory / "record.json", directory / "arrays.npz"
        if not record_path.is_file() or not path.is_file():
            return None
        record, data = json.loads(record_path.read_text()), path.read_bytes()
        if sha256_bytes(data) != record.get("sha256"):
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}, dict(record.get("facts", {}))

    def get_or_create(
        self, key: str, spec: Mapping[str, Any], create: Callable[[], Mapping[str, Any]]
    ) -> tuple[dict[str, Any], Checkpoint, bool]:
        """Load ``key`` or build it with ``create`` (once across processes); returns (payload, ckpt, created)."""
        with self.lock(key):
            found = self.load(key)
            if found is not None:
                return found[0], found[1], False
            payload = dict(create())
            return payload, self.save(key, payload, spec), True
