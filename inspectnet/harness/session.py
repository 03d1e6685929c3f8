"""One acceptance session: a memoised pipeline from a run of the plan to its trained, deployed and exported
model (train -> deploy -> export), with the dataset, weights and feature caches it needs.

Plain Python with no pytest in it: the plugin builds one ``Session`` from its options and the tests ask
it for evaluations; ``inspectnet`` commands can do the same. Records are made by ``inspectnet.builders``
and handed to the reporting plugin through ``emit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from inspectnet import ledger
from inspectnet.builders import dataset_info, evaluation_record, export_info
from inspectnet.criteria import Plan, Profile
from inspectnet.data.check import fingerprint
from inspectnet.data.layout import Category, load_category, shown_path
from inspectnet.data.licences import DatasetIdentity, builtin
from inspectnet.harness.source import Fitted, RunSource, Sources
from inspectnet.harness.stored_predictions import Computed, prediction_key, stored_predictions
from inspectnet.measure.evaluate import AccuracyMetrics, Predictions, predict, predictions_of, score, with_intervals
from inspectnet.models.features import FeatureCache
from inspectnet.models.store import ArtifactStore
from inspectnet.names import RunKey
from inspectnet.records import EvalRecord, ExportInfo, GivenExport, Record
from inspectnet.report.emit import Publisher, RecordSink

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from torch import nn

    from inspectnet.deploy.calibration import Calibration
    from inspectnet.deploy.export import Exported, Exporter
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.given import GivenModel
    from inspectnet.models.inputs import CategoryInputs
    from inspectnet.models.train import ModelSpec
    from inspectnet.models.weights import ResolvedWeights, WeightsSpec


@dataclass(frozen=True)
class SessionOptions:
    dataset: str
    data_root: Path
    weights: WeightsSpec
    device: str  # resolved: "cpu" or "cuda"
    report_dir: Path
    store_dir: Path
    profile: Profile
    categories: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    identity: DatasetIdentity | None = None  # name, licence, note; None: the built-in kind's (synthetic, mvtec_ad)
    given: tuple[GivenModel, ...] = ()  # --model / --model-dir: the runs are these checkpoints, none is trained
    checkpoint_dir: Path | None = None  # --anomalib-checkpoints: every published model also as an anomalib .ckpt
    exports: tuple[tuple[str, str, Path], ...] = ()  # --export: (category, runtime, path) of a user's own export
    train_missing: bool = False  # with given models: the plan's categories without a checkpoint are trained

    @property
    def dataset_identity(self) -> DatasetIdentity:
        """Whose data this is and under which licence (``data.licences.resolve``, done once at configure)."""
        return self.identity if self.identity is not None else builtin(self.dataset)


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc's ``malloc_trim``; nothing elsewhere), so a
    finished category's memory is not held as free heap while the next one grows."""
    import contextlib
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


BATCH = 8  # images per forward when evaluating (part of the stored predictions' key)


def _run_of(spec: ModelSpec) -> RunKey:
    """The run a model spec is (at the plan's coreset: a sweep's models share their run's weights)."""
    return RunKey(spec.method, spec.category, spec.seed)


@dataclass(frozen=True)
class Evaluation:
    record: EvalRecord
    record_path: Path
    predictions: Predictions
    head: dict[str, Any]
    loader: Callable[[], CategoryInputs]  # the category's images: the session keeps one category's at a time

    @property
    def inputs(self) -> CategoryInputs:
        return self.loader()


@dataclass(frozen=True)
class Deployment:
    """A trained model as deployed: anomalib's model + its PostProcessor, calibrated on the test split."""

    run: RunKey
    module: nn.Module  # on the session's device
    calibration: Calibration
    identity: dict[str, Any]  # what the exported graph is made of


@dataclass
class Session:
    options: SessionOptions
    cache: FeatureCache = field(default_factory=FeatureCache)
    sink: RecordSink = field(default_factory=RecordSink)
    _categories: dict[str, tuple[Category, str]] = field(default_factory=dict)
    _inputs: dict[str, CategoryInputs] = field(default_factory=dict)
    _weights: dict[str, ResolvedWeights] = field(default_factory=dict)
    _sources: dict[RunKey, RunSource] = field(default_factory=dict)
    _evaluations: dict[RunKey, Evaluation] = field(default_factory=dict)
    _deployments: dict[RunKey, Deployment] = field(default_factory=dict)
    _calibrations: dict[RunKey, Calibration] = field(default_factory=dict)  # small: kept for every category
    _on_switch: list[Callable[[str], None]] = field(default_factory=list)  # told when another category begins
    _exports: dict[tuple[RunKey, str], Exported] = field(default_factory=dict)  # (run, exporter name)

    # ---------------------------------------------------------------- the plan and its inputs

    @property
    def plan(self) -> Plan:
        return self.options.profile.plan

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.options.store_dir)

    @property
    def sources(self) -> Sources:
        """Which runs this session judges and where each one's model comes from."""
        o = self.options
        return Sources(self.plan, o.weights, o.store_dir, o.given, o.exports, o.categories, o.seeds, o.train_missing)

    def source(self, run: RunKey) -> RunSource:
        """Where ``run``'s model comes from: trained here, or a user's checkpoint (memoised)."""
        if run not in self._sources:
            self._sources[run] = self.sources.of(run)
        return self._sources[run]

    def given(self, run: RunKey) -> GivenModel | None:
        """The user's checkpoint that is ``run``, when the session judges given models."""
        return self.source(run).given

    def base_run(self, method: str, category: str) -> RunKey | None:
        """The model a category's latency and parity are measured on: the plan's base run, or with given
        models the given one of ``method`` on ``category`` (lowest seed); None when there is none."""
        return self.sources.base_run(method, category)

    def measured_run(self, category: str) -> RunKey | None:
        """The model whose latency and parity a category's tests measure: PatchCore's base run; with given
        models, the given PatchCore (else the given PaDiM) of ``category``; None when there is none."""
        return self.base_run("patchcore", category) or self.base_run("padim", category)

    def runs(self) -> list[RunKey]:
        return self.sources.runs()

    def prepare(self) -> None:
        """Validate every planned category and resolve every backbone's weights up front, so a user's bad
        dataset or missing weights is one clear error before any training, not a failure per test."""
        runs = self.runs()
        for name in sorted({r.category for r in runs}):
            self.category(name)
        for run in runs:
            self.weights_for(self.spec(run))

    def on_switch(self, told: Callable[[str], None]) -> None:
        """Call ``told(category)`` when the session moves on to another category (to drop what it keeps)."""
        self._on_switch.append(told)

    def category(self, name: str) -> tuple[Category, str]:
        if name not in self._categories:
            cat = load_category(self.options.data_root, name)
            self._categories[name] = (cat, fingerprint(cat))
        return self._categories[name]

    def inputs(self, name: str, size: int) -> CategoryInputs:
        from inspectnet.models.inputs import load_inputs

        if name not in self._inputs:
            for other in [k for k in self._inputs if k != name]:  # one category's tensors and features at a time
                del self._inputs[other]
                self.cache.drop_prefix(f"{other}|")
            kept = {self.measured_run(c) for c in {r.category for r in self._evaluations}}  # latency's, rotating
            for run in [r for r in self._evaluations if r.category != name and r not in kept]:
                del self._evaluations[run]  # their heads and maps: memory would grow with every category
            for told in self._on_switch:
                told(name)
            release_memory()
            with ledger.phase("load images"):
                self._inputs[name] = load_inputs(self.category(name)[0], size)
        return self._inputs[name]

    def test_images(self, run: RunKey, chosen: list[int] | None = None) -> np.ndarray:
        """``run``'s preprocessed test images (N x 3 x S x S float32), or the ``chosen`` ones."""
        images = self.evaluate(run).inputs.test.numpy()
        return images if chosen is None else images[chosen]

    def weights_for(self, spec: ModelSpec) -> ResolvedWeights:
        """``spec``'s backbone weights: those inside the user's checkpoint for a given model, else --weights'."""
        source = self.source(_run_of(spec))
        key = source.weights_key(spec)
        if key not in self._weights:
            self._weights[key] = source.weights(spec)
        return self._weights[key]

    def spec(self, run: RunKey) -> ModelSpec:
        return self.source(run).spec()

    def feature_identity(self, spec: ModelSpec) -> str:
        """The feature cache's key for a model's backbone on its category (dropped per category)."""
        from inspectnet.models.train import extractor_identity

        return f"{spec.category}|{extractor_identity(spec, self.weights_for(spec), self.options.device)}"

    # ---------------------------------------------------------------- train (or load) and evaluate

    def model_key(self, spec: ModelSpec, fp: str) -> dict[str, Any]:
        import anomalib
        import torch

        return {
            "model": spec.as_record(),
            "weights_sha256": self.weights_for(spec).sha256,
            "dataset": self.options.dataset,
            "dataset_fingerprint": fp,
            "anomalib": anomalib.__version__,
            "torch": torch.__version__.split("+")[0],
            "device": self.options.device,
        }

    def stable(self, spec: ModelSpec) -> bool:
        """PatchCore with InspectNet's stable distances, for the models it trains; a user's checkpoint is judged
        with anomalib's own arithmetic, which is what its thresholds were set on and its exports compute."""
        return self.source(_run_of(spec)).stable

    def build_model(
        self, spec: ModelSpec, head: dict[str, Any], stable: bool | None = None, compared: bool = False
    ) -> nn.Module:
        from inspectnet.models.train import build, load_head

        model = build(spec, self.weights_for(spec), self.stable(spec) if stable is None else stable, compared)
        load_head(model, head)
        return model.to(self.options.device)

    def evaluate(self, run: RunKey) -> Evaluation:
        """Train (or load from the store) and evaluate one model of the plan; memoised."""
        if run not in self._evaluations:
            self._evaluations[run] = self._evaluate(run)
        return self._evaluations[run]

    def _head(self, run: RunKey, spec: ModelSpec, inputs: CategoryInputs, fp: str, timings: dict[str, float]) -> Fitted:
        """The fitted head of ``run``: the given checkpoint's, or trained (or loaded from the store)."""
        from inspectnet.models.train import build, fit, head_state

        identity = self.feature_identity(spec)

        def key() -> dict[str, Any]:
            return self.model_key(spec, fp)

        def train() -> dict[str, Any]:
            model = build(spec, self.weights_for(spec)).to(self.options.device)
            fitted = fit(model, spec, inputs.train, self.cache, f"{identity}|train", label=run.test_id)
            timings.update(feature_extraction=fitted.feature_extraction_s, fit=fitted.fit_s)
            if spec.method == "patchcore":
                timings["coreset"] = fitted.coreset_s
            return head_state(model)

        return self.source(run).head(key, train)

    def _evaluate(self, run: RunKey) -> Evaluation:
        from inspectnet.models.train import scoring

        spec = self.spec(run)
        cat, fp = self.category(run.category)
        inputs = self.inputs(run.category, spec.image_size)
        identity = self.feature_identity(spec)
        timings: dict[str, float] = {}
        with ledger.phase("train or load"):
            head, checkpoint, created = self._head(run, spec, inputs, fp, timings)
        if not self._fits_left(run, identity):  # the train split's features have served every fit that needs them
            self.cache.drop_prefix(f"{identity}|train")
        method_scoring = scoring(spec, self.stable(spec))
        departs = bool(method_scoring["departs_from_anomalib"])  # then anomalib's own outputs come from this pass

        def compute() -> Computed:
            model = self.build_model(spec, head, compared=departs)
            predictions = predict(model, inputs.test, self.cache, identity, batch_size=BATCH, label=run.test_id)
            if not departs:
                return predictions, None
            plain = predictions_of(cast("list[Any]", model.anomalib_outputs))  # ComparedPatchcoreModel's
            with ledger.phase("metrics"):
                return predictions, score(plain, inputs.labels, inputs.masks).as_dict()

        started = time.perf_counter()
        key = prediction_key(self.model_key(spec, fp), checkpoint.sha256, str(method_scoring["name"]), BATCH)
        (predictions, anomalib_metrics), computed = stored_predictions(self.store, key, compute)
        timings["evaluation" if computed else "evaluation_from_store"] = time.perf_counter() - started
        with ledger.phase("metrics"):
            metrics = score(predictions, inputs.labels, inputs.masks)
            started = time.perf_counter()
            metrics = with_intervals(metrics, predictions, inputs.labels, inputs.masks)
            timings["intervals"] = time.perf_counter() - started
        if anomalib_metrics is not None:  # what the departure changes, on this model (from the same pass)
            method_scoring["effect_on_metrics"] = {m: v - anomalib_metrics[m] for m, v in metrics.as_dict().items()}
            method_scoring["effect_definition"] = "each metric minus the same model's with anomalib's own distances"
        record = evaluation_record(
            run_name=run.name,
            spec=spec,
            scoring=method_scoring,
            weights=self.weights_for(spec),
            dataset=dataset_info(self.options.dataset_identity, shown_path(self.options.data_root, Path.cwd()), fp),
            summary=cat.summary(),
            metrics=metrics,
            checkpoint=checkpoint,
            trained_this_session=created,
            timings_s=timings,
            device=self.options.device,
            source=self.source(run).provenance(),
            tolerances=self.options.profile.image_auroc_tolerances(),
        )
        size, evaluation_path = spec.image_size, self.options.report_dir / f"{run.name}.json"
        return Evaluation(record, evaluation_path, predictions, head, lambda: self.inputs(run.category, size))

    def _fits_left(self, run: RunKey, identity: str) -> bool:
        """Whether another planned run of ``run``'s category, not evaluated yet, extracts the same features."""
        return any(
            r != run
            and r.category == run.category
            and r not in self._evaluations
            and self.feature_identity(self.spec(r)) == identity
            for r in self.runs()
        )

    def predict_with(self, run: RunKey, model: nn.Module) -> Predictions:
        """Predictions of another (e.g. mutated) model on ``run``'s test split, features replayed."""
        return predict(model, self.evaluate(run).inputs.test, self.cache, self.feature_identity(self.spec(run)))

    def rescore(self, evaluation: Evaluation, predictions: Predictions) -> AccuracyMetrics:
        """Metrics of other predictions on the same test split (mutation tests)."""
        return score(predictions, evaluation.inputs.labels, evaluation.inputs.masks)

    # ---------------------------------------------------------------- deploy and export

    def deployment(self, run: RunKey) -> Deployment:
        """The deployed model of ``run`` (memoised): thresholds and normalisation from its evaluation."""
        from inspectnet.deploy.postprocess import deployed

        if run not in self._deployments:
            measured = self.measured_run(run.category)  # parity, candidates and latency come back to it
            for other in [k for k in self._deployments if k != measured]:
                del self._deployments[other]  # the measured model and this one: memory flat in runs and categories
            evaluation = self.evaluate(run)
            with ledger.phase("deploy"):
                if run not in self._calibrations:
                    self._calibrations[run] = self.source(run).calibration(evaluation.predictions, evaluation.inputs)
                calibration = self._calibrations[run]
                module = deployed(self.build_model(self.spec(run), evaluation.head), calibration)
            identity = {
                "checkpoint_sha256": evaluation.record.checkpoint.sha256,
                "weights_sha256": evaluation.record.weights.sha256,
                "model": self.spec(run).as_record(),
                "calibration": calibration.as_record(),
            }
            self._deployments[run] = Deployment(run, module, calibration, identity)
        return self._deployments[run]

    def exported(self, run: RunKey, exporter: Exporter | None = None) -> Exported:
        """``exporter``'s export of ``run``'s deployed model (default: ONNX + OpenVINO IR), from the store when
        intact (memoised)."""
        from inspectnet.deploy.export import ONNX, export

        exporter = exporter or ONNX
        key = (run, exporter.name)
        if key not in self._exports:
            deployment = self.deployment(run)
            module = deployment.module.to("cpu")  # export on the CPU; the graph is device-neutral
            size, store, identity = self.spec(run).image_size, self.options.store_dir, deployment.identity
            try:
                self._exports[key] = export(module, size, store, identity, label=run.test_id, exporter=exporter)
            finally:
                module.to(self.options.device)
        return self._exports[key]

    def stable_exported(self, run: RunKey) -> tuple[Deployment, Exported]:
        """A user's PatchCore checkpoint deployed with InspectNet's stable distances instead of anomalib's (same
        fitted head, same thresholds), and its ONNX + OpenVINO IR: a separate artifact in the store, its export
        record naming the scoring. The way out when anomalib's own float32 arithmetic cannot meet a tolerance."""
        from inspectnet.deploy.export import export
        from inspectnet.deploy.postprocess import deployed
        from inspectnet.models.train import scoring

        base, spec = self.deployment(run), self.spec(run)
        model = self.build_model(spec, self.evaluate(run).head, stable=True)
        identity = {**base.identity, "scoring": scoring(spec)}
        stable = Deployment(run, deployed(model, base.calibration), base.calibration, identity)
        module = stable.module.to("cpu")
        label = f"{run.test_id} (stable distances)"
        return stable, export(module, spec.image_size, self.options.store_dir, stable.identity, label=label)

    def write_anomalib_checkpoint(self, run: RunKey, path: Path) -> Path:
        """``run``'s deployed model as a checkpoint anomalib loads (``Patchcore.load_from_checkpoint`` /
        ``Padim.load_from_checkpoint``): its fitted model, backbone weights and the deployed thresholds."""
        from inspectnet.models.checkpoint_model import write_checkpoint

        deployment, spec = self.deployment(run), self.spec(run)
        model: Any = deployment.module.model  # type: ignore[union-attr]
        thresholds = deployment.calibration.as_record()
        layers, size = spec.layers, spec.image_size
        write_checkpoint(
            path, model, spec.method, spec.backbone, layers, size, thresholds, spec.coreset, spec.num_neighbors
        )
        return path

    def given_export(self, run: RunKey, runtime: str) -> Path | None:
        """The user's own export of ``run`` for ``runtime`` (``--export``), checked instead of exporting."""
        return self.source(run).export(runtime)

    def export_block(self, run: RunKey, runtime: str) -> ExportInfo | GivenExport | None:
        """What a record says ``runtime`` ran: the user's export, InspectNet's export, or nothing (torch)."""
        from inspectnet.deploy.runtimes import runtime as registered

        exporter = registered(runtime).exporter
        if exporter is None:
            return None
        return self.source(run).export_block(runtime, lambda: export_info(self.exported(run, exporter)))

    def runner(self, run: RunKey, runtime: str, device: str | None = None) -> Runner:
        """``run``'s deployed model on ``runtime`` (a registry name: ``deploy.runtimes``) on ``device``
        (default: the session's): the torch module itself, InspectNet's export, or the user's own export."""
        import copy

        from inspectnet.deploy.runtimes import runtime as registered
        from inspectnet.deploy.runtimes import torch_runner

        row, size, device = registered(runtime), self.spec(run).image_size, device or self.options.device
        if row.exporter is None:  # the reference: the deployed module itself
            module = self.deployment(run).module
            if device != self.options.device:
                module = copy.deepcopy(module)
            return torch_runner(module, device, size)
        exporter = row.exporter

        def ours() -> Runner:  # InspectNet's own export of the run
            return row.exported_runner(self.exported(run, exporter), device, size)

        def theirs(path: Path) -> Runner:  # a user's own export: fed un-normalised images, outputs mapped by name
            return row.runner(path, device, size, given=True)

        return self.source(run).runner(runtime, ours, theirs)

    # ---------------------------------------------------------------- records to the reporting plugin

    @property
    def publisher(self) -> Publisher:
        return Publisher(self.options.report_dir, self.sink)

    def emit(self, file: str, record: Record) -> Path:
        """Hand a record to the reporting plugin; it is written to ``report_dir/file`` at session end."""
        return self.publisher.emit(file, record)

    def publish(self, run: RunKey) -> Evaluation:
        """Evaluate ``run`` and emit its record (the accuracy tests publish; latency and parity only use it);
        for a category's base PatchCore model, also the figure of its best and worst test cases."""
        from inspectnet.report.cases import cases_png

        evaluation = self.evaluate(run)
        self.emit(evaluation.record_path.name, evaluation.record)
        if self.options.checkpoint_dir is not None:
            self.write_anomalib_checkpoint(run, self.options.checkpoint_dir / f"{run.name}.ckpt")
        if run == self.measured_run(run.category):
            png = cases_png(run.category, evaluation.predictions, evaluation.inputs, self.options.data_root)
            self.publisher.emit_figure(f"cases_{run.category}.png", png)
        return evaluation
