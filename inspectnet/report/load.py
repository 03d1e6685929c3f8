"""A report set read back: every JSON under ``<root>/eval_harness`` parsed into its typed record, none skipped.

A file that is not JSON, has no known ``kind``, or does not match its kind's schema is refused with one line
naming it. The card and the gate read only what this returns: dataclasses, each with the file it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from inspectnet.records import Record, RecordError, read
from inspectnet.report import RECORDS_DIR

T = TypeVar("T")
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Source(Generic[T]):
    """One record and its file's name relative to the reports root (``eval_harness/patchcore_cable.json``)."""

    name: str
    record: T


@dataclass
class ReportSet:
    root: Path
    sources: list[Source[Record]] = field(default_factory=list)

    def of(self, kind: type[R]) -> list[Source[R]]:
        """Every record of ``kind``, in file-name order."""
        return [Source(s.name, r) for s in self.sources if isinstance(r := s.record, kind)]

    def one(self, kind: type[R], where: Callable[[R], bool]) -> Source[R] | None:
        """The first record of ``kind`` for which ``where`` holds, or None."""
        return next((s for s in self.of(kind) if where(s.record)), None)


def load_reports(root: Path, records: Path | None = None) -> ReportSet:
    """The records of the reports root ``root`` (from ``root/eval_harness``, or from ``records`` if given)."""
    directory = records if records is not None else root / RECORDS_DIR
    if not directory.is_dir():
        raise RecordError(f"{directory}: no such directory; give --reports the reports root (it holds {RECORDS_DIR}/)")
    sources = [Source(f"{RECORDS_DIR}/{path.name}", read(path)) for path in sorted(directory.glob("*.json"))]
    return ReportSet(root, sources)
