"""The profile's shared parsing: ``CriteriaError`` and the check that a TOML table holds only known keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CriteriaError(ValueError):
    """A profile that cannot be used; one line naming the file and the key."""


def checked_table(path: Path, value: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    """``value`` as a table whose keys are all in ``allowed``; ``where`` is its dotted key in the file."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CriteriaError(f"{path}: {where} must be a table")
    for k in value:
        if k not in allowed:
            raise CriteriaError(f"{path}: unknown key {where}.{k} (known: {', '.join(allowed)})")
    return value
