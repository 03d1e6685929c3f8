"""Parity of an exported model against the torch model: pure functions over both models' outputs.

Errors are max absolute differences of the raw and the normalised map and score (a normalised score is
clamped to [0, 1], which can hide a large raw difference, so both are checked); flips are disagreements of
the thresholded label and mask. Parity is clean iff every error is within the tolerance and nothing flips.

One exception, measured rather than assumed: a pixel (or score) whose reference value lies within the
reference's *own* float32 error of the threshold (the torch model against itself in float64, on the same
images) has no determined side; a flip there is counted as ``ambiguous`` and reported, but does not break
parity. Every other flip does.

The second exception, also measured: PatchCore's image score jumps where one of its discrete choices (top
patch, nearest entry, support set) is a near-tie within the reference's own float32 error
(``inspectnet.measure.ties``). Every score a tied choice gives is a legitimate answer; on such an image the
score's error is the distance to the nearest legitimate answer, and the image is listed under
``ambiguous_scores`` with its margin. Everywhere else the error is the compared model's outputs against the
reference's, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from inspectnet.measure.stages import StageRow, diagnosis, per_image_error, reference_limit

ERROR_OUTPUTS = ("anomaly_map_raw", "pred_score_raw", "anomaly_map", "pred_score")
NORMALISED_THRESHOLD = 0.5  # anomalib's PostProcessor: 1 - sensitivity (0.5)
WORST_SHOWN = 5


@dataclass(frozen=True)
class Where:
    """One place parity is broken: which output, which image, how far (or how many pixels flipped)."""

    output: str
    image: str
    value: float

    def describe(self) -> str:
        if self.output == "pred_mask":
            return f"pred_mask: {int(self.value)} pixels flipped on {self.image}"
        if self.output == "pred_label":
            return f"pred_label flipped on {self.image}"
        return f"{self.output}: abs error {self.value:.3e} on {self.image}"


@dataclass(frozen=True)
class TiedScores:
    """The legitimate scores (the reference's own among them) of an image whose score sits on a jump."""

    raw: tuple[float, ...]
    normalised: tuple[float, ...]  # the same, through the deployed normalisation
    margin: float  # the smallest gap between two tied options' distances
    truncated: bool = False  # more tied combinations than were evaluated (measure.ties.LIMIT)


@dataclass(frozen=True)
class ParityResult:
    tolerance: float
    n_images: int
    max_abs_error: dict[str, float]
    label_flips: int
    mask_pixel_flips: int
    mask_pixels: int
    where: tuple[Where, ...]  # the worst offenders; empty when clean
    ambiguous_label_flips: int = 0
    ambiguous_mask_pixel_flips: int = 0
    ambiguity_band: tuple[float, float] = (0.0, 0.0)  # (score, map): the reference's own float32 error
    ambiguous_scores: tuple[dict[str, object], ...] = ()  # images on a jump of the score: legitimate answers
    reference_fp32_error: dict[str, dict[str, float]] = field(default_factory=dict)  # side -> output -> error
    stages: tuple[StageRow, ...] = ()  # every stage's error, in flow order (measure.stages)
    stage_images: tuple[str, ...] = ()  # the images the stages were traced on (measure.stages.worst_images)

    @property
    def clean(self) -> bool:
        within = all(e <= self.tolerance for e in self.max_abs_error.values())
        return within and self.label_flips == 0 and self.mask_pixel_flips == 0

    @property
    def status(self) -> str:
        return "parity_clean" if self.clean else "parity_broken"

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v:.3e}" for k, v in self.max_abs_error.items())
        return (
            f"{self.status}: max abs error {errors} (tolerance {self.tolerance:.0e}); label flips "
            f"{self.label_flips}/{self.n_images}; mask pixel flips {self.mask_pixel_flips}/{self.mask_pixels} "
            f"(+ {self.ambiguous_label_flips} label and {self.ambiguous_mask_pixel_flips} pixel flips within the "
            f"reference's own float32 error of the threshold, band {self.ambiguity_band[0]:.1e} / "
            f"{self.ambiguity_band[1]:.1e})"
        )

    @property
    def reference_limited(self) -> bool:
        """The torch reference's own float32 error (against float64) exceeds the tolerance on some output."""
        return any(e > self.tolerance for e in self.reference_fp32_error.get("reference", {}).values())

    def diagnosis(self) -> str:
        """Where parity stops (the first diverged stage), and whether the reference itself can meet the
        tolerance (its own float32 error against float64; if not, the stage where that error grows)."""
        where = diagnosis(self.stages) if self.stages else "no stage was traced"
        reference = self.reference_fp32_error.get("reference", {})
        limit = reference_limit(self.stages, reference, self.tolerance)
        if limit is None:
            return where
        export = self.reference_fp32_error.get("candidate", {})  # the JSON key of the compared side
        worst = max(export.values(), default=float("nan"))
        return f"{limit}; the export is {worst:.2e} from float64; {where}"


def ambiguity_band(reference: Mapping[str, np.ndarray], exact: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """The reference's own error on the normalised (score, map): float32 against float64, same images."""
    return (
        float(per_image_error(reference["pred_score"].reshape(-1, 1), exact["pred_score"].reshape(-1, 1)).max()),
        float(per_image_error(reference["anomaly_map"], exact["anomaly_map"]).max()),
    )


def _nearest_answer(
    per_image: dict[str, np.ndarray], compared: Mapping[str, np.ndarray], ties: Mapping[int, TiedScores]
) -> None:
    """On a tied image, a score's error is its distance to the nearest legitimate answer (in place)."""
    for i, tied in ties.items():
        for name, answers in (("pred_score_raw", tied.raw), ("pred_score", tied.normalised)):
            value = float(np.asarray(compared[name]).reshape(-1)[i])
            per_image[name][i] = min(per_image[name][i], min(abs(value - a) for a in answers))


def _tied_records(
    reference: Mapping[str, np.ndarray],
    compared: Mapping[str, np.ndarray],
    images: Sequence[str],
    ties: Mapping[int, TiedScores],
    per_image: dict[str, np.ndarray],
) -> tuple[dict[str, object], ...]:
    def raw(outputs: Mapping[str, np.ndarray], i: int) -> float:
        return float(np.asarray(outputs["pred_score_raw"]).reshape(-1)[i])

    return tuple(
        {
            "image": images[i],
            "margin": tied.margin,
            "legitimate_raw": list(tied.raw),
            "legitimate_truncated": tied.truncated,
            "reference_raw": raw(reference, i),
            "candidate_raw": raw(compared, i),
            "difference_raw": abs(raw(compared, i) - raw(reference, i)),
            "error_raw": float(per_image["pred_score_raw"][i]),
            "error_normalised": float(per_image["pred_score"][i]),
        }
        for i, tied in sorted(ties.items())
    )


def compare(
    reference: Mapping[str, np.ndarray],
    compared: Mapping[str, np.ndarray],
    images: Sequence[str],
    tolerance: float,
    band: tuple[float, float] = (0.0, 0.0),
    ties: Mapping[int, TiedScores] | None = None,
) -> ParityResult:
    """Outputs of N images (stacked on axis 0, in ``images`` order) from the reference and the compared model;
    ``band`` is ``ambiguity_band`` of the reference (zero: every flip counts); ``ties`` the images (by
    position) whose score sits on a jump, with their legitimate answers (none: every score is determined).
    The errors are of the outputs both have: a user's anomalib export has only the normalised map and score
    (and then no tie is resolved: that needs the raw score)."""
    n = len(images)
    shared = [name for name in ERROR_OUTPUTS if name in compared]  # a user's anomalib export has no raw ones
    ties = (ties or {}) if "pred_score_raw" in compared else {}  # tied answers are told apart by raw scores
    for name in (*shared, "pred_label", "pred_mask"):
        if reference[name].shape != compared[name].shape or reference[name].shape[0] != n:
            raise ValueError(
                f"{name}: shapes {reference[name].shape} and {compared[name].shape} do not match {n} images"
            )
    per_image = {name: per_image_error(reference[name], compared[name]) for name in shared}
    _nearest_answer(per_image, compared, ties)
    label_flip = reference["pred_label"].reshape(n) != compared["pred_label"].reshape(n)
    label_open = np.abs(reference["pred_score"].reshape(n).astype(np.float64) - NORMALISED_THRESHOLD) <= band[0]
    for i, tied in ties.items():  # a label some legitimate answer also gives is not a flip
        label_open[i] |= bool(compared["pred_label"].reshape(n)[i]) in {
            a > NORMALISED_THRESHOLD for a in tied.normalised
        }
    labels = label_flip & ~label_open
    mask_flip = (reference["pred_mask"] != compared["pred_mask"]).reshape(n, -1)
    mask_open = np.abs(reference["anomaly_map"].reshape(n, -1).astype(np.float64) - NORMALISED_THRESHOLD) <= band[1]
    masks = (mask_flip & ~mask_open).sum(axis=1)
    where: list[Where] = []
    for name, errors in per_image.items():
        over = [i for i in np.argsort(-errors, kind="stable") if errors[i] > tolerance]
        where.extend(Where(name, images[i], float(errors[i])) for i in over[:WORST_SHOWN])
    where.extend(Where("pred_label", images[i], 1.0) for i in np.flatnonzero(labels)[:WORST_SHOWN])
    worst_masks = [i for i in np.argsort(-masks, kind="stable") if masks[i] > 0]
    where.extend(Where("pred_mask", images[i], float(masks[i])) for i in worst_masks[:WORST_SHOWN])
    return ParityResult(
        tolerance=tolerance,
        n_images=n,
        max_abs_error={name: float(errors.max()) for name, errors in per_image.items()},
        label_flips=int(labels.sum()),
        mask_pixel_flips=int(masks.sum()),
        mask_pixels=int(reference["pred_mask"][0].size * n),
        where=tuple(where),
        ambiguous_label_flips=int((label_flip & label_open).sum()),
        ambiguous_mask_pixel_flips=int((mask_flip & mask_open).sum()),
        ambiguity_band=band,
        ambiguous_scores=_tied_records(reference, compared, images, ties, per_image),
    )


def choose_images(labels: np.ndarray, n: int) -> list[int]:
    """``n`` test images, deterministic: half normal and half anomalous (as available), evenly spaced in order."""
    normal, anomalous = np.flatnonzero(~labels), np.flatnonzero(labels)
    k_normal = min(len(normal), n // 2)
    k_anomalous = min(len(anomalous), n - k_normal)
    k_normal = min(len(normal), n - k_anomalous)

    def spread(indices: np.ndarray, k: int) -> list[int]:
        if k == 0:
            return []
        return [int(indices[j]) for j in np.linspace(0, len(indices) - 1, k).round().astype(int)]

    return sorted(spread(normal, k_normal) + spread(anomalous, k_anomalous))
