"""The ``inspectnet`` console script: usage errors, summaries and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspectnet.cli import main


def test_check_prints_a_per_category_summary_and_writes_the_report(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "reports" / "dataset.json"
    assert main(["data", "check", str(synthetic_root), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "4 categories, all valid (synthetic)" in out
    assert "cable_swap 8" in out
    record = json.loads(report.read_text())
    assert record["kind"] == "dataset_check" and record["dataset"] == "synthetic"
    assert record["synthetic_manifest"]["seed"] == 0
    by_name = {c["category"]: c for c in record["categories"]}
    assert set(by_name) == {"bottle", "cable", "capsule", "leather"}
    assert by_name["leather"]["train_good"] == 60 and len(by_name["leather"]["fingerprint"]) == 64


def test_check_one_category_of_a_user_dataset(tiny_dataset, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    root = tiny_dataset()
    assert main(["data", "check", str(root), "--category", "widget"]) == 0
    out = capsys.readouterr().out
    assert "(mvtec-layout)" in out and "widget" in out


@pytest.mark.parametrize("seed", ["-1", "abc"])
def test_bad_seed_is_a_usage_error(seed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "synth", "--out", str(tmp_path / "x"), "--seed", seed])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_synth_refuses_to_overwrite_a_foreign_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"meow")
    assert main(["data", "synth", "--out", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "photos") in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "photos" / "cat.png").read_bytes() == b"meow"


def test_synth_on_an_intact_set_is_a_no_op(synthetic_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", "--out", str(synthetic_root)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_data_check_names_a_missing_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --profile that is not there is one line naming the option, before the dataset is read."""
    assert main(["data", "check", str(tmp_path), "--profile", str(tmp_path / "none.toml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"inspectnet: error: --profile {tmp_path / 'none.toml'}: no such file; give a criteria profile or omit "
        "--profile"
    )
