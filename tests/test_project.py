"""InspectNet installed next to a project's own tests: inert until asked, and a wrong path never falls back."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# A project that knows nothing of InspectNet: its own --device and --model options, its own slow and cuda
# markers (with its own rule for slow), and a test that reads them.
FOREIGN_CONFTEST = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--device", default="cpu")
    parser.addoption("--model", default="resnet")

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: our long tests")
    config.addinivalue_line("markers", "cuda: our GPU tests")
"""
FOREIGN_TESTS = """
import pytest

def test_options(request):
    assert request.config.getoption("--device") == "gpu0"
    assert request.config.getoption("--model") == "resnet"

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.cuda
def test_cuda():
    pass

@pytest.mark.parity
def test_our_own_parity_marker():
    pass

def test_inspectnet_loaded_no_profile_and_replaced_nothing(request):
    from inspectnet import progress
    from inspectnet.plugin import RESOLVED_KEY

    assert request.config.pluginmanager.has_plugin("inspectnet")  # installed and loaded ...
    assert RESOLVED_KEY not in request.config.stash  # ... but not asked for: no profile, no settings
    assert progress._sink is None  # its progress display was never installed
"""


# pytester's own bookkeeping, and pytest-benchmark's storage directory (it makes .benchmarks in every run,
# with or without InspectNet)
NOT_OURS = ("__pycache__", "stdout", "stderr", "runpytest-", ".benchmarks")


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if not any(part.startswith(NOT_OURS) for part in p.parts)}


def test_a_project_that_does_not_ask_is_left_alone(pytester: pytest.Pytester) -> None:
    """Its options, markers and tests are its own: all pass, none is skipped, InspectNet writes nothing."""
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(test_project=FOREIGN_TESTS)
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    before = _files(pytester.path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--device", "gpu0", "-rs")
    result.assert_outcomes(passed=5)
    assert not [line for line in result.stdout.lines if line.startswith("inspectnet:")]
    assert _files(pytester.path) == before


def test_its_help_lists_inspectnet_options_under_their_own_group(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FOREIGN_CONFTEST)
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text[text.index("InspectNet:") :]
    for option in ("--inspectnet-device", "--inspectnet-model-dir", "--inspectnet-baseline", "--inspectnet-criteria"):
        assert option in group
    assert "--device" in text  # the project's own, beside them


def test_a_model_dir_without_checkpoints_is_one_line_not_a_fallback(pytester: pytest.Pytester) -> None:
    """A typo in a CI file must not turn into judging InspectNet's own models of the plan."""
    (pytester.path / "results").mkdir()
    result = pytester.runpytest("--inspectnet-model-dir", "results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --inspectnet-model-dir results: no checkpoint for")
    assert "--inspectnet-train-missing" in errors[0]
    assert not (pytester.path / "reports").exists() and not (pytester.path / ".inspectnet").exists()


def test_a_project_file_is_read_when_its_suite_is_collected(pytester: pytest.Pytester) -> None:
    """With an inspectnet.toml in the project, `pytest tests/` (the project's own tests) does not read it;
    a run that collects it checks its settings first, in one line."""
    profile = (Path(__file__).parents[1] / "inspectnet" / "criteria" / "synthetic.toml").read_text()
    pytester.makefile(".toml", inspectnet=profile + '\n[run]\nmodel_dir = "no-such-results"\n')
    pytester.mkdir("tests").joinpath("test_own.py").write_text("def test_own():\n    pass\n")
    pytester.runpytest("tests").assert_outcomes(passed=1)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    missing = pytester.path / "no-such-results"  # [run] paths are relative to the project file
    assert errors == [f"ERROR: --inspectnet-model-dir {missing}: no such directory; give anomalib's results directory"]
