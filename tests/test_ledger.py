"""The ledger books every second once (exclusive phases, the rest outside any test), the plugin books tests
by suite and category only when asked, items run one category after another, and the whole-card benchmark
reads the ledgers into its record and compares two runs' numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from inspectnet import ledger, progress
from inspectnet.collect import by_category, category_of
from inspectnet.harness.wholecard import card_run, compare_records, main
from inspectnet.names import RunKey

pytest_plugins = ["pytester"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_phases_are_exclusive_and_every_second_is_booked_once() -> None:
    clock = Clock()
    book = ledger.Ledger(clock)
    with book.phase("parity"):
        clock.now += 1.0
        with book.phase("export"):
            clock.now += 4.0
        with book.phase("float64 reference"):
            clock.now += 2.0
        clock.now += 0.5
    clock.now += 3.0  # between tests
    account = book.account()
    assert account["seconds"] == {
        "parity": 1.5,
        "parity / export": 4.0,
        "parity / float64 reference": 2.0,
        ledger.OUTSIDE: 3.0,
    }
    assert sum(account["seconds"].values()) == pytest.approx(account["wall_s"]) == 10.5
    assert account["calls"]["parity / export"] == 1


def test_without_a_ledger_phases_cost_nothing_and_progress_phases_are_booked_when_there_is_one() -> None:
    assert ledger.current() is None
    with ledger.phase("nothing"):  # no ledger open: a no-op
        pass
    clock = Clock()
    book = ledger.open_ledger(clock)
    try:
        with book.phase("accuracy"), progress.phase("evaluation", 3, "batches") as shown:
            clock.now += 2.0
            shown.tick(3)
    finally:
        assert ledger.close_ledger() is book
    assert book.account()["seconds"]["accuracy / evaluation"] == 2.0


def test_a_segment_per_category_and_suite_with_its_own_peak() -> None:
    book = ledger.Ledger()
    for suite, category in (
        ("accuracy", "bottle"),
        ("accuracy", "bottle"),
        ("parity", "bottle"),
        ("accuracy", "cable"),
    ):
        book.test_starts(suite, category)
    segments = book.account()["segments"]
    assert [(s["suite"], s["category"], s["tests"]) for s in segments] == [
        ("accuracy", "bottle", 2),
        ("parity", "bottle", 1),
        ("accuracy", "cable", 1),
    ]
    assert all(s["peak_mib"] >= s["start_mib"] > 0 for s in segments)


def test_the_plugin_writes_a_ledger_only_when_asked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_some="import time\n\ndef test_a():\n    time.sleep(0.2)\n")
    folder = pytester.path / "ledgers"
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not folder.exists()  # not asked: nothing written, nothing registered
    monkeypatch.setenv(ledger.ENV, str(folder))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    (written,) = folder.glob("*.json")
    account = json.loads(written.read_text())
    assert account["seconds"]["some"] >= 0.2  # the test's module is its suite
    assert sum(account["seconds"].values()) == pytest.approx(account["wall_s"], abs=0.01)


@dataclass
class CallSpec:
    params: dict[str, Any]


@dataclass
class Item:
    name: str
    marker: str | None
    callspec: CallSpec | None = None
    fixturenames: list[str] = field(default_factory=lambda: ["inspectnet"])

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == self.marker else None


def _items() -> list[Any]:
    def case(name: str, marker: str | None, value: object) -> Item:
        return Item(name, marker, CallSpec({"p": value}))

    bottle, cable = RunKey("patchcore", "bottle", 0), RunKey("patchcore", "cable", 0)
    return [
        case("auroc-bottle", "accuracy", bottle),
        case("auroc-cable", "accuracy", cable),
        Item("self-check", "accuracy"),
        Item("user-test", None, fixturenames=["tmp_path"]),
        case("parity-bottle", "parity", ("bottle", "cpu", "openvino")),
        case("parity-cable", "parity", ("cable", "cpu", "openvino")),
        case("latency-cable", "latency", ("cable", "cpu", "torch", 0)),
        case("ablation-cable", "accuracy", "cable"),
    ]


def test_items_run_one_category_after_another_and_others_keep_their_slots() -> None:
    def unasked() -> set[str]:
        raise AssertionError("the settings are resolved only when InspectNet's items are there")

    plain: list[Any] = [Item("user-test", None, fixturenames=["tmp_path"])]
    by_category(plain, unasked)
    items = _items()
    assert category_of(items[4], {"bottle", "cable"}) == "bottle" and category_of(items[2], {"bottle"}) == ""
    by_category(items, lambda: {"bottle", "cable"})
    assert [i.name for i in items] == [
        "auroc-bottle",
        "self-check",
        "parity-bottle",
        "user-test",  # not InspectNet's: its slot
        "auroc-cable",
        "parity-cable",
        "latency-cable",  # latency's cases keep their spread
        "ablation-cable",
    ]


def _account(argv: list[str], wall: float, segments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "argv": argv,
        "wall_s": wall,
        "seconds": {"accuracy": wall - 1.0, ledger.OUTSIDE: 1.0},
        "calls": {"accuracy": 3},
        "segments": segments,
        "peak_mib": max(s["peak_mib"] for s in segments),
    }


def test_the_benchmark_books_each_step_from_its_ledger(tmp_path: Path) -> None:
    segment = {"suite": "accuracy", "category": "bottle", "tests": 3, "start_mib": 100, "peak_mib": 2000}
    other = {**segment, "category": "cable", "peak_mib": 2100}
    (tmp_path / "11.json").write_text(
        json.dumps(_account(["/v/bin/pytest", "tests", "-m", "a"], 50.0, [segment, other]))
    )
    steps = [("inspectnet data synth --out d", 5.0), ("pytest tests -m a", 52.0)]
    run = card_run("abc", 57.0, 0, steps, tmp_path)
    assert run.steps[0].phases == []  # no ledger: timed from the step lines alone
    assert run.steps[1].unbooked_s == 2.0 and {p.phase for p in run.steps[1].phases} == {"accuracy", ledger.OUTSIDE}
    assert run.peak_rss_mib == 2100 and run.peak_rss_per_category_mib == {"bottle": 2000, "cable": 2100}


def test_two_runs_are_compared_number_for_number(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, auroc in ((old, 0.8), (new, 0.81)):
        folder.mkdir()
        (folder / "a.json").write_text(json.dumps({"kind": "evaluation", "metrics": {"image_auroc": auroc}}))
        (folder / "p.json").write_text(json.dumps({"kind": "parity", "max_abs_error": {"pred_score": 0.0}}))
        (folder / "l.json").write_text(json.dumps({"kind": "latency", "median_ms": auroc}))  # timings: not compared
    assert compare_records(old, new) == (2, ["a.json: metrics"])


def test_the_benchmark_refuses_a_revision_it_cannot_check_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "whole_card.json"
    assert main(["--rev", "no-such-revision", "--work", str(tmp_path / "work"), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("wholecard: git rev-parse") and "no-such-revision" in error and "\n" not in error
    assert not out.exists()


def test_a_category_switch_keeps_only_each_categorys_measured_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory does not grow with the categories: moving on drops the other categories' images, features and
    evaluations, but for the model latency measures (its cases rotate over the categories)."""
    from inspectnet.harness.session import Session

    session = Session(options=None)  # type: ignore[arg-type]  # inputs() reads no option
    monkeypatch.setattr("inspectnet.models.inputs.load_inputs", lambda category, size: f"{category} at {size}")
    monkeypatch.setattr(session, "category", lambda name: (name, "fingerprint"))
    monkeypatch.setattr(session, "measured_run", lambda category: RunKey("patchcore", category, 0))
    bottle = [RunKey("patchcore", "bottle", 0), RunKey("patchcore", "bottle", 1), RunKey("padim", "bottle", 0)]
    session._evaluations = dict.fromkeys(bottle)  # type: ignore[arg-type]
    session.cache._items[("bottle|backbone", "image")] = {}
    assert session.inputs("bottle", 256) == "bottle at 256"  # type: ignore[comparison-overlap]
    assert session.inputs("cable", 256) == "cable at 256"  # type: ignore[comparison-overlap]
    assert list(session._inputs) == ["cable"] and not session.cache._items
    assert list(session._evaluations) == [RunKey("patchcore", "bottle", 0)]


def test_the_train_features_stay_until_the_last_fit_that_needs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspectnet.harness.session import Session

    session = Session(options=None)  # type: ignore[arg-type]
    runs = [RunKey("patchcore", "bottle", 0), RunKey("patchcore", "bottle", 1), RunKey("padim", "bottle", 0)]
    monkeypatch.setattr(session, "runs", lambda: runs)
    monkeypatch.setattr(session, "spec", lambda run: run.method)
    monkeypatch.setattr(session, "feature_identity", lambda spec: f"bottle|{spec}")
    assert session._fits_left(runs[0], "bottle|patchcore")  # seed 1 fits on the same features later
    session._evaluations[runs[1]] = None  # type: ignore[assignment]
    assert not session._fits_left(runs[0], "bottle|patchcore")
    assert not session._fits_left(runs[2], "bottle|padim")  # another backbone: its own features


def test_the_training_embeddings_are_stacked_without_a_second_copy() -> None:
    import torch

    from inspectnet.models.train import _stacked

    pieces = [torch.randn(5, 3), torch.randn(2, 3), torch.randn(4, 3)]
    expected = torch.vstack(pieces)
    stacked = _stacked(pieces)
    assert torch.equal(stacked, expected) and pieces == []  # the same values; each piece let go once copied
