"""Progress lines through pytest's terminal reporter: the ``progress.Sink`` the plugin installs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TerminalProgress:
    """A ``progress.Sink`` writing through pytest's terminal reporter, around output capturing (a phase runs
    inside a test or fixture, where stdout is captured). Progress takes lines of its own: on a terminal one
    line rewritten in place and ended with a newline, elsewhere whole lines; then pytest's line of results is
    started again where it was (``tests/x.py ..`` or, under -v, the test's own line)."""

    def __init__(self, reporter: Any, capture: Any) -> None:
        self.reporter = reporter
        self.capture = capture
        self.tty = bool(reporter.isatty())
        self._open = False  # a phase's lines are being shown
        self._resume: Any = None  # pytest's line of results that the phase's lines interrupted

    def _uncaptured(self) -> Any:
        import contextlib

        return self.capture.global_and_fixture_disabled() if self.capture is not None else contextlib.nullcontext()

    def _start(self) -> None:
        if not self._open:
            self._open = True
            self._resume = self.reporter.currentfspath
            self.reporter.ensure_newline()  # never write over pytest's own line of results

    def _show(self, line: str) -> None:
        if self.tty:
            self.reporter.rewrite(line[: self.reporter._tw.fullwidth - 1], erase=True)  # one screen line
        else:
            self.reporter.write_line(line)

    def update(self, line: str) -> None:
        with self._uncaptured():
            self._start()
            self._show(line)
            self.reporter.flush()

    def end(self, line: str) -> None:
        from _pytest.pathlib import bestrelpath

        with self._uncaptured():
            self._start()
            self._show(line)
            if self.tty:
                self.reporter.write("\n")
            resume, self._resume, self._open = self._resume, None, False
            if isinstance(resume, Path):  # the file's line of dots (write_fspath_result)
                self.reporter.write(bestrelpath(self.reporter.startpath, resume) + " ")
                self.reporter.currentfspath = resume
            elif isinstance(resume, str):  # -v: the test's line, waiting for its outcome (write_ensure_prefix)
                self.reporter.write(resume)
                self.reporter.currentfspath = resume
            self.reporter.flush()
