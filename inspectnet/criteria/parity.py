"""The profile's ``[parity]``: how closely an exported model must match the torch model, and on how many images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspectnet.criteria.tables import CriteriaError, checked_table


@dataclass(frozen=True)
class ParityCriteria:
    """Exported models against the torch model: max abs error within ``tolerance``, zero flips, on ``images``."""

    tolerance: float = 1e-3
    images: int = 20


def parse_parity(path: Path, value: Any) -> ParityCriteria:
    table = checked_table(path, value, ("tolerance", "images", "note"), "parity")
    tolerance, images = table.get("tolerance", 1e-3), table.get("images", 20)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
        raise CriteriaError(f"{path}: parity.tolerance must be a number >= 0, got {tolerance!r}")
    if not isinstance(images, int) or isinstance(images, bool) or images < 2:
        raise CriteriaError(f"{path}: parity.images must be an integer >= 2, got {images!r}")
    return ParityCriteria(float(tolerance), images)
