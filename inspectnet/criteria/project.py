"""A project's run settings: the ``[run]`` table of its ``inspectnet.toml``.

A project file is a criteria profile that also says how the project's models are run: which dataset, where its
data and checkpoints are, where records go. Each key is the default of the plugin option of the same name
(``data_root`` for ``--inspectnet-data-root``); an option given on the command line wins. Paths are relative to
the file's directory, so the project's CI and its developers read the same file from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspectnet.data.layout import DataError, check_category_name
from inspectnet.data.licences import DATASET_KINDS

DEVICES = ("cpu", "cuda", "auto")
RUN_KEYS = (
    "dataset",
    "data_root",
    "dataset_licence",
    "weights",
    "model_dir",
    "models",
    "model_sha256",
    "device",
    "report_dir",
    "store_dir",
    "baseline",
    "train_missing",
)


@dataclass(frozen=True)
class RunTable:
    """The ``[run]`` table; None (or empty) where the file leaves a key to the option's own default."""

    dataset: str | None = None
    data_root: Path | None = None
    dataset_licence: str | None = None
    weights: str | None = None  # imagenet | random:N | a file (made relative to the project file's directory)
    model_dir: Path | None = None
    models: tuple[tuple[str, Path], ...] = ()
    model_sha256: tuple[tuple[str, str], ...] = ()
    device: str | None = None
    report_dir: Path | None = None
    store_dir: Path | None = None
    baseline: Path | None = None
    train_missing: bool = False


def _text(path: Path, key: str, value: Any, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}: run.{key} must be a non-empty string, got {value!r}")
    if choices and value not in choices:
        raise ValueError(f"{path}: run.{key} = {value!r}: choose one of {', '.join(choices)}")
    return value


def _path(path: Path, key: str, value: Any) -> Path:
    return path.parent / _text(path, key, value)


def _per_category(path: Path, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f'{path}: run.{key} must be a table like {{ bottle = "..." }}')
    out = {}
    for category, item in value.items():
        try:
            out[check_category_name(category)] = _text(path, f"{key}.{category}", item)
        except DataError as exc:
            raise ValueError(f"{path}: run.{key}: {exc}") from None
    return out


def parse_run(path: Path, value: Any) -> RunTable:
    """The ``[run]`` table of ``path`` (absent: every default); ValueError naming the key otherwise."""
    if value is None:
        return RunTable()
    if not isinstance(value, dict):
        raise ValueError(f"{path}: run must be a table")
    unknown = sorted(set(value) - set(RUN_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key run.{unknown[0]} (known: {', '.join(RUN_KEYS)})")
    train_missing = value.get("train_missing", False)
    if not isinstance(train_missing, bool):
        raise ValueError(f"{path}: run.train_missing must be true or false, got {train_missing!r}")

    def optional_path(key: str) -> Path | None:
        return _path(path, key, value[key]) if key in value else None

    def optional_text(key: str, choices: tuple[str, ...] = ()) -> str | None:
        return _text(path, key, value[key], choices) if key in value else None

    models = _per_category(path, "models", value.get("models", {}))
    weights = optional_text("weights")
    if weights is not None and weights != "imagenet" and not weights.startswith("random:"):
        weights = str(path.parent / weights)  # a weights file, like every path here, is relative to this file
    return RunTable(
        dataset=optional_text("dataset", DATASET_KINDS),
        data_root=optional_path("data_root"),
        dataset_licence=optional_text("dataset_licence"),
        weights=weights,
        model_dir=optional_path("model_dir"),
        models=tuple((c, path.parent / p) for c, p in models.items()),
        model_sha256=tuple(_per_category(path, "model_sha256", value.get("model_sha256", {})).items()),
        device=optional_text("device", DEVICES),
        report_dir=optional_path("report_dir"),
        store_dir=optional_path("store_dir"),
        baseline=optional_path("baseline"),
        train_missing=train_missing,
    )
