"""A report set read back: every JSON under ``<root>/eval_harness`` validated by kind, none skipped.

A file that is not JSON, has no known ``kind``, or does not match its kind's schema is refused with one line
naming it. The card reads only what this returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectnet.records import SCHEMA_VERSION, EvalRecord, LatencyRecord, ParityRecord, RecordError
from inspectnet.report import RECORDS_DIR

STRICT: dict[str, type[EvalRecord] | type[LatencyRecord] | type[ParityRecord]] = {
    "evaluation": EvalRecord,
    "latency": LatencyRecord,
    "parity": ParityRecord,
}
# kinds whose layout did not change with schema 2: both versions are read
LOOSE = {
    "ablation": ("category", "patchcore", "padim", "deltas"),
    "dataset_check": ("dataset", "categories"),
    "metric_speed": ("inspectnet_s", "reference_s", "speedup"),
    "coreset_speed": ("rows",),
    "harness_overhead": ("stats_ns",),
    "gate_quality": ("false_alarms", "detections_of_10pct_slowdown", "runs"),
    "parity_margin": ("perturbations", "tolerance", "worst_normalised_error", "categories"),
}


@dataclass(frozen=True)
class Source:
    """One record file: its name relative to the reports root and its JSON."""

    name: str
    data: dict[str, Any]

    def get(self, path: str) -> Any:
        """The value at a dotted field path (list indices as numbers), e.g. ``runtimes.openvino.stats.median_ms``."""
        value: Any = self.data
        for part in path.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value


@dataclass
class ReportSet:
    root: Path
    by_kind: dict[str, list[Source]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Source]:
        return self.by_kind.get(kind, [])

    def one(self, kind: str, **match: Any) -> Source | None:
        for source in self.of(kind):
            if all(source.data.get(k) == v for k, v in match.items()):
                return source
        return None


def load_reports(root: Path, records: Path | None = None) -> ReportSet:
    """The records of the reports root ``root`` (from ``root/eval_harness``, or from ``records`` if given)."""
    directory = records if records is not None else root / RECORDS_DIR
    if not directory.is_dir():
        raise RecordError(f"{directory}: no such directory; give --reports the reports root (it holds {RECORDS_DIR}/)")
    reports = ReportSet(root)
    for path in sorted(directory.glob("*.json")):
        source = _read(path, f"{RECORDS_DIR}/{path.name}")
        reports.by_kind.setdefault(source.data["kind"], []).append(source)
    return reports


def _read(path: Path, name: str) -> Source:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not readable JSON ({exc})") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind in STRICT:
        STRICT[kind].from_json(data, path)
    elif kind in LOOSE:
        version = data.get("schema_version")
        if version not in range(1, SCHEMA_VERSION + 1):  # their fields are checked below, by name
            raise RecordError(f"{path}: schema_version {version!r}, this InspectNet reads 1 to {SCHEMA_VERSION}")
        missing = [k for k in LOOSE[kind] if k not in data]
        if missing:
            raise RecordError(f"{path}: malformed {kind} record (missing {', '.join(missing)})")
    else:
        known = ", ".join(sorted([*STRICT, *LOOSE]))
        raise RecordError(f"{path}: unknown record kind {kind!r} (known: {known}); remove the file or fix its kind")
    return Source(name, data)
