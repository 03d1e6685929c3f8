"""The embedded dataset: layout, determinism, exact masks, varied defects, and a task that is not trivial."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from inspectnet.data import DataError, load_category, read_image, read_mask, synthetic
from inspectnet.data.scenes import RENDERERS
from inspectnet.data.synthetic import CATEGORIES, MANIFEST, ensure, generate, render_sample, shipped_manifest, verify
from tests.test_exactmath import dispatch_features, restricted_env


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _synth(out: Path, env: dict[str, str] | None = None) -> None:
    exe = Path(sys.executable).with_name("inspectnet")
    cmd = [str(exe), "data", "synth", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr


def _differing(root: Path, expected: dict[str, str]) -> list[str]:
    got = _digests(root)
    got.pop(MANIFEST)
    return sorted(rel for rel in got.keys() | expected.keys() if got.get(rel) != expected.get(rel))


def test_cli_synth_twice_gives_byte_identical_files(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "B"
    _synth(out)
    assert _digests(out) == _digests(synthetic_root)
    assert verify(out, seed=0)


def test_seed0_is_the_shipped_dataset(synthetic_root: Path) -> None:
    assert _differing(synthetic_root, shipped_manifest()) == []


def test_seed0_is_the_same_bytes_with_numpy_at_its_baseline_simd_level(tmp_path: Path) -> None:
    """numpy's dispatched transcendentals differ in the last bit between SIMD levels; the set must not."""
    disabled = dispatch_features()
    if not disabled:
        pytest.skip("numpy runs only its baseline code on this CPU: there is no other dispatch level to compare")
    out = tmp_path / "baseline"
    _synth(out, restricted_env(disabled))
    assert _differing(out, shipped_manifest()) == [], f"NPY_DISABLE_CPU_FEATURES={' '.join(disabled)!r}"


def test_seed0_that_differs_from_the_shipped_list_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # with one category, leather is drawn from other seed sequences than in the full set: not the shipped files
    monkeypatch.setattr(synthetic, "CATEGORIES", ("leather",))
    with pytest.raises(DataError, match=re.escape("seed 0 rendered leather/ground_truth/color/000_mask.png")):
        generate(tmp_path / "set", seed=0)
    assert os.listdir(tmp_path) == []
    generate(tmp_path / "other", seed=1)  # only seed 0 has a shipped list


def test_other_seed_gives_other_images() -> None:
    a, _ = render_sample("capsule", 0, "train", None, 3)
    b, _ = render_sample("capsule", 1, "train", None, 3)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_defect_has_a_nonempty_mask_and_good_images_none(synthetic_root: Path, category: str) -> None:
    cat = load_category(synthetic_root, category)
    assert len(cat.defect_types) >= 3
    for sample in cat.test:
        mask = read_mask(sample, (256, 256))
        assert mask.any() == sample.is_anomalous, sample.path


@pytest.mark.parametrize("category", CATEGORIES)
def test_mask_marks_exactly_the_pixels_the_defect_changed(category: str) -> None:
    """Outside the mask, a defect image differs from the same pose's normal image by noise only."""
    for defect in RENDERERS[category][1]:
        render, _ = RENDERERS[category]
        image, mask = render_sample(category, 0, "test", defect, 0)
        # the same pose without the defect, through the same camera: draw it through the public path
        root = np.random.SeedSequence([0, CATEGORIES.index(category), 1, 1 + RENDERERS[category][1].index(defect), 0])
        pose, _, camera = root.spawn(3)
        normal = synthetic.finish(render(np.random.default_rng(pose), None, None), np.random.default_rng(camera))
        changed = np.any(image != normal, axis=-1)
        assert changed[mask].mean() > 0.5, f"{category}/{defect}: most mask pixels should change"
        assert not changed[~mask].any(), f"{category}/{defect}: pixels outside the mask changed"


@pytest.mark.parametrize("category", CATEGORIES)
def test_defects_range_from_small_to_large(synthetic_root: Path, category: str) -> None:
    cat = load_category(synthetic_root, category)
    areas = [read_mask(s, (256, 256)).mean() for s in cat.test if s.is_anomalous]
    assert min(areas) < 0.001, f"{category}: no small defect (smallest covers {min(areas):.4f} of the image)"
    assert max(areas) > 0.005, f"{category}: no large defect (largest covers {max(areas):.4f} of the image)"


def _positional_baseline_auroc(root: Path, category: str) -> float:
    """A raw-pixel per-position Gaussian detector (PaDiM without a backbone): image AUROC."""

    def pooled(path: Path) -> np.ndarray:
        return read_image(path).astype(np.float32).reshape(64, 4, 64, 4, 3).mean((1, 3)) / 255

    cat = load_category(root, category, pixels=False)
    train = np.stack([pooled(p) for p in cat.train])
    mean, std = train.mean(0), train.std(0) + 0.02
    scores = [float((((pooled(s.path) - mean) / std) ** 2).sum(-1).max()) for s in cat.test]
    return float(roc_auc_score([s.is_anomalous for s in cat.test], scores))


@pytest.mark.parametrize("category", CATEGORIES)
def test_task_is_not_trivial_for_a_raw_pixel_detector(synthetic_root: Path, category: str) -> None:
    auroc = _positional_baseline_auroc(synthetic_root, category)
    assert auroc < 0.95, f"{category}: a raw-pixel detector already scores {auroc:.3f}; the set teaches nothing"


def test_dataset_card_says_what_it_is(synthetic_root: Path) -> None:
    card = (synthetic_root / "README.md").read_text()
    assert "not MVTec AD numbers" in card
    assert "CC0" in card
    for category in CATEGORIES:
        for defect in RENDERERS[category][1]:
            assert defect in card


def test_ensure_is_a_no_op_on_an_intact_set(synthetic_root: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*")}
    assert ensure(synthetic_root, seed=0) == "up to date"
    assert {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*")} == before


def test_ensure_regenerates_a_tampered_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "CATEGORIES", ("leather",))  # not seed 0's shipped set: use another seed
    root = tmp_path / "set"
    generate(root, seed=1)
    victim = root / "leather" / "train" / "good" / "000.png"
    original = victim.read_bytes()
    victim.write_bytes(original[:-10])
    assert not verify(root, seed=1)
    assert ensure(root, seed=1) == "generated"
    assert victim.read_bytes() == original


def test_ensure_never_overwrites_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match=str(foreign)):
        ensure(foreign, seed=0)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_interrupted_generation_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def exploding(seed: int, sizes: str = synthetic.SIZES_DEFAULT) -> Iterator[list[synthetic.SynthFile]]:
        yield [synthetic.SynthFile("leather/train/good/000.png", b"x")]
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_render_all", exploding)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        generate(out, seed=0)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- other split sizes (`data synth --sizes mvtec`)


def test_the_mvtec_sizes_are_mvtec_ads_own_and_the_embedded_ones_the_shipped_sets() -> None:
    from inspectnet.data.synthetic import SIZES, SIZES_DEFAULT

    mvtec = {c: (s.train, s.test_good, s.defective) for c, s in SIZES["mvtec"].items()}
    assert mvtec == {
        "bottle": (209, 20, 63),
        "cable": (224, 58, 92),
        "capsule": (219, 23, 109),
        "leather": (245, 32, 92),
    }
    shipped = shipped_manifest()
    for category, split in SIZES[SIZES_DEFAULT].items():

        def count(prefix: str, category: str = category) -> int:
            return sum(1 for rel in shipped if rel.startswith(f"{category}/{prefix}"))

        assert (count("train/"), count("test/good/"), count("test/") - count("test/good/")) == (
            split.train,
            split.test_good,
            split.defective,
        )
    for category, split in SIZES["mvtec"].items():
        per_type = split.per_type(RENDERERS[category][1])
        assert (
            sum(n for _, n in per_type) == split.defective
            and max(n for _, n in per_type) - min(n for _, n in per_type) <= 1
        )


def test_a_file_is_the_same_bytes_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each image has its own seed sequence: a set of other sizes holds the shipped set's files bit for bit
    where it has the same names (why `--sizes mvtec` is checked against the shipped list where they overlap)."""
    from inspectnet.data.synthetic import SIZES, Split, category_files

    monkeypatch.setitem(SIZES, "probe", {"bottle": Split(2, 1, 5)})
    shipped = shipped_manifest()
    files = list(category_files("bottle", 0, "probe"))
    names = [f.relpath for f in files]
    assert names[:3] == ["bottle/train/good/000.png", "bottle/train/good/001.png", "bottle/test/good/000.png"]
    assert len([n for n in names if "/test/" in n and "/good/" not in n]) == 5  # 2 + 1 + 1 + 1 over four types
    assert all(hashlib.sha256(f.data).hexdigest() == shipped[f.relpath] for f in files)


def test_the_sizes_option_offers_the_generators_sizes(tmp_path: Path) -> None:
    from inspectnet.data.synthetic import SIZES, dataset_card

    exe = Path(sys.executable).with_name("inspectnet")
    run = subprocess.run([str(exe), "data", "synth", "--help"], capture_output=True, text=True, check=True)
    assert re.search(r"--sizes \{(\w+(?:,\w+)*)\}", run.stdout) is not None
    offered = re.search(r"--sizes \{(\w+(?:,\w+)*)\}", run.stdout).group(1).split(",")  # type: ignore[union-attr]
    assert offered == list(SIZES)
    bad = subprocess.run(
        [str(exe), "data", "synth", "--out", str(tmp_path / "x"), "--sizes", "huge"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--sizes: invalid choice: 'huge'" in bad.stderr and not (tmp_path / "x").exists()
    card = dataset_card(0, "mvtec")
    assert "at MVTec AD's split sizes" in card and "--sizes mvtec" in card and "| bottle | 209 | 20 |" in card


def test_a_set_of_other_sizes_is_kept_at_its_sizes(tmp_path: Path) -> None:
    """The session's `ensure` of the default data root asks for the sizes the set was written at (`sizes_of`, from
    its manifest): a set written with `data synth --sizes mvtec` is not regenerated at the embedded sizes."""
    import json

    from inspectnet.data.synthetic import MANIFEST, SIZES_DEFAULT, sizes_of

    root = tmp_path / "data"
    assert sizes_of(root) == SIZES_DEFAULT  # nothing there
    root.mkdir()
    for written, read in (({"sizes": "mvtec"}, "mvtec"), ({}, SIZES_DEFAULT), ({"sizes": "huge"}, SIZES_DEFAULT)):
        (root / MANIFEST).write_text(json.dumps({"generator": "inspectnet.data.synthetic", **written}))
        assert sizes_of(root) == read
