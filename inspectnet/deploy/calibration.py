"""What a deployed model is calibrated with: thresholds and normalisation bounds (no torch here, so records
can name it without loading torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Calibration:
    """anomalib's F1-adaptive image and pixel thresholds (placed mid-gap) and the min / max of the raw
    scores and maps it normalises with."""

    image_threshold: float
    pixel_threshold: float
    image_min: float
    image_max: float
    pixel_min: float
    pixel_max: float

    def as_record(self) -> dict[str, float]:
        return asdict(self)
