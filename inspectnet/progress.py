"""Progress with an ETA for the long phases (feature extraction, coreset, evaluation, export).

Plain Python, no pytest: the measurement code opens a phase and ticks it; what is shown goes to the one
installed sink (the plugin installs one that writes through pytest's terminal reporter). With no sink installed,
the default, nothing is shown and a tick costs one attribute check.

Throttling: nothing until a phase has run ``FIRST_AFTER_S`` (short phases stay silent); then at most one update
per ``TTY_EVERY_S`` on a terminal (rewritten in place) and one line per ``LOG_EVERY_S`` elsewhere (CI logs);
and, when something was shown, a final line with the phase's wall time. The ETA runs on the rate since the
previous line (the phase's average for the first), so phases whose units get cheaper are not over-estimated.

    with progress.phase("feature extraction", total=29, unit="batches", label="patchcore_cable_seed0") as p:
        for i, batch in enumerate(batches, 1):
            ...
            p.tick(i)

A line reads ``inspectnet: coreset cable (20480 picks) 6200/20480  30%  41.2 s  ETA 1m35s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from inspectnet import ledger

FIRST_AFTER_S = 2.0  # a phase shorter than this shows nothing
TTY_EVERY_S = 1.0  # on a terminal, at most one update per second (rewritten in place)
LOG_EVERY_S = 30.0  # elsewhere (CI logs), at most one line per 30 s

Clock = Callable[[], float]
Callback = Callable[[int, int], None]  # (done, total), for code that takes a progress callback


class Sink(Protocol):
    """Where progress goes. ``tty``: a terminal whose line ``update`` rewrites in place; otherwise every
    ``update`` is one whole line. ``end`` is a phase's last line (on a terminal: rewrite it, then a newline)."""

    @property
    def tty(self) -> bool: ...

    def update(self, line: str) -> None: ...

    def end(self, line: str) -> None: ...


_sink: Sink | None = None
_clock: Clock = time.monotonic


def set_sink(sink: Sink | None, clock: Clock | None = None) -> Sink | None:
    """Install ``sink`` (None: silent) and the clock phases read (default ``time.monotonic``) for the phases
    opened from now on; returns the sink it replaces."""
    global _sink, _clock
    previous, _sink, _clock = _sink, sink, clock or time.monotonic
    return previous


def current_sink() -> Sink | None:
    return _sink


def duration(seconds: float) -> str:
    """``41.2 s`` under a minute, ``1m35s`` under an hour, ``2h05m`` beyond."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return eta(seconds)


def eta(seconds: float) -> str:
    """A remaining time, whole seconds: ``7s``, ``1m35s``, ``2h05m``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def remaining(elapsed: float, done: int, total: int) -> float | None:
    """The linear estimate of the time left: ``elapsed`` x (total - done) / done; None before the first unit."""
    if done <= 0 or total <= 0:
        return None
    return elapsed * max(0, total - done) / done


class Phase:
    """One phase's progress: ``tick(done)`` as work completes, ``end()`` (or leave the ``with``) when it is over.

    Bound at construction to the installed sink and clock; with no sink every method returns at once."""

    __slots__ = (
        "_clock",
        "_last",
        "_ledger",
        "_mark",
        "_shown",
        "_sink",
        "done",
        "label",
        "name",
        "started",
        "total",
        "unit",
    )

    def __init__(
        self,
        name: str,
        total: int,
        unit: str = "",
        label: str = "",
        sink: Sink | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._sink = sink if sink is not None else _sink
        self._clock = clock or _clock
        self.name, self.total, self.unit, self.label = name, total, unit, label
        self.done = 0
        self.started = self._clock() if self._sink is not None else 0.0
        self._last: float | None = None  # when the last update was shown
        self._mark: tuple[float, int] | None = None  # (when, done) of the last line shown: the recent rate's base
        self._shown = False
        self._ledger = ledger.current()  # the phase's wall time is booked there too, when one is open

    def __enter__(self) -> Phase:
        if self._ledger is not None:
            self._ledger.enter(self.name)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._ledger is not None:
            self._ledger.exit()
        self.end(completed=kind is None)

    def tick(self, done: int, total: int | None = None) -> None:
        """``done`` units of ``total`` (default: the phase's) are complete; shown when the throttle allows.

        Its signature is a ``Callback``: ``coreset.sample(..., progress=phase.tick)`` works."""
        if self._sink is None:
            return
        self.done = done
        if total is not None:
            self.total = total
        now = self._clock()
        if now - self.started < FIRST_AFTER_S:
            return
        if self._last is not None and now - self._last < (TTY_EVERY_S if self._sink.tty else LOG_EVERY_S):
            return
        self._last = now
        self._shown = True
        self._sink.update(self.line(now))
        self._mark = (now, done)

    def callback(self) -> Callback | None:
        """``tick`` for code that takes a ``(done, total)`` callback; None when nothing is shown (no sink), so
        such code can skip its calls altogether."""
        return None if self._sink is None else self.tick

    def end(self, completed: bool = True) -> None:
        """The phase is over (``completed``: all its work is done; else it stopped, e.g. on an error): its final
        line, with the wall time, when an update was shown. Later calls do nothing."""
        sink, self._sink = self._sink, None
        if sink is None or not self._shown:
            return
        if completed:
            self.done = max(self.done, self.total)
        sink.end(self.final_line(self._clock()))

    def _head(self) -> str:
        label = f" {self.label}" if self.label else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"inspectnet: {self.name}{label} ({self.total}{unit})"

    def line(self, now: float) -> str:
        """The progress line; its ETA runs on the rate since the previous line (the phase's average for the first
        one), so a phase whose units get cheaper as it goes, like the coreset's picks, is not over-estimated."""
        elapsed = now - self.started
        percent = f"{100.0 * self.done / self.total:.0f}%" if self.total > 0 else "?%"
        since, base = self._mark if self._mark is not None and self._mark[1] < self.done else (self.started, 0)
        left = remaining(now - since, self.done - base, self.total - base)
        shown_eta = eta(left) if left is not None else "?"
        return f"{self._head()} {self.done}/{self.total}  {percent}  {duration(elapsed)}  ETA {shown_eta}"

    def final_line(self, now: float) -> str:
        elapsed = duration(now - self.started)
        if self.done >= self.total:
            return f"{self._head()} done in {elapsed}"
        return f"{self._head()} stopped at {self.done}/{self.total} after {elapsed}"


def phase(name: str, total: int, unit: str = "", label: str = "") -> Phase:
    """A phase reporting to the installed sink (silent when there is none); use it as a context manager."""
    return Phase(name, total, unit, label)
