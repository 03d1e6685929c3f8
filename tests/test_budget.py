"""`inspectnet budget`: a machine class's latency budget written from latency records."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from inspectnet.cli import main
from inspectnet.criteria.latency import parse_budgets
from inspectnet.records import LatencyRecord, read_as
from inspectnet.report.budget import class_budgets

FIXTURE = Path(__file__).parent / "fixtures" / "reports" / "eval_harness" / "patchcore_bottle_latency_cpu.json"


def test_the_budget_is_the_records_worst_median_and_p95_plus_the_margin() -> None:
    record = read_as(LatencyRecord, FIXTURE)
    (budget,) = class_budgets([record], margin=0.25)
    assert budget.machine_class == record.platform.machine_class and budget.categories == ["bottle"]
    for runtime, entry in record.runtimes.items():
        median, p95 = budget.limits[runtime]
        assert entry.stats.median_ms * 1.25 <= median < entry.stats.median_ms * 1.25 + 0.1
        assert entry.stats.p95_ms * 1.25 <= p95 < entry.stats.p95_ms * 1.25 + 0.1


def test_the_written_table_is_a_profile_table_that_judges_the_records_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FIXTURE.parent, tmp_path / "eval_harness")
    out = tmp_path / "budget.toml"
    assert main(["budget", "--from", str(tmp_path), "--margin", "0.1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "plus 10%" in text and f"--from {tmp_path}" in text
    record = read_as(LatencyRecord, FIXTURE)
    budgets = parse_budgets(out, tomllib.loads(text)["latency"])["cpu"]
    judged = budgets.budget("cpu", "openvino", record.platform.machine_class)
    assert judged.machine is not None and judged.machine.median_ms is not None
    assert judged.failures(record.runtimes["openvino"].stats.median_ms, 0.0, None) == []
    assert budgets.budget("cpu", "openvino", "Other/avx2/8").machine is None
    assert main(["budget", "--from", str(tmp_path), "--class", "AMD*/*/*"]) == 0
    assert 'class = "AMD*/*/*"' in capsys.readouterr().out


def test_no_latency_records_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "eval_harness").mkdir()
    assert main(["budget", "--from", str(tmp_path)]) == 2
    assert "no latency records to write a budget from" in capsys.readouterr().err
