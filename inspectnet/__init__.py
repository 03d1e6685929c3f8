"""InspectNet: a visual anomaly detector's model card as executable pytest acceptance criteria."""

from __future__ import annotations

__version__ = "0.1.0"
