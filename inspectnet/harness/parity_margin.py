"""The parity margin: how far under the tolerance parity stays when what differs between machines changes.

Perturbations, each something another CPU or another run does differently:

- torch's intra-op threads, 1 and 2, for the torch reference (another blocking of the same matrix products);
- the training embeddings with 1e-6 relative noise before the memory bank is built (another CPU's backbone
  rounding, amplified), noise seeds 0-2, each model trained with the same seed (another coreset start).

Each category's base model and its perturbed models are deployed, exported and checked exactly as the parity
suite checks them (ties by their rule). The result is the largest normalised and raw error per category and
runtime, and every verdict. Plain Python; ``benchmarks/test_parity_margin.py`` wires it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from inspectnet.builders import fp32_error, parity_margin_record, tied_scores
from inspectnet.deploy.postprocess import calibrate, deployed
from inspectnet.harness.parity import ParityChecker, check_against, exact_of, run_outputs
from inspectnet.records import (
    MarginCategory,
    MarginRow,
    MarginSummary,
    ParityMarginRecord,
)

if TYPE_CHECKING:
    import torch

    from inspectnet.harness.session import Session
    from inspectnet.names import RunKey

NOISE = 1e-6
NOISE_SEEDS = (0, 1, 2)
THREADS = (1, 2)
NORMALISED = ("anomaly_map", "pred_score")
RAW = ("anomaly_map_raw", "pred_score_raw")


def noisy(seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Multiply every feature by (1 + 1e-6 N(0, 1)), drawn from ``seed``."""
    import torch

    def perturb(x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
        return x * (1 + NOISE * noise.to(x.device))

    return perturb


def _variants(session: Session, run: RunKey) -> Iterator[tuple[str, Any, Any]]:
    """(name, deployed module, export) for the base model and each noise seed's model."""
    from inspectnet.deploy.export import export
    from inspectnet.measure.evaluate import predict
    from inspectnet.models.train import build, fit

    yield "base", session.deployment(run).module, session.exported(run)
    inputs = session.evaluate(run).inputs
    for seed in NOISE_SEEDS:
        spec = dataclasses.replace(session.spec(run), seed=seed)
        identity = session.feature_identity(spec)
        model = build(spec, session.weights_for(spec)).to(session.options.device)
        fit(model, spec, inputs.train, session.cache, identity, perturb=noisy(seed))
        predictions = predict(model, inputs.test, session.cache, identity)
        calibration = calibrate(predictions.scores, predictions.maps, inputs.labels, inputs.masks)
        module = deployed(model, calibration)
        anomalib_model: Any = model
        bank = anomalib_model.memory_bank.detach().cpu().numpy().tobytes()
        key: dict[str, Any] = {
            "parity_margin": f"seed {seed}, noise {NOISE}",
            "memory_bank": hashlib.sha256(bank).hexdigest(),
        }
        key |= {"weights_sha256": session.weights_for(spec).sha256, "calibration": calibration.as_record()}
        yield f"seed{seed}+noise", module, export(module.to("cpu"), spec.image_size, session.options.store_dir, key)
        module.to(session.options.device)


def measure(session: Session, run: RunKey) -> MarginCategory:
    """Every variant x thread count x runtime of ``run``'s category: errors, verdicts, ties."""
    import torch

    from inspectnet.deploy import runtimes
    from inspectnet.deploy.export import ONNX

    checker = ParityChecker(session)
    chosen, names = checker.images(run)
    images = session.test_images(run, chosen)
    size, tolerance = session.spec(run).image_size, session.options.profile.parity.tolerance
    identity = session.feature_identity(session.spec(run))
    threads_before = torch.get_num_threads()
    rows: list[MarginRow] = []
    try:
        for variant, module, exported in _variants(session, run):
            graph = (r for r in runtimes.on("cpu", exported=True) if r.exporter is ONNX)  # the variants' exports
            runners = {r.name: r.exported_runner(exported, "cpu", size) for r in graph}
            for threads in THREADS:
                torch.set_num_threads(threads)
                reference = run_outputs(runtimes.torch_runner(module.to("cpu"), "cpu", size), images)
                exact = exact_of(module, images, {"cpu": reference}, session.cache, identity)
                for runtime, runner in runners.items():
                    result = check_against(reference, exact, runner, images, names, tolerance)
                    rows.append(
                        MarginRow(
                            variant=variant,
                            torch_threads=threads,
                            runtime=runtime,
                            status=result.status,
                            max_abs_error=result.max_abs_error,
                            reference_fp32_error=fp32_error(result, definition=None),
                            tie_band=exact.distance_band,
                            ambiguous_scores=tied_scores(result),
                            label_flips=result.label_flips,
                            mask_pixel_flips=result.mask_pixel_flips,
                        )
                    )
            module.to(session.options.device)
    finally:
        torch.set_num_threads(threads_before)
    return MarginCategory(run.category, rows, summarise(rows, tolerance))


def summarise(rows: list[MarginRow], tolerance: float) -> dict[str, MarginSummary]:
    """Per runtime: the largest normalised and raw error over every variant and thread count, the verdicts."""
    out: dict[str, MarginSummary] = {}
    for runtime in sorted({r.runtime for r in rows}):
        mine = [r for r in rows if r.runtime == runtime]
        normalised = max(r.max_abs_error[k] for r in mine for k in NORMALISED)
        out[runtime] = MarginSummary(
            runs=len(mine),
            max_normalised_error=normalised,
            max_raw_error=max(r.max_abs_error[k] for r in mine for k in RAW),
            margin_x=tolerance / normalised if normalised > 0 else float("inf"),
            verdicts=sorted({r.status for r in mine}),
            ambiguous_images=sorted({a.image for r in mine for a in r.ambiguous_scores}),
        )
    return out


def margin_record(categories: list[MarginCategory], tolerance: float, goal: float) -> ParityMarginRecord:
    """Every category's margin, the perturbations that were applied and the worst normalised error."""
    return parity_margin_record(
        categories,
        tolerance=tolerance,
        goal=goal,
        torch_threads=THREADS,
        feature_noise_relative=NOISE,
        seeds=NOISE_SEEDS,
    )
