"""Which acceptance criteria passed: each test's phases (setup, call, teardown) combined into one outcome,
merged into the report directory's criteria record (``criteria.json``), and several report sets' criteria
records joined (``report merge``).

Plain Python: the plugin hands over each phase's facts as a ``Phase`` and writes at session end; nothing here
imports pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inspectnet.records import CriteriaRecord, CriterionOutcome, RecordError, read_as, write_record

CRITERIA_FILE = "criteria.json"  # in the report directory, beside the records it judges
MESSAGE_LIMIT = 300  # characters of a failure's first line kept in the record


@dataclass(frozen=True)
class Phase:
    """One phase's report of an acceptance test, as plain facts."""

    nodeid: str
    suite: str  # the criterion's marker
    when: str  # setup | call | teardown
    outcome: str  # passed | failed | skipped (pytest's report outcome)
    xfail: bool  # pytest's ``wasxfail``: skipped as an expected failure, or passed unexpectedly
    message: str  # the failure's text, or the skip or xfail reason ("" when passed)


def first_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first non-blank line of ``text``, stripped, cut to ``limit`` characters ("..." ending a cut one)."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def combine(phases: Sequence[Phase], created: str) -> CriterionOutcome | None:
    """One test's outcome from its phases, in the order pytest reported them; None when it never reached its
    call and neither failed nor was skipped (an interrupted session)."""
    suite = phases[0].suite
    failed = next((p for p in phases if p.outcome == "failed"), None)
    if failed is not None:
        where = "" if failed.when == "call" else f"error at {failed.when}: "
        line = first_line(failed.message, limit=len(failed.message))
        line = line.removeprefix("AssertionError: ").removeprefix("Failed: ")  # an assert's, pytest.fail's
        message = first_line(where + line)
        return CriterionOutcome("failed", suite, message, created)
    skipped = next((p for p in phases if p.outcome == "skipped"), None)
    if skipped is not None:
        return CriterionOutcome("xfailed" if skipped.xfail else "skipped", suite, first_line(skipped.message), created)
    call = next((p for p in phases if p.when == "call"), None)
    if call is None:
        return None
    if call.xfail:  # an xfail that passed, not strict
        return CriterionOutcome("xpassed", suite, first_line(call.message), created)
    return CriterionOutcome("passed", suite, "", created)


@dataclass
class Tally:
    """The phases of a session's acceptance tests, by node id, as they are reported."""

    phases: dict[str, list[Phase]] = field(default_factory=dict)

    def add(self, phase: Phase) -> None:
        self.phases.setdefault(phase.nodeid, []).append(phase)

    def outcomes(self, created: str) -> dict[str, CriterionOutcome]:
        out = {}
        for node, phases in self.phases.items():
            outcome = combine(phases, created)
            if outcome is not None:
                out[node] = outcome
        return out


def write_outcomes(
    report_dir: Path, ran: Mapping[str, CriterionOutcome], created: str
) -> tuple[Path, CriteriaRecord, str | None]:
    """``ran`` merged into ``report_dir/criteria.json``, written atomically: the entries of the tests this
    session ran are replaced, the others kept. Returns the path, the record and, when the file there could not
    be read, one line saying that it was replaced."""
    from inspectnet.builders import criteria_record  # numpy and the data layer: not at every pytest's configure

    path = report_dir / CRITERIA_FILE
    kept: dict[str, CriterionOutcome] = {}
    note = None
    if path.exists():
        try:
            kept = dict(read_as(CriteriaRecord, path).tests)
        except RecordError as exc:
            note = f"{exc}; replaced by this session's outcomes"
    record = criteria_record({**kept, **ran}, created)
    write_record(path, record)
    return path, record, note


def join(records: Sequence[tuple[Path, CriteriaRecord]]) -> CriteriaRecord:
    """Several report sets' criteria records as one: a test in two of them must have the same outcome and
    message in both (RecordError naming both files otherwise); the latest ``created``."""
    from inspectnet.builders import criteria_record

    tests: dict[str, tuple[Path, CriterionOutcome]] = {}
    for path, record in records:
        for node, outcome in record.tests.items():
            if node not in tests:
                tests[node] = (path, outcome)
                continue
            other, seen = tests[node]
            if (seen.outcome, seen.message) != (outcome.outcome, outcome.message):
                raise RecordError(
                    f"{path} conflicts with {other}: {node} has another outcome or message in each; "
                    "keep one of them (remove the other) and merge again"
                )
    return criteria_record({node: o for node, (_, o) in tests.items()}, max(r.created for _, r in records))
