"""Parity of a session's exported models: the torch model and a runtime on the same N test images, one
record per (category, runtime). Plain Python; the parity tests and the mutation tests call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.data.layout import shown_path
from inspectnet.measure.parity import ParityResult, ambiguity_band, choose_images, compare
from inspectnet.records import SCHEMA_VERSION, ParityRecord, now

if TYPE_CHECKING:
    from inspectnet.criteria import RunKey
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.session import Session


def record_name(runtime: str, device: str, run_name: str) -> str:
    """``openvino_parity_patchcore_bottle.json``; the CUDA provider's: ``onnxruntime_cuda_parity_...``."""
    prefix = runtime if device == "cpu" else f"{runtime}_{device}"
    return f"{prefix}_parity_{run_name}.json"


def run_outputs(runner: Runner, images: np.ndarray) -> dict[str, np.ndarray]:
    """Each image through ``runner`` at batch 1 (as deployed), outputs stacked in image order."""
    outs = [runner.outputs(np.ascontiguousarray(images[i : i + 1])) for i in range(images.shape[0])]
    return {name: np.concatenate([o[name] for o in outs]) for name in outs[0]}


@dataclass
class ParityChecker:
    session: Session
    _reference: dict[tuple[RunKey, str], dict[str, np.ndarray]] = field(default_factory=dict)
    _band: dict[RunKey, tuple[float, float]] = field(default_factory=dict)

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
            self._reference = {k: v for k, v in self._reference.items() if k[0].category == run.category}
            chosen, _ = self.images(run)
            images = self.session.evaluate(run).inputs.test.numpy()[chosen]
            self._reference[key] = run_outputs(self.session.runner(run, "torch", device), images)
        return self._reference[key]

    def band(self, run: RunKey) -> tuple[float, float]:
        """The torch model's own float32 error (against itself in float64 on the CPU) near the thresholds."""
        import copy

        from inspectnet.deploy.runtimes import torch_runner

        if run not in self._band:
            self._band = {k: v for k, v in self._band.items() if k.category == run.category}
            chosen, _ = self.images(run)
            images = self.session.evaluate(run).inputs.test.numpy()[chosen].astype(np.float64)
            exact_module = copy.deepcopy(self.session.deployment(run).module).to("cpu").double()
            runner = torch_runner(exact_module, "cpu", self.session.spec(run).image_size, np.float64)
            self._band[run] = ambiguity_band(self.reference(run, "cpu"), run_outputs(runner, images))
        return self._band[run]

    def check(self, run: RunKey, runner: Runner) -> ParityResult:
        chosen, names = self.images(run)
        images = self.session.evaluate(run).inputs.test.numpy()[chosen]
        tolerance = self.session.options.profile.parity.tolerance
        reference = self.reference(run, runner.device)
        return compare(reference, run_outputs(runner, images), names, tolerance, self.band(run))

    def record(self, run: RunKey, runner: Runner, result: ParityResult) -> Path:
        session = self.session
        evaluation = session.evaluate(run)
        chosen, names = self.images(run)
        labels = evaluation.inputs.labels
        record = ParityRecord(
            kind="parity",
            schema_version=SCHEMA_VERSION,
            run_name=evaluation.record.run_name,
            method=run.method,
            category=run.category,
            runtime=runner.runtime,
            device=runner.device,
            reference=f"the trained anomalib torch model, eager fp32 on {runner.device}, same images at batch 1",
            images=[{"path": n, "anomalous": bool(labels[i])} for i, n in zip(chosen, names, strict=True)],
            status=result.status,
            tolerance=result.tolerance,
            n_images=result.n_images,
            max_abs_error=result.max_abs_error,
            label_flips=result.label_flips,
            mask_pixel_flips=result.mask_pixel_flips,
            mask_pixels=result.mask_pixels,
            ambiguous_flips={
                "labels": result.ambiguous_label_flips,
                "mask_pixels": result.ambiguous_mask_pixel_flips,
                "band": {"pred_score": result.ambiguity_band[0], "anomaly_map": result.ambiguity_band[1]},
                "definition": "flips where the reference lies within its own float32 error (against float64 on "
                "the same images) of the normalised threshold 0.5; reported, not counted against parity",
            },
            where=[w.describe() for w in result.where],
            runtime_settings=runner.settings,
            export=session.exported(run).as_record(),
            calibration=session.deployment(run).calibration.as_record(),
            checkpoint=evaluation.record.checkpoint,
            weights=evaluation.record.weights,
            dataset=evaluation.record.dataset,
            environment=session.environment(),
            created=now(),
        )
        return session.emit(record_name(runner.runtime, runner.device, evaluation.record.run_name), record.to_json())
