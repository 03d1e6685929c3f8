"""The deployed model: anomalib's torch model followed by anomalib's own ``PostProcessor``.

Calibration is what anomalib's validation epoch computes: F1-adaptive image and pixel thresholds and the
min / max of scores and maps, here over the test split's raw predictions (MVTec AD has no separate
validation split; anomalib's default uses the test set too). The deployed module outputs both the raw and
the normalised map and score, the label and the mask, so parity can compare all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from inspectnet.deploy.calibration import Calibration
from inspectnet.models.anomalib_private import (
    calibrated_post_processor,
    f1_adaptive_threshold,
    normalise_image_scores,
)


def f1_threshold(scores: np.ndarray, targets: np.ndarray) -> float:
    """anomalib's F1-adaptive threshold (the one its PostProcessor computes on validation)."""
    preds = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32).ravel())
    return f1_adaptive_threshold(preds, torch.from_numpy(np.ascontiguousarray(targets).ravel().astype(np.int64)))


def below_midpoint(values: np.ndarray, threshold: float) -> float:
    """The midpoint between ``threshold`` (an observed value) and the next lower observed value.

    anomalib's F1-adaptive threshold is one of the calibration values and is applied as ``value > threshold``,
    which puts that sample on the negative side of the cut whose F1 it maximised (the curve counts
    ``value >= threshold`` as positive), and leaves it exactly on the threshold, where any rounding flips it.
    The midpoint keeps the same F1-optimal split of the calibration data with a margin on both sides.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    lower = flat[flat < threshold]
    if lower.size == 0:
        return float(threshold)
    return float((threshold + lower.max()) / 2)


def calibrate(scores: np.ndarray, maps: np.ndarray, labels: np.ndarray, masks: np.ndarray) -> Calibration:
    """Thresholds (anomalib's F1-adaptive cut, placed mid-gap) and normalisation bounds from raw predictions."""
    return Calibration(
        image_threshold=below_midpoint(scores, f1_threshold(scores, labels)),
        pixel_threshold=below_midpoint(maps, f1_threshold(maps, masks)),
        image_min=float(np.min(scores)),
        image_max=float(np.max(scores)),
        pixel_min=float(np.min(maps)),
        pixel_max=float(np.max(maps)),
    )


def deployed(model: nn.Module, calibration: Calibration) -> nn.Module:
    """``model`` + anomalib's PostProcessor with ``calibration`` loaded; outputs in ``OUTPUTS`` order."""
    post = calibrated_post_processor(
        calibration.image_threshold,
        calibration.pixel_threshold,
        (calibration.image_min, calibration.image_max),
        (calibration.pixel_min, calibration.pixel_max),
    )
    return Deployed(model, post).eval()


class Deployed(nn.Module):
    """The exported graph: image -> raw map, raw score, normalised map, normalised score, label, mask."""

    def __init__(self, model: nn.Module, post: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.post = post

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw: Any = self.model(image)
        out: Any = self.post(raw)
        return raw.anomaly_map, raw.pred_score, out.anomaly_map, out.pred_score, out.pred_label, out.pred_mask


def normalised_scores(module: nn.Module, raw: tuple[float, ...]) -> tuple[float, ...]:
    """Raw image scores through ``module``'s (a ``Deployed``) PostProcessor normalisation, in float64."""
    post: Any = module.post
    values = normalise_image_scores(post, torch.tensor(raw, dtype=torch.float64))
    return tuple(float(v) for v in values)
