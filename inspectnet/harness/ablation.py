"""The card's ablation row: PatchCore (mean +/- population std over seeds, with n) against PaDiM, with deltas."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from inspectnet.harness.session import Session
from inspectnet.names import METHODS, METRICS
from inspectnet.records import SCHEMA_VERSION, now


@dataclass(frozen=True)
class Aggregate:
    """One metric over seeds: mean, population std (pstdev) and n."""

    mean: float
    pstd: float
    n: int
    seeds: tuple[int, ...]
    values: tuple[float, ...]

    @classmethod
    def of(cls, seeds: list[int], values: list[float]) -> Aggregate:
        return cls(statistics.fmean(values), statistics.pstdev(values), len(values), tuple(seeds), tuple(values))


@dataclass(frozen=True)
class AblationRow:
    category: str
    patchcore: dict[str, Aggregate]
    padim: dict[str, Aggregate]
    deltas: dict[str, float]  # PatchCore mean - PaDiM mean
    records: dict[str, list[str]]
    scoring: dict[str, str]  # method -> the scoring its records name (records.EvalRecord.scoring)


def ablation_row(session: Session, category: str) -> AblationRow:
    runs = [r for r in session.runs() if r.category == category and r.is_base]
    per_method: dict[str, dict[str, Aggregate]] = {}
    records: dict[str, list[str]] = {}
    scoring: dict[str, str] = {}
    for method in METHODS:
        mine = [r for r in runs if r.method == method]
        evaluations = [session.publish(r) for r in mine]
        records[method] = [e.record_path.name for e in evaluations]
        if evaluations:
            scoring[method] = evaluations[0].record.scoring["name"]
        per_method[method] = {
            m: Aggregate.of([r.seed for r in mine], [e.record.metrics[m] for e in evaluations]) for m in METRICS
        }
    deltas = {m: per_method["patchcore"][m].mean - per_method["padim"][m].mean for m in METRICS}
    return AblationRow(category, per_method["patchcore"], per_method["padim"], deltas, records, scoring)


def write_ablation(session: Session, row: AblationRow) -> Path:
    """Emit ``ablation_<category>.json`` (written by the reporting plugin); returns its path."""
    return session.emit(
        f"ablation_{row.category}.json",
        {
            "kind": "ablation",
            "schema_version": SCHEMA_VERSION,
            "dataset": session.options.dataset,
            "created": now(),
            **asdict(row),
        },
    )
