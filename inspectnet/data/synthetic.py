"""The embedded default dataset: synthetic analogues of MVTec AD's bottle, cable, capsule and leather,
written in MVTec AD layout so the whole suite runs with no dataset and no network.

Every image is drawn from its own seed sequence ``(seed, category, split, defect, index)``, so the same
seed gives byte-identical files whatever order they are written in. Pixel values are computed from
IEEE-exact arithmetic only (:mod:`inspectnet.data._exactmath`), never from numpy's SIMD-dispatched or
libm's transcendental functions, so the files are also the same on every CPU and numpy dispatch level.
``manifest.json`` in the dataset root lists the sha256 of every file; it is what makes a generated set
recognisable and verifiable. Seed 0's list ships with the package (``seed0_manifest.json``) and
:func:`generate` refuses to write a seed-0 set that differs from it.

After a change to the generator (bump ``GENERATOR_VERSION``), rewrite the shipped list with
``python -m inspectnet.data.synthetic``.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from inspectnet._io import atomic_directory, sha256_bytes, sha256_file
from inspectnet.data._draw import finish, quantise
from inspectnet.data.layout import DataError
from inspectnet.data.scenes import RENDERERS, SIZE

GENERATOR_VERSION = 5
CATEGORIES = ("bottle", "cable", "capsule", "leather")
N_TRAIN = 60
N_TEST_GOOD = 16
N_PER_DEFECT = 8
SIZES_DEFAULT = "embedded"
MANIFEST = "manifest.json"
SHIPPED_MANIFEST = "seed0_manifest.json"  # in this package: seed 0's sha256 list
_SPLITS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Split:
    """How many images a category's splits hold; the defective ones spread over its defect types, the first
    types taking the remainder."""

    train: int
    test_good: int
    defective: int

    def per_type(self, defects: tuple[str, ...]) -> list[tuple[str, int]]:
        q, r = divmod(self.defective, len(defects))
        return [(d, q + (i < r)) for i, d in enumerate(defects)]


# Every image comes from its own seed sequence, so a larger size holds the smaller one's images bit for bit.
SIZES: dict[str, dict[str, Split]] = {
    SIZES_DEFAULT: {c: Split(N_TRAIN, N_TEST_GOOD, N_PER_DEFECT * len(RENDERERS[c][1])) for c in CATEGORIES},
    # MVTec AD's own split sizes (train good, test good, test defective), for timing the suite at real scale
    "mvtec": {
        "bottle": Split(209, 20, 63),
        "cable": Split(224, 58, 92),
        "capsule": Split(219, 23, 109),
        "leather": Split(245, 32, 92),
    },
}


@dataclass(frozen=True)
class SynthFile:
    relpath: str
    data: bytes


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _rng(seq: np.random.SeedSequence) -> np.random.Generator:
    return np.random.default_rng(seq)


def render_sample(
    category: str, seed: int, split: str, defect: str | None, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8 H x W x 3) and its exact mask (bool H x W; all False for a normal image)."""
    render, defects = RENDERERS[category]
    defect_code = 0 if defect is None else 1 + defects.index(defect)
    root = np.random.SeedSequence([seed, CATEGORIES.index(category), _SPLITS[split], defect_code, index])
    pose_seq, defect_seq, camera_seq = root.spawn(3)
    clean = render(_rng(pose_seq), None, None)
    if defect is None:
        return finish(clean, _rng(camera_seq)), np.zeros((SIZE, SIZE), dtype=bool)
    for attempt in defect_seq.spawn(16):
        broken = render(_rng(pose_seq), defect, _rng(attempt))
        mask = np.any(quantise(broken) != quantise(clean), axis=-1)
        if mask.any():  # outside the mask the image is the normal one, exactly
            return finish(np.where(mask[..., None], broken, clean), _rng(camera_seq)), mask
    raise RuntimeError(f"{category}/{defect}#{index}: 16 draws changed no pixel")  # a generator bug


def category_files(category: str, seed: int, sizes: str = SIZES_DEFAULT) -> Iterator[SynthFile]:
    """The files of one category, in MVTec AD layout, relative to the dataset root."""
    split = SIZES[sizes][category]
    for i in range(split.train):
        image, _ = render_sample(category, seed, "train", None, i)
        yield SynthFile(f"{category}/train/good/{i:03d}.png", _png(image))
    for i in range(split.test_good):
        image, _ = render_sample(category, seed, "test", None, i)
        yield SynthFile(f"{category}/test/good/{i:03d}.png", _png(image))
    for defect, count in split.per_type(RENDERERS[category][1]):
        for i in range(count):
            image, mask = render_sample(category, seed, "test", defect, i)
            yield SynthFile(f"{category}/test/{defect}/{i:03d}.png", _png(image))
            yield SynthFile(f"{category}/ground_truth/{defect}/{i:03d}_mask.png", _png(mask.astype(np.uint8) * 255))


def dataset_card(seed: int, sizes: str = SIZES_DEFAULT) -> str:
    splits = SIZES[sizes]
    rows = "\n".join(
        f"| {c} | {splits[c].train} | {splits[c].test_good} | "
        f"{', '.join(f'{d} {n}' for d, n in splits[c].per_type(RENDERERS[c][1]))} |"
        for c in CATEGORIES
    )
    command = f"inspectnet data synth --out DIR --seed {seed}" + (f" --sizes {sizes}" if sizes != SIZES_DEFAULT else "")
    at = "" if sizes == SIZES_DEFAULT else " at MVTec AD's split sizes"
    return f"""# InspectNet embedded synthetic dataset (generator v{GENERATOR_VERSION}, seed {seed}){at}

A synthetic dataset in MVTec AD layout, generated by `{command}`.
It exists so that InspectNet's acceptance suite runs on a machine with no dataset and no network.

**Numbers measured on this dataset are not MVTec AD numbers.** Its categories are synthetic analogues
of four MVTec AD categories, drawn by code; no MVTec AD pixel is in it.

| category | train good | test good | test defect (per type) |
|---|---|---|---|
{rows}

Images are {SIZE}x{SIZE} RGB PNG; masks are 8-bit PNG with 0 (normal) and 255 (defect), and mark exactly
the pixels whose clean value the defect changed (before lighting and sensor noise).

- **bottle**: top view of a glass bottle; nuisance: position, highlight direction, tint, lighting, noise.
  Defects: broken_large, broken_small (pieces of the rim missing), contamination, crack.
- **cable**: cross-section of a three-conductor cable (green, blue, brown in a fixed order); nuisance:
  position, rotation, lighting, noise. Defects: cable_swap (a conductor of the wrong colour: a logical
  anomaly whose every patch looks normal), missing_wire, poke_insulation, cut_inner_insulation.
- **capsule**: a two-colour capsule printed with "500"; nuisance: position, rotation, size, ink tone,
  lighting, noise. Defects: crack, faulty_imprint, poke, squeeze.
- **leather**: crops of a real photographic texture (scikit-image's `gravel.png`, CC0, from
  CC0Textures) tinted and smoothed into leather-like grain. Defects: color, cut, glue, poke.

Licence: the generator is InspectNet's code (Apache-2.0); the generated images and masks are released
under CC0 1.0, as is the gravel photograph they partly derive from.

`manifest.json` lists the sha256 of every file. The same seed gives byte-identical files on every
CPU and numpy SIMD dispatch level (with the pinned numpy and Pillow): pixel values are computed only
from IEEE-exact arithmetic (+, -, *, /, sqrt, rounding), never from SIMD-dispatched or libm
transcendental functions, whose last bit depends on the machine. Seed 0's sha256 list ships with the
package (`inspectnet/data/{SHIPPED_MANIFEST}`), and generating seed 0 fails loudly on a machine that
would write anything else.
"""


def _manifest(seed: int, digests: dict[str, str], sizes: str = SIZES_DEFAULT) -> dict[str, object]:
    return {
        "generator": "inspectnet.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "image_size": SIZE,
        "categories": list(CATEGORIES),
        **({"sizes": sizes} if sizes != SIZES_DEFAULT else {}),  # the default set's manifest is as it always was
        "files": dict(sorted(digests.items())),
    }


def _category_list(category: str, seed: int, sizes: str = SIZES_DEFAULT) -> list[SynthFile]:
    return list(category_files(category, seed, sizes))


def _render_all(seed: int, sizes: str = SIZES_DEFAULT) -> Iterator[list[SynthFile]]:
    """Every category's files, rendered in parallel worker processes where there are cores for it."""
    workers = min(len(CATEGORIES), os.cpu_count() or 1)
    if workers < 2:
        yield from (_category_list(c, seed, sizes) for c in CATEGORIES)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        n = len(CATEGORIES)
        yield from pool.map(_category_list, CATEGORIES, [seed] * n, [sizes] * n)


def shipped_manifest() -> dict[str, str]:
    """Seed 0's ``files`` (relative path -> sha256) as shipped with the package for this generator version."""
    text = resources.files("inspectnet.data").joinpath(SHIPPED_MANIFEST).read_text()
    data = json.loads(text)
    if data.get("generator_version") != GENERATOR_VERSION or data.get("seed") != 0:
        raise DataError(
            f"inspectnet/data/{SHIPPED_MANIFEST} is for generator v{data.get('generator_version')}, "
            f"seed {data.get('seed')}, not v{GENERATOR_VERSION}, seed 0; "
            "rewrite it with `python -m inspectnet.data.synthetic`"
        )
    files = data.get("files")
    if not isinstance(files, dict):
        raise DataError(f"inspectnet/data/{SHIPPED_MANIFEST}: no files list")
    return {str(k): str(v) for k, v in files.items()}


def check_shipped(digests: dict[str, str], shared_only: bool = False) -> None:
    """Raise :class:`DataError` naming the first rendered file whose sha256 is not seed 0's shipped one.

    ``digests`` are the files of a seed-0 set (all categories or some); ``README.md`` is text, not
    rendered, and depends on which categories were written, so it is left to the tests. ``shared_only``:
    a set of other sizes, whose files the default set also holds are checked (the rest come from the same
    exact arithmetic, by the same code).
    """
    shipped = shipped_manifest()
    for rel, digest in sorted(digests.items()):
        if shared_only and rel not in shipped:
            continue
        if rel != "README.md" and shipped.get(rel) != digest:
            raise DataError(
                f"seed 0 rendered {rel} with sha256 {digest[:12]}..., not the shipped "
                f"{(shipped.get(rel) or 'nothing')[:12]}...: this machine makes a different dataset from the "
                f"one InspectNet's baseline was measured on (inspectnet/data/{SHIPPED_MANIFEST}); "
                "is numpy or Pillow another version than the pinned one?"
            )


def generate(out: Path, seed: int = 0, sizes: str = SIZES_DEFAULT) -> dict[str, object]:
    """Write the dataset to ``out`` atomically (staged beside it, renamed into place); return its manifest.

    For seed 0 the files must match the shipped sha256 list (at other sizes: those the default set also
    holds); otherwise :class:`DataError` and nothing is written.
    """
    return _generate(out, seed, check=seed == 0, sizes=sizes)


def _generate(out: Path, seed: int, check: bool, sizes: str = SIZES_DEFAULT) -> dict[str, object]:
    digests: dict[str, str] = {}
    with atomic_directory(out) as staging:
        for files in _render_all(seed, sizes):
            for f in files:
                path = staging / f.relpath
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f.data)
                digests[f.relpath] = sha256_bytes(f.data)
        card = dataset_card(seed, sizes).encode()
        (staging / "README.md").write_bytes(card)
        digests["README.md"] = sha256_bytes(card)
        if check:
            check_shipped(digests, shared_only=sizes != SIZES_DEFAULT)
        manifest = _manifest(seed, digests, sizes)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(root: Path) -> dict[str, object] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("generator") == "inspectnet.data.synthetic" else None


def sizes_of(root: Path) -> str:
    """The split sizes a generated set at ``root`` was written at (``SIZES_DEFAULT`` when none is, or no set)."""
    manifest = read_manifest(root) or {}
    sizes = manifest.get("sizes", SIZES_DEFAULT)
    return sizes if isinstance(sizes, str) and sizes in SIZES else SIZES_DEFAULT


def verify(root: Path, seed: int, sizes: str = SIZES_DEFAULT) -> bool:
    """True iff ``root`` holds exactly this generator's files for ``seed`` and ``sizes``, every sha256 matching."""
    manifest = read_manifest(root)
    files = manifest.get("files") if manifest is not None else None
    if not isinstance(files, dict) or manifest != _manifest(seed, files, sizes):
        return False
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    if on_disk != set(files):
        return False
    return all(sha256_file(root / rel) == digest for rel, digest in files.items())


def ensure(out: Path, seed: int = 0, sizes: str = SIZES_DEFAULT) -> str:
    """Make ``out`` hold the dataset for ``seed`` at ``sizes``; return ``"up to date"`` or ``"generated"``.

    An existing directory that is not a generated set is never overwritten.
    """
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if read_manifest(out) is None:
            raise DataError(
                f"{out}: exists and is not an InspectNet synthetic dataset (no {MANIFEST}); "
                "choose another --out or remove it"
            )
        if verify(out, seed, sizes):
            return "up to date"
    generate(out, seed, sizes)
    return "generated"


def _write_shipped_manifest() -> Path:
    """Generate seed 0 (unchecked) and write its sha256 list into the package; return the file written."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _generate(Path(tmp) / "data", 0, check=False)
    shipped = {"generator_version": GENERATOR_VERSION, "seed": 0, "files": manifest["files"]}
    path = Path(__file__).with_name(SHIPPED_MANIFEST)
    path.write_text(json.dumps(shipped, indent=2, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {_write_shipped_manifest()}")
