"""Threshold sanity of one run: its deployed thresholds (a given checkpoint's own, or InspectNet's calibration)
against its raw test scores, the profile's false-alarm limit, and the record (``thresholds_<run>.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspectnet.builders import threshold_record
from inspectnet.harness.session import Session
from inspectnet.measure.thresholds import Origin, limit_problem, measure, problems
from inspectnet.names import RunKey
from inspectnet.records import ThresholdRecord


@dataclass(frozen=True)
class Judged:
    record: ThresholdRecord
    record_path: Path

    def messages(self, run: RunKey) -> list[str]:
        """The failures as a test reports them: the run, each failure, the record."""
        return [f"{run.test_id}: {f}; record: {self.record_path}" for f in self.record.failures]


def record_file(run: RunKey) -> str:
    return f"thresholds_{run.name}.json"


def judge_thresholds(session: Session, run: RunKey) -> Judged:
    """Measure ``run``'s deployed thresholds against its test split, judge them, and emit the record."""
    evaluation = session.evaluate(run)
    calibration = session.deployment(run).calibration
    given = session.given(run)
    checkpoint = str(given.checkpoint.path) if given is not None and given.checkpoint.thresholds is not None else None
    origin = Origin(checkpoint)
    facts = measure(evaluation.predictions.scores, evaluation.inputs.labels, calibration.image_threshold)
    failures = problems(calibration, facts, origin)
    limit = session.options.profile.false_alarm_limit(run.method, run.category)
    if limit is not None and (beyond := limit_problem(facts, limit.maximum, limit.where, origin)) is not None:
        failures.append(beyond)
    record = threshold_record(
        run.name,
        session.spec(run),
        calibration,
        facts,
        checkpoint,
        (limit.maximum, limit.source) if limit is not None else None,
        failures,
        evaluation.record_path.name,
    )
    return Judged(record, session.emit(record_file(run), record))
