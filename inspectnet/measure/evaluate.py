"""A fitted model on a test split: raw (un-normalised) scores and maps, then the exact metrics.

anomalib's own test metrics are computed on normalised, clamped scores; they are never used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet import progress
from inspectnet.measure.intervals import (
    Interval,
    Replicates,
    bootstrap,
    bootstrap_contrast,
    delong,
    delong_contrast,
    pixel_statistics,
    replicates,
)
from inspectnet.measure.metrics import auroc, pixel_metrics, roc_curve
from inspectnet.names import METRICS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from inspectnet.models.features import FeatureCache


@dataclass(frozen=True)
class Predictions:
    scores: np.ndarray  # N raw image scores
    maps: np.ndarray  # N x H x W raw anomaly maps (float32)


@dataclass(frozen=True)
class SplitSample:
    """What pairs one model's numbers with another's on the same test images: each image's label and raw
    score (DeLong), and each pixel metric under the seeded stratified bootstrap draws."""

    anomalous: np.ndarray
    scores: np.ndarray
    replicates: dict[str, Replicates]


@dataclass(frozen=True)
class AccuracyMetrics:
    image_auroc: float
    pixel_auroc: float
    aupro: float
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict, compare=False)
    intervals: dict[str, Interval] = field(default_factory=dict, compare=False)  # empty: not asked for
    sample: SplitSample | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in METRICS}


def predict(
    model: nn.Module,
    images: torch.Tensor,
    cache: FeatureCache | None = None,
    identity: str = "",
    batch_size: int = 8,
    label: str = "",
) -> Predictions:
    """Run ``model`` (eval mode) over ``images``; backbone features are replayed from ``cache`` if given.
    ``label`` names the run in progress lines."""
    import contextlib

    import torch

    from inspectnet.models.features import replaying

    device = next(model.parameters()).device
    outputs = []
    ctx = replaying(model, cache, identity) if cache is not None else contextlib.nullcontext(model)
    batches = -(-images.shape[0] // batch_size)
    with progress.phase("evaluation", batches, "batches", label) as shown, ctx, torch.no_grad():
        model.eval()
        for done, i in enumerate(range(0, images.shape[0], batch_size), 1):
            outputs.append(model(images[i : i + batch_size].to(device)))
            shown.tick(done)
    return predictions_of(outputs)


def predictions_of(outputs: Sequence[Any]) -> Predictions:
    """A model's batches of outputs (``pred_score``, ``anomaly_map``) as one split's scores and maps."""
    scores = [out.pred_score.reshape(-1).float().cpu().numpy() for out in outputs]
    maps = [
        out.anomaly_map.reshape(out.anomaly_map.shape[0], *out.anomaly_map.shape[-2:]).float().cpu().numpy()
        for out in outputs
    ]
    return Predictions(np.concatenate(scores), np.concatenate(maps))


def score(predictions: Predictions, labels: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> AccuracyMetrics:
    """Image AUROC on the scores; pixel AUROC and AUPRO@``fpr_limit`` on the maps; the ROC and PRO curves
    (at most 101 points each) for figures."""
    from inspectnet.measure.curves import downsample_curve

    pixel = pixel_metrics(predictions.maps, masks, fpr_limit)
    fpr, tpr = roc_curve(predictions.scores, labels)
    roc = downsample_curve(fpr.tolist(), tpr.tolist())
    curves = {"roc": {"fpr": roc[0], "tpr": roc[1]}}
    if pixel.pro_fpr is not None and pixel.pro is not None:
        pro = downsample_curve(pixel.pro_fpr.tolist(), pixel.pro.tolist())
        curves["pro"] = {"fpr": pro[0], "pro": pro[1]}
    return AccuracyMetrics(auroc(predictions.scores, labels), pixel.pixel_auroc, pixel.aupro, curves)


def with_intervals(
    metrics: AccuracyMetrics, predictions: Predictions, labels: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3
) -> AccuracyMetrics:
    """``metrics`` with each one's 95% interval on this split (DeLong; the stratified image bootstrap) and the
    sample that pairs them with another model's numbers on the same images."""
    statistics = pixel_statistics(predictions.maps, masks, fpr_limit)
    reps = {m: replicates(m, statistics) for m in ("pixel_auroc", "aupro")}
    n = int(predictions.scores.size)
    found = {
        "image_auroc": delong(predictions.scores, labels),
        "pixel_auroc": bootstrap(metrics.pixel_auroc, reps["pixel_auroc"], n),
        "aupro": bootstrap(metrics.aupro, reps["aupro"], n),
    }
    sample = SplitSample(np.asarray(labels, dtype=bool), np.asarray(predictions.scores, dtype=np.float64), reps)
    return replace(metrics, intervals=found, sample=sample)


def contrast(samples: list[SplitSample], exact: list[float], coefficients: list[float], metric: str) -> Interval:
    """sum_k c_k metric_k of models measured on the same test images (``exact``: each one's value), with its 95%
    interval paired image by image: DeLong for image AUROC, the shared bootstrap draws for the pixel metrics."""
    if metric == "image_auroc":
        return delong_contrast([s.scores for s in samples], samples[0].anomalous, coefficients)
    reps = [s.replicates[metric] for s in samples]
    return bootstrap_contrast(exact, reps, coefficients, int(samples[0].anomalous.size))
