"""``inspectnet init``: a project's acceptance criteria, written from its own anomalib checkpoints.

The checkpoints (``--model-dir`` or ``--model``) are read with the same safe reader and checks as a test run;
their methods and categories are the project file's plan. Each method and category gets a criteria table,
either measured once from the current model (``--from-current``: the session and metrics the accuracy tests
use, written as ``reference`` with the stated ``tolerance``) or placeholders (``{ todo = "..." }``) that fail
every test until they are set: a criterion that accepts anything is never written. The portable latency
floors and the parity, gate and candidates tables are read from the packaged MVTec AD profile.
The project file's text is composed in ``project_toml``; pytest's configuration and the CI workflow in
``project_files``.

Everything is checked before anything is written: the options, the dataset's identity, every checkpoint,
every category's layout, and that no target file exists. Each file is written atomically.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING

from inspectnet._io import atomic_write_text
from inspectnet.criteria import CriteriaError, load_profile
from inspectnet.data.layout import DataError, scan_category
from inspectnet.data.licences import DatasetIdentity, IdentityError, resolve
from inspectnet.harness.project_files import (
    PYTEST_INI,
    WORKFLOW,
    find_pytest_config,
    ignore_known_warnings,
    pytest_ini,
    testpaths,
    workflow,
)
from inspectnet.harness.project_toml import InitRequest, Measurement, _categories, profile_text, shown
from inspectnet.harness.settings import PREFIX, PROJECT_FILE, RunValues, SettingsError, resolve_values
from inspectnet.models.checkpoint import CheckpointError
from inspectnet.models.weights import WeightsError, parse_weights
from inspectnet.names import METRICS
from inspectnet.records import now

if TYPE_CHECKING:
    from inspectnet.harness.given import GivenModel

MIN_TOLERANCE = 1e-4  # the reference is written with 4 decimals: a smaller tolerance could fail today's model


class InitError(ValueError):
    """``inspectnet init`` cannot write the project's files as asked; one line naming the option or file and
    what to do. Nothing has been written."""


@dataclass(frozen=True)
class InitPlan:
    """What ``init`` writes (target -> text, in order) and what it prints besides."""

    files: dict[Path, str]
    pytest_advice: str | None
    notes: tuple[str, ...]


# --- checks ----------------------------------------------------------------------------------------------------


def _plain(message: str) -> str:
    """A shared error message with ``init``'s option names (``--data-root``, not ``--inspectnet-data-root``)."""
    return message.replace(PREFIX, "--")


def _inside(path: Path, project: Path) -> bool:
    return path.resolve().is_relative_to(project.resolve())


def check_request(request: InitRequest) -> None:
    """The options, checked without reading a checkpoint (InitError otherwise)."""
    if not request.project.is_dir():
        raise InitError(f"--dir {request.project}: no such directory; give the project's root directory")
    if not request.data_root.is_dir():
        raise InitError(
            f"--data-root {request.data_root}: no such directory; give the dataset's root in MVTec AD layout "
            "(<root>/<category>/train/good/*.png)"
        )
    if request.model_dir is None and not request.models:
        raise InitError("give the checkpoints to judge: --model-dir DIR (anomalib's results) or --model CATEGORY=PATH")
    if request.model_dir is not None and not request.model_dir.is_dir():
        raise InitError(
            f"--model-dir {request.model_dir}: no such directory; give the results directory anomalib's Engine wrote"
        )
    seen: set[str] = set()
    for category, path in request.models:
        if category in seen:
            raise InitError(
                f"--model {category}=...: given twice; inspectnet.toml's [run] models hold one checkpoint per "
                "category (give their results tree with --model-dir to judge several)"
            )
        seen.add(category)
        if not path.is_file():
            raise InitError(f"--model {category}={path}: no such file; give the model.ckpt anomalib's Engine wrote")
    if request.weights is not None:
        try:
            parse_weights(request.weights)
        except WeightsError as exc:
            raise InitError(_plain(str(exc))) from None
    if not MIN_TOLERANCE <= request.tolerance < 1:
        raise InitError(
            f"--tolerance {request.tolerance}: give a number in [{MIN_TOLERANCE}, 1), e.g. 0.02 (the reference is "
            "written with 4 decimals)"
        )


def _identity(request: InitRequest) -> DatasetIdentity:
    try:
        return resolve(request.dataset, request.data_root, request.dataset_licence)
    except IdentityError as exc:
        raise InitError(_plain(str(exc))) from None


def discover(request: InitRequest) -> tuple[GivenModel, ...]:
    """The checkpoints named by the request, each read (safely) and built once; InitError (one line) for a
    bad file, or for a --model-dir holding none."""
    from inspectnet.harness.given import given_models

    try:
        given = tuple(given_models(list(request.models), request.model_dir, {}, None))
    except CheckpointError as exc:
        raise InitError(_plain(str(exc))) from None
    if not given:
        raise InitError(
            f"--model-dir {request.model_dir}: no anomalib Patchcore or Padim checkpoint under it (looked for "
            "<Model>/<Dataset>/<category>/latest|v<N>/weights/lightning/model.ckpt); give the results directory "
            "anomalib's Engine wrote, or each checkpoint with --model CATEGORY=PATH"
        )
    return given


def _check_categories(request: InitRequest, given: tuple[GivenModel, ...]) -> None:
    """Every checkpoint's category is a category of the data root (its structure; pixels are checked by the run)."""
    for category in sorted({g.run.category for g in given}):
        try:
            _, problems = scan_category(request.data_root, category)
        except DataError as exc:
            raise InitError(f"--data-root {request.data_root}: {exc}") from None
        if problems:
            more = ""
            if len(problems) > 1:
                more = f" (and {len(problems) - 1} more: `inspectnet data check {request.data_root}`)"
            raise InitError(f"--data-root {request.data_root}: {problems[0]}{more}")


# --- measuring the current models ------------------------------------------------------------------------------


def measure(
    request: InitRequest,
    given: tuple[GivenModel, ...],
    identity: DatasetIdentity,
    say: Callable[[str], None],
) -> dict[tuple[str, str], Measurement]:
    """Every given model evaluated once, by the session the accuracy tests use (a temporary profile of
    placeholders, a temporary store and report directory: nothing is left behind)."""
    with tempfile.TemporaryDirectory(prefix="inspectnet-init-") as tmp:
        scratch = Path(tmp)
        temporary = scratch / PROJECT_FILE
        temporary.write_text(profile_text(request, given, identity, None, "-", run_table=False))
        values = RunValues(
            dataset=request.dataset,
            data_root=request.data_root,
            dataset_licence=request.dataset_licence,
            weights=parse_weights(request.weights) if request.weights is not None else None,
            models=request.models,
            model_dir=request.model_dir,
            given=given,  # read once, by discover
            report_dir=scratch / "reports" / "eval_harness",
            store_dir=scratch / "store",
            project=temporary,
            base=request.project,
        )
        try:
            resolved = resolve_values(values)
            session = resolved.session()
            runs = resolved.runs()
            values_of: dict[tuple[str, str], list[dict[str, float]]] = {}
            for run in runs:
                say(f"measuring {run.test_id} on {session.options.device} ...")
                metrics = session.evaluate(run).record.metrics
                values_of.setdefault((run.method, run.category), []).append({m: metrics[m] for m in METRICS})
            device = session.options.device
        except (SettingsError, CriteriaError, DataError, CheckpointError) as exc:
            raise InitError(_plain(str(exc))) from None
    return {
        key: Measurement(
            {m: fmean(v[m] for v in found) for m in METRICS},
            tuple(g for g in given if (g.run.method, g.run.category) == key),
            device,
        )
        for key, found in values_of.items()
    }


# --- planning and writing --------------------------------------------------------------------------------------


def _existing(targets: list[Path]) -> None:
    for path in targets:
        if path.exists():
            raise InitError(f"{path}: already exists; init writes no file over another (nothing was written)")


def plan_init(request: InitRequest, say: Callable[[str], None]) -> InitPlan:
    """Check everything, measure when asked, and compose the files; InitError (one line) otherwise."""
    check_request(request)
    project = request.project
    config = find_pytest_config(project)
    targets = [project / PROJECT_FILE, *([] if config is not None else [project / PYTEST_INI]), project / WORKFLOW]
    _existing(targets)
    identity = _identity(request)
    given = discover(request)
    _check_categories(request, given)
    when = now()[:10]
    measured = measure(request, given, identity, say) if request.from_current else None
    text = profile_text(request, given, identity, measured, when)
    _self_check(text, given)
    files = {project / PROJECT_FILE: text}
    if config is None:
        files[project / PYTEST_INI] = pytest_ini(project)
    baseline = shown(project / request.baseline, project)  # a CI path in the checkout: relative to the project
    files[project / WORKFLOW] = workflow(project, _categories(given), baseline, request.latency_runner)
    notes = [
        f"note: [run] {name} {path} is outside {project}; CI's checkout will not hold it unless a step fetches it"
        for name, path in (("data_root", request.data_root), ("model_dir", request.model_dir))
        if path is not None and not _inside(path, project)
    ]
    notes += [
        f"note: [run] models {c}={path} is outside {project}; CI's checkout will not hold it"
        for c, path in request.models
        if not _inside(path, project)
    ]
    advice = config.advice(testpaths(project)) if config is not None else None
    return InitPlan(files, advice, tuple(notes))


def _self_check(text: str, given: tuple[GivenModel, ...]) -> None:
    """The text loads as a profile and covers every given run (a failure here is InspectNet's bug)."""
    with tempfile.TemporaryDirectory(prefix="inspectnet-init-") as tmp:
        path = Path(tmp) / PROJECT_FILE
        path.write_text(text)
        load_profile(path).check_runs(g.run for g in given)


def write_plan(plan: InitPlan) -> list[Path]:
    """Write every file of ``plan`` (each atomically), after checking again that none exists."""
    _existing(list(plan.files))
    for path, text in plan.files.items():
        atomic_write_text(path, text)
    return list(plan.files)


def init_project(request: InitRequest, say: Callable[[str], None]) -> list[Path]:
    """``inspectnet init``: check, measure when asked, write; says what it wrote and what to run next."""
    with warnings.catch_warnings():
        ignore_known_warnings()
        plan = plan_init(request, say)
    written = write_plan(plan)
    for path in written:
        say(f"wrote {path}")
    if plan.pytest_advice is not None:
        say(plan.pytest_advice.rstrip("\n"))
    for note in plan.notes:
        say(note)
    where = "" if request.project.resolve() == Path.cwd().resolve() else f"cd {request.project} && "
    say(f'next: {where}pytest inspectnet.toml -m "accuracy or parity"')
    return written
