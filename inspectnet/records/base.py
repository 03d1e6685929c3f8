"""What every record has: ``SCHEMA_VERSION``, the ``Record`` base (read and written by its declared fields,
``typed_json``) and the blocks several record kinds share (the model, its data, weights, checkpoint, export,
the environment, an interval)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from inspectnet.typed_json import OMITTED_WHEN_NONE, DecodeError, decode, encode

SCHEMA_VERSION = 6  # 2: ROC / PRO curves, latency and parity records; 3: scoring, tied scores, fp64 errors;
# 4: latency runs spread over a session and peak calibrations (no GEMM floor); gate quality by decision mode;
# 5: machine classes and class budgets, the portable floor (each runtime's rate on the model's own layers);
# 6: an export's settings name its exporter when it is not the ONNX one (torch.export), which has no ONNX fields
READS = (5, 6)  # a 5 reads as a 6 whose exports are all ONNX; it is written back as it was (version 5)


Scalar = str | int | float | bool | None


Settings = dict[str, Scalar | list[str]]  # a runtime's or a tool's settings, as it reports them


JsonObject = dict[str, object]


R = TypeVar("R", bound="Record")


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
class ModelInfo:
    """The ModelSpec: everything that defines a trained model apart from data and weights."""

    method: str
    category: str
    seed: int
    backbone: str
    layers: list[str]
    image_size: int
    coreset: float | None  # PatchCore's coreset sampling ratio
    num_neighbors: int
    n_features: int | None  # PaDiM's random feature subset (None: anomalib's default)


@dataclass(frozen=True)
class Scoring:
    """How scores are computed, where that departs from anomalib, and (PatchCore) the measured effect."""

    name: str
    departs_from_anomalib: bool
    description: str
    effect_on_metrics: dict[str, float] | None = field(
        default=None, metadata=OMITTED_WHEN_NONE
    )  # metric minus the same model's with anomalib's
    effect_definition: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class WeightsInfo:
    spec: str
    kind: str
    backbone: str
    sha256: str


@dataclass(frozen=True)
class CheckpointInfo:
    key: str
    file: str
    sha256: str
    size_bytes: int
    trained_this_session: bool


@dataclass(frozen=True)
class ModelSource:
    """Where a model under test came from when InspectNet did not train it: the user's checkpoint."""

    kind: str  # "checkpoint"
    path: str  # as the user gave it
    sha256: str
    size_bytes: int
    lightning_version: str
    anomalib_version: str | None  # anomalib 2.7 does not store its version in a checkpoint
    thresholds_from: str  # "checkpoint": its PostProcessor's values, deployed as they are; or why not
    thresholds: dict[str, float] | None  # the checkpoint's own (None: NaN in the file)
    notes: list[str]


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    torch: str
    anomalib: str
    timm: str
    numpy: str
    cpu: str
    cpu_count: int | None
    torch_threads: int
    device: str
    gpu: str | None
    git_commit: str | None


@dataclass(frozen=True)
class ExportInput:
    name: str
    shape: list[str | int]
    dtype: str


@dataclass(frozen=True, kw_only=True)
class ExportSettings:
    """How an export was made: the ONNX exporter's (and OpenVINO's conversion of it), or another exporter's,
    named in ``exporter``, which has no ONNX fields."""

    onnx_exporter: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    opset: int | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    precision: str
    input: ExportInput
    dynamic_axes: dict[str, str] | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    outputs: list[str] | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    openvino_conversion: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    torch: str
    onnx: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    openvino: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    exporter: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class ExportInfo:
    """An exported model: its store key, how it was exported, the sha256 of each file and (when this session
    exported it) how long that took."""

    key: str
    settings: ExportSettings
    sha256: dict[str, str]
    # the wall time of the export when this session made it; absent when it came from the store (and in
    # records written before it was kept)
    export_s: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)


@dataclass(frozen=True)
class GivenExport:
    """A user's own export (``--export``), checked instead of exporting: the files and what they are."""

    kind: str  # "anomalib export"
    path: str  # as the user gave it
    sha256: dict[str, str]  # file name -> sha256 (an OpenVINO IR: the .xml and its .bin)
    input: str  # name and shape, e.g. "input: batch_size x 3 x 256 x 256"
    outputs: list[str]


@dataclass(frozen=True, kw_only=True)
class Record:
    """What every record has; each kind declares ``KIND`` and its own fields (``kind`` is filled from it)."""

    KIND: ClassVar[str] = ""
    kind: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.KIND)
        if self.kind != self.KIND:
            raise ValueError(f"a {type(self).__name__} has kind {self.KIND!r}, not {self.kind!r}")

    def to_json(self) -> JsonObject:
        data: JsonObject = encode(self)
        return data

    @classmethod
    def from_json(cls: type[R], data: object, source: Path | str = "<record>") -> R:
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            article = "an" if cls.KIND[0] in "aeiou" else "a"
            raise RecordError(f"{source}: not {article} {cls.KIND} record")
        if data.get("schema_version") not in READS:
            raise RecordError(
                f"{source}: schema_version {data.get('schema_version')!r}, this InspectNet reads "
                f"{' and '.join(map(str, READS))}"
            )
        try:
            record: R = decode(cls, data)
        except DecodeError as exc:
            raise RecordError(f"{source}: malformed {cls.KIND} record ({exc})") from None
        return record


@dataclass(frozen=True)
class IntervalInfo:
    """A number with its interval on the test split it was measured on."""

    value: float
    low: float
    high: float
    level: float  # 0.95
    method: str  # delong | delong-paired | bootstrap | bootstrap-paired
    n_images: int


@dataclass(frozen=True)
class SplitSample:
    """What pairs a model's numbers with another model's on the same test images (the split's image order):
    each image's label and raw score (paired DeLong), and each pixel metric under the seeded stratified
    bootstrap draws (``replicates``; ``at_one``: the same statistic on the whole split)."""

    anomalous: list[bool]
    scores: list[float]
    bootstrap_seed: int
    replicates: dict[str, list[float]]
    at_one: dict[str, float]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
