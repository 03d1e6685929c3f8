"""Where a run's model comes from, as one interface: trained here (the plan's run, kept in the artifact store)
or a user's anomalib checkpoint (``harness/given.py``). ``Session`` asks a run's ``RunSource`` for the model's
spec, weights, head, thresholds, scoring, exports and provenance, and never branches on where it came from;
another source (a TorchScript or ONNX-only model) is one more implementation.

``Sources`` is the choice: which runs a session judges, which source each of them is, and a category's base run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspectnet.criteria import Plan
from inspectnet.names import RunKey

if TYPE_CHECKING:
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.given import GivenModel
    from inspectnet.measure.evaluate import Predictions
    from inspectnet.models.inputs import CategoryInputs
    from inspectnet.models.store import Checkpoint
    from inspectnet.models.train import ModelSpec
    from inspectnet.models.weights import ResolvedWeights, WeightsSpec
    from inspectnet.records import ExportInfo, GivenExport, ModelSource

Head = dict[str, Any]
Fitted = tuple[Head, "Checkpoint", bool]  # the fitted head, where it is kept, and whether this session made it
Ours = Callable[[], "Runner"]  # the run on InspectNet's own export, made (or loaded from the store) when asked
Theirs = Callable[[Path], "Runner"]  # a user's own export file on the runtime
OursBlock = Callable[[], "ExportInfo"]  # what a record says of InspectNet's own export, likewise


class RunSource(ABC):
    """One run's model, wherever it comes from."""

    run: RunKey

    @property
    @abstractmethod
    def given(self) -> GivenModel | None:
        """The user's anomalib checkpoint this run is, for the checks that read it with anomalib itself."""

    @property
    @abstractmethod
    def stable(self) -> bool:
        """Scored with InspectNet's stable PatchCore distances (else anomalib's own arithmetic)."""

    @abstractmethod
    def spec(self) -> ModelSpec:
        """What the model is: method, backbone, layers, image size, coreset."""

    @abstractmethod
    def weights_key(self, spec: ModelSpec) -> str:
        """The session's cache key for ``spec``'s backbone weights (runs sharing it share the weights)."""

    @abstractmethod
    def weights(self, spec: ModelSpec) -> ResolvedWeights:
        """``spec``'s backbone weights."""

    @abstractmethod
    def head(self, key: Callable[[], dict[str, Any]], train: Callable[[], Head]) -> Fitted:
        """The fitted head, where it is kept, and whether this session made it (``key``: the store key,
        ``train``: fit it on the train split)."""

    @abstractmethod
    def calibration(self, predictions: Predictions, inputs: CategoryInputs) -> Calibration:
        """The deployed thresholds and normalisation."""

    @abstractmethod
    def export(self, runtime: str) -> Path | None:
        """The user's own export for ``runtime`` (checked instead of exporting); None: InspectNet exports."""

    @abstractmethod
    def export_block(self, runtime: str, ours: OursBlock) -> ExportInfo | GivenExport:
        """What a record says ``runtime`` (an exported graph's) ran: the user's export, or ``ours()``."""

    @abstractmethod
    def runner(self, runtime: str, ours: Ours, theirs: Theirs) -> Runner:
        """The model on ``runtime`` (an exported graph's): ``theirs(the user's export)``, or ``ours()``."""

    @abstractmethod
    def provenance(self) -> ModelSource | None:
        """The record's ``source`` block; None for a model trained here."""


def _calibrated(predictions: Predictions, inputs: CategoryInputs) -> Calibration:
    from inspectnet.deploy.postprocess import calibrate

    return calibrate(predictions.scores, predictions.maps, inputs.labels, inputs.masks)


@dataclass(frozen=True)
class TrainedSource(RunSource):
    """A run of the plan trained here: default spec, ``--weights``' backbone, head from the artifact store (fitted
    once), thresholds calibrated on the test split, InspectNet's stable distances and its own exports."""

    run: RunKey
    plan: Plan
    weights_spec: WeightsSpec
    store_dir: Path

    @property
    def given(self) -> GivenModel | None:
        return None

    @property
    def stable(self) -> bool:
        return True

    def spec(self) -> ModelSpec:
        from inspectnet.models.train import default_spec

        run = self.run
        return default_spec(run.method, run.category, run.seed, self.plan.coreset_of(run))  # type: ignore[arg-type]

    def weights_key(self, spec: ModelSpec) -> str:
        return spec.backbone

    def weights(self, spec: ModelSpec) -> ResolvedWeights:
        from inspectnet.models.weights import resolve

        return resolve(self.weights_spec, spec.backbone, self.store_dir)

    def head(self, key: Callable[[], dict[str, Any]], train: Callable[[], Head]) -> Fitted:
        from inspectnet.models.store import ArtifactStore, spec_key

        key_spec = key()
        return ArtifactStore(self.store_dir).get_or_create(spec_key(key_spec), key_spec, train)

    def calibration(self, predictions: Predictions, inputs: CategoryInputs) -> Calibration:
        return _calibrated(predictions, inputs)

    def export(self, runtime: str) -> Path | None:
        return None

    def export_block(self, runtime: str, ours: OursBlock) -> ExportInfo | GivenExport:
        return ours()

    def runner(self, runtime: str, ours: Ours, theirs: Theirs) -> Runner:
        return ours()

    def provenance(self) -> ModelSource | None:
        return None


@dataclass(frozen=True)
class GivenSource(RunSource):
    """A user's anomalib checkpoint (``--model`` / ``--model-dir``): its spec, its backbone (written once into the
    store), its head as it is, its own thresholds (calibrated only when they are NaN), anomalib's arithmetic, and
    the user's own exports (``--export``) where given."""

    run: RunKey
    model: GivenModel
    store_dir: Path
    exports: tuple[tuple[str, str, Path], ...] = ()  # (category, runtime, path), as --export names them

    @property
    def given(self) -> GivenModel | None:
        return self.model

    @property
    def stable(self) -> bool:  # its thresholds were set on anomalib's arithmetic, and its exports compute it
        return False

    def spec(self) -> ModelSpec:
        return self.model.spec

    def weights_key(self, spec: ModelSpec) -> str:
        return f"{spec.category}|{spec.seed}|{spec.method}"

    def weights(self, spec: ModelSpec) -> ResolvedWeights:
        return self.model.weights(self.store_dir)

    def head(self, key: Callable[[], dict[str, Any]], train: Callable[[], Head]) -> Fitted:
        from inspectnet.models.store import Checkpoint

        _, head = self.model.load()
        c = self.model.checkpoint
        return head, Checkpoint("user checkpoint (--model)", c.path, c.sha256, c.size_bytes), False

    def calibration(self, predictions: Predictions, inputs: CategoryInputs) -> Calibration:
        from inspectnet.deploy.calibration import Calibration

        thresholds = self.model.checkpoint.thresholds
        if thresholds is not None:  # the user's own, never recalibrated
            return Calibration(**thresholds)
        return _calibrated(predictions, inputs)  # NaN in the checkpoint: calibrated as for a trained model

    def export(self, runtime: str) -> Path | None:
        return next((p for c, r, p in self.exports if (c, r) == (self.run.category, runtime)), None)

    def export_block(self, runtime: str, ours: OursBlock) -> ExportInfo | GivenExport:
        from inspectnet.builders import given_export_info
        from inspectnet.deploy.runtimes import graph_signature

        own = self.export(runtime)
        return ours() if own is None else given_export_info(own, *graph_signature(own))

    def runner(self, runtime: str, ours: Ours, theirs: Theirs) -> Runner:
        own = self.export(runtime)
        return ours() if own is None else theirs(own)

    def provenance(self) -> ModelSource | None:
        return self.model.source()


def _seed(run: RunKey) -> int:
    return run.seed


@dataclass(frozen=True)
class Sources:
    """Which runs a session judges and where each one's model comes from: the plan's runs, trained here; with
    given checkpoints, those (and, with ``train_missing``, the plan's runs of the categories without one)."""

    plan: Plan
    weights: WeightsSpec
    store_dir: Path
    given: tuple[GivenModel, ...] = ()
    exports: tuple[tuple[str, str, Path], ...] = ()
    categories: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    train_missing: bool = False

    def of(self, run: RunKey) -> RunSource:
        """``run``'s source: the user's checkpoint that is ``run``, else the plan's run trained here."""
        model = next((g for g in self.given if g.run == run), None)
        if model is None:
            return TrainedSource(run, self.plan, self.weights, self.store_dir)
        return GivenSource(model.run, model, self.store_dir, self.exports)

    def runs(self) -> list[RunKey]:
        return self.plan.judged((g.run for g in self.given), self.categories, self.seeds, self.train_missing)

    def base_run(self, method: str, category: str) -> RunKey | None:
        """The model a category's latency and parity are measured on: the plan's base run, or with given
        models the given one of ``method`` on ``category`` (lowest seed); None when there is none."""
        given = self.given
        if not given or (self.train_missing and category not in {g.run.category for g in given}):
            return self.plan.base_run(method, category)
        mine = sorted((g.run for g in given if (g.run.method, g.run.category) == (method, category)), key=_seed)
        return mine[0] if mine else None
