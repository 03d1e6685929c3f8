"""Versioned JSON records, typed all the way down: one frozen dataclass per record kind and per nested block.

Every record is read through ``Record.from_json`` (``read`` dispatches on ``kind``) and written through
``to_json``; both go by the dataclasses' declared fields (``typed_json``), never by the data. All kinds
share one ``SCHEMA_VERSION``. The whole schema is declared in this package, blocks measured in ``measure`` and
``deploy`` included (``records.measured``); ``records.schema`` derives each kind's JSON shape from it and
checks it against the committed fingerprint. Builders that fill these from a session live in
``inspectnet.builders``.
"""

from __future__ import annotations

import json
from pathlib import Path

from inspectnet._io import atomic_write_json
from inspectnet.records.accuracy import (
    METRIC_DEFINITIONS,
    OUTCOMES,
    AblationRecord,
    Aggregate,
    CategoryCheck,
    CriteriaRecord,
    CriterionOutcome,
    DatasetCheckRecord,
    EvalRecord,
    FalseAlarmLimitInfo,
    ManifestInfo,
    ThresholdRecord,
)
from inspectnet.records.base import (
    SCHEMA_VERSION,
    CheckpointInfo,
    Counts,
    DatasetInfo,
    Environment,
    ExportInfo,
    ExportInput,
    ExportSettings,
    GivenExport,
    IntervalInfo,
    JsonObject,
    ModelInfo,
    ModelSource,
    R,
    Record,
    RecordError,
    Scalar,
    Scoring,
    Settings,
    SplitSample,
    WeightsInfo,
    now,
)
from inspectnet.records.latency import (
    BudgetInfo,
    FloorPortabilityRecord,
    FloorRow,
    GateQualityRecord,
    GateSettings,
    GateTrial,
    GpuInfo,
    LatencyRecord,
    LatencyRun,
    Platform,
    Protocol,
    QualityTable,
    RuntimeLatency,
)
from inspectnet.records.measured import (
    CalibrationInfo,
    DecisionInfo,
    FlopsInfo,
    KernelRateInfo,
    LatencyStats,
    LayerOpInfo,
    LayerTimingInfo,
    PeakMeasurementInfo,
    SpeedUpInfo,
    StageDifferenceInfo,
    ThresholdFactsInfo,
    WarmupTailInfo,
)
from inspectnet.records.parity import (
    SCREENED,
    AmbiguousFlips,
    Band,
    CandidateBuild,
    CandidateLimits,
    CandidateRecord,
    DeploymentPathRecord,
    Fp32Error,
    MarginCategory,
    MarginRow,
    MarginSummary,
    ParityImage,
    ParityMarginRecord,
    ParityRecord,
    PathImage,
    Perturbations,
    StageError,
    TiedScore,
    WayOutInfo,
)
from inspectnet.records.speed import (
    CardRun,
    CoresetRow,
    CoresetScale,
    CoresetSpeedRecord,
    HarnessOverheadRecord,
    MemorySegment,
    MetricSpeedRecord,
    NsStats,
    PhaseTime,
    StepTime,
    WholeCardRecord,
)

__all__ = [
    "KINDS",
    "METRIC_DEFINITIONS",
    "OUTCOMES",
    "SCHEMA_VERSION",
    "SCREENED",
    "AblationRecord",
    "Aggregate",
    "AmbiguousFlips",
    "Band",
    "BudgetInfo",
    "CalibrationInfo",
    "CandidateBuild",
    "CandidateLimits",
    "CandidateRecord",
    "CardRun",
    "CategoryCheck",
    "CheckpointInfo",
    "CoresetRow",
    "CoresetScale",
    "CoresetSpeedRecord",
    "Counts",
    "CriteriaRecord",
    "CriterionOutcome",
    "DatasetCheckRecord",
    "DatasetInfo",
    "DecisionInfo",
    "DeploymentPathRecord",
    "Environment",
    "EvalRecord",
    "ExportInfo",
    "ExportInput",
    "ExportSettings",
    "FalseAlarmLimitInfo",
    "FloorPortabilityRecord",
    "FloorRow",
    "FlopsInfo",
    "Fp32Error",
    "GateQualityRecord",
    "GateSettings",
    "GateTrial",
    "GivenExport",
    "GpuInfo",
    "HarnessOverheadRecord",
    "IntervalInfo",
    "JsonObject",
    "KernelRateInfo",
    "LatencyRecord",
    "LatencyRun",
    "LatencyStats",
    "LayerOpInfo",
    "LayerTimingInfo",
    "ManifestInfo",
    "MarginCategory",
    "MarginRow",
    "MarginSummary",
    "MemorySegment",
    "MetricSpeedRecord",
    "ModelInfo",
    "ModelSource",
    "NsStats",
    "ParityImage",
    "ParityMarginRecord",
    "ParityRecord",
    "PathImage",
    "PeakMeasurementInfo",
    "Perturbations",
    "PhaseTime",
    "Platform",
    "Protocol",
    "QualityTable",
    "Record",
    "RecordError",
    "RuntimeLatency",
    "Scalar",
    "Scoring",
    "Settings",
    "SpeedUpInfo",
    "SplitSample",
    "StageDifferenceInfo",
    "StageError",
    "StepTime",
    "ThresholdFactsInfo",
    "ThresholdRecord",
    "TiedScore",
    "WarmupTailInfo",
    "WayOutInfo",
    "WeightsInfo",
    "WholeCardRecord",
    "now",
    "parse",
    "read",
    "read_as",
    "write_record",
]

KINDS: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        EvalRecord,
        LatencyRecord,
        ParityRecord,
        DeploymentPathRecord,
        CandidateRecord,
        AblationRecord,
        DatasetCheckRecord,
        MetricSpeedRecord,
        CoresetSpeedRecord,
        HarnessOverheadRecord,
        GateQualityRecord,
        ParityMarginRecord,
        FloorPortabilityRecord,
        CriteriaRecord,
        ThresholdRecord,
        WholeCardRecord,
    )
}


def parse(data: object, source: Path | str = "<record>") -> Record:
    """Any record kind, by its ``kind`` field; RecordError naming ``source`` otherwise."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise RecordError(f"{source}: unknown record kind {kind!r} (known: {known}); remove the file or fix its kind")
    return KINDS[kind].from_json(data, source)


def _read_json(path: Path) -> object:
    try:
        data: object = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from None
    return data


def read(path: Path) -> Record:
    return parse(_read_json(path), path)


def read_as(cls: type[R], path: Path) -> R:
    return cls.from_json(_read_json(path), path)


def write_record(path: Path, record: Record) -> None:
    atomic_write_json(path, record.to_json())
