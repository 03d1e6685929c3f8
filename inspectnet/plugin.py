"""The InspectNet pytest plugin (entry point ``pytest11``): options, markers, parametrisation, fixtures.

It only wires: options are validated when parsed, the criteria profile is loaded at configure time,
and everything heavy (torch, anomalib, training) happens inside the session fixture on first use.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from inspectnet.criteria import CriteriaError, Profile, RunKey, load_profile, packaged
from inspectnet.data.layout import HOW_TO_POINT, DataError, check_category_name
from inspectnet.data.licences import DATASET_KINDS, DatasetIdentity, IdentityError, resolve
from inspectnet.models.weights import WeightsError, WeightsSpec, parse_weights
from inspectnet.names import LATENCY_RUNTIMES, PARITY_RUNTIMES

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from inspectnet.harness.candidates import CandidateJudge
    from inspectnet.harness.given import GivenModel
    from inspectnet.harness.latency import LatencyRecorder
    from inspectnet.harness.parity import ParityChecker
    from inspectnet.harness.session import Session
    from inspectnet.progress import Sink as ProgressSink
    from inspectnet.report.emit import Publisher, RecordSink
    from inspectnet.report.outcomes import Phase

MARKERS = {
    "accuracy": "accuracy acceptance criteria (AUROC, AUPRO) per method, category and seed",
    "latency": "latency acceptance criteria (benchmarks)",
    "parity": "ONNX / OpenVINO export parity acceptance criteria",
    "candidates": "deployment candidates (INT8, FP16, bf16 OpenVINO models) judged against the FP32 model",
    "cuda": "needs a CUDA device; skipped with a reason under --device auto when there is none",
    "slow": "long-running; deselect with -m 'not slow'",
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
DEVICE_KEY = pytest.StashKey[str]()
PROFILE_KEY = pytest.StashKey[Profile]()
IDENTITY_KEY = pytest.StashKey[DatasetIdentity]()
GIVEN_KEY = pytest.StashKey["tuple[GivenModel, ...]"]()
PROGRESS_KEY = pytest.StashKey["tuple[ProgressSink | None]"]()  # the sink this config's replaced


def _category_list(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--category needs a name (repeat it, or give a comma list)")
    try:
        return [check_category_name(c) for c in names]
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: give non-negative integers, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: give non-negative integers, e.g. 0,1,2")
    return seeds


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= {minimum}")
        return value

    return parse


def _category_value(option: str, separator: str) -> Callable[[str], tuple[str, str]]:
    """``CATEGORY<separator>VALUE`` (``--model bottle=PATH``, ``--model-sha256 bottle=HEX``)."""

    def parse(text: str) -> tuple[str, str]:
        category, sep, value = text.partition(separator)
        if not sep or not category or not value:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r}: write CATEGORY{separator}VALUE, e.g. bottle{separator}..."
            )
        try:
            return check_category_name(category), value
        except DataError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


EXPORT_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}


def _export_option(text: str) -> tuple[str, str, Path]:
    """``CATEGORY:onnx=PATH`` or ``CATEGORY:openvino=PATH`` -> (category, runtime, path)."""
    target, sep, path = text.partition("=")
    category, colon, kind = target.partition(":")
    if not (sep and colon and path and category) or kind not in EXPORT_RUNTIMES:
        raise argparse.ArgumentTypeError(
            f"--export {text!r}: write CATEGORY:onnx=PATH or CATEGORY:openvino=PATH (the .xml)"
        )
    try:
        return check_category_name(category), EXPORT_RUNTIMES[kind], Path(path)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _weights(text: str) -> WeightsSpec:
    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("inspectnet", "InspectNet acceptance criteria")
    group.addoption(
        "--dataset",
        choices=DATASET_KINDS,
        default="synthetic",
        help="synthetic: the embedded set (CC0, the default); mvtec_ad: MVTec AD (CC BY-NC-SA 4.0); folder: your "
        "own dataset in MVTec AD layout, named and licensed by DATA_ROOT/dataset.toml or --dataset-licence",
    )
    group.addoption(
        "--data-root",
        type=Path,
        default=None,
        help="dataset root in MVTec AD layout (default for synthetic: data/synthetic, generated if absent)",
    )
    group.addoption(
        "--dataset-licence",
        default=None,
        metavar="TEXT",
        help="--dataset folder: the dataset's licence, e.g. CC0-1.0 (its name is then the data root's directory "
        "name); or put name and licence in DATA_ROOT/dataset.toml",
    )
    group.addoption(
        "--category",
        action="append",
        type=_category_list,
        default=None,
        help="only these categories (repeatable, or a comma list)",
    )
    group.addoption("--seeds", type=_seed_list, default=None, help="seeds to run instead of the profile's, e.g. 0,1,2")
    group.addoption(
        "--weights",
        type=_weights,
        default=None,
        help="backbone weights: imagenet | random:N | FILE (default: random:0 for synthetic, imagenet otherwise)",
    )
    group.addoption(
        "--model",
        action="append",
        type=_category_value("--model", "="),
        default=None,
        metavar="CATEGORY=PATH",
        help="judge this anomalib checkpoint (.ckpt, Patchcore or Padim) as CATEGORY's model instead of training one "
        "(repeatable)",
    )
    group.addoption(
        "--model-dir",
        type=Path,
        default=None,
        help="judge the checkpoints of an anomalib results tree (DIR/<Model>/<Dataset>/<category>/latest|vN/...)",
    )
    group.addoption(
        "--model-sha256",
        action="append",
        type=_category_value("--model-sha256", "="),
        default=None,
        metavar="CATEGORY=HEX",
        help="refuse CATEGORY's checkpoint unless its sha256 is HEX (a SHA256SUMS file beside it is also honoured)",
    )
    group.addoption(
        "--export",
        action="append",
        type=_export_option,
        default=None,
        metavar="CATEGORY:RUNTIME=PATH",
        help="check this export of CATEGORY's given model (anomalib's Engine.export; RUNTIME onnx or openvino) "
        "instead of exporting it (repeatable; needs --model or --model-dir)",
    )
    group.addoption(
        "--anomalib-checkpoints",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write every model an accuracy test publishes as DIR/<run>.ckpt, loadable by anomalib's "
        "Patchcore.load_from_checkpoint / Padim.load_from_checkpoint (and by --model)",
    )
    group.addoption("--device", choices=("cpu", "cuda", "auto"), default="auto", help="device (default: auto)")
    group.addoption(
        "--latency-warmup", type=_count(0), default=5, help="untimed calls before each timed run (default: 5)"
    )
    group.addoption("--latency-rounds", type=_count(10), default=12, help="timed calls per run (default: 12)")
    group.addoption(
        "--latency-runs",
        type=_count(1),
        default=5,
        help="runs per runtime, spread over the session (default: 5; the records-only gate needs 3 or more)",
    )
    group.addoption("--run-slow", action="store_true", help="also run tests marked slow (skipped by default)")
    group.addoption(
        "--criteria",
        type=Path,
        default=None,
        help="criteria profile TOML (default: the dataset's packaged one; mvtec_ad's for folder)",
    )
    group.addoption(
        "--report-dir",
        type=Path,
        default=Path("reports/eval_harness"),
        help="where JSON records are written (default: reports/eval_harness)",
    )
    group.addoption(
        "--baseline",
        type=Path,
        default=None,
        help="gate this run's records against a baseline reports root at session end (exit 1 on a regression)",
    )
    group.addoption(
        "--gate-mode",
        choices=("auto", "records"),
        default="auto",
        help="latency rows of --baseline: auto (A/B where both models are found, records otherwise) or records",
    )
    group.addoption(
        "--artifacts",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="where --baseline's A/B looks for the exported models besides --store-dir (repeatable)",
    )
    group.addoption(
        "--store-dir",
        type=Path,
        default=Path(".inspectnet/store"),
        help="artifact store for weights and trained models (default: .inspectnet/store)",
    )


def _resolve_device(requested: str) -> str:
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise pytest.UsageError(
            "--device cuda: CUDA is not available on this machine (torch.cuda.is_available() is False); "
            "use --device cpu or --device auto"
        )
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.pluginmanager.register(Reporter(config), "inspectnet-reporter")
    if config.getoption("--help", default=False) or config.getoption("--version", default=False):
        return
    dataset = config.getoption("--dataset")
    data_root = config.getoption("--data-root")
    if dataset != "synthetic" and data_root is None:
        raise pytest.UsageError(
            f"--dataset {dataset} needs --data-root DIR (a directory in MVTec AD layout); nothing is downloaded"
        )
    if data_root is not None and not data_root.is_dir():
        raise pytest.UsageError(f"--data-root {data_root}: no such directory; {HOW_TO_POINT}")
    try:  # whose data, under which licence: once, here, before anything heavy
        config.stash[IDENTITY_KEY] = resolve(dataset, data_root, config.getoption("--dataset-licence"))
    except IdentityError as exc:
        raise pytest.UsageError(str(exc)) from None
    baseline = config.getoption("--baseline")
    if baseline is not None and not baseline.is_dir():
        raise pytest.UsageError(
            f"--baseline {baseline}: no such directory; give a reports root (it holds eval_harness/)"
        )
    criteria = config.getoption("--criteria") or packaged(dataset)
    categories = _categories(config)
    given = _given_models(config, categories)
    try:
        profile = load_profile(criteria, tuple(categories) if categories else None)
        # the whole plan, now: a planned method and category without criteria stops the run before it trains
        runs = [g.run for g in given] if given else profile.plan.runs(categories, config.getoption("--seeds"))
        profile.check_runs(runs)
    except CriteriaError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[PROFILE_KEY] = profile
    config.stash[GIVEN_KEY] = given
    _check_exports(config, given)
    if config.getoption("--device") == "cuda":
        config.stash[DEVICE_KEY] = _resolve_device("cuda")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Long phases' progress through the terminal reporter (which pytest makes at configure, possibly after
    this plugin's configure ran); none under -q, nor in an xdist worker (it has no terminal)."""
    from inspectnet import progress

    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return
    from inspectnet.terminal_progress import TerminalProgress

    sink: ProgressSink = TerminalProgress(reporter, config.pluginmanager.get_plugin("capturemanager"))
    config.stash[PROGRESS_KEY] = (progress.set_sink(sink),)


def pytest_unconfigure(config: pytest.Config) -> None:
    if PROGRESS_KEY in config.stash:  # back to the sink before (None; an outer session's under pytester)
        from inspectnet import progress

        progress.set_sink(config.stash[PROGRESS_KEY][0])
        del config.stash[PROGRESS_KEY]


def _given_models(config: pytest.Config, categories: list[str] | None) -> tuple[GivenModel, ...]:
    """The checkpoints named by --model / --model-dir, each read (safely) and checked now: a bad file is one
    line before anything is trained."""
    named = config.getoption("--model") or []
    model_dir = config.getoption("--model-dir")
    pins = dict(config.getoption("--model-sha256") or [])
    if not named and model_dir is None:
        if pins:
            raise pytest.UsageError("--model-sha256 pins a checkpoint given with --model or --model-dir; give one")
        return ()
    if model_dir is not None and not model_dir.is_dir():
        raise pytest.UsageError(f"--model-dir {model_dir}: no such directory; give anomalib's results directory")
    from inspectnet.harness.given import given_models
    from inspectnet.models.checkpoint import CheckpointError

    try:
        return tuple(given_models([(c, Path(p)) for c, p in named], model_dir, pins, categories))
    except CheckpointError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_exports(config: pytest.Config, given: tuple[GivenModel, ...]) -> None:
    """Every --export belongs to a given model and can take its test images (one line otherwise, now)."""
    exports = config.getoption("--export") or []
    if not exports:
        return
    from inspectnet.deploy.export import ExportError
    from inspectnet.deploy.runtimes import check_given_export

    for category, _runtime, path in exports:
        models = [g for g in given if g.run.category == category and g.run.seed == 0]
        if not models:
            raise pytest.UsageError(
                f"--export {category}:...={path}: an export is checked against its checkpoint; "
                f"give --model {category}=PATH (or --model-dir) too"
            )
        try:
            check_given_export(path, models[0].checkpoint.image_size)
        except ExportError as exc:
            raise pytest.UsageError(str(exc)) from None


def _options_session(config: pytest.Config) -> Session:
    from inspectnet.data.synthetic import ensure
    from inspectnet.harness.session import Session, SessionOptions

    dataset = config.getoption("--dataset")
    root = config.getoption("--data-root")
    if root is None:
        root = Path(config.invocation_params.dir) / "data" / "synthetic"
        ensure(root, seed=0)
    weights = config.getoption("--weights") or parse_weights("random:0" if dataset == "synthetic" else "imagenet")
    seeds = config.getoption("--seeds")
    categories = _categories(config)
    options = SessionOptions(
        dataset=dataset,
        identity=config.stash[IDENTITY_KEY],
        data_root=root,
        weights=weights,
        device=config.stash.get(DEVICE_KEY, None) or _resolve_device(config.getoption("--device")),
        report_dir=Path(config.getoption("--report-dir")),
        store_dir=Path(config.getoption("--store-dir")),
        profile=config.stash[PROFILE_KEY],
        categories=tuple(categories) if categories else None,
        seeds=tuple(seeds) if seeds else None,
        given=config.stash[GIVEN_KEY],
        checkpoint_dir=config.getoption("--anomalib-checkpoints"),
        exports=tuple(config.getoption("--export") or ()),
    )
    return Session(options, sink=sink_of(config))


def sink_of(config: pytest.Config) -> RecordSink:
    """The one sink of this process: what tests emit, carried on their reports to the writing process."""
    from inspectnet.report.emit import RecordSink

    if SINK_KEY not in config.stash:
        config.stash[SINK_KEY] = RecordSink()
    return config.stash[SINK_KEY]


def session_of(config: pytest.Config) -> Session:
    if SESSION_KEY not in config.stash:
        config.stash[SESSION_KEY] = _options_session(config)
    return config.stash[SESSION_KEY]


def _categories(config: pytest.Config) -> list[str] | None:
    """``--category`` flattened (it is repeatable and takes comma lists); None when not given."""
    groups = config.getoption("--category")
    return [c for group in groups for c in group] if groups else None


def _plan_runs(config: pytest.Config) -> list[RunKey]:
    """The plan's runs (or the given checkpoints') without building the heavy session (collection stays fast)."""
    given = config.stash.get(GIVEN_KEY, ())
    if given:
        return [g.run for g in given]
    return config.stash[PROFILE_KEY].plan.runs(_categories(config), config.getoption("--seeds"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "accuracy_run" in metafunc.fixturenames:
        runs = _plan_runs(metafunc.config)
        metafunc.parametrize(
            "accuracy_run",
            [pytest.param(r, id=r.test_id, marks=pytest.mark.xdist_group(r.category)) for r in runs],
        )
    for name, methods in (("base_run", ("patchcore", "padim")), ("patchcore_base_run", ("patchcore",))):
        if name in metafunc.fixturenames:  # one model per method and category: the mutation tests' subjects
            base: dict[tuple[str, str], RunKey] = {}
            for r in _plan_runs(metafunc.config):
                if r.method in methods and r.is_base:
                    base.setdefault((r.method, r.category), r)
            metafunc.parametrize(
                name, [pytest.param(r, id=r.test_id, marks=pytest.mark.xdist_group(r.category)) for r in base.values()]
            )
    if "latency_case" in metafunc.fixturenames:  # runs outermost: each case's runs are spread over the session
        cases = _device_params(metafunc.config, LATENCY_RUNTIMES, cpu_in_id=True)
        runs = metafunc.config.getoption("--latency-runs")
        metafunc.parametrize(
            "latency_case",
            [
                pytest.param((*case.values[0], run), id=f"{case.id}-run{run + 1}", marks=case.marks)
                for run in range(runs)
                for case in cases
            ],
        )
    if "candidate_case" in metafunc.fixturenames:  # ids like bottle-openvino-int8, the profile's candidates
        names = list(metafunc.config.stash[PROFILE_KEY].candidates.build)
        cats = sorted({r.category for r in _plan_runs(metafunc.config)})
        metafunc.parametrize(
            "candidate_case",
            [
                pytest.param((c, n), id=f"{c}-openvino-{n}", marks=pytest.mark.xdist_group(c))
                for c in cats
                for n in names
            ],
        )
    if "parity_case" in metafunc.fixturenames:
        metafunc.parametrize("parity_case", _device_params(metafunc.config, PARITY_RUNTIMES, cpu_in_id=False))
    if "ablation_category" in metafunc.fixturenames:
        cats = sorted({r.category for r in _plan_runs(metafunc.config)})
        metafunc.parametrize(
            "ablation_category", [pytest.param(c, id=c, marks=pytest.mark.xdist_group(c)) for c in cats]
        )


def latency_devices(config: pytest.Config) -> list[str]:
    """``--device cpu|cuda``: that one; ``auto``: cpu, and cuda where there is one (skipped otherwise)."""
    requested = config.getoption("--device")
    return ["cpu", "cuda"] if requested == "auto" else [requested]


def _device_params(config: pytest.Config, runtimes: dict[str, tuple[str, ...]], cpu_in_id: bool) -> list[Any]:
    """(category, device, runtime) cases; ids like ``bottle-cpu-openvino`` (``bottle-openvino`` when
    ``cpu_in_id`` is False and the device is the CPU)."""
    cats = sorted({r.category for r in _plan_runs(config)})
    params = []
    for category in cats:
        for device in latency_devices(config):
            marks = [pytest.mark.cuda] if device == "cuda" else []
            marks.append(pytest.mark.xdist_group(category))
            for runtime in runtimes[device]:
                shown = f"{category}-{device}-{runtime}" if cpu_in_id or device != "cpu" else f"{category}-{runtime}"
                params.append(pytest.param((category, device, runtime), id=shown, marks=marks))
    return params


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Records emitted during this test phase ride on its report (to the xdist controller, when there is one),
    and so does the marker that makes the test an acceptance criterion."""
    from inspectnet.report.emit import USER_PROPERTY

    report = yield
    suite = next((m for m in CRITERIA if item.get_closest_marker(m) is not None), None)
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
        report_dir = Path(self.config.getoption("--report-dir"))
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.collected.items:
            written = self.collected.write(report_dir.parent)
            if reporter is not None:
                reporter.write_line(f"inspectnet: wrote {len(written)} records and figures under {report_dir.parent}")
        if self.tally.phases:  # the session ran acceptance criteria: which passed, beside their records
            self._criteria(report_dir, reporter)
        baseline = self.config.getoption("--baseline")
        if baseline is not None:
            session.exitstatus = self._gate(baseline, report_dir, session.exitstatus, reporter)

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

    def _gate(self, baseline: Path, current: Path, status: int | pytest.ExitCode, reporter: Any) -> int:
        from inspectnet.gate import compare
        from inspectnet.harness.ab import measurer
        from inspectnet.records import RecordError

        settings = self.config.stash[PROFILE_KEY].gate
        ab = None
        if self.config.getoption("--gate-mode") == "auto":
            roots = [Path(self.config.getoption("--store-dir")), *self.config.getoption("--artifacts")]
            ab = measurer(roots, settings)
        try:
            result = compare(baseline, current, settings, ab)
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
    if item.get_closest_marker("cuda") is not None and item.config.getoption("--device") == "auto":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("--device auto: no CUDA device on this machine")
    if item.get_closest_marker("slow") is not None and not item.config.getoption("--run-slow"):
        pytest.skip("slow: run with --run-slow")
    if item.get_closest_marker("latency") is not None:
        import os

        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        if workers > 1:
            pytest.fail(
                f"latency tests measure alone: {workers} pytest-xdist workers share the cores; "
                "run `pytest benchmarks` without -n",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def inspectnet(request: pytest.FixtureRequest) -> Session:
    """The acceptance session: dataset, weights, artifact store and memoised evaluations."""
    try:
        session = session_of(request.config)
        session.prepare()
        return session
    except (DataError, WeightsError, CriteriaError) as exc:
        pytest.exit(f"inspectnet: error: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def inspectnet_publisher(request: pytest.FixtureRequest) -> Publisher:
    """Hands records to the reporting plugin (written under --report-dir at session end) without building the
    acceptance session: for benchmarks that need no model."""
    from inspectnet.report.emit import Publisher

    return Publisher(Path(request.config.getoption("--report-dir")), sink_of(request.config))


@pytest.fixture(scope="session")
def latency_recorder(inspectnet: Session, request: pytest.FixtureRequest) -> LatencyRecorder:
    """Turns timed calls into latency records (one per category and device, an entry per runtime)."""
    from inspectnet.harness.latency import LatencyRecorder, Protocol

    config = request.config
    if RECORDER_KEY not in config.stash:
        protocol = Protocol(
            config.getoption("--latency-warmup"),
            config.getoption("--latency-rounds"),
            config.getoption("--latency-runs"),
        )
        config.stash[RECORDER_KEY] = LatencyRecorder(inspectnet, protocol)
    return config.stash[RECORDER_KEY]


@pytest.fixture(scope="session")
def parity_checker(inspectnet: Session, request: pytest.FixtureRequest) -> ParityChecker:
    """Compares exported models with the torch model on the profile's N test images."""
    from inspectnet.harness.parity import ParityChecker

    if PARITY_KEY not in request.config.stash:
        request.config.stash[PARITY_KEY] = ParityChecker(inspectnet)
    return request.config.stash[PARITY_KEY]


@pytest.fixture(scope="session")
def candidate_judge(inspectnet: Session, request: pytest.FixtureRequest) -> CandidateJudge:
    """Builds deployment candidates from the FP32 OpenVINO IR and judges them against it."""
    from inspectnet.harness.candidates import CandidateJudge

    if CANDIDATES_KEY not in request.config.stash:
        request.config.stash[CANDIDATES_KEY] = CandidateJudge(inspectnet)
    return request.config.stash[CANDIDATES_KEY]


@pytest.fixture
def inspectnet_latency_wrap() -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Test-only hook: wraps each timed inference call (identity here). The suite's mutation test overrides
    it in a conftest to plant a slowdown and prove the budget test fails."""
    return lambda call: call
