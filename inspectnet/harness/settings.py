"""What a run was asked for, checked once, before anything heavy: the options, the project's ``[run]`` table and
the defaults resolved into one ``Resolved`` (dataset identity, profile, given checkpoints, paths), and the
session built from it.

The plugin fills ``RunValues`` from its options and turns a ``SettingsError`` into a usage error; the
``inspectnet init`` command builds the same session from its own arguments. Nothing here imports pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from inspectnet.criteria import CriteriaError, Profile, load_profile, packaged
from inspectnet.criteria.project import RunTable
from inspectnet.data.layout import HOW_TO_POINT
from inspectnet.data.licences import DatasetIdentity, IdentityError, resolve
from inspectnet.models.weights import WeightsError, WeightsSpec, parse_weights
from inspectnet.names import RunKey

if TYPE_CHECKING:
    from inspectnet.harness.given import GivenModel
    from inspectnet.harness.session import Session
    from inspectnet.report.emit import RecordSink

PREFIX = "--inspectnet-"  # every option of the plugin; this names them in one-line errors
PROJECT_FILE = "inspectnet.toml"  # a project's profile and run settings; pytest collects it as the suite
REPORT_DIR = Path("reports/eval_harness")
STORE_DIR = Path(".inspectnet/store")
SYNTHETIC_ROOT = Path("data/synthetic")
GATE_MODES = ("auto", "records")  # the gate's latency rows: A/B where both models are found, else records; or records


class SettingsError(ValueError):
    """A run that cannot start as asked; one line naming the option or file and what to do."""


@dataclass(frozen=True)
class RunValues:
    """The plugin's options as given (None or empty: not given; the project's [run] or the default applies).
    ``base`` is where relative defaults live: the project file's directory, else the invocation directory."""

    dataset: str | None = None
    data_root: Path | None = None
    dataset_licence: str | None = None
    categories: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    weights: WeightsSpec | None = None
    models: tuple[tuple[str, Path], ...] = ()
    model_dir: Path | None = None
    model_sha256: tuple[tuple[str, str], ...] = ()
    exports: tuple[tuple[str, str, Path], ...] = ()
    anomalib_checkpoints: Path | None = None
    device: str | None = None
    criteria: Path | None = None
    report_dir: Path | None = None
    store_dir: Path | None = None
    baseline: Path | None = None
    train_missing: bool = False
    given: tuple[GivenModel, ...] | None = None  # checkpoints already read and checked (inspectnet init): kept
    project: Path | None = None  # the project's inspectnet.toml (its profile and [run] table), when it has one
    base: Path = field(default_factory=Path)


@dataclass(frozen=True)
class Resolved:
    """A run's settings, checked: every path exists, the profile covers the plan, every checkpoint reads."""

    dataset: str
    data_root: Path
    identity: DatasetIdentity
    profile: Profile
    given: tuple[GivenModel, ...]
    categories: tuple[str, ...] | None
    seeds: tuple[int, ...] | None
    weights: WeightsSpec
    device: str  # as asked: cpu, cuda or auto
    report_dir: Path
    store_dir: Path
    baseline: Path | None
    exports: tuple[tuple[str, str, Path], ...]
    checkpoint_dir: Path | None
    train_missing: bool
    synthetic_default: bool  # the data root is the embedded set's default place (generated on first use)

    def runs(self) -> list[RunKey]:
        """The runs this session judges, without building it (so collection stays fast)."""
        return self.profile.plan.judged((g.run for g in self.given), self.categories, self.seeds, self.train_missing)

    def session(self, sink: RecordSink | None = None) -> Session:
        """The acceptance session (nothing heavy happens until a test asks it for a model)."""
        from inspectnet.data.synthetic import ensure, sizes_of
        from inspectnet.harness.session import Session, SessionOptions

        if self.synthetic_default:
            ensure(self.data_root, seed=0, sizes=sizes_of(self.data_root))  # at the sizes it was written at
        options = SessionOptions(
            dataset=self.dataset,
            identity=self.identity,
            data_root=self.data_root,
            weights=self.weights,
            device=resolve_device(self.device),
            report_dir=self.report_dir,
            store_dir=self.store_dir,
            profile=self.profile,
            categories=self.categories,
            seeds=self.seeds,
            given=self.given,
            checkpoint_dir=self.checkpoint_dir,
            exports=self.exports,
            train_missing=self.train_missing,
        )
        return Session(options) if sink is None else Session(options, sink=sink)


def resolve_device(requested: str) -> str:
    """``auto``: cuda where torch sees one, else cpu; ``cuda`` without one is an error."""
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise SettingsError(
            f"{PREFIX}device cuda: CUDA is not available on this machine (torch.cuda.is_available() is False); "
            "use cpu or auto"
        )
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


def _project_profile(values: RunValues) -> Profile | None:
    path = values.criteria or values.project
    if path is None:
        return None
    return load_profile(path, values.categories)


def resolve_values(values: RunValues) -> Resolved:
    """Check everything the run needs and can check without training; SettingsError (one line) otherwise."""
    try:
        return _resolve(values)
    except (CriteriaError, IdentityError, WeightsError) as exc:
        raise SettingsError(str(exc)) from None


def _check_runtimes(profile: Profile) -> None:
    """Every runtime a profile's latency tables name is one the registry has."""
    from inspectnet.deploy.runtimes import NAMES

    for device, budgets in profile.budgets.items():
        unknown = sorted(budgets.runtimes() - set(NAMES))
        if unknown:
            raise SettingsError(
                f"{profile.path}: unknown runtime latency.{device}.{unknown[0]} (known: {', '.join(NAMES)})"
            )


def _resolve(values: RunValues) -> Resolved:
    project = _project_profile(values)
    run = project.run if project is not None else None
    where = values.project.parent if values.project is not None else values.base

    def pick(given: Path | None, from_file: Path | None, default: Path) -> Path:
        return given if given is not None else from_file if from_file is not None else where / default

    dataset = values.dataset or (run.dataset if run else None) or "synthetic"
    data_root = values.data_root or (run.data_root if run else None)
    if dataset != "synthetic" and data_root is None:
        raise SettingsError(
            f"{PREFIX}dataset {dataset} needs {PREFIX}data-root DIR (a directory in MVTec AD layout); "
            "nothing is downloaded"
        )
    if data_root is not None and not data_root.is_dir():
        raise SettingsError(f"{PREFIX}data-root {data_root}: no such directory; {HOW_TO_POINT}")
    licence = values.dataset_licence or (run.dataset_licence if run else None)
    identity = resolve(dataset, data_root, licence)
    baseline = values.baseline or (run.baseline if run else None)
    if baseline is not None and not baseline.is_dir():
        raise SettingsError(
            f"{PREFIX}baseline {baseline}: no such directory; give a reports root (it holds eval_harness/)"
        )
    profile = project if project is not None else load_profile(packaged(dataset), values.categories)
    _check_runtimes(profile)
    weights = values.weights
    if weights is None and run is not None and run.weights is not None:
        weights = parse_weights(run.weights)
    train_missing = values.train_missing or (run.train_missing if run else False)
    store_dir = pick(values.store_dir, run.store_dir if run else None, STORE_DIR)
    given = _given(values, run, profile, train_missing)
    runs = profile.plan.judged((g.run for g in given), values.categories, values.seeds, train_missing)
    profile.check_runs(runs)
    _check_exports(values.exports, given)
    return Resolved(
        dataset=dataset,
        data_root=data_root if data_root is not None else where / SYNTHETIC_ROOT,
        identity=identity,
        profile=profile,
        given=given,
        categories=values.categories,
        seeds=values.seeds,
        weights=weights or parse_weights("random:0" if dataset == "synthetic" else "imagenet"),
        device=values.device or (run.device if run and run.device else None) or "auto",
        report_dir=pick(values.report_dir, run.report_dir if run else None, REPORT_DIR),
        store_dir=store_dir,
        baseline=baseline,
        exports=values.exports,
        checkpoint_dir=values.anomalib_checkpoints,
        train_missing=train_missing,
        synthetic_default=data_root is None,
    )


def _given(values: RunValues, run: RunTable | None, profile: Profile, train_missing: bool) -> tuple[GivenModel, ...]:
    """The checkpoints named by --inspectnet-model / --inspectnet-model-dir (or the project's [run] models,
    model_dir), each read (safely) and checked now: a bad file is one line before anything is trained. With
    any of them, a judged category without a checkpoint is an error unless ``train_missing``: a typo in a path
    never falls back to judging a model that is not the user's."""
    if values.given is not None:
        return values.given
    table = run if run is not None else RunTable()
    named = list(values.models) or list(table.models)
    model_dir = values.model_dir or table.model_dir
    pins = dict(values.model_sha256 or table.model_sha256)
    if not named and model_dir is None:
        if pins:
            raise SettingsError(
                f"{PREFIX}model-sha256 pins a checkpoint given with {PREFIX}model or {PREFIX}model-dir; give one"
            )
        return ()
    if model_dir is not None and not model_dir.is_dir():
        raise SettingsError(f"{PREFIX}model-dir {model_dir}: no such directory; give anomalib's results directory")
    from inspectnet.harness.given import given_models
    from inspectnet.models.checkpoint import CheckpointError

    categories = list(values.categories) if values.categories else None
    try:
        given = tuple(given_models([(c, Path(p)) for c, p in named], model_dir, pins, categories))
    except CheckpointError as exc:
        raise SettingsError(str(exc)) from None
    judged = values.categories or tuple(profile.plan.categories)
    missing = sorted(set(judged) - {g.run.category for g in given})
    if missing and not train_missing:
        source = f"{PREFIX}model-dir {model_dir}" if model_dir is not None else f"{PREFIX}model"
        found = ", ".join(sorted({g.run.category for g in given})) or "none"
        raise SettingsError(
            f"{source}: no checkpoint for {', '.join(missing)} (found: {found}); check the path, judge only "
            f"what is there with {PREFIX}category, or pass {PREFIX}train-missing to train the plan's models for them"
        )
    return given


def _check_exports(exports: tuple[tuple[str, str, Path], ...], given: tuple[GivenModel, ...]) -> None:
    """Every --inspectnet-export belongs to a given model and can take its test images (one line otherwise)."""
    if not exports:
        return
    from inspectnet.deploy.export import ExportError
    from inspectnet.deploy.runtimes import check_given_export

    for category, _runtime, path in exports:
        models = [g for g in given if g.run.category == category and g.run.seed == 0]
        if not models:
            raise SettingsError(
                f"{PREFIX}export {category}:...={path}: an export is checked against its checkpoint; "
                f"give {PREFIX}model {category}=PATH (or {PREFIX}model-dir) too"
            )
        try:
            check_given_export(path, models[0].checkpoint.image_size)
        except ExportError as exc:
            raise SettingsError(str(exc)) from None
