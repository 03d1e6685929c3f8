"""The InspectNet pytest plugin (entry point ``pytest11``): hooks, markers, parametrisation and fixtures.

It only wires, and it stays out of the way until a run asks for it: options are ``--inspectnet-...``
(``inspectnet.options``), the settings are resolved by ``harness.settings`` (at configure when an InspectNet
option was given or the project has an ``inspectnet.toml``; otherwise only when one of its tests or fixtures
is used), its skips apply only to the packaged suites' items, and it writes nothing unless its tests ran.
A project's ``inspectnet.toml`` is collected as the suites' test file (``inspectnet.collect``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from inspectnet import ledger_hooks
from inspectnet.collect import ProjectFile, by_category, is_inspectnet_item
from inspectnet.harness.settings import PROJECT_FILE, Resolved, SettingsError, resolve_device, resolve_values
from inspectnet.options import BY_NAME, GROUP, add_options, given, run_values

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from inspectnet.harness.candidates import CandidateJudge
    from inspectnet.harness.latency import LatencyRecorder
    from inspectnet.harness.parity import ParityChecker
    from inspectnet.harness.session import Session
    from inspectnet.names import RunKey
    from inspectnet.progress import Sink as ProgressSink
    from inspectnet.report.emit import Publisher, RecordSink
    from inspectnet.report.outcomes import Phase

MARKERS = {
    "accuracy": "InspectNet: accuracy acceptance criteria (AUROC, AUPRO) per method, category and seed",
    "latency": "InspectNet: latency acceptance criteria",
    "parity": "InspectNet: ONNX / OpenVINO export parity acceptance criteria",
    "candidates": "InspectNet: deployment candidates (INT8, FP16, bf16) judged against the FP32 model",
    "cuda": "needs a CUDA device (InspectNet's own cases skip under --inspectnet-device auto when there is none)",
    # pytest-xdist registers this itself; registered here too so that --strict-markers holds without xdist
    "xdist_group": "xdist_group(name): under pytest-xdist's --dist loadgroup, items of one group share a worker",
}
CRITERIA = ("accuracy", "latency", "parity", "candidates")  # the markers whose tests are acceptance criteria
CRITERION_PROPERTY = "inspectnet_criterion"  # on a criterion's reports: its marker (reaches the xdist controller)
SESSION_KEY = pytest.StashKey["Session"]()
SINK_KEY = pytest.StashKey["RecordSink"]()
RECORDER_KEY = pytest.StashKey["LatencyRecorder"]()
PARITY_KEY = pytest.StashKey["ParityChecker"]()
CANDIDATES_KEY = pytest.StashKey["CandidateJudge"]()
RESOLVED_KEY = pytest.StashKey[Resolved]()
PROJECT_KEY = pytest.StashKey["Path | None"]()
PROGRESS_KEY = pytest.StashKey["tuple[ProgressSink | None]"]()  # the sink this config's replaced


def option(config: pytest.Config, name: str) -> Any:
    """``--inspectnet-<name>``'s value."""
    return config.getoption(BY_NAME[name].dest)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser.getgroup(*GROUP))


def _project(config: pytest.Config) -> Path | None:
    """The project's ``inspectnet.toml``: one named on the command line, else the one in the root directory."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        if path.name == PROJECT_FILE and path.is_file():
            return path.resolve()
    found = config.rootpath / PROJECT_FILE
    return found.resolve() if found.is_file() else None


def _collects(config: pytest.Config, project: Path) -> bool:
    """This run collects the project file (it, or a directory above it, is among the arguments or testpaths):
    ``pytest tests/`` in a project with an ``inspectnet.toml`` does not ask for InspectNet."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == project or path in project.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.pluginmanager.register(Reporter(config), "inspectnet-reporter")
    ledger_hooks.register(config, lambda: set(_categories(config)) if RESOLVED_KEY in config.stash else set())
    if config.getoption("--help", default=False) or config.getoption("--version", default=False):
        return
    project = config.stash[PROJECT_KEY] = _project(config)
    if given(config.getoption) or (project is not None and _collects(config, project)):
        resolved(config)  # asked for: every setting is checked now, before collection


def resolved(config: pytest.Config) -> Resolved:
    """This run's settings, resolved once (a usage error, one line, when they cannot be)."""
    if RESOLVED_KEY not in config.stash:
        values = run_values(config.getoption, Path(config.invocation_params.dir), config.stash.get(PROJECT_KEY, None))
        try:
            settings = resolve_values(values)
            if settings.device == "cuda":
                resolve_device("cuda")
        except SettingsError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.stash[RESOLVED_KEY] = settings
    return config.stash[RESOLVED_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ProjectFile | None:
    """The project's ``inspectnet.toml`` is the suites' test file (any other file of that name is not)."""
    if file_path.name != PROJECT_FILE or file_path.resolve() != parent.config.stash.get(PROJECT_KEY, None):
        return None
    return ProjectFile.from_parent(parent, path=file_path)


@pytest.hookimpl(trylast=True)  # after -m / -k deselection: only the items that will run
def pytest_collection_modifyitems(items: list[pytest.Item], config: pytest.Config) -> None:
    by_category(items, lambda: set(_categories(config)))  # InspectNet's items one category after another


def pytest_sessionstart(session: pytest.Session) -> None:
    if RESOLVED_KEY in session.config.stash:  # asked for at configure (else: when its session is first built)
        _progress(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if PROGRESS_KEY in config.stash:  # back to the sink before (None; an outer session's under pytester)
        from inspectnet import progress

        progress.set_sink(config.stash[PROGRESS_KEY][0])
        del config.stash[PROGRESS_KEY]


def _progress(config: pytest.Config) -> None:
    """Long phases' progress through the terminal reporter (which pytest makes at configure, possibly after
    this plugin's configure ran), once InspectNet is asked for; none under -q, nor in an xdist worker."""
    from inspectnet import progress

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if PROGRESS_KEY in config.stash or reporter is None or hasattr(config, "workerinput"):
        return
    if config.get_verbosity() < 0:
        return
    from inspectnet.terminal_progress import TerminalProgress

    sink: ProgressSink = TerminalProgress(reporter, config.pluginmanager.get_plugin("capturemanager"))
    config.stash[PROGRESS_KEY] = (progress.set_sink(sink),)


def sink_of(config: pytest.Config) -> RecordSink:
    """The one sink of this process: what tests emit, carried on their reports to the writing process."""
    from inspectnet.report.emit import RecordSink

    if SINK_KEY not in config.stash:
        config.stash[SINK_KEY] = RecordSink()
    return config.stash[SINK_KEY]


def session_of(config: pytest.Config) -> Session:
    if SESSION_KEY not in config.stash:
        config.stash[SESSION_KEY] = resolved(config).session(sink_of(config))
        _progress(config)
    return config.stash[SESSION_KEY]


def _param(run: RunKey) -> Any:
    return pytest.param(run, id=run.test_id, marks=pytest.mark.xdist_group(run.category))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    if not any(n.startswith("inspectnet_") for n in names):
        return
    config = metafunc.config
    if "inspectnet_run" in names:
        metafunc.parametrize("inspectnet_run", [_param(r) for r in resolved(config).runs()])
    for name, methods in (
        ("inspectnet_base_run", ("patchcore", "padim")),
        ("inspectnet_patchcore_run", ("patchcore",)),
    ):
        if name in names:  # one model per method and category: the self-checks' subjects
            base: dict[tuple[str, str], RunKey] = {}
            for r in resolved(config).runs():
                if r.method in methods and r.is_base:
                    base.setdefault((r.method, r.category), r)
            metafunc.parametrize(name, [_param(r) for r in base.values()])
    if "inspectnet_latency_case" in names:  # runs outermost: each case's runs are spread over the session
        cases = _device_params(config, exported=False, cpu_in_id=True)
        runs = option(config, "latency-runs")
        metafunc.parametrize(
            "inspectnet_latency_case",
            [
                pytest.param((*case.values[0], run), id=f"{case.id}-run{run + 1}", marks=case.marks)
                for run in range(runs)
                for case in cases
            ],
        )
    if "inspectnet_candidate_case" in names:  # ids like bottle-openvino-int8, the profile's candidates
        candidates = list(resolved(config).profile.candidates.build)
        metafunc.parametrize(
            "inspectnet_candidate_case",
            [
                pytest.param((c, n), id=f"{c}-openvino-{n}", marks=pytest.mark.xdist_group(c))
                for c in _categories(config)
                for n in candidates
            ],
        )
    if "inspectnet_parity_case" in names:
        metafunc.parametrize("inspectnet_parity_case", _device_params(config, exported=True, cpu_in_id=False))
    if "inspectnet_ablation_category" in names:
        metafunc.parametrize(
            "inspectnet_ablation_category",
            [pytest.param(c, id=c, marks=pytest.mark.xdist_group(c)) for c in _categories(config)],
        )


def _categories(config: pytest.Config) -> list[str]:
    return sorted({r.category for r in resolved(config).runs()})


def latency_devices(config: pytest.Config) -> list[str]:
    """``cpu`` or ``cuda``: that one; ``auto``: cpu, and cuda where there is one (skipped otherwise)."""
    requested = resolved(config).device
    return ["cpu", "cuda"] if requested == "auto" else [requested]


def _device_params(config: pytest.Config, exported: bool, cpu_in_id: bool) -> list[Any]:
    """(category, device, runtime) cases over the registry's runtimes on each device (``exported``: those that
    load an exported file); ids like ``bottle-cpu-openvino`` (``bottle-openvino`` when ``cpu_in_id`` is False
    and the device is the CPU)."""
    from inspectnet.deploy.runtimes import on

    params = []
    for category in _categories(config):
        for device in latency_devices(config):
            marks = [pytest.mark.cuda] if device == "cuda" else []
            marks.append(pytest.mark.xdist_group(category))
            for runtime in (r.name for r in on(device, exported)):
                shown = f"{category}-{device}-{runtime}" if cpu_in_id or device != "cpu" else f"{category}-{runtime}"
                params.append(pytest.param((category, device, runtime), id=shown, marks=marks))
    return params


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Records emitted during this test phase ride on its report (to the xdist controller, when there is one),
    and so does the marker that makes the test an acceptance criterion."""
    from inspectnet.report.emit import USER_PROPERTY

    report = yield
    ours = is_inspectnet_item(item)
    suite = next((m for m in CRITERIA if ours and item.get_closest_marker(m) is not None), None)
    if suite is not None:
        report.user_properties.append((CRITERION_PROPERTY, suite))
    sink = item.config.stash.get(SINK_KEY, None)
    if sink is not None:
        drained = sink.drain()
        if drained:
            report.user_properties.append((USER_PROPERTY, drained))
    return report


def _phase(report: pytest.TestReport, suite: str) -> Phase:
    """A criterion's phase report as plain facts: the failure's text (its exception line, or what
    pytest.fail said), the skip or xfail reason."""
    from inspectnet.report.outcomes import Phase

    xfail = hasattr(report, "wasxfail")
    longrepr = report.longrepr
    if xfail:
        message = str(report.wasxfail)
    elif report.skipped and isinstance(longrepr, tuple):
        message = str(longrepr[2]).removeprefix("Skipped: ")
    elif report.failed:
        crash = getattr(longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(longrepr)
    else:
        message = ""
    return Phase(report.nodeid, suite, report.when or "", report.outcome, xfail, message)


class Reporter:
    """Registered at configure: collects the records that test reports carry and the acceptance criteria's
    outcomes and, in the process that owns the session (the xdist controller, or the one process), writes them
    when the session ends."""

    def __init__(self, config: pytest.Config) -> None:
        from inspectnet.report.emit import Collected
        from inspectnet.report.outcomes import Tally

        self.config = config
        self.collected = Collected()
        self.tally = Tally()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from inspectnet.report.emit import USER_PROPERTY

        for key, value in report.user_properties:
            if key == USER_PROPERTY and isinstance(value, dict):
                self.collected.add(value)
            elif key == CRITERION_PROPERTY and isinstance(value, str):
                self.tally.add(_phase(report, value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        settings = self.config.stash.get(RESOLVED_KEY, None)
        if settings is None and not (self.collected.items or self.tally.phases):
            return  # InspectNet was not asked for, and none of its tests ran: nothing to write or gate
        settings = resolved(self.config)
        report_dir = settings.report_dir
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.collected.items:
            written = self.collected.write(report_dir.parent)
            if reporter is not None:
                reporter.write_line(f"inspectnet: wrote {len(written)} records and figures under {report_dir.parent}")
        if self.tally.phases:  # the session ran acceptance criteria: which passed, beside their records
            self._criteria(report_dir, reporter)
        if settings.baseline is not None:
            session.exitstatus = self._gate(settings, session.exitstatus, reporter)

    def _criteria(self, report_dir: Path, reporter: Any) -> None:
        from inspectnet.records import now
        from inspectnet.report.outcomes import write_outcomes

        created = now()
        ran = self.tally.outcomes(created)
        path, record, note = write_outcomes(report_dir, ran, created)
        if reporter is None:
            return
        if note is not None:
            reporter.write_line(f"inspectnet: {note}", yellow=True)
        failed = sum(o.outcome == "failed" for o in ran.values())
        reporter.write_line(
            f"inspectnet: {len(ran)} criteria this session, {failed} failed; {record.ran} in {path}",
            red=bool(failed),
        )

    def _gate(self, settings: Resolved, status: int | pytest.ExitCode, reporter: Any) -> int:
        from inspectnet.gate import compare
        from inspectnet.harness.ab import measurer
        from inspectnet.records import RecordError

        gate = settings.profile.gate
        ab = None
        if option(self.config, "gate-mode") == "auto":
            ab = measurer([settings.store_dir, *option(self.config, "artifacts")], gate, BY_NAME["artifacts"].flag)
        try:
            assert settings.baseline is not None
            result = compare(settings.baseline, settings.report_dir, gate, ab)
        except RecordError as exc:
            if reporter is not None:
                reporter.write_line(f"inspectnet: gate: error: {exc}", red=True)
            return int(pytest.ExitCode.USAGE_ERROR)
        if reporter is not None:
            reporter.write_sep("=", "inspectnet gate", red=bool(result.regressed), green=not result.regressed)
            reporter.write_line(result.table())
        if result.regressed and status == pytest.ExitCode.OK:
            return int(pytest.ExitCode.TESTS_FAILED)
        return int(status)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The suites' own rules, for the suites' own items only (a project's cuda-marked test is its own)."""
    if not is_inspectnet_item(item):
        return
    if item.get_closest_marker("cuda") is not None and resolved(item.config).device == "auto":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("--inspectnet-device auto: no CUDA device on this machine")
    if item.get_closest_marker("latency") is not None:
        import os

        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        if workers > 1:
            pytest.fail(
                f"latency tests measure alone: {workers} pytest-xdist workers share the cores; run them without -n",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def inspectnet(request: pytest.FixtureRequest) -> Session:
    """The acceptance session: dataset, weights, artifact store and memoised evaluations."""
    from inspectnet.criteria import CriteriaError
    from inspectnet.data.layout import DataError
    from inspectnet.models.weights import WeightsError

    try:
        session = session_of(request.config)
        session.prepare()
        return session
    except (DataError, WeightsError, CriteriaError, SettingsError) as exc:
        pytest.exit(f"inspectnet: error: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def inspectnet_publisher(request: pytest.FixtureRequest) -> Publisher:
    """Hands records to the reporting plugin (written under the report directory at session end) without
    building the acceptance session: for benchmarks that need no model."""
    from inspectnet.report.emit import Publisher

    return Publisher(resolved(request.config).report_dir, sink_of(request.config))


@pytest.fixture(scope="session")
def inspectnet_latency(inspectnet: Session, request: pytest.FixtureRequest) -> LatencyRecorder:
    """Turns timed calls into latency records (one per category and device, an entry per runtime)."""
    from inspectnet.harness.latency import LatencyRecorder, Protocol

    config = request.config
    if RECORDER_KEY not in config.stash:
        counts = (option(config, f"latency-{name}") for name in ("warmup", "rounds", "runs"))
        config.stash[RECORDER_KEY] = LatencyRecorder(inspectnet, Protocol(*counts))
    return config.stash[RECORDER_KEY]


@pytest.fixture(scope="session")
def inspectnet_parity(inspectnet: Session, request: pytest.FixtureRequest) -> ParityChecker:
    """Compares exported models with the torch model on the profile's N test images."""
    from inspectnet.harness.parity import ParityChecker

    return request.config.stash.setdefault(PARITY_KEY, ParityChecker(inspectnet))


@pytest.fixture(scope="session")
def inspectnet_candidates(inspectnet: Session, request: pytest.FixtureRequest) -> CandidateJudge:
    """Builds deployment candidates from the FP32 OpenVINO IR and judges them against it."""
    from inspectnet.harness.candidates import CandidateJudge

    return request.config.stash.setdefault(CANDIDATES_KEY, CandidateJudge(inspectnet))


@pytest.fixture(scope="session")
def inspectnet_subject(inspectnet: Session) -> RunKey:
    """The self-checks' model: bottle's (else the first category's) PatchCore base run, or its given model."""
    planned = sorted({r.category for r in inspectnet.runs()})
    run = inspectnet.measured_run("bottle" if "bottle" in planned else planned[0])
    assert run is not None
    return run


@pytest.fixture
def inspectnet_latency_wrap() -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Test-only hook: wraps each timed inference call (identity here). The repository's mutation test
    overrides it in a conftest to plant a slowdown and prove the budget test fails."""
    return lambda call: call
