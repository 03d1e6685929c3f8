"""Versioned JSON records: one frozen dataclass per record kind, plus the environment of the run.

Records are written atomically; their JSON keys come from the declared fields, never from data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectnet._io import atomic_write_json

SCHEMA_VERSION = 3  # 2: ROC / PRO curves, latency and parity records; 3: scoring, tied scores, fp64 errors


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
    scoring: dict[str, Any]  # how scores are computed, where that departs from anomalib, and its effect
    weights: dict[str, str]  # spec, kind, backbone, sha256
    dataset: DatasetInfo
    counts: Counts
    metrics: dict[str, float]  # image_auroc, pixel_auroc, aupro (raw scores; exact)
    metric_definitions: dict[str, str]
    curves: dict[str, dict[str, list[float]]]  # roc (image level) and pro (pixel level, to the FPR limit)
    checkpoint: dict[str, Any]  # key, file, sha256, size_bytes
    timings_s: dict[str, float]
    environment: dict[str, Any]
    created: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path | str = "<record>") -> EvalRecord:
        _check_fields(cls, data, "evaluation", source)
        try:
            return cls(**{**data, "dataset": DatasetInfo(**data["dataset"]), "counts": Counts(**data["counts"])})
        except TypeError as exc:
            raise RecordError(f"{source}: malformed evaluation record ({exc})") from None


def _check_fields(cls: type, data: Any, kind: str, source: Path | str) -> None:
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise RecordError(f"{source}: not a{'n' if kind[0] in 'aeiou' else ''} {kind} record")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(
            f"{source}: schema_version {data.get('schema_version')!r}, this InspectNet reads {SCHEMA_VERSION}"
        )
    names = {f.name for f in fields(cls)}
    if set(data) != names:
        diff = sorted(set(data) ^ names)
        raise RecordError(f"{source}: fields do not match the {kind} schema ({', '.join(diff)})")


@dataclass(frozen=True)
class RuntimeLatency:
    """One runtime's latency on one (category, device)."""

    runtime: str
    stats: dict[str, float | int]  # n, warmup, min/median/p95/p99/mean/std in ms
    samples_ms: list[float]  # the timed calls, in order
    warmup_samples_ms: list[float]
    warmup_tail: dict[str, Any]
    compute_floor_ms: float
    efficiency: float
    budget: dict[str, Any]
    budget_failures: list[str]
    settings: dict[str, Any]  # threads, precision hint, providers, input transfer
    artifact: dict[str, Any] | None  # the exported file's key, settings and sha256 (None for torch)
    measured: str


@dataclass(frozen=True)
class LatencyRecord:
    """Latency of one model on one device: one entry per runtime, with the compute floor and the platform."""

    kind: str
    schema_version: int
    run_name: str
    method: str
    category: str
    device: str
    model: dict[str, Any]
    scoring: dict[str, Any]
    weights: dict[str, str]
    dataset: DatasetInfo
    checkpoint: dict[str, Any]
    protocol: dict[str, Any]  # batch, image size, warm-up and timed calls, inputs, timer
    flops: dict[str, Any]
    gemm: dict[str, Any]
    compute_floor_ms: float
    platform: dict[str, Any]
    stat_definitions: dict[str, str]
    runtimes: dict[str, RuntimeLatency]
    created: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path | str = "<record>") -> LatencyRecord:
        _check_fields(cls, data, "latency", source)
        try:
            runtimes = {k: RuntimeLatency(**v) for k, v in data["runtimes"].items()}
            return cls(**{**data, "dataset": DatasetInfo(**data["dataset"]), "runtimes": runtimes})
        except (TypeError, AttributeError) as exc:
            raise RecordError(f"{source}: malformed latency record ({exc})") from None


@dataclass(frozen=True)
class ParityRecord:
    """One exported model on one runtime against the torch model, on N test images."""

    kind: str
    schema_version: int
    run_name: str
    method: str
    category: str
    runtime: str
    device: str
    reference: str
    images: list[dict[str, Any]]  # path (relative to the dataset root), label
    status: str  # parity_clean | parity_broken
    tolerance: float
    n_images: int
    max_abs_error: dict[str, float]  # anomaly_map_raw, pred_score_raw, anomaly_map, pred_score
    label_flips: int
    mask_pixel_flips: int
    mask_pixels: int
    ambiguous_flips: dict[str, Any]  # flips within the reference's own float32 error of the threshold
    ambiguous_scores: list[dict[str, Any]]  # images whose score sits on a jump: legitimate answers, margin
    reference_fp32_error: dict[str, Any]  # each side's error against the same model in float64, per output
    where: list[str]  # where parity is broken: output, image, how far
    runtime_settings: dict[str, Any]  # versions, precision hint, bf16 capability, providers
    export: dict[str, Any]  # exporter, opset, precision, sha256 of the files
    scoring: dict[str, Any]
    calibration: dict[str, float]
    checkpoint: dict[str, Any]
    weights: dict[str, str]
    dataset: DatasetInfo
    environment: dict[str, Any]
    created: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path | str = "<record>") -> ParityRecord:
        _check_fields(cls, data, "parity", source)
        try:
            return cls(**{**data, "dataset": DatasetInfo(**data["dataset"])})
        except TypeError as exc:
            raise RecordError(f"{source}: malformed parity record ({exc})") from None


METRIC_DEFINITIONS = {
    "image_auroc": "exact ROC area of raw image scores, ties counted half",
    "pixel_auroc": "exact ROC area of raw anomaly-map pixels over the whole test split",
    "aupro": "area under the PRO curve up to FPR 0.3, divided by 0.3; 8-connected regions; interpolated at 0.3",
}


def write_record(path: Path, record: EvalRecord | LatencyRecord | ParityRecord) -> None:
    atomic_write_json(path, record.to_json())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from None


def read_record(path: Path) -> EvalRecord:
    return EvalRecord.from_json(_read_json(path), path)


def read_latency(path: Path) -> LatencyRecord:
    return LatencyRecord.from_json(_read_json(path), path)


def read_parity(path: Path) -> ParityRecord:
    return ParityRecord.from_json(_read_json(path), path)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
