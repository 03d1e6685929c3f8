"""The latency acceptance tests through pytest: ids, the xdist refusal, and a planted slowdown failing its budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch  # imported before any in-process pytester run: a run must not unload and re-import it
import torch._inductor.test_operators  # torch.export.load registers these ops once: imported here, as torch is

from inspectnet.deploy.runtimes import on

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
    result = pytester.runpytest(
        "--collect-only", "-q", "--inspectnet-device", "cpu", "--inspectnet-category", "bottle,cable"
    )
    ids = sorted(line.split("::")[1] for line in result.stdout.lines if "::" in line)
    assert ids == sorted(
        f"test_latency[{c}-cpu-{r}-run{n}]"
        for c in ("bottle", "cable")
        for r in (rt.name for rt in on("cpu"))
        for n in (1, 2, 3, 4, 5)
    )


def test_runs_are_outermost_so_a_case_s_runs_are_spread_over_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest(
        "--collect-only", "-q", "--inspectnet-device", "cpu", "--inspectnet-category", "bottle,cable"
    )
    ids = [line.split("[")[1].rstrip("]") for line in result.stdout.lines if "::" in line]
    per_category = len(on("cpu"))
    assert [i.rsplit("-", 1)[1] for i in ids] == [f"run{n}" for n in range(1, 6) for _ in range(2 * per_category)]
    assert ids[0].startswith("bottle") and ids[per_category].startswith("cable")


def test_auto_adds_the_cuda_cases_skipped_without_a_gpu(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("-q", "--inspectnet-category", "bottle", "-k", "cuda", "-rs")
    result.assert_outcomes(skipped=5 * len(on("cuda")))  # the registry's CUDA runtimes, 5 runs each
    result.stdout.fnmatch_lines(["*no CUDA device on this machine*"])


def test_benchmarks_with_device_cuda_on_a_cpu_machine_is_a_usage_error(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("--inspectnet-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--inspectnet-device cuda: CUDA is not available on this machine*"])


def test_latency_refuses_to_share_the_cores_with_xdist_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    pytester.makepyfile(test_latency=BENCHMARK)
    result = pytester.runpytest("--inspectnet-category", "bottle", "-k", "bottle-cpu-torch-run1")
    result.assert_outcomes(errors=1)  # refused at setup: nothing is timed
    result.stdout.fnmatch_lines(["*latency tests measure alone: 2 pytest-xdist workers share the cores*"])


def test_a_planted_slowdown_fails_the_budget(pytester: pytest.Pytester, synthetic_root: Path) -> None:
    """Mutation: every timed call made 2.5x as long through the test-only hook; the efficiency budget fails."""
    pytester.makepyfile(test_latency=BENCHMARK)
    pytester.makeconftest(SLOWDOWN)
    reports = pytester.path / "reports"
    result = pytester.runpytest(
        *("--inspectnet-data-root", str(synthetic_root), "--inspectnet-store-dir", str(ROOT / ".inspectnet" / "store")),
        *(
            "--inspectnet-report-dir",
            str(reports),
            "--inspectnet-category",
            "bottle",
            "--inspectnet-device",
            "cpu",
            "-k",
            "openvino",
        ),
        *(
            "--inspectnet-latency-warmup",
            "2",
            "--inspectnet-latency-rounds",
            "10",
            "--inspectnet-latency-runs",
            "2",
            "--benchmark-disable-gc",
        ),
    )
    result.assert_outcomes(passed=1, failed=1)  # the first run records; the last judges every run
    result.stdout.fnmatch_lines(
        ["*bottle-cpu-openvino (2 runs): median*layer efficiency * < portable floor *record:*latency_cpu.json*"]
    )
    assert "Session" not in result.stdout.str()  # the summary line and the record, not the objects' reprs
    assert (reports / "patchcore_bottle_latency_cpu.json").is_file()  # the measured numbers are kept


ONE_THREAD = """
import pytest
import torch

@pytest.fixture
def inspectnet_latency_wrap():
    def wrap(call):
        def one_thread(x):
            before = torch.get_num_threads()
            torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 would leave it
            try:
                return call(x)
            finally:
                torch.set_num_threads(before)
        return one_thread
    return wrap
"""


def _quick(synthetic_root: Path, reports: Path, *extra: str) -> tuple[str, ...]:
    return (
        *("--inspectnet-data-root", str(synthetic_root), "--inspectnet-store-dir", str(ROOT / ".inspectnet" / "store")),
        *("--inspectnet-report-dir", str(reports), "--inspectnet-category", "bottle", "--inspectnet-device", "cpu"),
        *(
            "--inspectnet-latency-warmup",
            "2",
            "--inspectnet-latency-rounds",
            "10",
            "--inspectnet-latency-runs",
            "1",
            "--benchmark-disable-gc",
        ),
        *extra,
    )


def _torch_run(pytester: pytest.Pytester, synthetic_root: Path, name: str) -> tuple[pytest.RunResult, float, float]:
    """One quick torch latency run in a fresh process (as a user's is): its result, layer efficiency and floor."""
    from inspectnet.records import LatencyRecord, read

    reports = pytester.path / name
    result = pytester.runpytest_subprocess(*_quick(synthetic_root, reports, "-k", "torch and not export"))
    record = read(reports / "patchcore_bottle_latency_cpu.json")
    assert isinstance(record, LatencyRecord)
    torch_row = record.runtimes["torch"]
    assert torch_row.layer_efficiency is not None and torch_row.budget.min_layer_efficiency is not None
    return result, torch_row.layer_efficiency, torch_row.budget.min_layer_efficiency


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: a run on one thread is not a misconfiguration")
def test_threads_forced_to_one_show_in_the_layer_efficiency(pytester: pytest.Pytester, synthetic_root: Path) -> None:
    """Mutation: torch left at one thread for the model's calls. Its own ops, timed on the usable cores, do not
    slow down, so the layer efficiency falls by the machine's thread scaling, and the run fails the portable floor
    exactly when that puts it under the floor. How far it falls depends on the machine: on the AMD EPYC VM one
    thread measured 0.26-0.29 against 0.63-0.65 (caught); on the 2-core Intel Xeon VM, where the second core
    speeds torch up 1.7x only, 0.365 against 0.62-0.68 (over the 0.35 floor: not caught there)."""
    pytester.makepyfile(test_latency=BENCHMARK)
    healthy = _torch_run(pytester, synthetic_root, "healthy")[1]
    pytester.makeconftest(ONE_THREAD)
    result, one_thread, floor = _torch_run(pytester, synthetic_root, "one-thread")
    assert one_thread < healthy / 1.3, f"one thread: layer efficiency {one_thread} against {healthy} on the cores"
    if one_thread < floor:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*bottle-cpu-torch (1 run): median*layer efficiency * < portable floor *"])
    else:
        result.assert_outcomes(passed=1)


def test_class_budgets_are_judged_on_their_class_only(pytester: pytest.Pytester, synthetic_root: Path) -> None:
    """A budget for this machine's class that the model misses fails, naming the class and the budget; a budget
    for another class is not judged, and a warning says so and how to write one."""
    from inspectnet.criteria import packaged
    from inspectnet.hostinfo import machine_class

    here = machine_class("cpu")
    packaged_text = packaged("synthetic").read_text()
    start, end = packaged_text.index("[latency.cpu]"), packaged_text.index("[latency.cuda]")
    tables = (  # this test is about class budgets: a floor nothing misses, then the two classes
        "[latency.cpu]\nmin_layer_efficiency = 0.01\n\n"
        f'[[latency.cpu.machine]]\nclass = "{here}"\ntorch = {{ median_ms = 0.5 }}\n\n'
        '[[latency.cpu.machine]]\nclass = "Other CPU/avx2/64"\nopenvino = { median_ms = 1.0 }\n\n'
    )
    profile = pytester.path / "profile.toml"
    profile.write_text(packaged_text[:start] + tables + packaged_text[end:])
    pytester.makepyfile(test_latency=BENCHMARK)
    reports = pytester.path / "reports"
    args = _quick(
        synthetic_root, reports, "-k", "(torch or openvino) and not export", "--inspectnet-criteria", str(profile)
    )
    result = pytester.runpytest_subprocess(*args)  # a fresh process (see the one-thread test)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*bottle-cpu-torch*median * ms > 0.500 ms, budget of class '{here}'*"])
    result.stdout.fnmatch_lines(
        [f"*bottle-cpu-openvino: no latency budget for this machine class ({here}; the profile has budgets for*"]
    )
    from inspectnet.records import LatencyRecord, read

    record = read(reports / "patchcore_bottle_latency_cpu.json")
    assert isinstance(record, LatencyRecord)
    torch_budget, openvino_budget = record.runtimes["torch"].budget, record.runtimes["openvino"].budget
    assert torch_budget.class_budget == here and torch_budget.median_ms == 0.5
    assert openvino_budget.class_budget is None and openvino_budget.not_judged is not None
