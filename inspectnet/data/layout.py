"""Reader and validator for the MVTec AD directory layout.

::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/good/*.png
    <root>/<category>/test/<defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png

The reader accepts MVTec AD as downloaded (RGB and grayscale categories) and any dataset in the same
layout. Every problem is reported as one line that names the path, says what is wrong and what to do.
Nothing here writes, and nothing here downloads.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

GOOD = "good"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
HOW_TO_POINT = (
    "point --inspectnet-data-root at a directory in MVTec AD layout (<root>/<category>/train/good/*.png), "
    "or generate the embedded set with `inspectnet data synth --out DIR`"
)


class DataError(ValueError):
    """A dataset problem the user can fix. ``str()`` is one line naming the path."""


@dataclass(frozen=True)
class TestSample:
    """One test image with its label (``good`` or a defect type) and its mask (None for good images)."""

    path: Path
    label: str
    mask: Path | None

    @property
    def is_anomalous(self) -> bool:
        return self.label != GOOD


@dataclass(frozen=True)
class Category:
    name: str
    root: Path
    train: tuple[Path, ...]
    test: tuple[TestSample, ...]

    @property
    def defect_types(self) -> tuple[str, ...]:
        return tuple(sorted({s.label for s in self.test if s.is_anomalous}))

    def summary(self) -> CategorySummary:
        counts = Counter(s.label for s in self.test if s.is_anomalous)
        return CategorySummary(
            category=self.name,
            train_good=len(self.train),
            test_good=sum(1 for s in self.test if not s.is_anomalous),
            test_defect=dict(sorted(counts.items())),
        )


@dataclass(frozen=True)
class CategorySummary:
    category: str
    train_good: int
    test_good: int
    test_defect: dict[str, int]

    @property
    def test_defect_total(self) -> int:
        return sum(self.test_defect.values())


def shown_path(path: Path, root: Path) -> str:
    """``path`` as records and figures show it: relative to ``root`` when inside it, else as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def check_category_name(category: str) -> str:
    """Return ``category`` if it is a plain folder name, else raise (``../x``, ``a/b``, ``''``)."""
    if not _PLAIN_NAME.fullmatch(category) or ".." in category:
        raise DataError(
            f"category {category!r} is not a plain name; "
            "use a folder name under the dataset root (letters, digits, '_', '-', '.')"
        )
    return category


def _require_root(root: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: dataset root does not exist; {HOW_TO_POINT}")
    if not root.is_dir():
        raise DataError(f"{root}: dataset root is not a directory; {HOW_TO_POINT}")


def find_categories(root: Path) -> list[str]:
    """Categories under ``root``: sub-directories with a ``train`` folder, sorted by name."""
    _require_root(root)
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "train").is_dir())
    if not found:
        raise DataError(f"{root}: no categories found (looked for <root>/<category>/train/); {HOW_TO_POINT}")
    return found


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def mask_path(category_root: Path, label: str, image: Path) -> Path:
    return category_root / "ground_truth" / label / f"{image.stem}_mask.png"


def scan_category(root: Path, category: str) -> tuple[Category, list[str]]:
    """Read the file structure of one category; return it with the structural problems found.

    Raises DataError for problems that leave nothing to scan (bad name, missing root, unknown category).
    """
    check_category_name(category)
    _require_root(root)
    base = root / category
    if not (base / "train").is_dir():
        known = ", ".join(find_categories(root))
        raise DataError(f"{base}: unknown category {category!r}; categories under {root}: {known}")
    errors: list[str] = []
    train_dir = base / "train" / GOOD
    train = _images(train_dir) if train_dir.is_dir() else []
    if not train:
        errors.append(f"{train_dir}: no training images (train/good is empty or missing); add normal images")
    test: list[TestSample] = []
    test_dir = base / "test"
    labels = sorted(p.name for p in test_dir.iterdir() if p.is_dir()) if test_dir.is_dir() else []
    for label in labels:
        for image in _images(test_dir / label):
            if label == GOOD:
                test.append(TestSample(image, label, None))
                continue
            mask = mask_path(base, label, image)
            if not mask.is_file():
                errors.append(f"{image}: defect image has no mask; expected {mask}")
            test.append(TestSample(image, label, mask))
    if not test:
        errors.append(f"{test_dir}: no test images (expected test/good/ and test/<defect>/); add the test split")
    return Category(category, base, tuple(train), tuple(test)), errors


def _open_checked(path: Path) -> tuple[Image.Image | None, str | None]:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy(), None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"{path}: unreadable or truncated image ({reason}); replace or remove the file"


def _mask_problem(mask: np.ndarray) -> str | None:
    if mask.ndim == 3:
        if not np.all(mask == mask[..., :1]):
            return "mask is not binary (its colour channels differ)"
        mask = mask[..., 0]
    values = np.unique(mask)
    if len(values) > 2 or (len(values) == 2 and values[0] != 0):
        shown = ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        return f"mask is not binary (values {shown}); use 0 for normal and 255 (or 1) for defect pixels"
    if values.max() == 0:
        return "mask marks no defect pixel; a defect image needs a non-empty mask"
    return None


def check_pixels(category: Category) -> list[str]:
    """Decode every image and mask of ``category``; return the problems found (one line each)."""
    errors: list[str] = []
    for path in category.train:
        _, err = _open_checked(path)
        if err:
            errors.append(err)
    for sample in category.test:
        image, err = _open_checked(sample.path)
        if err:
            errors.append(err)
        if sample.mask is None or not sample.mask.is_file():
            continue
        mask, err = _open_checked(sample.mask)
        if err or mask is None:
            errors.append(err or f"{sample.mask}: unreadable mask")
            continue
        if image is not None and mask.size != image.size:
            errors.append(
                f"{sample.mask}: mask is {mask.size[0]}x{mask.size[1]} but its image {sample.path.name} is "
                f"{image.size[0]}x{image.size[1]}; masks must match their image size"
            )
        problem = _mask_problem(np.asarray(mask.convert("L") if mask.mode == "1" else mask))
        if problem:
            errors.append(f"{sample.mask}: {problem}")
    return errors


def inspect_category(root: Path, category: str, *, pixels: bool = True) -> tuple[Category, list[str]]:
    """Structure and (optionally) pixel checks of one category; problems are returned, not raised."""
    cat, errors = scan_category(root, category)
    if pixels:
        errors.extend(check_pixels(cat))
    return cat, errors


def load_category(root: Path, category: str, *, pixels: bool = True) -> Category:
    """Load one category, raising DataError with the first problem (the rest via `inspectnet data check`)."""
    cat, errors = inspect_category(root, category, pixels=pixels)
    if errors:
        more = f" (and {len(errors) - 1} more problems; run `inspectnet data check {root}`)" if len(errors) > 1 else ""
        raise DataError(errors[0] + more)
    return cat


def read_image(path: Path) -> np.ndarray:
    """An image as ``uint8`` H x W x 3 (grayscale categories are replicated to three channels)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: unreadable or truncated image ({exc}); replace or remove the file") from None


def read_mask(sample: TestSample, shape: tuple[int, int]) -> np.ndarray:
    """The sample's ground truth as a boolean H x W array (all False for a good image)."""
    if sample.mask is None:
        return np.zeros(shape, dtype=bool)
    try:
        with Image.open(sample.mask) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{sample.mask}: unreadable mask ({exc}); replace or remove the file") from None
    if arr.shape != shape:
        raise DataError(f"{sample.mask}: mask shape {arr.shape} differs from its image {shape}")
    return arr > 0
