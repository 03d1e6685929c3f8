"""The regression gate: passes an unchanged rerun, fails a planted AUROC drop, parity break and slowdown,
refuses a malformed baseline; through the CLI and through `pytest --baseline`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspectnet.cli import main
from inspectnet.criteria import GateCriteria
from inspectnet.gate import compare, decide_latency

FIXTURE = Path(__file__).parent / "fixtures" / "reports"
RECORDS = FIXTURE / "eval_harness"
pytest_plugins = ["pytester"]


@pytest.fixture
def current(tmp_path: Path) -> Path:
    root = tmp_path / "current"
    shutil.copytree(FIXTURE, root)
    return root


def _edit(root: Path, name: str, change: Any) -> None:
    path = root / "eval_harness" / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_an_unchanged_run_passes(current: Path) -> None:
    result = compare(FIXTURE, current)
    assert result.exit_code == 0 and not result.regressed
    kinds = {f.kind for f in result.findings}
    assert kinds == {"accuracy", "parity", "latency"} and {f.verdict for f in result.findings} == {"same"}


def test_a_planted_auroc_drop_regresses(current: Path) -> None:
    _edit(
        current, "patchcore_bottle.json", lambda d: d["metrics"].update(image_auroc=d["metrics"]["image_auroc"] - 0.02)
    )
    result = compare(FIXTURE, current)
    assert result.exit_code == 1
    assert [f.subject for f in result.regressed] == ["patchcore_bottle image_auroc"]
    assert "delta -0.0200" in result.regressed[0].note


def test_a_drop_within_tolerance_is_not_a_regression(current: Path) -> None:
    _edit(current, "patchcore_bottle.json", lambda d: d["metrics"].update(aupro=d["metrics"]["aupro"] - 0.005))
    assert compare(FIXTURE, current).exit_code == 0


def test_a_planted_parity_break_regresses(current: Path) -> None:
    def broken(d: dict[str, Any]) -> None:
        d.update(status="parity_broken", where=["anomaly_map_raw: abs error 2.0e-02 on bottle/test/good/000.png"])

    _edit(current, "openvino_parity_patchcore_bottle.json", broken)
    result = compare(FIXTURE, current)
    assert result.exit_code == 1 and [f.subject for f in result.regressed] == ["bottle openvino cpu"]


def _samples(rng: np.random.Generator, median: float, n: int = 50) -> np.ndarray:
    return median * np.exp(rng.normal(0, 0.04, n)) + rng.exponential(median * 0.01, n)  # jitter and a right tail


def test_latency_noise_passes_and_a_10_percent_slowdown_fails() -> None:
    """Simulated reruns with this machine's spread (4% log-sd plus a tail): 0 of 200 false alarms, and a 10%
    slowdown detected 200 of 200 times. (The measured rates on real reruns are in the gate benchmark.)"""
    rng = np.random.default_rng(0)
    settings = GateCriteria()
    false_alarms = sum(
        decide_latency(_samples(rng, 150), _samples(rng, 150), settings).verdict == "regressed" for _ in range(200)
    )
    detected = sum(
        decide_latency(_samples(rng, 150), _samples(rng, 165), settings).verdict == "regressed" for _ in range(200)
    )
    assert false_alarms == 0 and detected == 200


def test_a_planted_slowdown_in_the_records_regresses(current: Path) -> None:
    def slower(d: dict[str, Any]) -> None:
        entry = d["runtimes"]["openvino"]
        entry["samples_ms"] = [s * 1.5 for s in entry["samples_ms"]]
        entry["stats"]["median_ms"] *= 1.5

    _edit(current, "patchcore_bottle_latency_cpu.json", slower)
    result = compare(FIXTURE, current)
    assert [f.subject for f in result.regressed] == ["bottle cpu openvino"]
    assert "same machine" in result.regressed[0].note


def test_other_machines_are_compared_through_their_gemm_floor(current: Path) -> None:
    def twice_as_slow_machine(d: dict[str, Any]) -> None:
        d["platform"]["cpu"] = "a slower CPU"
        d["compute_floor_ms"] *= 2
        for entry in d["runtimes"].values():
            entry["samples_ms"] = [s * 2 for s in entry["samples_ms"]]

    _edit(current, "patchcore_bottle_latency_cpu.json", twice_as_slow_machine)
    result = compare(FIXTURE, current)
    latency = [f for f in result.findings if f.kind == "latency"]
    assert result.exit_code == 0 and all("normalised by each run's GEMM floor" in f.note for f in latency)


def test_cli_exit_codes_and_json_verdict(current: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdict = tmp_path / "verdict.json"
    assert main(["gate", "--baseline", str(FIXTURE), "--current", str(current), "--json", str(verdict)]) == 0
    assert json.loads(verdict.read_text())["passed"] is True
    _edit(current, "patchcore_bottle.json", lambda d: d["metrics"].update(pixel_auroc=0.5))
    assert main(["gate", "--baseline", str(FIXTURE), "--current", str(current / "eval_harness")]) == 1
    out = capsys.readouterr().out
    assert "regressed  accuracy" in out and "inspectnet gate: REGRESSION" in out


def test_a_malformed_baseline_is_unusable_input(
    tmp_path: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURE, bad)
    (bad / "eval_harness" / "patchcore_bottle.json").write_text("{truncated")
    assert main(["gate", "--baseline", str(bad), "--current", str(current)]) == 2
    assert "patchcore_bottle.json: not readable JSON" in capsys.readouterr().err
    assert main(["gate", "--baseline", str(tmp_path / "absent"), "--current", str(current)]) == 2


EMIT = """
import json, pathlib, pytest
from inspectnet.plugin import sink_of

def test_rerun(request):
    sink = sink_of(request.config)
    for path in sorted(pathlib.Path({records!r}).glob("*.json")):
        data = json.loads(path.read_text())
        if path.name == "patchcore_bottle.json":
            data["metrics"]["image_auroc"] -= {drop}
        sink.emit_json("eval_harness/" + path.name, data)
"""


@pytest.mark.parametrize(("drop", "status"), [(0.0, 0), (0.05, 1)])
def test_pytest_baseline_gates_the_session(pytester: pytest.Pytester, drop: float, status: int) -> None:
    pytester.makepyfile(test_rerun=EMIT.format(records=str(RECORDS), drop=drop))
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--report-dir",
        str(pytester.path / "out" / "eval_harness"),
        "--baseline",
        str(FIXTURE),
    )
    result.assert_outcomes(passed=1)
    assert result.ret == status
    result.stdout.fnmatch_lines(["*inspectnet gate*", "*no regression*" if status == 0 else "*REGRESSION*"])
