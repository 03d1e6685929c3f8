"""Where the time and memory went: a process-wide ledger of named phases (plain Python, no pytest).

Inert unless opened: with no ledger open, ``phase(name)`` is a no-op context manager. The whole-card
benchmark opens one in each pytest process it starts (``INSPECTNET_LEDGER``: a folder each process writes
``<pid>.json`` to at exit); the plugin then books each test's wall time to its suite and category, and the
measurement code books its own phases inside a test (feature extraction, coreset, evaluation, export, the
float64 reference, runtime passes, ...).

Time is **exclusive**: a phase's seconds exclude the phases opened inside it, so the phases of one process sum
to the time the ledger was open, with nothing counted twice and nothing left out (what no phase claimed is
booked to ``(outside any test)``).

Memory: the ledger keeps, per *segment* (a run of consecutive tests on one category), the process's resident
memory when the segment began and its peak during it. At a segment's start the kernel's peak counter is reset
(``/proc/self/clear_refs``), so each segment's peak is its own, not the process's so far: a leak shows as
segments whose start and peak climb category after category.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "INSPECTNET_LEDGER"  # a folder: each process writes <pid>.json there
OUTSIDE = "(outside any test)"

Clock = Callable[[], float]


def status_kib(field_name: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 where there is no /proc."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Segment:
    """Consecutive tests on one category (or none): resident memory at its start and its peak, in MiB."""

    category: str
    suite: str
    start_mib: float
    peak_mib: float = 0.0
    tests: int = 0


@dataclass
class Ledger:
    clock: Clock = time.perf_counter
    seconds: dict[str, float] = field(default_factory=dict)  # exclusive wall time per phase path
    calls: dict[str, int] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    peak_resets: bool = True  # the kernel's counter could be reset: segment peaks are each segment's own
    _stack: list[list[Any]] = field(default_factory=list)  # [path, started, time in children]
    _opened: float = 0.0

    def __post_init__(self) -> None:
        self._opened = self.clock()

    def enter(self, name: str) -> None:
        parent = self._stack[-1][0] if self._stack else ""
        path = f"{parent} / {name}" if parent else name
        self._stack.append([path, self.clock(), 0.0])

    def exit(self) -> None:
        path, started, children = self._stack.pop()
        spent = self.clock() - started
        self.seconds[path] = self.seconds.get(path, 0.0) + spent - children
        self.calls[path] = self.calls.get(path, 0) + 1
        if self._stack:
            self._stack[-1][2] += spent

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.exit()

    # ------------------------------------------------------------------ memory, per category segment

    def test_starts(self, suite: str, category: str) -> None:
        """A test of ``suite`` on ``category`` ("" when it has none) starts: a new segment when the category
        or suite changed (the previous one's peak read, the kernel's counter reset)."""
        current = self.segments[-1] if self.segments else None
        if current is None or (current.category, current.suite) != (category, suite):
            self._close_segment()
            self.peak_resets = _reset_peak() and self.peak_resets
            rss = status_kib("VmRSS") / 1024
            current = Segment(category, suite, start_mib=rss, peak_mib=rss)
            self.segments.append(current)
        current.tests += 1

    def _close_segment(self) -> None:
        if self.segments:
            last = self.segments[-1]
            last.peak_mib = max(last.peak_mib, status_kib("VmHWM") / 1024)

    # ------------------------------------------------------------------ the process's account

    def account(self) -> dict[str, Any]:
        """Every second the ledger was open, by phase path (exclusive), and the memory segments."""
        self._close_segment()
        total = self.clock() - self._opened
        seconds = dict(self.seconds)
        claimed = sum(seconds.values())  # phases still open (none, at exit) count as outside
        seconds[OUTSIDE] = seconds.get(OUTSIDE, 0.0) + max(0.0, total - claimed)
        return {
            "argv": list(sys.argv),
            "wall_s": total,
            "seconds": {k: round(v, 3) for k, v in sorted(seconds.items())},
            "calls": dict(sorted(self.calls.items())),
            "segments": [
                vars(s) | {"start_mib": round(s.start_mib), "peak_mib": round(s.peak_mib)} for s in self.segments
            ],
            "peak_resets": self.peak_resets,
            "peak_mib": round(max([s.peak_mib for s in self.segments] + [status_kib("VmHWM") / 1024])),
        }

    def write(self, path: Path) -> None:
        from inspectnet._io import atomic_write_text

        atomic_write_text(path, json.dumps(self.account(), indent=1) + "\n")


_open: Ledger | None = None


def open_ledger(clock: Clock | None = None) -> Ledger:
    """Open this process's ledger (phases are booked from now on)."""
    global _open
    _open = Ledger(clock or time.perf_counter)
    return _open


def close_ledger() -> Ledger | None:
    global _open
    ledger, _open = _open, None
    return ledger


def current() -> Ledger | None:
    return _open


def requested() -> Path | None:
    """Where this process was asked to write its ledger (``INSPECTNET_LEDGER``), or None."""
    value = os.environ.get(ENV, "")
    return Path(value) if value else None


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Book the block's exclusive wall time to ``name`` (under the phase it runs in); nothing when no ledger."""
    if _open is None:
        yield
        return
    with _open.phase(name):
        yield
