"""The card's ablation row: PatchCore (mean +/- population std over seeds, with n) against PaDiM, with deltas."""

from __future__ import annotations

import statistics
from pathlib import Path

from inspectnet.builders import ablation_record, interval_info
from inspectnet.harness.session import Session
from inspectnet.measure.intervals import Interval
from inspectnet.names import METHODS, METRICS
from inspectnet.records import AblationRecord, Aggregate, EvalRecord
from inspectnet.report.paired import difference, mean_over


def aggregate(seeds: list[int], values: list[float], interval: Interval | None = None) -> Aggregate:
    """One metric over seeds: mean, population std (pstdev) and n (one seed has no spread to state), and the
    mean's interval on the test split."""
    spread = statistics.pstdev(values) if len(values) > 1 else None
    shown = interval_info(interval) if interval is not None else None
    return Aggregate(statistics.fmean(values), len(values), tuple(seeds), tuple(values), pstd=spread, interval=shown)


def missing_methods(session: Session, category: str) -> list[str]:
    """The methods the ablation needs that have no base run of ``category`` (a one-method plan, given models)."""
    have = {r.method for r in session.runs() if r.category == category and r.is_base}
    return [m for m in METHODS if m not in have]


def ablation_row(session: Session, category: str) -> AblationRecord:
    """Publish every base run of ``category`` (each seed, the plan's coreset) and aggregate them."""
    runs = [r for r in session.runs() if r.category == category and r.is_base]
    per_method: dict[str, dict[str, Aggregate]] = {}
    records: dict[str, list[str]] = {}
    scoring: dict[str, str] = {}
    evaluated: dict[str, list[EvalRecord]] = {}
    for method in METHODS:
        mine = [r for r in runs if r.method == method]
        evaluations = [session.publish(r) for r in mine]
        records[method] = [e.record_path.name for e in evaluations]
        evaluated[method] = [e.record for e in evaluations]
        if evaluations:
            scoring[method] = evaluations[0].record.scoring.name
        per_method[method] = {
            m: aggregate(
                [r.seed for r in mine], [e.record.metrics[m] for e in evaluations], mean_over(evaluated[method], m)
            )
            for m in METRICS
        }
    deltas = {m: difference(evaluated["patchcore"], evaluated["padim"], m) for m in METRICS}
    paired = {m: i for m, i in deltas.items() if i is not None}
    name = session.options.dataset_identity.name
    return ablation_record(category, name, per_method, records, scoring, paired)


def write_ablation(session: Session, row: AblationRecord) -> Path:
    """Emit ``ablation_<category>.json`` (written by the reporting plugin); returns its path."""
    return session.emit(f"ablation_{row.category}.json", row)
