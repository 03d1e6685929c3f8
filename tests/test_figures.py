"""Report figures: PNG files of the documented pixel size, byte-identical across renders, clear input errors."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspectnet.measure.curves import downsample_curve
from inspectnet.report.figures import Case, Point, cases_figure, curves_figure, latency_figure, tradeoff_figure

CurveSet = dict[str, dict[str, dict[str, Sequence[float]]]]


def _curves() -> CurveSet:
    fpr = [0.0, 0.0, 0.1, 0.25, 0.5, 1.0]
    return {
        "PatchCore seed0": {
            "roc": {"fpr": fpr, "tpr": [0.0, 0.6, 0.8, 0.9, 0.97, 1.0]},
            "pro": {"fpr": [0.0, 0.05, 0.1, 0.2, 0.3], "pro": [0.0, 0.5, 0.7, 0.85, 0.9]},
        },
        "PaDiM": {"roc": {"fpr": fpr, "tpr": [0.0, 0.3, 0.5, 0.7, 0.9, 1.0]}},
        "only pro": {"pro": {"fpr": [0.0, 0.15, 0.3], "pro": [0.0, 0.4, 0.6]}},
    }


def _samples() -> dict[str, dict[str, list[float]]]:
    rng = np.random.default_rng(0)
    return {
        category: {runtime: list(rng.gamma(4.0, 2.0 + j, 50)) for j, runtime in enumerate(("torch", "openvino"))}
        for category in ("bottle", "cable", "screw")
    } | {"wood": {"onnxruntime": [3.0, 3.5, 4.0]}}


def _cases() -> list[Case]:
    rng = np.random.default_rng(1)
    mask = np.zeros((24, 32), dtype=bool)
    mask[4:10, 8:16] = True
    return [
        Case("worst normal: good/003.png, score 0.61", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
             rng.random((24, 32)), np.zeros((24, 32), dtype=bool)),
        Case("worst defective: crack/001.png, score 0.12", rng.integers(0, 256, (24, 32), dtype=np.uint8),
             rng.random((24, 32)) * 3.0, mask),
    ]  # fmt: skip


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


# --------------------------------------------------------------------------- rendering


def test_curves_figure_writes_png_of_fixed_size_deterministically(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "curves.png", tmp_path / "b" / "curves.png"
    curves_figure("cable", _curves(), first)
    curves_figure("cable", _curves(), second)
    assert _size(first) == (1000, 450)
    assert first.read_bytes() == second.read_bytes()
    assert [p.name for p in first.parent.iterdir()] == ["curves.png"]  # no temporary file left behind


def test_curves_figure_accepts_long_curves_and_roc_only(tmp_path: Path) -> None:
    fpr = np.linspace(0.0, 1.0, 500)
    curves_figure("grid", {"model": {"roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()}}}, tmp_path / "roc.png")
    assert _size(tmp_path / "roc.png") == (1000, 450)


def test_curves_figure_differs_when_inputs_differ(tmp_path: Path) -> None:
    curves = _curves()
    curves_figure("cable", curves, tmp_path / "a.png")
    curves["PaDiM"]["roc"]["tpr"] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    curves_figure("cable", curves, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()


def test_latency_figure_writes_png_of_fixed_size_deterministically(tmp_path: Path) -> None:
    latency_figure("cpu: Intel Xeon", _samples(), tmp_path / "a.png")
    latency_figure("cpu: Intel Xeon", _samples(), tmp_path / "b.png")
    assert _size(tmp_path / "a.png") == (1200, 500)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_cases_figure_writes_png_sized_by_case_count_deterministically(tmp_path: Path) -> None:
    cases_figure("cable", _cases(), tmp_path / "a.png")
    cases_figure("cable", _cases(), tmp_path / "b.png")
    assert _size(tmp_path / "a.png") == (660, 2 * 220 + 30)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    cases_figure("cable", _cases()[:1], tmp_path / "one.png")
    assert _size(tmp_path / "one.png") == (660, 220 + 30)


def test_cases_figure_accepts_a_constant_anomaly_map(tmp_path: Path) -> None:
    case = _cases()[0]
    flat = Case(case.title, case.image, np.full((24, 32), 0.5), case.mask)
    cases_figure("cable", [flat], tmp_path / "flat.png")
    assert _size(tmp_path / "flat.png") == (660, 250)


def test_png_has_no_software_or_date_metadata(tmp_path: Path) -> None:
    curves_figure("cable", _curves(), tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert b"Software" not in data
    assert b"tIME" not in data


# --------------------------------------------------------------------------- downsample_curve


def test_downsample_short_curve_is_returned_rounded() -> None:
    x, y = downsample_curve([0.0, 0.1234567891, 1.0], [0.0, 0.5, 1.0])
    assert x == [0.0, 0.123457, 1.0]
    assert y == [0.0, 0.5, 1.0]
    assert all(isinstance(v, float) for v in x + y)


def test_downsample_long_curve_keeps_endpoints_and_matches_interp() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([[0.0, 0.0], np.sort(rng.random(1000)) * 0.3, [0.3]])
    y = np.concatenate([[0.0, 0.4], np.sort(rng.random(1000)) * 0.5 + 0.4, [1.0]])
    xs, ys = downsample_curve(list(x), list(y), points=51)
    assert len(xs) == len(ys) == 51
    assert (xs[0], ys[0]) == (0.0, 0.0)
    assert (xs[-1], ys[-1]) == (0.3, 1.0)
    grid = np.linspace(0.0, 0.3, 51)
    np.testing.assert_allclose(xs, np.round(grid, 6), atol=0)
    np.testing.assert_allclose(ys[1:-1], np.round(np.interp(grid, x, y), 6)[1:-1], atol=0)
    assert all(b >= a for a, b in itertools.pairwise(xs))


def test_downsample_default_is_at_most_101_points() -> None:
    x = list(np.linspace(0.0, 1.0, 5000))
    xs, ys = downsample_curve(x, [v * v for v in x])
    assert len(xs) == len(ys) == 101
    assert ys[50] == pytest.approx(0.25, abs=1e-6)


def test_downsample_constant_x_keeps_first_and_last() -> None:
    assert downsample_curve([0.5] * 5, [0.0, 0.1, 0.2, 0.3, 0.4], points=3) == ([0.5, 0.5], [0.0, 0.4])


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("x", "y", "points", "message"),
    [
        ([0.0, 1.0], [0.0], 101, "x has 2 points but y has 1"),
        ([], [], 101, "empty"),
        ([1.0, 0.0], [0.0, 1.0], 101, "non-decreasing"),
        ([0.0, float("nan")], [0.0, 1.0], 101, "NaN"),
        ([0.0, 1.0], [0.0, 1.0], 1, "at least 2"),
    ],
)
def test_downsample_rejects_bad_input(x: list[float], y: list[float], points: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        downsample_curve(x, y, points)


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, "no curves"),
        ({"m": {}}, "'m' has neither"),
        ({"m": {"roc": {"fpr": [0.0, 1.0], "tpr": [0.0]}}}, "'m' roc: 'fpr' has 2 points but 'tpr' has 1"),
        ({"m": {"roc": {"fpr": [], "tpr": []}}}, "'m' roc 'fpr': empty"),
        ({"m": {"pro": {"fpr": [0.0, 0.3]}}}, "'m' pro: missing 'pro'"),
        ({"m": {"det": {"fpr": [0.0], "fnr": [1.0]}}}, "unknown curve kinds"),
    ],
)
def test_curves_figure_rejects_bad_input(tmp_path: Path, curves: CurveSet, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        curves_figure("cable", curves, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ({}, "no samples"),
        ({"cable": {}}, "category 'cable' has no runtimes"),
        ({"cable": {"torch": []}}, r"samples\['cable'\]\['torch'\]: empty"),
        ({"cable": {"torch": [1.0, -2.0]}}, "negative"),
        ({"cable": {"torch": [1.0, float("inf")]}}, "infinite"),
    ],
)
def test_latency_figure_rejects_bad_input(
    tmp_path: Path, samples: Mapping[str, Mapping[str, Sequence[float]]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        latency_figure("cpu", samples, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def _replace(case: Case, **changes: np.ndarray) -> Case:
    fields = {"image": case.image, "anomaly_map": case.anomaly_map, "mask": case.mask} | changes
    return Case(case.title, fields["image"], fields["anomaly_map"], fields["mask"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mask": np.zeros((24, 31), dtype=bool)}, "shape mismatch"),
        ({"anomaly_map": np.zeros((12, 16))}, "shape mismatch"),
        ({"image": np.zeros((20, 32, 3), dtype=np.uint8)}, "shape mismatch"),
        ({"image": np.zeros((24, 32, 4), dtype=np.uint8)}, "H x W x 3 or H x W"),
        ({"image": np.zeros((24, 32, 3))}, "image must be uint8"),
        ({"mask": np.zeros((24, 32), dtype=np.uint8)}, "mask must be bool"),
        ({"anomaly_map": np.full((24, 32), np.nan)}, "NaN"),
        ({"anomaly_map": np.zeros((24, 32, 1))}, "2-D real array"),
    ],
)
def test_cases_figure_rejects_bad_case_naming_its_title(
    tmp_path: Path, changes: dict[str, np.ndarray], message: str
) -> None:
    good, other = _cases()
    with pytest.raises(ValueError, match=message) as caught:
        cases_figure("cable", [good, _replace(other, **changes)], tmp_path / "x.png")
    assert "worst defective: crack/001.png" in str(caught.value)
    assert not (tmp_path / "x.png").exists()


def test_cases_figure_rejects_no_cases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no cases"):
        cases_figure("cable", [], tmp_path / "x.png")


def test_tradeoff_figure_is_sized_per_category_and_deterministic(tmp_path: Path) -> None:
    points = {
        category: [
            Point("OpenVINO f32", 140.0 + i, 0.80, True),
            Point("torch eager", 200.0, 0.80, True),
            Point("int8-fp32-search", 64.0, 0.79 - i / 100, False),
        ]
        for i, category in enumerate(("bottle", "cable", "capsule"))
    }
    first, again, one = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "one.png"
    tradeoff_figure(points, first)
    tradeoff_figure(points, again)
    assert first.read_bytes() == again.read_bytes()
    assert Image.open(first).size == (1200, 400)
    tradeoff_figure({"bottle": points["bottle"]}, one)
    assert Image.open(one).size == (640, 400)
    with pytest.raises(ValueError, match="every category needs at least one point"):
        tradeoff_figure({"bottle": []}, one)
