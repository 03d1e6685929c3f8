"""The MVTec-layout reader: discovery, reading, and every rejection with a one-line message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from inspectnet.cli import main
from inspectnet.data import DataError, find_categories, load_category, read_image, read_mask
from inspectnet.data.layout import _mask_problem, check_category_name

CATEGORIES = ["bottle", "cable", "capsule", "leather"]


def test_discovers_the_four_synthetic_categories(synthetic_root: Path) -> None:
    assert find_categories(synthetic_root) == CATEGORIES


@pytest.mark.parametrize("name", CATEGORIES)
def test_reads_train_test_labels_and_masks(synthetic_root: Path, name: str) -> None:
    cat = load_category(synthetic_root, name)
    assert len(cat.train) == 60
    assert len(cat.defect_types) >= 3
    good = [s for s in cat.test if not s.is_anomalous]
    bad = [s for s in cat.test if s.is_anomalous]
    assert len(good) == 16 and len(bad) == 32
    sample = bad[0]
    image = read_image(sample.path)
    mask = read_mask(sample, image.shape[:2])
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert mask.dtype == bool and mask.any()
    assert sample.mask == cat.root / "ground_truth" / sample.label / f"{sample.path.stem}_mask.png"
    assert not read_mask(good[0], image.shape[:2]).any()


def test_grayscale_category_is_read_as_rgb(tiny_dataset: Callable[..., Path]) -> None:
    root = tiny_dataset(mode="L")
    cat = load_category(root, "widget")
    assert read_image(cat.train[0]).shape == (32, 32, 3)
    assert cat.summary().test_defect == {"hole": 1, "scratch": 1}


def _one_line_naming(capsys: pytest.CaptureFixture[str], path: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert path in err, err
    assert "Traceback" not in err
    return err


def _break_truncate(root: Path) -> Path:
    p = root / "widget" / "train" / "good" / "001.png"
    p.write_bytes(p.read_bytes()[:60])
    return p


def _break_garbage(root: Path) -> Path:
    p = root / "widget" / "test" / "good" / "000.png"
    p.write_bytes(b"not an image at all")
    return p


def _break_missing_mask(root: Path) -> Path:
    (root / "widget" / "ground_truth" / "hole" / "000_mask.png").unlink()
    return root / "widget" / "test" / "hole" / "000.png"


def _break_mask_size(root: Path) -> Path:
    p = root / "widget" / "ground_truth" / "scratch" / "000_mask.png"
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(p)
    return p


def _break_mask_values(root: Path) -> Path:
    p = root / "widget" / "ground_truth" / "scratch" / "000_mask.png"
    mask = np.zeros((32, 32), np.uint8)
    mask[2:6, 2:6] = 255
    mask[10:12, 10:12] = 128
    Image.fromarray(mask).save(p)
    return p


def _break_empty_train(root: Path) -> Path:
    folder = root / "widget" / "train" / "good"
    for p in folder.iterdir():
        p.unlink()
    return folder


BREAKS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated image": (_break_truncate, "truncated"),
    "unreadable image": (_break_garbage, "unreadable"),
    "defect image without mask": (_break_missing_mask, "no mask"),
    "mask size differs": (_break_mask_size, "must match"),
    "mask not binary": (_break_mask_values, "not binary"),
    "empty train/good": (_break_empty_train, "no training images"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_rejects_broken_dataset_with_one_line_naming_the_path(
    case: str, tiny_dataset: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tiny_dataset()
    breaker, words = BREAKS[case]
    bad = breaker(root)
    before = sorted(p for p in tmp_path.rglob("*"))
    report = tmp_path / "out" / "check.json"
    assert main(["data", "check", str(root), "--report", str(report)]) == 2
    err = _one_line_naming(capsys, str(bad))
    assert words in err
    assert sorted(p for p in tmp_path.rglob("*")) == before, "a rejected check must write nothing"
    with pytest.raises(DataError, match=re.escape(str(bad))):
        load_category(root, "widget")


def test_missing_root_says_where_it_looked_and_how_to_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dataset"
    assert main(["data", "check", str(missing)]) == 2
    err = _one_line_naming(capsys, str(missing))
    assert "--inspectnet-data-root" in err and "inspectnet data synth" in err


def test_unknown_category_lists_the_known_ones(
    tiny_dataset: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tiny_dataset()
    assert main(["data", "check", str(root), "--category", "gizmo"]) == 2
    err = _one_line_naming(capsys, str(root / "gizmo"))
    assert "widget" in err


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "..", "x/../../etc"])
def test_category_must_be_a_plain_name(
    name: str, tiny_dataset: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tiny_dataset()
    assert main(["data", "check", str(root), "--category", name]) == 2
    _one_line_naming(capsys, f"category {name!r} is not a plain name")


def test_several_problems_are_all_listed(tiny_dataset: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    root = tiny_dataset()
    truncated, no_mask = _break_truncate(root), _break_missing_mask(root)
    assert main(["data", "check", str(root)]) == 2
    err = capsys.readouterr().err
    assert str(truncated) in err and str(no_mask) in err and "2 problems" in err


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True))
def test_plain_names_are_accepted(name: str) -> None:
    assert check_category_name(name) == name


@given(st.text(max_size=12), st.sampled_from(["/", "..", "\\", "\0"]), st.text(max_size=12))
def test_names_with_separators_or_parent_refs_are_refused(head: str, bad: str, tail: str) -> None:
    with pytest.raises(DataError):
        check_category_name(head + bad + tail)


@given(st.integers(1, 255), st.integers(0, 31), st.integers(0, 31))
def test_binary_masks_pass_and_a_third_value_fails(on: int, y: int, x: int) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[y, x] = on
    assert _mask_problem(mask) is None
    mask[(y + 1) % 32, x] = 1 if on != 1 else 2
    assert _mask_problem(mask) is not None
