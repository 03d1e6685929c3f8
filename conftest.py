"""This repository's own test settings and shared fixtures, for tests/, parity/, candidates/ and benchmarks/.

The plugin's fixtures (``inspectnet``, ``inspectnet_latency``, ``inspectnet_parity``, ``inspectnet_subject``, ...)
come from ``inspectnet.plugin``; what is here is this repository's, not the product's:

- the short option names its README uses (``--device cuda`` for ``--inspectnet-device cuda``), as aliases;
- ``--run-slow`` and the ``slow`` marker of its long benchmarks;
- the embedded dataset, a tiny user dataset, and real anomalib checkpoints for the given-model tests.
"""

from __future__ import annotations

import shutil
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
from inspectnet.options import GROUP, add_aliases


def pytest_addoption(parser: pytest.Parser) -> None:
    add_aliases(parser.getgroup(*GROUP))
    parser.addoption("--run-slow", action="store_true", help="also run this repository's benchmarks marked slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long benchmark of this repository; runs with --run-slow")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slow") is not None and not item.config.getoption("--run-slow"):
        pytest.skip("slow: run with --run-slow")


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


CHECKPOINT_SIZE = 64  # the image size the anomalib_results checkpoints are trained at


@pytest.fixture(scope="session")
def small_bottle(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training images, 3 test images of each class and their masks, from the embedded bottle."""
    root = tmp_path_factory.mktemp("small")
    src = synthetic_root / "bottle"
    for sub in sorted(p for p in src.rglob("*") if p.is_dir()):
        rel = sub.relative_to(src)
        dst = root / "bottle" / rel
        dst.mkdir(parents=True, exist_ok=True)
        for f in sorted(f for f in sub.iterdir() if f.is_file())[: 8 if rel.parts[0] == "train" else 3]:
            shutil.copy2(f, dst / f.name)
    return root


@pytest.fixture(scope="session")
def anomalib_results(small_bottle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """Real user checkpoints: anomalib's own ``Engine`` fits PatchCore and PaDiM (resnet18, random init, 64x64)
    on ``small_bottle``, a fresh Engine for each fit (a reused one does not train the second model). Returns
    the results tree and each fit's checkpoint (``Engine.best_model_path``). Offline (nothing may download)
    and on one torch thread (PaDiM's small covariance products crawl on oversubscribed cores)."""
    import warnings

    import torch
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from anomalib.models import Padim, Patchcore

    size = (CHECKPOINT_SIZE, CHECKPOINT_SIZE)
    models = {
        "patchcore": lambda: Patchcore(
            backbone="resnet18",
            layers=["layer2", "layer3"],
            pre_trained=False,
            coreset_sampling_ratio=0.1,
            pre_processor=Patchcore.configure_pre_processor(image_size=size),
        ),
        "padim": lambda: Padim(
            backbone="resnet18", pre_trained=False, pre_processor=Padim.configure_pre_processor(image_size=size)
        ),
    }
    root = tmp_path_factory.mktemp("results")
    paths = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
            mp.setenv("HF_HUB_OFFLINE", "1")
            warnings.simplefilter("ignore")  # Lightning's remarks on a one-epoch fit with no optimiser
            for method, make in models.items():
                torch.manual_seed(0)
                engine = Engine(
                    max_epochs=1,
                    default_root_dir=root,
                    accelerator="cpu",
                    devices=1,
                    logger=False,
                    enable_progress_bar=False,
                    enable_model_summary=False,
                )
                data = MVTecAD(
                    root=small_bottle, category="bottle", train_batch_size=8, eval_batch_size=8, num_workers=0
                )
                engine.fit(model=make(), datamodule=data)
                paths[method] = Path(engine.best_model_path)
    finally:
        torch.set_num_threads(threads)
    return root, paths
