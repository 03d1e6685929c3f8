"""The latency acceptance tests through pytest: ids, the xdist refusal, and a planted slowdown failing its budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # imported before any in-process pytester run: a run must not unload and re-import it

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = (ROOT / "benchmarks" / "test_latency.py").read_text()
pytest_plugins = ["pytester"]

SLOWDOWN = """
import time
import pytest

@pytest.fixture
def inspectnet_latency_wrap():
    def wrap(call):
        def slowed(x):
            started = time.perf_counter()
            result = call(x)
            time.sleep(1.5 * (time.perf_counter() - started))  # every call 2.5x as long
            return result
        return slowed
    return wrap
"""


def test_latency_ids_are_category_device_runtime(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("--collect-only", "-q", "--device", "cpu", "--category", "bottle,cable")
    ids = sorted(line.split("::")[1] for line in result.stdout.lines if "::" in line)
    assert ids == sorted(
        f"test_latency[{c}-cpu-{r}-run{n}]"
        for c in ("bottle", "cable")
        for r in ("torch", "onnxruntime", "openvino")
        for n in (1, 2, 3, 4, 5)
    )


def test_runs_are_outermost_so_a_case_s_runs_are_spread_over_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("--collect-only", "-q", "--device", "cpu", "--category", "bottle,cable")
    ids = [line.split("[")[1].rstrip("]") for line in result.stdout.lines if "::" in line]
    assert [i.rsplit("-", 1)[1] for i in ids] == [f"run{n}" for n in range(1, 6) for _ in range(6)]
    assert ids[0].startswith("bottle") and ids[3].startswith("cable")


def test_auto_adds_the_cuda_cases_skipped_without_a_gpu(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("-q", "--category", "bottle", "-k", "cuda", "-rs")
    result.assert_outcomes(skipped=10)  # torch and onnxruntime, 5 runs each
    result.stdout.fnmatch_lines(["*no CUDA device on this machine*"])


def test_benchmarks_with_device_cuda_on_a_cpu_machine_is_a_usage_error(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device cuda: CUDA is not available on this machine*"])


def test_latency_refuses_to_share_the_cores_with_xdist_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    pytester.makepyfile("import pytest\n@pytest.mark.latency\ndef test_timed():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)  # refused at setup: nothing is timed
    result.stdout.fnmatch_lines(["*latency tests measure alone: 2 pytest-xdist workers share the cores*"])


def test_a_planted_slowdown_fails_the_budget(pytester: pytest.Pytester, synthetic_root: Path) -> None:
    """Mutation: every timed call made 2.5x as long through the test-only hook; the efficiency budget fails."""
    pytester.makepyfile(test_latency=BENCHMARK)
    pytester.makeconftest(SLOWDOWN)
    reports = pytester.path / "reports"
    result = pytester.runpytest(
        *("--data-root", str(synthetic_root), "--store-dir", str(ROOT / ".inspectnet" / "store")),
        *("--report-dir", str(reports), "--category", "bottle", "--device", "cpu", "-k", "openvino"),
        *("--latency-warmup", "2", "--latency-rounds", "10", "--latency-runs", "2", "--benchmark-disable-gc"),
    )
    result.assert_outcomes(passed=1, failed=1)  # the first run records; the last judges every run
    result.stdout.fnmatch_lines(
        ["*bottle-cpu-openvino (2 runs): median*efficiency*< minimum 0.570*record:*latency_cpu.json*"]
    )
    assert (reports / "patchcore_bottle_latency_cpu.json").is_file()  # the measured numbers are kept
