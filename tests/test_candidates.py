"""Deployment candidates as plain Python: the profile's [candidates] section, agreement and IoU, the speed-up
from an A/B timing, each criterion failing with its reason, and what the test does with a verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspectnet.criteria import CriteriaError, load_profile, packaged
from inspectnet.criteria.candidates import DEFAULT_DROP, CandidateCriteria
from inspectnet.harness.candidates import quantisation_indices
from inspectnet.measure.candidates import Agreement, SpeedUp, agreement, failures, speedup
from inspectnet.names import CANDIDATES


def _profile(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "profile.toml"
    base = packaged("synthetic").read_text().split("\n[candidates]")[0]
    path.write_text(base + "\n" + section)
    return path


def test_the_packaged_profiles_build_every_candidate_with_the_issue_s_drops() -> None:
    for dataset in ("synthetic", "mvtec_ad"):
        profile = load_profile(packaged(dataset)).candidates
        assert list(profile.build) == list(CANDIDATES)
        assert all(c.max_drop == DEFAULT_DROP for c in profile.build.values())
        assert profile.build["int8"].min_speedup == 1.2 and profile.build["fp16"].max_size_ratio == 0.55
        assert profile.build["fp16"].min_label_agreement == 0.95  # shared limit, inherited


def test_a_candidate_s_own_keys_override_the_shared_ones(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        "[candidates]\nmax_drop = { aupro = 0.02 }\nmin_mask_iou = 0.8\n"
        "[candidates.int8]\nmax_drop = { image_auroc = 0.1 }\n[candidates.fp16]\n",
    )
    profile = load_profile(path).candidates
    assert list(profile.build) == ["int8", "fp16"]
    assert profile.build["int8"].max_drop == {**DEFAULT_DROP, "aupro": 0.02, "image_auroc": 0.1}
    assert profile.build["fp16"].max_drop == {**DEFAULT_DROP, "aupro": 0.02}
    assert profile.build["fp16"].min_mask_iou == 0.8 and profile.fail_on_reject is True


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[candidates]\nint4 = {}\n", "unknown key candidates.int4"),
        ("[candidates]\n[candidates.int8]\nmin_speed = 1.2\n", "unknown key candidates.int8.min_speed"),
        ("[candidates]\nmax_drop = { f1 = 0.1 }\n", "unknown key candidates.max_drop.f1"),
        ("[candidates]\nmin_label_agreement = 1.5\n", "candidates.min_label_agreement must be a number in [0.0, 1.0]"),
        ("[candidates]\ncalibration_images = 0\n", "candidates.calibration_images must be an integer >= 1"),
        ("[candidates]\nfail_on_reject = 1\n", "candidates.fail_on_reject must be true or false"),
        ("[candidates]\n[candidates.fp16]\nmin_speedup = -1\n", "candidates.fp16.min_speedup must be a number"),
    ],
)
def test_a_bad_candidates_section_is_one_line_naming_the_key(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(CriteriaError, match=message.replace("[", r"\[").replace(".", r"\.")) as info:
        load_profile(_profile(tmp_path, section))
    assert str(tmp_path / "profile.toml") in str(info.value) and "\n" not in str(info.value)


def test_agreement_and_mask_iou() -> None:
    ref = {"pred_label": np.array([1, 0, 1, 0]), "pred_mask": np.zeros((4, 1, 2, 2), dtype=bool)}
    ref["pred_mask"][0, 0, 0, :] = True  # 2 pixels
    cand = {"pred_label": np.array([1, 1, 1, 0]), "pred_mask": ref["pred_mask"].copy()}
    cand["pred_mask"][0, 0, 1, 0] = True  # one more: IoU 2 / 3
    measured = agreement(ref, cand)
    assert measured == Agreement(0.75, pytest.approx(2 / 3), 4)
    empty = {"pred_label": np.zeros(2), "pred_mask": np.zeros((2, 1, 2, 2))}
    assert agreement(empty, empty).mask_iou == 1.0


def test_speedup_inverts_the_candidate_over_fp32_ratios() -> None:
    fast = speedup([0.5] * 6 + [0.52] * 6, [100.0] * 24, [51.0] * 24, alpha=0.01)
    assert fast.ratio == pytest.approx((2 + 1 / 0.52) / 2) and fast.quads == 12
    assert fast.low == pytest.approx(1 / 0.52) and fast.high == pytest.approx(2.0)
    assert (fast.fp32_median_ms, fast.candidate_median_ms) == (100.0, 51.0)
    assert fast.describe().startswith("x1.96 [1.92, 2.00]")


NO_DROP = {"image_auroc": 0.0, "pixel_auroc": 0.0, "aupro": 0.0}
ALL_LIMITS = CandidateCriteria("int8", min_label_agreement=0.95, min_mask_iou=0.9, min_speedup=1.2, max_size_ratio=0.5)
FULL = Agreement(1.0, 1.0, 48)
FAST = speedup([0.66] * 12, [150.0], [99.0], 0.01)


def _judged(
    drops: dict[str, float] = NO_DROP, measured: Agreement = FULL, fast: SpeedUp | None = FAST, size: float = 0.3
) -> list[str]:
    c = ALL_LIMITS
    return failures(
        drops, c.max_drop, measured, c.min_label_agreement, c.min_mask_iou, fast, c.min_speedup, size, c.max_size_ratio
    )


def test_each_criterion_fails_with_its_reason_and_margin() -> None:
    assert _judged() == []
    assert _judged(drops={**NO_DROP, "image_auroc": 0.0412}) == ["image AUROC drop 0.0412 > max 0.0050 (by 0.0362)"]
    assert _judged(drops={**NO_DROP, "aupro": 0.0101}) == ["AUPRO@0.3 drop 0.0101 > max 0.0100 (by 0.0001)"]
    assert _judged(measured=Agreement(0.9, 1.0, 48)) == ["label agreement 90.0% < min 95.0% (5 of 48 labels differ)"]
    assert _judged(measured=Agreement(1.0, 0.85, 48)) == ["mask IoU 0.8500 < min 0.9000"]
    assert _judged(fast=speedup([0.95] * 12, [1.0], [1.0], 0.01)) == ["speed-up 1.05x < min 1.20x"]
    assert _judged(fast=None) == ["speed-up not measured < min 1.20x"]
    assert _judged(size=0.51) == ["size 0.51 of FP32 > max 0.50"]


def test_quantisation_images_are_spread_over_the_train_split() -> None:
    assert quantisation_indices(60, 60) == list(range(60)) and quantisation_indices(10, 60) == list(range(10))
    chosen = quantisation_indices(200, 5)
    assert chosen == [0, 50, 100, 149, 199]


def _tiny_ir(directory: Path) -> tuple[Path, dict[str, str]]:
    """A two-convolution OpenVINO IR whose operations sit under a ``feature_extractor`` name, like the suite's."""
    import openvino as ov
    from openvino import opset13 as ops

    from inspectnet._io import sha256_file

    rng = np.random.default_rng(0)
    image = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    conv = ops.convolution(
        image, ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)), [1, 1], [1, 1], [1, 1], [1, 1]
    )
    conv.set_friendly_name("/model/feature_extractor/conv")
    head = ops.convolution(
        conv, ops.constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32)), [1, 1], [0, 0], [0, 0], [1, 1]
    )
    head.set_friendly_name("/model/head/conv")
    directory.mkdir(parents=True)
    xml = directory / "model.xml"
    ov.save_model(ov.Model([head], [image], "tiny"), str(xml), compress_to_fp16=False)
    return xml, {n: sha256_file(directory / n) for n in ("model.xml", "model.bin")}


def test_candidates_are_built_once_and_checked_on_reuse(tmp_path: Path) -> None:
    from inspectnet.deploy.candidates import build
    from inspectnet.deploy.export import ExportError

    xml, sha = _tiny_ir(tmp_path / "fp32")
    store = tmp_path / "store"
    images = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    first = build("int8-fp32-search", xml, sha, images, store)
    assert first.build_s is not None and first.settings["calibration_images"] == 3
    assert "backbone only" in first.settings["scope"] and first.settings["nncf"]
    again = build("int8-fp32-search", xml, sha, images, store)
    assert again.build_s is None and again.sha256 == first.sha256 and again.path == first.path
    other = build("int8-fp32-search", xml, sha, images[:2], store)  # other quantisation images: another model
    assert other.key != first.key
    fp16 = build("fp16", xml, sha, images, store)
    assert "compress_to_fp16=True" in fp16.settings["conversion"] and fp16.key not in (first.key, other.key)
    (first.path.with_suffix(".bin")).write_bytes(b"truncated")
    with pytest.raises(
        ExportError, match=r"model.bin: sha256 .* does not match its candidate record.*delete .* to rebuild"
    ):
        build("int8-fp32-search", xml, sha, images, store)


def test_the_search_cannot_be_kept_fp32_in_a_model_without_a_named_backbone(tmp_path: Path) -> None:
    from inspectnet.deploy.candidates import CandidateUnavailable, build

    xml, sha = _tiny_ir(tmp_path / "fp32")
    text = xml.read_text().replace("/model/feature_extractor/conv", "/model/encoder/conv")
    xml.write_text(text)
    images = np.zeros((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(CandidateUnavailable, match=r"no operation of this model is named \*feature_extractor\*"):
        build("int8-fp32-search", xml, sha, images, tmp_path / "store")
    assert not (tmp_path / "store" / "candidates").exists() or not any((tmp_path / "store" / "candidates").iterdir())
