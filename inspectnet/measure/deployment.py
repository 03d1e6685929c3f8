"""The deployment path: a checkpoint's decisions and its export's, each through anomalib's own inference path
on the original image files, compared. Pure numpy; ``harness.deployment_path`` runs the paths.

Both paths read the same files at their own size (as a camera writes them) and pre-process them their own
way: the checkpoint through anomalib's Lightning predict (its PreProcessor's transform), the export through
anomalib's ``OpenVINOInferencer`` (the graph's own pre-processing, its ``export_transform``). The paths
*agree* when no label flips and the normalised score and map are within the parity tolerance of each other.
Where they do not, the stages both paths expose (the input the backbone sees, each backbone layer, and on
through the smoothed map) say where they part: a stage *differs* when its max abs error exceeds ``RELATIVE`` of its
largest value (the same arithmetic in float32 on two runtimes sits near 1e-6 of it: the parity stage tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from inspectnet.measure.stages import shown

RELATIVE = 1e-4


@dataclass(frozen=True)
class PathOutputs:
    """One path's outputs on N images: normalised score, label, map and mask, and the stages it exposes."""

    scores: np.ndarray  # N
    labels: np.ndarray  # N, bool
    maps: np.ndarray  # N x H x W
    masks: np.ndarray  # N x H x W, bool
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # stage -> N x ...


@dataclass(frozen=True)
class StageDifference:
    stage: str
    max_abs_error: float | None  # None: one path does not expose it
    reference_max_abs: float
    differs: bool


@dataclass(frozen=True)
class PathComparison:
    """The export's path against the checkpoint's, on the same files."""

    images: int
    tolerance: float
    label_flips: int
    flipped: tuple[str, ...]
    score_error: float
    map_error: float
    mask_iou_min: float
    mask_iou_mean: float
    stages: tuple[StageDifference, ...]
    preprocessing: str  # what each path's pre-processing does to a file of another size (or "")
    precision: str = ""  # the precision the export's inferencer ran, when not f32, and what f32 gives

    @property
    def agrees(self) -> bool:
        return self.label_flips == 0 and max(self.score_error, self.map_error) <= self.tolerance

    def first_difference(self) -> StageDifference | None:
        return next((s for s in self.stages if s.differs), None)

    def diagnosis(self) -> str:
        first = self.first_difference()
        where = (
            f"the paths part at {shown(first.stage)} (max abs error {first.max_abs_error:.1e})"
            if first is not None
            else "no stage both paths expose differs"
        )
        return "; ".join(part for part in (where, self.precision, self.preprocessing) if part)

    def summary(self) -> str:
        return (
            f"{'agree' if self.agrees else 'disagree'}: label flips {self.label_flips}/{self.images}, score error "
            f"{self.score_error:.2e}, map error {self.map_error:.2e} (tolerance {self.tolerance:.0e}), mask IoU "
            f"min {self.mask_iou_min:.3f} mean {self.mask_iou_mean:.3f}"
        )


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def stage_differences(
    order: Sequence[str], checkpoint: Mapping[str, np.ndarray], export: Mapping[str, np.ndarray]
) -> tuple[StageDifference, ...]:
    rows = []
    for stage in order:
        if stage not in checkpoint:
            continue
        ref = checkpoint[stage].astype(np.float64)
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        other = export.get(stage)
        if other is None or other.shape != ref.shape:
            rows.append(StageDifference(stage, None, scale, False))
            continue
        error = float(np.abs(other.astype(np.float64) - ref).max()) if ref.size else 0.0
        rows.append(StageDifference(stage, error, scale, error > RELATIVE * scale))
    return tuple(rows)


def compare_paths(
    checkpoint: PathOutputs,
    export: PathOutputs,
    names: Sequence[str],
    tolerance: float,
    order: Sequence[str],
    preprocessing: str = "",
) -> PathComparison:
    """The export's decisions against the checkpoint's on the same ``names`` (in order)."""
    n = len(names)
    for what, a, b in (("maps", checkpoint.maps, export.maps), ("masks", checkpoint.masks, export.masks)):
        if a.shape != b.shape:
            raise ValueError(f"{what}: the checkpoint's path gives {a.shape}, the export's {b.shape}")
    flips = np.flatnonzero(checkpoint.labels.reshape(n) != export.labels.reshape(n))
    ious = [mask_iou(a, b) for a, b in zip(checkpoint.masks.astype(bool), export.masks.astype(bool), strict=True)]
    return PathComparison(
        images=n,
        tolerance=tolerance,
        label_flips=len(flips),
        flipped=tuple(names[int(i)] for i in flips),
        score_error=float(np.abs(checkpoint.scores.astype(np.float64) - export.scores).max()),
        map_error=float(np.abs(checkpoint.maps.astype(np.float64) - export.maps).max()),
        mask_iou_min=min(ious),
        mask_iou_mean=float(np.mean(ious)),
        stages=stage_differences(order, checkpoint.stages, export.stages),
        preprocessing=preprocessing,
    )
