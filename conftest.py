"""The repository's shared fixtures, for tests/, parity/ and benchmarks/ alike.

The plugin's own fixtures (``inspectnet``, ``latency_recorder``, ``parity_checker``, ``inspectnet_publisher``)
come from ``inspectnet.plugin``; these are the suite's: the embedded dataset, a tiny user dataset, and the one
model that single-model checks (mutations, the gate's quality) measure.
"""

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

from inspectnet.criteria import RunKey
from inspectnet.data.synthetic import generate
from inspectnet.harness.session import Session


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


@pytest.fixture(scope="session")
def subject_run(inspectnet: Session) -> RunKey:
    """The model a single-model check measures: PatchCore's base run on bottle (the plan's first category when
    bottle is not planned)."""
    planned = {r.category for r in inspectnet.runs()}
    categories = [c for c in inspectnet.plan.categories if c in planned]
    return inspectnet.plan.base_run("patchcore", "bottle" if "bottle" in categories else categories[0])
