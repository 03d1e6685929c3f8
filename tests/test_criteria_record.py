"""Which criteria passed reaches the card: phases combined into outcomes, the criteria record merged across
sessions (pytester, with and without xdist), the card's Criteria section on full and partial report sets,
report merge, and `make run` going on past a failed criterion to the card, then exiting non-zero."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

import inspectnet.builders  # imported before any in-process pytester run: it must not unload and re-import them
import inspectnet.report.outcomes  # noqa: F401
from inspectnet.builders import criteria_record
from inspectnet.cli import main
from inspectnet.records import (
    SCHEMA_VERSION,
    CriteriaRecord,
    CriterionOutcome,
    LatencyRecord,
    RecordError,
    parse,
    read_as,
)
from inspectnet.report.build import merge, render_card
from inspectnet.report.card import criteria
from inspectnet.report.cite import Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.outcomes import CRITERIA_FILE, Phase, Tally, combine, first_line, write_outcomes

ROOT = Path(__file__).parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "reports"
T0, T1 = "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"
pytest_plugins = ["pytester"]


# --------------------------------------------------------------------------- outcomes, plain Python


def _phases(nodeid: str, *phases: tuple[str, str, bool, str]) -> list[Phase]:
    return [Phase(nodeid, "accuracy", when, outcome, xfail, message) for when, outcome, xfail, message in phases]


SET_UP, CALLED, TORN_DOWN = (
    ("setup", "passed", False, ""),
    ("call", "passed", False, ""),
    ("teardown", "passed", False, ""),
)


@pytest.mark.parametrize(
    ("phases", "outcome", "message"),
    [
        ([SET_UP, CALLED, TORN_DOWN], "passed", ""),
        ([SET_UP, ("call", "failed", False, "\nAssertionError: AUROC 0.8 < 0.9\nassert")], "failed", "AUROC 0.8 < 0.9"),
        ([SET_UP, ("call", "failed", False, "Failed: 3 label flips\nmore")], "failed", "3 label flips"),
        ([("setup", "failed", False, "fixture 'x' not found")], "failed", "error at setup: fixture 'x' not found"),
        ([SET_UP, CALLED, ("teardown", "failed", False, "boom")], "failed", "error at teardown: boom"),
        ([("setup", "skipped", False, "slow: run with --run-slow")], "skipped", "slow: run with --run-slow"),
        ([SET_UP, ("call", "skipped", True, "known gap")], "xfailed", "known gap"),
        ([SET_UP, ("call", "passed", True, "known gap")], "xpassed", "known gap"),
    ],
)
def test_a_tests_phases_make_one_outcome(phases: list[tuple[str, str, bool, str]], outcome: str, message: str) -> None:
    assert combine(_phases("t", *phases), T0) == CriterionOutcome(outcome, "accuracy", message, T0)


def test_an_interrupted_test_that_never_ran_is_not_an_outcome() -> None:
    assert combine(_phases("t", ("setup", "passed", False, "")), T0) is None
    tally = Tally()
    for phase in _phases("a", ("setup", "passed", False, ""), ("call", "passed", False, "")):
        tally.add(phase)
    tally.add(Phase("b", "latency", "setup", "passed", False, ""))
    assert set(tally.outcomes(T0)) == {"a"}


def test_a_failure_is_one_line_cut_to_its_limit() -> None:
    assert first_line("  \n  first  \nsecond") == "first"
    cut = first_line("x" * 1000)
    assert len(cut) == 300 and cut.endswith("...")
    assert first_line("") == ""


def test_the_builder_counts_every_outcome_and_refuses_an_unknown_one() -> None:
    record = criteria_record(
        {"b": CriterionOutcome("failed", "latency", "slow", T0), "a": CriterionOutcome("passed", "accuracy", "", T0)},
        T0,
    )
    assert list(record.tests) == ["a", "b"] and record.ran == 2
    assert record.counts == {"passed": 1, "failed": 1, "skipped": 0, "xfailed": 0, "xpassed": 0}
    assert CriteriaRecord.from_json(record.to_json()) == record
    with pytest.raises(ValueError, match="'errored'"):
        criteria_record({"a": CriterionOutcome("errored", "accuracy", "", T0)}, T0)


def test_a_session_replaces_the_entries_it_ran_and_keeps_the_others(tmp_path: Path) -> None:
    first = {
        "a": CriterionOutcome("passed", "accuracy", "", T0),
        "b": CriterionOutcome("failed", "parity", "flips", T0),
    }
    write_outcomes(tmp_path, first, T0)
    path, record, note = write_outcomes(tmp_path, {"b": CriterionOutcome("passed", "parity", "", T1)}, T1)
    assert note is None and path == tmp_path / CRITERIA_FILE
    assert read_as(CriteriaRecord, path) == record
    assert record.tests == {"a": first["a"], "b": CriterionOutcome("passed", "parity", "", T1)}
    assert record.counts["failed"] == 0 and record.created == T1
    path.write_text('{"kind": "criteria", "schema_version": 1}')  # an older InspectNet's: replaced, said so
    _, record, note = write_outcomes(tmp_path, {"c": CriterionOutcome("passed", "latency", "", T1)}, T1)
    assert note is not None and "schema_version 1" in note and "\n" not in note
    assert list(record.tests) == ["c"]


# --------------------------------------------------------------------------- the plugin writes it


# a project's own criteria: marked, and built on an InspectNet fixture (a test that uses none is the project's own)
CRITERIA_TESTS = """
import pytest

pytestmark = [pytest.mark.accuracy, pytest.mark.usefixtures("inspectnet_publisher")]

def test_passes():
    pass

def test_fails():
    assert 0.81 >= 0.9, "bottle image AUROC 0.81 < minimum 0.90"

@pytest.mark.parametrize("case", ["bottle-openvino"])
def test_fails_by_pytest_fail(case):
    pytest.fail(f"{case}: 3 label flips\\nsecond line", pytrace=False)

def test_skips():
    pytest.skip("no CUDA device")

@pytest.mark.xfail(reason="known gap", strict=True)
def test_xfails():
    assert False
"""
NOT_CRITERIA = """
import pytest

def test_unit():
    pass

@pytest.mark.accuracy
def test_a_projects_own_accuracy_test():
    pass
"""
SECOND = """
import pytest

@pytest.mark.latency
@pytest.mark.usefixtures("inspectnet_publisher")
def test_budget():
    assert False, "bottle-cpu-openvino: median 45.100 ms > budget 40.000 ms"
"""


def _record(pytester: pytest.Pytester) -> CriteriaRecord:
    return read_as(CriteriaRecord, pytester.path / "out" / "eval_harness" / CRITERIA_FILE)


def test_a_session_writes_its_criteria_outcomes_and_the_next_merges(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_criteria=CRITERIA_TESTS, test_unit=NOT_CRITERIA)
    args = ("-p", "no:cacheprovider", "--inspectnet-report-dir", "out/eval_harness")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=3, failed=2, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["inspectnet: 5 criteria this session, 2 failed; 5 in *criteria.json"])
    record = _record(pytester)
    tests = record.tests
    assert set(tests) == {
        "test_criteria.py::test_passes",
        "test_criteria.py::test_fails",
        "test_criteria.py::test_fails_by_pytest_fail[bottle-openvino]",
        "test_criteria.py::test_skips",
        "test_criteria.py::test_xfails",
    }  # the unit test and the project's own accuracy test (no InspectNet fixture) are no criteria
    assert tests["test_criteria.py::test_passes"].outcome == "passed"
    assert tests["test_criteria.py::test_fails"].message == "bottle image AUROC 0.81 < minimum 0.90"
    assert tests["test_criteria.py::test_fails_by_pytest_fail[bottle-openvino]"].message == (
        "bottle-openvino: 3 label flips"
    )
    assert (tests["test_criteria.py::test_skips"].outcome, tests["test_criteria.py::test_skips"].message) == (
        "skipped",
        "no CUDA device",
    )
    assert (tests["test_criteria.py::test_xfails"].outcome, tests["test_criteria.py::test_xfails"].message) == (
        "xfailed",
        "known gap",
    )
    assert {t.suite for t in tests.values()} == {"accuracy"}
    assert record.counts == {"passed": 1, "failed": 2, "skipped": 1, "xfailed": 1, "xpassed": 0}

    # a second session (make run's benchmarks) adds its tests; re-running one replaces only that entry
    pytester.makepyfile(test_second=SECOND)
    result = pytester.runpytest(*args, "test_second.py", "test_criteria.py::test_fails", "-k", "budget or fails")
    merged = _record(pytester)
    assert merged.ran == 6 and merged.counts["failed"] == 3
    assert merged.tests["test_second.py::test_budget"] == CriterionOutcome(
        "failed", "latency", "bottle-cpu-openvino: median 45.100 ms > budget 40.000 ms", merged.created
    )
    assert merged.tests["test_criteria.py::test_passes"] == tests["test_criteria.py::test_passes"]
    assert merged.tests["test_criteria.py::test_fails"].created == merged.created


def test_a_session_without_criteria_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit=NOT_CRITERIA)
    args = ("-p", "no:cacheprovider", "--inspectnet-report-dir", "out/eval_harness")
    pytester.runpytest(*args).assert_outcomes(passed=2)
    assert not (pytester.path / "out").exists()


def test_under_xdist_only_the_controller_writes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_criteria=CRITERIA_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--inspectnet-report-dir", "out/eval_harness", "-n", "2"
    )
    result.assert_outcomes(passed=1, failed=2, skipped=1, xfailed=1)
    record = _record(pytester)
    assert record.ran == 5 and record.counts["failed"] == 2
    assert record.tests["test_criteria.py::test_fails"].message == "bottle image AUROC 0.81 < minimum 0.90"
    assert [p.name for p in (pytester.path / "out" / "eval_harness").iterdir()] == [CRITERIA_FILE]  # no temp files


# --------------------------------------------------------------------------- the card


def _report_set(root: Path, keep: str = "*", latency: bool = False) -> Path:
    """The fixture's records matching ``keep``, at this InspectNet's schema version; its latency record only
    when asked (skipped while the fixture predates the latency schema)."""
    (root / "eval_harness").mkdir(parents=True)
    for path in sorted((FIXTURE / "eval_harness").glob(f"{keep}.json")):
        data = {**json.loads(path.read_text()), "schema_version": SCHEMA_VERSION}
        if data["kind"] == "latency":
            if not latency:
                continue
            try:
                parse(data, path)
            except RecordError as exc:
                pytest.skip(f"the fixture latency record predates schema {SCHEMA_VERSION}: {exc}")
        (root / "eval_harness" / path.name).write_text(json.dumps(data))
    return root


def _criteria(root: Path, tests: dict[str, CriterionOutcome], created: str = T0) -> None:
    write_outcomes(root / "eval_harness", tests, created)


FAILED = {
    "tests/acceptance/test_accuracy.py::test_image_auroc[patchcore-bottle-seed0]": CriterionOutcome(
        "passed", "accuracy", "", T0
    ),
    "benchmarks/test_latency.py::test_latency_budget[bottle-cpu-openvino-run5]": CriterionOutcome(
        "failed", "latency", "bottle-cpu-openvino: median 45.1 ms > budget 40.0 ms | p95 over", T0
    ),
    "benchmarks/test_latency.py::test_latency_budget[bottle-cuda-torch-run1]": CriterionOutcome(
        "skipped", "latency", "--device auto: no CUDA device on this machine", T0
    ),
}


def _section(card: str) -> str:
    return card.split("## Criteria\n")[1].split("\n## ")[0]


def test_the_card_names_the_failed_criteria_and_cites_the_counts(tmp_path: Path) -> None:
    root = _report_set(tmp_path / "reports")
    _criteria(root, FAILED)
    assert main(["card", "--reports", str(root)]) == 0
    card = (root / "MODEL_CARD.md").read_text()
    assert card.index("## Criteria") < card.index("## Ablation")  # near the top
    section = _section(card)
    assert "3 acceptance tests" in section and "1 passed, 1 failed, 1 skipped, 0 xfailed" in section
    assert "xpassed" not in section
    assert (
        "| `benchmarks/test_latency.py::test_latency_budget[bottle-cpu-openvino-run5]` | latency | "
        "bottle-cpu-openvino: median 45.1 ms > budget 40.0 ms \\| p95 over |"
    ) in section
    assert "seed0" not in section and "cuda-torch" not in section  # only the failed ones are listed
    provenance = (root / "PROVENANCE.md").read_text()
    for quantity, value in (("criteria ran", 3), ("criteria failed", 1), ("criteria passed", 1)):
        assert f"| criteria | {quantity} | {value} | `eval_harness/{CRITERIA_FILE}` |" in provenance
    first = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    render_card(root)
    assert {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} == first  # deterministic


def test_a_latency_entry_over_budget_is_listed_under_criteria(tmp_path: Path) -> None:
    """From the latency records themselves, with or without a criteria record (the section reads a latency
    record's category, device and runtimes' budget_failures only)."""
    over = object.__new__(LatencyRecord)
    for name, value in (("category", "bottle"), ("device", "cpu")):
        object.__setattr__(over, name, value)
    runtimes = {
        "torch": SimpleNamespace(budget_failures=[]),
        "openvino": SimpleNamespace(budget_failures=["median 45.100 ms > budget 40.000 ms", "p95 50.000 ms > budget"]),
    }
    object.__setattr__(over, "runtimes", runtimes)
    reports = ReportSet(tmp_path, [Source("eval_harness/patchcore_bottle_latency_cpu.json", over)])
    section = "\n".join(criteria(reports, Citations()))
    assert (
        "- **bottle cpu openvino**: median 45.100 ms > budget 40.000 ms; p95 50.000 ms > budget "
        "(`eval_harness/patchcore_bottle_latency_cpu.json`)"
    ) in section
    assert "torch" not in section and "no criteria record" in section


def test_a_report_set_without_a_criteria_record_says_so_in_one_line(tmp_path: Path) -> None:
    root = _report_set(tmp_path / "reports")
    render_card(root)
    section = _section((root / "MODEL_CARD.md").read_text())
    assert section.strip().count("\n") == 0 and "no criteria record" in section


def test_all_passed_says_none_failed(tmp_path: Path) -> None:
    root = _report_set(tmp_path / "reports", keep="patchcore_bottle")
    _criteria(root, {"t::a": CriterionOutcome("passed", "accuracy", "", T0)})
    render_card(root)
    section = _section((root / "MODEL_CARD.md").read_text())
    assert "1 acceptance tests" in section and "None failed." in section and "|" not in section


@pytest.mark.parametrize(
    "keep",
    [
        "patchcore_bottle",  # one evaluation record
        "p*_bottle",  # accuracy records only: no latency, parity, ablation, candidates
        "*parity*",  # parity without the models
        "candidate_*",  # candidates without their evaluation or latency
        "*latency*",  # latency alone
        "nothing",  # an empty eval_harness/
    ],
)
@pytest.mark.parametrize("with_criteria", [True, False])
def test_the_card_renders_a_partial_report_set(tmp_path: Path, keep: str, with_criteria: bool) -> None:
    root = _report_set(tmp_path / "reports", keep=keep, latency=True)
    if with_criteria:
        _criteria(root, FAILED)
    assert main(["card", "--reports", str(root)]) == 0
    card = (root / "MODEL_CARD.md").read_text()
    assert "## Criteria" in card and "## Reproduction" in card
    assert ("bottle-cpu-openvino-run5" in card) is with_criteria


def test_merge_joins_the_shards_criteria_records_and_refuses_a_contradiction(tmp_path: Path) -> None:
    cpu = _report_set(tmp_path / "cpu", keep="patchcore_bottle")
    gpu = _report_set(tmp_path / "gpu", keep="padim_bottle")
    shared = {"t::accuracy": CriterionOutcome("passed", "accuracy", "", T0)}
    _criteria(cpu, {**shared, "t::cpu": CriterionOutcome("passed", "latency", "", T0)}, T0)
    _criteria(gpu, {**shared, "t::cuda": CriterionOutcome("failed", "latency", "slow", T1)}, T1)
    out = tmp_path / "merged"
    assert merge(out, [cpu, gpu]) == 3
    joined = read_as(CriteriaRecord, out / "eval_harness" / CRITERIA_FILE)
    assert list(joined.tests) == ["t::accuracy", "t::cpu", "t::cuda"] and joined.counts["failed"] == 1
    assert joined.created == T1
    _criteria(gpu, {"t::accuracy": CriterionOutcome("failed", "accuracy", "AUROC 0.5", T1)}, T1)
    with pytest.raises(RecordError, match=r"criteria\.json conflicts with .*t::accuracy"):
        merge(tmp_path / "again", [cpu, gpu])
    assert not (tmp_path / "again").exists()
    assert merge(tmp_path / "one", [cpu]) == 2  # a single criteria record is copied as it is
    assert (tmp_path / "one" / "eval_harness" / CRITERIA_FILE).read_bytes() == (
        cpu / "eval_harness" / CRITERIA_FILE
    ).read_bytes()


# --------------------------------------------------------------------------- make run


FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0") $*" in
  "inspectnet data check"*) exit ${{FAIL_CHECK:-0}} ;;
  "pytest tests/acceptance"*) exit ${{FAIL_CRITERIA:-0}} ;;
  "pytest benchmarks"*) exit ${{FAIL_BENCHMARKS:-0}} ;;
esac
exit 0
"""


def _make_run(tmp_path: Path, **fail: int) -> tuple[int, list[str]]:
    """``make run``'s pipeline with its commands replaced by scripts that log their arguments and exit as told."""
    from inspectnet import pipeline

    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir(exist_ok=True)
    log.write_text("")
    for name in ("inspectnet", "pytest"):
        (bin_dir / name).write_text(FAKE.format(log=log))
        (bin_dir / name).chmod(0o755)
    (tmp_path / "reports" / "eval_harness").mkdir(parents=True, exist_ok=True)
    (tmp_path / "reports" / "eval_harness" / CRITERIA_FILE).write_text("{}")  # the last run's
    with pytest.MonkeyPatch.context() as patch:
        for key, value in fail.items():
            patch.setenv(f"FAIL_{key.upper()}", str(value))
        code = pipeline.run(pipeline.steps(str(tmp_path / "data"), str(tmp_path / "reports")), bin_dir)
    assert not (tmp_path / "reports" / "eval_harness" / CRITERIA_FILE).exists()  # every run starts it afresh
    return code, [line.split()[0] + " " + line.split()[1] for line in log.read_text().splitlines()]


EVERY_STEP = ["inspectnet data", "inspectnet data", "pytest tests/acceptance", "pytest benchmarks", "inspectnet card"]


def test_make_run_renders_the_card_after_a_failed_criterion_and_exits_non_zero(tmp_path: Path) -> None:
    assert _make_run(tmp_path) == (0, EVERY_STEP)
    assert _make_run(tmp_path, criteria=1) == (1, EVERY_STEP)
    assert _make_run(tmp_path, benchmarks=3) == (3, EVERY_STEP)
    assert _make_run(tmp_path, criteria=1, benchmarks=3) == (1, EVERY_STEP)  # the first failure's status


def test_make_run_stops_at_once_without_data(tmp_path: Path) -> None:
    code, steps = _make_run(tmp_path, check=1)
    assert code == 1 and steps == ["inspectnet data", "inspectnet data"]


def test_make_run_runs_the_pipeline_the_card_prints() -> None:
    """One list of commands: the Makefile's run recipe is the pipeline module, whose steps the card prints."""
    from inspectnet import pipeline

    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    recipe = subprocess.run(
        [make, "-n", "-f", str(ROOT / "Makefile"), "-o", ".venv/.installed", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m inspectnet.pipeline --data data/synthetic --reports reports" in recipe
    card = (ROOT / "reports" / "MODEL_CARD.md").read_text()
    for step in pipeline.steps():
        assert f"\n{step.shell()}\n" in card
