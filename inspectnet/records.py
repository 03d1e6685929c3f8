"""Versioned JSON records: one frozen dataclass per record kind, plus the environment of the run.

Records are written atomically; their JSON keys come from the declared fields, never from data.
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectnet._io import atomic_write_json

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A malformed or schema-mismatched record file; one line naming it."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "synthetic" | "mvtec_ad"
    root: str
    fingerprint: str  # sha256 over the category's files (paths and contents)
    licence: str
    note: str


@dataclass(frozen=True)
class Counts:
    train: int
    test_good: int
    test_defective: int


@dataclass(frozen=True)
class EvalRecord:
    """One trained model evaluated on one category's test split."""

    kind: str
    schema_version: int
    run_name: str
    method: str
    category: str
    seed: int
    seed_pinned: bool
    coreset: float | None
    model: dict[str, Any]  # the ModelSpec
    weights: dict[str, str]  # spec, kind, backbone, sha256
    dataset: DatasetInfo
    counts: Counts
    metrics: dict[str, float]  # image_auroc, pixel_auroc, aupro (raw scores; exact)
    metric_definitions: dict[str, str]
    checkpoint: dict[str, Any]  # key, file, sha256, size_bytes
    timings_s: dict[str, float]
    environment: dict[str, Any]
    created: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path | str = "<record>") -> EvalRecord:
        if not isinstance(data, dict) or data.get("kind") != "evaluation":
            raise RecordError(f"{source}: not an evaluation record")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise RecordError(
                f"{source}: schema_version {data.get('schema_version')!r}, this InspectNet reads {SCHEMA_VERSION}"
            )
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            diff = sorted(set(data) ^ names)
            raise RecordError(f"{source}: fields do not match the evaluation schema ({', '.join(diff)})")
        try:
            return cls(
                **{
                    **data,
                    "dataset": DatasetInfo(**data["dataset"]),
                    "counts": Counts(**data["counts"]),
                }
            )
        except TypeError as exc:
            raise RecordError(f"{source}: malformed evaluation record ({exc})") from None


METRIC_DEFINITIONS = {
    "image_auroc": "exact ROC area of raw image scores, ties counted half",
    "pixel_auroc": "exact ROC area of raw anomaly-map pixels over the whole test split",
    "aupro": "area under the PRO curve up to FPR 0.3, divided by 0.3; 8-connected regions; interpolated at 0.3",
}


def write_record(path: Path, record: EvalRecord) -> None:
    atomic_write_json(path, record.to_json())


def read_record(path: Path) -> EvalRecord:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from None
    return EvalRecord.from_json(data, path)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(device: str) -> dict[str, Any]:
    """The software and hardware a number was measured on."""
    import os

    import anomalib
    import numpy
    import timm
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "anomalib": anomalib.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "git_commit": _git_commit(),
    }
    return env
