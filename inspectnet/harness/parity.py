"""Parity of a session's exported models: the torch model and a runtime on the same N test images, one
record per (category, runtime). Plain Python; the parity tests and the mutation tests call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet import ledger
from inspectnet.builders import parity_record
from inspectnet.data.layout import shown_path
from inspectnet.deploy.trace import PREFIX
from inspectnet.measure.deployment import mask_iou
from inspectnet.measure.parity import ParityResult, TiedScores, ambiguity_band, choose_images, compare
from inspectnet.measure.stages import (
    TRACED_IMAGES,
    OwnErrors,
    own_errors,
    reference_bands,
    select,
    stage_table,
    worst_images,
)
from inspectnet.names import parity_record_name

MIN_MASK_IOU = 0.99  # a way out reproduces the checkpoint's masks: at most 1% of an image's mask pixels differ

if TYPE_CHECKING:
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.session import Session
    from inspectnet.measure.deployment import PathComparison
    from inspectnet.models.features import FeatureCache
    from inspectnet.names import RunKey


def run_outputs(runner: Runner, images: np.ndarray) -> dict[str, np.ndarray]:
    """Each image through ``runner`` at batch 1 (as deployed), outputs stacked in image order."""
    outs = [runner.outputs(np.ascontiguousarray(images[i : i + 1])) for i in range(images.shape[0])]
    return {name: np.concatenate([o[name] for o in outs]) for name in outs[0]}


@dataclass(frozen=True)
class Exact:
    """The deployed model in float64 on the chosen images, and what it says about the float32 reference."""

    outputs: dict[str, np.ndarray]  # the graph's own outputs (its traced stages are kept as ``errors``)
    errors: dict[str, OwnErrors]  # per reference device: each stage's and image's error of the reference
    band: tuple[float, float]  # the reference's own error on the normalised (score, map)
    distance_band: float  # twice the reference's largest patch-score error: options this close are tied
    ties: dict[int, TiedScores]  # images (by position) whose score sits on a jump


def tied_scores(
    module32: Any, module64: Any, embeddings32: Iterable[Any], embeddings64: Callable[[], Iterable[Any]]
) -> tuple[float, dict[int, TiedScores]]:
    """Which images' scores sit on a jump of PatchCore's score (``measure.ties``), for a deployed PatchCore,
    from each image's patch embedding in float32 and float64 (``embeddings64`` is read twice: for the band,
    then image by image for the ties); the tie band is twice the largest patch-score error of the float32
    model against float64. One image's embedding and one search chunk are held at a time."""
    from inspectnet.deploy.postprocess import normalised_scores
    from inspectnet.measure.ties import legitimate_scores
    from inspectnet.models.stable import searched

    model32, model64 = module32.model, module64.model
    s32 = searched(model32, embeddings32).cpu().double()
    s64 = searched(model64, embeddings64())
    band = 2.0 * float((s32 - s64).abs().max())
    bank, k = model64.memory_bank.numpy(), model64.num_neighbors
    ties: dict[int, TiedScores] = {}
    for i, embedding in enumerate(embeddings64()):
        found = legitimate_scores(embedding[0].numpy(), bank, k, band)
        if found.margin is not None and len(found.scores) > 1:
            normalised = normalised_scores(module64, found.scores)
            ties[i] = TiedScores(found.scores, normalised, found.margin, found.truncated)
    return band, ties


def _embeddings(model: Any, images: np.ndarray, cache: FeatureCache, identity: str) -> Iterator[Any]:
    """Each image's patch embedding (1 x P x D), one at a time, from backbone features in ``cache`` (computed
    and kept there when not yet seen)."""
    import torch

    from inspectnet.models.features import replaying
    from inspectnet.models.stable import embedding_of

    device = model.memory_bank.device
    with replaying(model, cache, identity), torch.no_grad():
        for i in range(len(images)):
            yield embedding_of(model, model.feature_extractor(torch.from_numpy(images[i : i + 1]).to(device)))


def exact_of(
    module32: Any,
    images: np.ndarray,
    references: Mapping[str, dict[str, np.ndarray]],
    cache: FeatureCache,
    identity: str,
) -> Exact:
    """The deployed model in float64 on the CPU, same images: the reference's own float32 error near the
    thresholds (against ``references["cpu"]``) and per stage (against each device's reference), and
    (PatchCore) the images whose score sits on a jump of the score. Backbone features come from ``cache``:
    float32 under the model's feature ``identity`` (as its evaluation left them), float64 under
    ``identity|float64``, so every model of a category computes them once."""
    import copy

    from inspectnet.deploy.runtimes import torch_runner
    from inspectnet.models.features import replaying

    module64: Any = copy.deepcopy(module32).to("cpu").double()
    images64 = images.astype(np.float64)
    identity64 = f"{identity}|float64"
    with ledger.phase("float64 reference"), replaying(module64.model, cache, identity64):
        traced = run_outputs(torch_runner(module64, "cpu", images.shape[-1], np.float64, trace=True), images64)
        errors = {device: own_errors(ref, traced, len(images)) for device, ref in references.items()}
        outputs = {name: a for name, a in traced.items() if not name.startswith(PREFIX)}
        del traced  # the float64 stages are in ``errors`` now
    band = ambiguity_band(references["cpu"], outputs)
    if not hasattr(module64.model, "num_neighbors"):  # PaDiM: no discrete choice in its score
        return Exact(outputs, errors, band, 0.0, {})
    with ledger.phase("ties"):
        distance_band, ties = tied_scores(
            module32,
            module64,
            _embeddings(module32.model, images, cache, identity),
            lambda: _embeddings(module64.model, images64, cache, identity64),
        )
    return Exact(outputs, errors, band, distance_band, ties)


def check_against(
    reference: dict[str, np.ndarray],
    exact: Exact,
    runner: Runner,
    images: np.ndarray,
    names: list[str],
    tolerance: float,
    layers: list[str] | None = None,
) -> ParityResult:
    """``runner`` on ``images`` against the torch ``reference`` (traced: its stages among its outputs), with
    the reference's own error and ties from ``exact``; each side's error against float64 in
    ``reference_fp32_error``; the verdict from ``runner`` as deployed. With the backbone's ``layers``, also
    the stage table, from ``runner``'s traced twin (``Runner.traced``; without one, the graph's own outputs
    are the only stages reached), on the ``TRACED_IMAGES`` images whose outputs differ most."""
    with ledger.phase("runtime pass"):
        compared = run_outputs(runner, images)
    result = compare(reference, compared, names, tolerance, exact.band, exact.ties)
    against_fp64 = {
        side: compare(exact.outputs, outputs, names, tolerance, ties=exact.ties).max_abs_error
        for side, outputs in (("reference", reference), ("candidate", compared))  # the JSON keys
    }
    if layers is None:
        return replace(result, reference_fp32_error=against_fp64)
    n = len(names)
    worst = worst_images(reference, compared, n, TRACED_IMAGES)
    with ledger.phase("stage table"):
        traced = run_outputs(runner.traced(), images[worst]) if runner.traced is not None else {}
    ref, comp = (select(o, worst, n) for o in (reference, compared))
    bands = reference_bands(layers, ref, {stage: e[worst] for stage, e in exact.errors[runner.device].items()})
    flips = {"label": result.label_flips, "mask": result.mask_pixel_flips}
    stages = stage_table(layers, ref, {**traced, **comp}, bands, flips)
    return replace(
        result, reference_fp32_error=against_fp64, stages=stages, stage_images=tuple(names[i] for i in worst)
    )


@dataclass
class ParityChecker:
    session: Session
    _reference: dict[tuple[RunKey, str], dict[str, np.ndarray]] = field(default_factory=dict)
    _exact: dict[RunKey, Exact] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.on_switch(self._drop)

    def _drop(self, category: str) -> None:
        self._reference = {k: v for k, v in self._reference.items() if k[0].category == category}
        self._exact = {k: v for k, v in self._exact.items() if k.category == category}

    def images(self, run: RunKey) -> tuple[list[int], list[str]]:
        inputs = self.session.evaluate(run).inputs
        chosen = choose_images(inputs.labels, self.session.options.profile.parity.images)
        root = self.session.options.data_root
        names = [shown_path(inputs.test_paths[i], root) for i in chosen]
        return chosen, names

    def reference(self, run: RunKey, device: str) -> dict[str, np.ndarray]:
        """The torch model's outputs on the chosen images (memoised per run and device)."""
        key = (run, device)
        if key not in self._reference:
            self._drop(run.category)
            chosen, _ = self.images(run)
            images = self.session.test_images(run, chosen)
            runner = self.session.runner(run, "torch", device)
            with ledger.phase("torch reference"):
                self._reference[key] = run_outputs(runner.traced() if runner.traced else runner, images)
        return self._reference[key]

    def exact(self, run: RunKey) -> Exact:
        """``exact_of`` the run's deployed model on its parity images (memoised)."""
        if run not in self._exact:
            self._drop(run.category)
            chosen, _ = self.images(run)
            images = self.session.test_images(run, chosen)
            identity = self.session.feature_identity(self.session.spec(run))
            module = self.session.deployment(run).module
            references = {d: self.reference(run, d) for d in dict.fromkeys(("cpu", self.session.options.device))}
            self._exact[run] = exact_of(module, images, references, self.session.cache, identity)
        return self._exact[run]

    def check(self, run: RunKey, runner: Runner) -> ParityResult:
        chosen, names = self.images(run)
        images = self.session.test_images(run, chosen)
        tolerance = self.session.options.profile.parity.tolerance
        layers = list(self.session.spec(run).layers)
        reference = self.reference(run, runner.device)
        return check_against(reference, self.exact(run), runner, images, names, tolerance, layers)

    def record(self, run: RunKey, runner: Runner, result: ParityResult, way_out: WayOut | None = None) -> Path:
        session = self.session
        evaluation = session.evaluate(run)
        chosen, names = self.images(run)
        labels = evaluation.inputs.labels
        export = session.export_block(run, runner.runtime)
        assert export is not None, "parity compares an export"
        record = parity_record(
            evaluation=evaluation.record,
            runtime=runner.runtime,
            device=runner.device,
            images=[(n, bool(labels[i])) for i, n in zip(chosen, names, strict=True)],
            result=result,
            tie_band=self.exact(run).distance_band,
            runtime_settings=runner.settings,
            export=export,
            calibration=session.deployment(run).calibration,
            environment_device=session.options.device,
            way_out=way_out.as_record() if way_out is not None else None,
        )
        return session.emit(parity_record_name(runner.runtime, runner.device, run.name), record)

    def deployment_path(self, run: RunKey, runtime: str) -> tuple[PathComparison, Path]:
        """The given checkpoint of ``run`` and its given export for ``runtime``, each through anomalib's own
        inference path on the parity images' original files (``harness.deployment_path``); recorded."""
        from PIL import Image

        from inspectnet.builders import deployment_path_record, given_export_info
        from inspectnet.deploy.runtimes import graph_signature
        from inspectnet.harness.deployment_path import checkpoint_path, export_path
        from inspectnet.measure.deployment import compare_paths
        from inspectnet.measure.stages import stage_order

        session = self.session
        given, export = session.given(run), session.given_export(run, runtime)
        assert given is not None and export is not None, "the deployment path compares a given checkpoint and export"
        chosen, names = self.images(run)
        evaluation = session.evaluate(run)
        files = [Path(evaluation.inputs.test_paths[i]) for i in chosen]
        sizes = [Image.open(f).size for f in files]
        reference, note = checkpoint_path(given.checkpoint.path, given.spec.method, files)
        size = session.spec(run).image_size
        note = note if any(s != (size, size) for s in sizes) else ""  # resizing matters only to other sizes
        compared, settings = export_path(export, files)
        order = stage_order(list(session.spec(run).layers))
        tolerance = session.options.profile.parity.tolerance
        comparison = compare_paths(reference, compared, names, tolerance, order, note)
        ran = settings["inference_precision_hint"]
        if ran != "f32" and not comparison.agrees:  # the inferencer's default precision: is it the cause?
            f32 = compare_paths(reference, export_path(export, files, "f32")[0], names, tolerance, order, note)
            said = "agree" if f32.agrees else "still disagree"
            settings["f32"] = f"with INFERENCE_PRECISION_HINT=f32: {f32.summary()}"
            comparison = replace(
                comparison,
                precision=f"anomalib's OpenVINOInferencer ran in {ran} (its default on this CPU, which can; it sets "
                f"no INFERENCE_PRECISION_HINT); with f32 the paths {said}"
                + (": pass config={'INFERENCE_PRECISION_HINT': 'f32'} to it" if f32.agrees else ""),
            )
        record = deployment_path_record(
            evaluation=evaluation.record,
            runtime=runtime,
            export_settings=settings,
            images=[(n, w, h) for n, (w, h) in zip(names, sizes, strict=True)],
            comparison=comparison,
            export=given_export_info(export, *graph_signature(export)),
            environment_device=session.options.device,
        )
        name = f"{runtime}_deployment_path_{run.name}.json"
        return comparison, session.emit(name, record)

    def way_out(self, run: RunKey, runtime: str) -> WayOut | None:
        """For a user's PatchCore checkpoint whose own arithmetic cannot meet the tolerance: the same checkpoint
        exported with InspectNet's stable distances (``Session.stable_exported``), checked against its own torch
        model (parity at the tolerance) and against the checkpoint's decisions (labels and masks of anomalib's
        arithmetic, the checkpoint as it is) on the parity images. None for anything else."""
        from inspectnet.deploy.runtimes import runtime as registered
        from inspectnet.deploy.runtimes import torch_runner

        session, graph = self.session, registered(runtime)
        if session.given(run) is None or run.method != "patchcore" or graph.user_export is None:
            return None
        deployment, exported = session.stable_exported(run)
        chosen, names = self.images(run)
        images = session.test_images(run, chosen)
        size, tolerance = session.spec(run).image_size, session.options.profile.parity.tolerance
        stable_torch = run_outputs(torch_runner(deployment.module, "cpu", size), images)
        compared = run_outputs(graph.exported_runner(exported, "cpu", size), images)
        parity = compare(stable_torch, compared, names, tolerance)
        checkpoint = self.reference(run, "cpu")
        decisions = compare(checkpoint, compared, names, float("inf"))  # flips only: the scores may move
        ious = [mask_iou(a, b) for a, b in zip(checkpoint["pred_mask"], compared["pred_mask"], strict=True)]
        return WayOut(exported.directory, parity, decisions.label_flips, min(ious), len(names))


@dataclass(frozen=True)
class WayOut:
    """The checkpoint exported with stable distances: where, its parity, and whether it decides as the checkpoint."""

    directory: Path
    parity: ParityResult  # the stable export against its own torch model, at the tolerance
    label_flips: int  # against the checkpoint's own decisions (anomalib's arithmetic)
    mask_iou_min: float
    images: int

    @property
    def offered(self) -> bool:
        """It meets the tolerance and reproduces the checkpoint's decisions (no label flip, masks within 1%)."""
        return self.parity.clean and self.label_flips == 0 and self.mask_iou_min >= MIN_MASK_IOU

    def as_record(self) -> dict[str, object]:
        from inspectnet.models.stable import SCORING

        return {
            "export_directory": str(self.directory),
            "scoring": str(SCORING["name"]),
            "status": self.parity.status,
            "max_abs_error": self.parity.max_abs_error,
            "label_flips_against_checkpoint": self.label_flips,
            "mask_iou_min_against_checkpoint": self.mask_iou_min,
            "offered": self.offered,
            "description": self.describe(),
        }

    def describe(self) -> str:
        errors = max(self.parity.max_abs_error.values())
        said = "meets the tolerance and decides as the checkpoint" if self.offered else "is no way out either"
        return (
            f"the same checkpoint exported with InspectNet's stable distances ({self.directory}) {said}: max abs "
            f"error {errors:.1e} against its own torch model ({self.parity.status}), {self.label_flips} label flips "
            f"against the checkpoint's decisions on {self.images} images, mask IoU at least {self.mask_iou_min:.3f}"
        )
