"""Latency budgets: per device, optionally per runtime, a median and a p95 in ms and/or a minimum efficiency.

In a profile::

    [latency.cpu]                  # every runtime on the CPU
    min_efficiency = 0.35
    [latency.cpu.openvino]         # this runtime: its keys override the device's
    min_efficiency = 0.60
    median_ms = 400.0

Milliseconds hold on one machine; efficiency (compute floor / median) holds across machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspectnet.names import DEVICES, RUNTIMES

LIMITS = ("median_ms", "p95_ms", "min_efficiency")


@dataclass(frozen=True)
class Budget:
    device: str
    runtime: str
    median_ms: float | None = None
    p95_ms: float | None = None
    min_efficiency: float | None = None

    def failures(self, median_ms: float, p95_ms: float, efficiency: float | None) -> list[str]:
        """What exceeds this budget, one line each; empty when within it."""
        out = []
        if self.median_ms is not None and median_ms > self.median_ms:
            out.append(f"median {median_ms:.3f} ms > budget {self.median_ms:.3f} ms")
        if self.p95_ms is not None and p95_ms > self.p95_ms:
            out.append(f"p95 {p95_ms:.3f} ms > budget {self.p95_ms:.3f} ms")
        if self.min_efficiency is not None and (efficiency is None or efficiency < self.min_efficiency):
            shown = "not measured" if efficiency is None else f"{efficiency:.3f}"
            out.append(f"efficiency {shown} < minimum {self.min_efficiency:.3f}")
        return out

    def describe(self) -> str:
        parts = [f"{k} {getattr(self, k)}" for k in LIMITS if getattr(self, k) is not None]
        return f"[latency.{self.device}.{self.runtime}] " + ", ".join(parts)

    def as_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LIMITS}


def _limits(path: Path, where: str, table: dict[str, Any]) -> dict[str, float]:
    limits: dict[str, float] = {}
    for key, value in table.items():
        if key in ("note", *RUNTIMES):
            continue
        if key not in LIMITS:
            raise ValueError(f"{path}: unknown key {where}.{key} (known: {', '.join(LIMITS)}, note, a runtime)")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{path}: {where}.{key} must be a positive number, got {value!r}")
        limits[key] = float(value)
    return limits


def parse_budgets(path: Path, data: Any) -> dict[tuple[str, str], Budget]:
    """``[latency]`` of a profile as a budget per (device, runtime); raises ValueError naming the key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: latency must be a table")
    budgets: dict[tuple[str, str], Budget] = {}
    for device, table in data.items():
        if device not in DEVICES:
            raise ValueError(f"{path}: unknown key latency.{device} (known: {', '.join(DEVICES)})")
        if not isinstance(table, dict):
            raise ValueError(f"{path}: latency.{device} must be a table")
        shared = _limits(path, f"latency.{device}", table)
        for runtime in RUNTIMES:
            sub = table.get(runtime, {})
            if not isinstance(sub, dict):
                raise ValueError(f"{path}: latency.{device}.{runtime} must be a table")
            own = _limits(path, f"latency.{device}.{runtime}", {k: v for k, v in sub.items() if k not in RUNTIMES})
            merged = shared | own
            if merged:
                budgets[(device, runtime)] = Budget(device, runtime, **merged)
    return budgets
