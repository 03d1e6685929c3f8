from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

# Loaded before any in-process pytester run, which unloads what the run imported: numpy.fft (which
# scipy.ndimage loads) refuses to be imported twice in one process. Without this, a plugin test file run
# alone failed whenever the run was the first to import scipy.ndimage.
import numpy.fft
import pytest
from PIL import Image

from inspectnet.data.synthetic import generate


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded dataset (seed 0), generated once per test session."""
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate(root, seed=0)
    return root


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write a small valid dataset in MVTec AD layout; returns its root. Category 'widget', 32x32 images."""

    def build(mode: str = "RGB", defects: tuple[str, ...] = ("scratch", "hole")) -> Path:
        root = tmp_path / "mvtec"
        rng = np.random.default_rng(0)
        shape = (32, 32, 3) if mode == "RGB" else (32, 32)
        for i in range(3):
            _png(
                root / "widget" / "train" / "good" / f"{i:03d}.png",
                rng.integers(0, 255, shape, dtype=np.uint8),
            )
        _png(root / "widget" / "test" / "good" / "000.png", rng.integers(0, 255, shape, dtype=np.uint8))
        for defect in defects:
            _png(root / "widget" / "test" / defect / "000.png", rng.integers(0, 255, shape, dtype=np.uint8))
            mask = np.zeros((32, 32), dtype=np.uint8)
            mask[4:9, 10:20] = 255
            _png(root / "widget" / "ground_truth" / defect / "000_mask.png", mask)
        (root / "license.txt").write_text("test data\n")
        return root

    return build
