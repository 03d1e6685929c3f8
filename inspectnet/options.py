"""The plugin's command-line options, defined once: names, types, defaults and help.

Every option is ``--inspectnet-<name>`` (dest ``inspectnet_<name>``), so none can collide with an option of
the project the plugin is installed in (a project's own ``--device`` or ``--model`` stays its own).
``add_aliases`` lets a project that wants the short forms (this repository's ``conftest.py`` does) register
``--<name>`` for the same destination. Values are parsed and checked here (a bad one is argparse's one-line
usage error); ``run_values`` hands them to ``harness.settings``, which resolves them with the project's
``[run]`` table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectnet.data.layout import DataError, check_category_name
from inspectnet.data.licences import DATASET_KINDS
from inspectnet.harness.settings import GATE_MODES, PREFIX, RunValues
from inspectnet.models.weights import WeightsError, WeightsSpec, parse_weights

GROUP = ("inspectnet", "InspectNet: a model card's acceptance criteria (accuracy, parity, latency, candidates)")


def _category_list(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{PREFIX}category needs a name (repeat it, or give a comma list)")
    try:
        return [check_category_name(c) for c in names]
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = [-1]
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{PREFIX}seeds {text!r}: give non-negative integers, e.g. 0,1,2")
    return seeds


def count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= {minimum}")
        return value

    return parse


def _category_value(option: str) -> Callable[[str], tuple[str, str]]:
    """``CATEGORY=VALUE`` (``--inspectnet-model bottle=PATH``, ``--inspectnet-model-sha256 bottle=HEX``)."""

    def parse(text: str) -> tuple[str, str]:
        category, sep, value = text.partition("=")
        if not sep or not category or not value:
            raise argparse.ArgumentTypeError(f"{PREFIX}{option} {text!r}: write CATEGORY=VALUE, e.g. bottle=...")
        try:
            return check_category_name(category), value
        except DataError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _export(text: str) -> tuple[str, str, Path]:
    """``CATEGORY:onnx=PATH`` or ``CATEGORY:openvino=PATH`` -> (category, runtime, path)."""
    target, sep, path = text.partition("=")
    from inspectnet.deploy.runtimes import user_export

    category, colon, kind = target.partition(":")
    runtime = user_export(kind)
    if not (sep and colon and path and category) or runtime is None:
        raise argparse.ArgumentTypeError(
            f"{PREFIX}export {text!r}: write CATEGORY:onnx=PATH or CATEGORY:openvino=PATH (the .xml)"
        )
    try:
        return check_category_name(category), runtime.name, Path(path)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def weights(text: str) -> WeightsSpec:
    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Option:
    name: str  # --inspectnet-<name>
    help: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return PREFIX + self.name

    @property
    def dest(self) -> str:
        return "inspectnet_" + self.name.replace("-", "_")

    @property
    def default(self) -> Any:
        return self.attrs.get("default")


OPTIONS = (
    Option(
        "dataset",
        "synthetic: the embedded set (CC0, the default); mvtec_ad: MVTec AD (CC BY-NC-SA 4.0); folder: your own "
        "dataset in MVTec AD layout, named and licensed by DATA_ROOT/dataset.toml or --inspectnet-dataset-licence",
        {"choices": DATASET_KINDS},
    ),
    Option("data-root", "dataset root in MVTec AD layout (synthetic: data/synthetic, made if absent)", {"type": Path}),
    Option(
        "dataset-licence",
        "folder: the dataset's licence, e.g. CC0-1.0 (its name is then the data root's directory name)",
        {"metavar": "TEXT"},
    ),
    Option(
        "category", "only these categories (repeatable, or a comma list)", {"action": "append", "type": _category_list}
    ),
    Option("seeds", "seeds to run instead of the profile's, e.g. 0,1,2", {"type": _seed_list}),
    Option(
        "weights",
        "backbone weights: imagenet | random:N | FILE (a state dict) | DIR (holding <backbone>.<ext> files) "
        "(default: random:0 on synthetic, else imagenet)",
        {"type": weights},
    ),
    Option(
        "model",
        "judge this anomalib checkpoint (.ckpt, Patchcore or Padim) as CATEGORY's model (repeatable)",
        {"action": "append", "type": _category_value("model"), "metavar": "CATEGORY=PATH"},
    ),
    Option(
        "model-dir",
        "judge the checkpoints of an anomalib results tree (DIR/<Model>/<Dataset>/<category>/...)",
        {"type": Path},
    ),
    Option(
        "model-sha256",
        "refuse CATEGORY's checkpoint unless its sha256 is HEX (a SHA256SUMS file beside it is also honoured)",
        {"action": "append", "type": _category_value("model-sha256"), "metavar": "CATEGORY=HEX"},
    ),
    Option(
        "train-missing",
        "with --inspectnet-model / --inspectnet-model-dir: train the plan's models for categories without a "
        "checkpoint (without it, such a category is an error)",
        {"action": "store_true", "default": False},
    ),
    Option(
        "export",
        "check this export of CATEGORY's given model (RUNTIME onnx or openvino) instead of exporting it (repeatable)",
        {"action": "append", "type": _export, "metavar": "CATEGORY:RUNTIME=PATH"},
    ),
    Option(
        "anomalib-checkpoints",
        "also write every model an accuracy test publishes as DIR/<run>.ckpt, loadable by anomalib",
        {"type": Path, "metavar": "DIR"},
    ),
    Option("device", "cpu | cuda | auto (default: auto)", {"choices": ("cpu", "cuda", "auto")}),
    Option("latency-warmup", "untimed calls before each timed run (default: 5)", {"type": count(0), "default": 5}),
    Option("latency-rounds", "timed calls per run (default: 12)", {"type": count(10), "default": 12}),
    Option(
        "latency-runs",
        "runs per runtime, spread over the session (default: 5; the records-only gate needs 3 or more)",
        {"type": count(1), "default": 5},
    ),
    Option(
        "criteria",
        "criteria profile TOML (default: the project's inspectnet.toml, else the dataset's packaged one)",
        {"type": Path},
    ),
    Option("report-dir", "where JSON records are written (default: reports/eval_harness)", {"type": Path}),
    Option(
        "baseline",
        "gate this run's records against a baseline reports root at session end (exit 1 on a regression)",
        {"type": Path},
    ),
    Option(
        "gate-mode",
        "latency rows of --inspectnet-baseline: auto (A/B where both models are found, records otherwise) or records",
        {"choices": GATE_MODES, "default": "auto"},
    ),
    Option(
        "artifacts",
        "where the baseline's A/B looks for exported models besides the store (repeatable)",
        {"type": Path, "action": "append", "default": [], "metavar": "DIR"},
    ),
    Option("store-dir", "artifact store for weights and trained models (default: .inspectnet/store)", {"type": Path}),
)
BY_NAME = {o.name: o for o in OPTIONS}


def add_options(group: Any) -> None:
    """Register every option on pytest's option group (``parser.getgroup(*GROUP)``)."""
    for option in OPTIONS:
        group.addoption(option.flag, dest=option.dest, help=option.help, **option.attrs)


def add_aliases(group: Any, names: tuple[str, ...] | None = None) -> None:
    """Register ``--<name>`` for the same destination as ``--inspectnet-<name>`` (all options, or ``names``):
    for a project whose own options do not use these names and that wants the short forms."""
    for option in OPTIONS if names is None else tuple(BY_NAME[n] for n in names):
        attrs = {k: v for k, v in option.attrs.items() if k != "default"}
        group.addoption(f"--{option.name}", dest=option.dest, default=option.default, help=argparse.SUPPRESS, **attrs)


def given(getoption: Callable[[str], Any]) -> list[str]:
    """The options this run was given (a value other than the default): the run asked for InspectNet."""
    return [o.flag for o in OPTIONS if getoption(o.dest) not in (o.default, None, [], False)]


def _flat(groups: list[list[str]] | None) -> tuple[str, ...] | None:
    return tuple(c for group in groups for c in group) if groups else None


def run_values(getoption: Callable[[str], Any], base: Path, project: Path | None) -> RunValues:
    """The options as ``harness.settings`` takes them (None: not given)."""

    def get(name: str) -> Any:
        return getoption(BY_NAME[name].dest)

    seeds = get("seeds")
    return RunValues(
        dataset=get("dataset"),
        data_root=get("data-root"),
        dataset_licence=get("dataset-licence"),
        categories=_flat(get("category")),
        seeds=tuple(seeds) if seeds else None,
        weights=get("weights"),
        models=tuple((c, Path(p)) for c, p in get("model") or ()),
        model_dir=get("model-dir"),
        model_sha256=tuple(get("model-sha256") or ()),
        exports=tuple(get("export") or ()),
        anomalib_checkpoints=get("anomalib-checkpoints"),
        device=get("device"),
        criteria=get("criteria"),
        report_dir=get("report-dir"),
        store_dir=get("store-dir"),
        baseline=get("baseline"),
        train_missing=bool(get("train-missing")),
        project=project,
        base=base,
    )
