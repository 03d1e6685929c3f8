"""A deployment candidate against its FP32 model, as plain measurements: metric drops, label agreement, mask
IoU, speed-up from an A/B timing, size ratio, and the criteria each one fails (one line each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inspectnet.measure.ab import sign_interval
from inspectnet.names import METRIC_LABELS


@dataclass(frozen=True)
class Agreement:
    label_agreement: float  # share of images whose label equals the FP32 model's
    mask_iou: float  # |candidate mask AND FP32 mask| / |OR| over every pixel of every image (1.0 when both empty)
    n_images: int


def agreement(reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]) -> Agreement:
    """``pred_label`` and ``pred_mask`` of a candidate against the FP32 model's, on the same images."""
    ref_labels, cand_labels = np.asarray(reference["pred_label"]).ravel(), np.asarray(candidate["pred_label"]).ravel()
    ref_mask, cand_mask = np.asarray(reference["pred_mask"]) > 0, np.asarray(candidate["pred_mask"]) > 0
    union = int(np.logical_or(ref_mask, cand_mask).sum())
    iou = float(np.logical_and(ref_mask, cand_mask).sum()) / union if union else 1.0
    same = float(np.mean((ref_labels > 0) == (cand_labels > 0)))
    return Agreement(same, iou, int(ref_labels.size))


@dataclass(frozen=True)
class SpeedUp:
    """FP32 time over the candidate's: the median of per-quad ratios with a sign-test interval."""

    ratio: float
    low: float
    high: float
    confidence: float
    quads: int
    fp32_median_ms: float
    candidate_median_ms: float

    def describe(self) -> str:
        return f"x{self.ratio:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.confidence:.1%}, n={self.quads})"


def speedup(
    candidate_over_fp32: Sequence[float], fp32_block_ms: Sequence[float], cand_block_ms: Sequence[float], alpha: float
) -> SpeedUp:
    """From an A/B timing with the FP32 model as A and the candidate as B (ratios are B over A)."""
    inverse = [1.0 / r for r in candidate_over_fp32]
    low, high, confidence = sign_interval(inverse, alpha)
    return SpeedUp(
        float(np.median(inverse)),
        low,
        high,
        confidence,
        len(inverse),
        float(np.median(fp32_block_ms)),
        float(np.median(cand_block_ms)),
    )


def failures(
    drops: Mapping[str, float],
    max_drop: Mapping[str, float],
    measured: Agreement,
    min_label_agreement: float | None,
    min_mask_iou: float | None,
    fast: SpeedUp | None,
    min_speedup: float | None,
    size_ratio: float,
    max_size_ratio: float | None,
) -> list[str]:
    """Each criterion the candidate misses, with by how much; empty: accepted."""
    out = [
        f"{METRIC_LABELS[m]} drop {drops[m]:.4f} > max {limit:.4f} (by {drops[m] - limit:.4f})"
        for m, limit in max_drop.items()
        if drops[m] > limit
    ]
    if min_label_agreement is not None and measured.label_agreement < min_label_agreement:
        out.append(
            f"label agreement {measured.label_agreement:.1%} < min {min_label_agreement:.1%} "
            f"({round((1 - measured.label_agreement) * measured.n_images)} of {measured.n_images} labels differ)"
        )
    if min_mask_iou is not None and measured.mask_iou < min_mask_iou:
        out.append(f"mask IoU {measured.mask_iou:.4f} < min {min_mask_iou:.4f}")
    if min_speedup is not None and (fast is None or fast.ratio < min_speedup):
        shown = "not measured" if fast is None else f"{fast.ratio:.2f}x"
        out.append(f"speed-up {shown} < min {min_speedup:.2f}x")
    if max_size_ratio is not None and size_ratio > max_size_ratio:
        out.append(f"size {size_ratio:.2f} of FP32 > max {max_size_ratio:.2f}")
    return out
