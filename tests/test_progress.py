"""Progress on long phases: throttling, ETA arithmetic, the callback adapter, silence without a sink, and the
plugin's terminal sink (shown by default, hidden under -q and in xdist workers)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspectnet import progress
from inspectnet.terminal_progress import TerminalProgress

pytest_plugins = ["pytester"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A sink that keeps what it was given, with the clock's time."""

    def __init__(self, clock: Clock, tty: bool) -> None:
        self.clock, self.tty = clock, tty
        self.updates: list[tuple[float, str]] = []
        self.ends: list[str] = []

    def update(self, line: str) -> None:
        self.updates.append((self.clock.now, line))

    def end(self, line: str) -> None:
        self.ends.append(line)


@pytest.fixture(autouse=True)
def no_sink() -> Iterator[None]:
    """Each test starts and ends with no sink installed (whatever the session running these tests installed)."""
    previous = progress.set_sink(None)
    yield
    progress.set_sink(previous)


def run_phase(sink: Recorder, clock: Clock, seconds: float, step: float, total: int) -> None:
    """A phase of ``total`` units ticked every ``step`` seconds for ``seconds``."""
    progress.set_sink(sink, clock)
    ticks, start = round(seconds / step), clock.now
    with progress.phase("feature extraction", total, "batches", "patchcore-bottle-seed0") as shown:
        for i in range(1, ticks + 1):
            clock.now = start + i * step
            shown.tick(round(total * i / ticks))


@pytest.mark.parametrize("tty", [True, False])
def test_a_phase_under_two_seconds_shows_nothing(tty: bool) -> None:
    clock = Clock()
    sink = Recorder(clock, tty)
    run_phase(sink, clock, seconds=1.9, step=0.1, total=19)
    assert sink.updates == [] and sink.ends == []


def test_on_a_terminal_at_most_one_update_a_second_from_two_seconds_on() -> None:
    clock = Clock()
    sink = Recorder(clock, tty=True)
    run_phase(sink, clock, seconds=10.0, step=0.1, total=100)
    times = [t - 100.0 for t, _ in sink.updates]
    assert times[0] == pytest.approx(2.0)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times))
    assert len(times) == 9  # at 2, 3, ..., 10 s
    assert sink.ends == ["inspectnet: feature extraction patchcore-bottle-seed0 (100 batches) done in 10.0 s"]


def test_in_a_log_at_most_one_line_per_thirty_seconds_then_the_final_line() -> None:
    clock = Clock()
    sink = Recorder(clock, tty=False)
    run_phase(sink, clock, seconds=100.0, step=1.0, total=100)
    assert [round(t - 100.0) for t, _ in sink.updates] == [2, 32, 62, 92]
    assert (
        sink.updates[1][1]
        == "inspectnet: feature extraction patchcore-bottle-seed0 (100 batches) 32/100  32%  32.0 s  ETA 1m08s"
    )
    assert sink.ends == ["inspectnet: feature extraction patchcore-bottle-seed0 (100 batches) done in 1m40s"]


def test_the_eta_follows_the_rate_since_the_previous_line() -> None:
    """Units that get cheaper (the coreset's picks): the first line's ETA is the average's, later ones the
    recent rate's, not the whole phase's average."""
    clock = Clock()
    sink = Recorder(clock, tty=True)
    phase = progress.Phase("coreset", 1000, "picks", "cable", sink=sink, clock=clock)
    clock.now += 4.0
    phase.tick(100)  # 4 s for the first 100: 900 left at that rate is 36 s
    clock.now += 1.0
    phase.tick(600)  # then 500 in 1 s: 400 left is 0.8 s (the average would say 3.3 s)
    assert [line.rsplit("ETA ", 1)[1] for _, line in sink.updates] == ["36s", "1s"]


def test_the_line_and_its_linear_eta() -> None:
    clock = Clock()
    phase = progress.Phase("coreset", 20480, "picks", "cable", sink=Recorder(clock, tty=True), clock=clock)
    phase.done = 6200
    assert phase.line(clock.now + 41.2) == "inspectnet: coreset cable (20480 picks) 6200/20480  30%  41.2 s  ETA 1m35s"
    assert progress.remaining(41.2, 6200, 20480) == pytest.approx(41.2 * 14280 / 6200)
    assert progress.remaining(10.0, 0, 100) is None  # nothing done yet: no estimate
    assert progress.remaining(10.0, 100, 100) == 0.0
    phase.done = 0
    assert phase.line(clock.now + 3.0).endswith("0/20480  0%  3.0 s  ETA ?")


@pytest.mark.parametrize(
    ("seconds", "eta", "duration"),
    [
        (0.4, "0s", "0.4 s"),
        (7.0, "7s", "7.0 s"),
        (59.6, "1m00s", "59.6 s"),
        (95.0, "1m35s", "1m35s"),
        (7500, "2h05m", "2h05m"),
    ],
)
def test_durations(seconds: float, eta: str, duration: str) -> None:
    assert progress.eta(seconds) == eta
    assert progress.duration(seconds) == duration


def test_a_phase_left_by_an_error_says_where_it_stopped() -> None:
    clock = Clock()
    sink = Recorder(clock, tty=False)
    progress.set_sink(sink, clock)
    with pytest.raises(RuntimeError), progress.phase("evaluation", 10, "batches") as shown:
        clock.now += 3.0
        shown.tick(4)
        raise RuntimeError("out of memory")
    assert sink.ends == ["inspectnet: evaluation (10 batches) stopped at 4/10 after 3.0 s"]


def test_without_a_sink_nothing_is_shown_and_the_clock_is_never_read() -> None:
    def clock() -> float:
        raise AssertionError("a silent phase read the clock")

    assert progress.current_sink() is None
    with progress.Phase("coreset", 10, "picks", clock=clock) as shown:
        for done in range(1, 11):
            shown.tick(done)
        assert shown.callback() is None  # code taking a callback skips its calls altogether


def test_the_callback_adapter_takes_done_and_total() -> None:
    clock = Clock()
    sink = Recorder(clock, tty=True)
    progress.set_sink(sink, clock)
    with progress.phase("coreset", 0, "picks", "bottle") as shown:
        callback = shown.callback()
        assert callback is not None
        clock.now += 1.0
        callback(10, 400)  # under 2 s: nothing
        clock.now += 2.0
        callback(300, 400)
    assert [line for _, line in sink.updates] == ["inspectnet: coreset bottle (400 picks) 300/400  75%  3.0 s  ETA 1s"]
    assert sink.ends == ["inspectnet: coreset bottle (400 picks) done in 3.0 s"]


def test_set_sink_returns_the_one_it_replaces() -> None:
    clock = Clock()
    first = Recorder(clock, tty=True)
    assert progress.set_sink(first) is None
    assert progress.set_sink(None) is first


class FakeReporter:
    """What TerminalProgress calls on pytest's terminal reporter, recorded; pytest's line of dots for
    tests/test_x.py is open (``currentfspath``), as while a test of that file runs."""

    def __init__(self, tty: bool) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._tty = tty
        self._tw = type("Writer", (), {"fullwidth": 40})()
        self.startpath = Path("/repo")
        self.currentfspath: Any = Path("/repo/tests/test_x.py")

    def isatty(self) -> bool:
        return self._tty

    def ensure_newline(self) -> None:
        self.calls.append(("ensure_newline", ()))
        self.currentfspath = None

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args))

    def shown(self) -> list[tuple[str, Any]]:
        return [(name, args) for name, args in self.calls if name != "flush"]


def test_the_terminal_sink_rewrites_its_own_line_on_a_tty_then_resumes_pytest_s_line() -> None:
    reporter = FakeReporter(tty=True)
    sink = TerminalProgress(reporter, capture=None)
    sink.update("first")
    sink.update("x" * 60)  # cut to the terminal's width: a wrapped line cannot be rewritten
    sink.end("done")
    assert reporter.shown() == [
        ("ensure_newline", ()),
        ("rewrite", ("first",)),
        ("rewrite", ("x" * 39,)),
        ("rewrite", ("done",)),
        ("write", ("\n",)),
        ("write", ("tests/test_x.py ",)),
    ]
    assert reporter.currentfspath == Path("/repo/tests/test_x.py")


def test_the_terminal_sink_writes_whole_lines_elsewhere() -> None:
    reporter = FakeReporter(tty=False)
    reporter.currentfspath = "tests/test_x.py::test_a "  # -v: the test's line, waiting for its outcome
    sink = TerminalProgress(reporter, capture=None)
    sink.update("first")
    sink.end("done")
    assert reporter.shown() == [
        ("ensure_newline", ()),
        ("write_line", ("first",)),
        ("write_line", ("done",)),
        ("write", ("tests/test_x.py::test_a ",)),
    ]


LONG_PHASE = """
from inspectnet import progress

def test_long_phase():
    reads = iter(range(100))
    clock = lambda: 1.5 * next(reads)  # every read of the clock is 1.5 s later
    with progress.Phase("coreset", 4, "picks", "bottle", clock=clock) as shown:
        for done in range(1, 5):
            shown.tick(done)
"""


def test_a_long_phase_is_shown_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_phase=LONG_PHASE)
    result = pytester.runpytest("--inspectnet-device", "cpu")  # asked for: InspectNet shows its progress
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "inspectnet: coreset bottle (4 picks) 2/4  50%  3.0 s  ETA 3s",
            "inspectnet: coreset bottle (4 picks) done in 7.5 s",
        ]
    )
    assert "Captured stdout" not in result.stdout.str()


def test_nothing_is_shown_under_quiet(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_phase=LONG_PHASE)
    result = pytester.runpytest("-q", "--inspectnet-device", "cpu")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*inspectnet: coreset*")


def test_an_xdist_worker_shows_nothing_and_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_phase=LONG_PHASE)
    result = pytester.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*inspectnet: coreset*")
