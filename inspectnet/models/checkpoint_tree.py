"""Finding a user's anomalib checkpoints in a results directory: anomalib's own results tree, or one run
directory per seed holding such trees; each checkpoint keyed by method, category and seed.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from inspectnet.models.checkpoint import CheckpointError
from inspectnet.names import Method

MODEL_DIRS: dict[str, Method] = {"Patchcore": "patchcore", "Padim": "padim"}  # anomalib's results-tree names
CKPT_IN_VERSION = Path("weights", "lightning", "model.ckpt")
_VERSION = re.compile(r"v(\d+)")
_SEED = re.compile(r".*_seed(\d+)")


# --- results trees -------------------------------------------------------------------------------------------


def find_checkpoints(model_dir: Path) -> dict[tuple[str, str, int], Path]:
    """(method, category, seed) -> checkpoint, for every anomalib Patchcore / Padim run under ``model_dir``.

    Two layouts are read: anomalib's results tree,
    ``DIR/<Model>/<Dataset>/<category>/(latest|v<N>)/weights/lightning/model.ckpt`` (seed 0), and the card's,
    ``DIR/<run>/<Model>/<Dataset>/<category>/...``, where a ``_seed<N>`` suffix of the run directory gives
    the seed (0 without one). Of a category's versions, the one ``latest`` points to is taken when it points
    into the same directory (anomalib writes an absolute target, which a moved tree leaves dangling or
    pointing at the old copy); otherwise the highest ``v<N>``. The path returned is the concrete ``v<N>`` one.
    The method comes from the ``<Model>`` directory (``Patchcore``, ``Padim``); any other model directory,
    and two checkpoints for one key, are a ``CheckpointError``.
    """
    if not model_dir.is_dir():
        raise CheckpointError(f"{model_dir}: not a directory; give the results directory anomalib's Engine wrote")
    found: dict[tuple[str, str, int], Path] = {}
    for category_dir, run in _category_dirs(model_dir):
        ckpt = _chosen_version(category_dir)
        if ckpt is None:
            continue
        key = (_model_method(category_dir.parent.parent), category_dir.name, _seed(run))
        if key in found:
            raise CheckpointError(
                f"{model_dir}: two checkpoints for {key[0]} {key[1]} seed {key[2]}: {found[key]} and {ckpt}; "
                "keep one, or give the runs _seed<N> directories"
            )
        found[key] = ckpt
    return dict(sorted(found.items()))


def _category_dirs(root: Path) -> list[tuple[Path, str | None]]:
    """(category directory, run directory name or None) of every version directory holding a checkpoint."""
    out: dict[Path, str | None] = {}
    for depth in (3, 4):  # <Model>/<Dataset>/<category>, <run>/<Model>/<Dataset>/<category>
        pattern = "/".join(["*"] * (depth + 1) + list(CKPT_IN_VERSION.parts))
        for ckpt in root.glob(pattern):
            rel = ckpt.relative_to(root).parts
            version = rel[depth]
            if version == "latest" or _VERSION.fullmatch(version):
                out[root.joinpath(*rel[:depth])] = rel[0] if depth == 4 else None
    return sorted(out.items())


def _chosen_version(category_dir: Path) -> Path | None:
    versions = {
        int(match[1]): child
        for child in category_dir.iterdir()
        if (match := _VERSION.fullmatch(child.name)) and (child / CKPT_IN_VERSION).is_file()
    }
    latest = _latest_target(category_dir)
    if latest is not None:
        return latest / CKPT_IN_VERSION
    return versions[max(versions)] / CKPT_IN_VERSION if versions else None


def _latest_target(category_dir: Path) -> Path | None:
    """The directory ``latest`` stands for (a symlink, or Windows' ``.version_pointer``), when it is inside
    ``category_dir`` and holds a checkpoint."""
    latest = category_dir / "latest"
    pointer = latest / ".version_pointer"
    with contextlib.suppress(OSError, RuntimeError):  # missing, dangling, a loop
        target = Path(pointer.read_text().strip()) if pointer.is_file() else latest
        resolved = target.resolve(strict=True)
        local = category_dir / resolved.name
        if resolved.parent == category_dir.resolve() and (local / CKPT_IN_VERSION).is_file():
            return local
    return None


def _model_method(model_dir: Path) -> Method:
    method = MODEL_DIRS.get(model_dir.name)
    if method is None:
        raise CheckpointError(
            f"{model_dir}: model directory {model_dir.name!r} is not one of {', '.join(MODEL_DIRS)}; InspectNet "
            "reads anomalib Patchcore and Padim checkpoints only"
        )
    return method


def _seed(run: str | None) -> int:
    match = _SEED.fullmatch(run) if run is not None else None
    return int(match[1]) if match else 0
