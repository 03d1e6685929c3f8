"""Latency budgets: a portable floor for every machine, and absolute budgets that name the machine class they
hold for.

In a profile::

    [latency.cpu]                  # the portable floor, every runtime on the CPU, any machine
    min_layer_efficiency = 0.45
    [latency.cpu.openvino]         # this runtime: its keys override the device's
    min_layer_efficiency = 0.55

    [[latency.cpu.machine]]        # absolute budgets, judged only on a machine of this class
    class = "AMD EPYC/avx512/2"    # <CPU model>/<ISA level>/<usable cores>; shell wildcards: "*/avx512*/*"
    median_ms = 220.0              # every runtime ...
    openvino = { median_ms = 180.0, p95_ms = 200.0 }   # ... or one

Three questions, three mechanisms: "is it fast enough on *this* hardware?" is a class budget (milliseconds
hold on one kind of machine only, so a run on another class records its numbers and is not judged); "is it
grossly misconfigured?" is the floor (the model's latency against the same runtime's own time for the
model's own layers, measured on the spot: ``inspectnet.measure.layers``); "did this change make it slower?"
is the gate's A/B (``inspectnet gate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from inspectnet.names import DEVICES

FLOOR = "min_layer_efficiency"
EVERY = "*"  # a limit set on a device's (or machine entry's) table: every runtime's without a sub-table of its own
CLASS_LIMITS = ("median_ms", "p95_ms")
RENAMED = {
    "min_efficiency": f"min_efficiency (against the device's peak rate) did not carry across CPUs; use {FLOOR}",
}


class BudgetNotJudged(UserWarning):
    """A latency run on a machine class the profile has no absolute budget for: recorded, not judged."""


@dataclass(frozen=True)
class MachineBudget:
    """One ``[[latency.<device>.machine]]`` entry for one runtime: a class pattern and its limits."""

    pattern: str
    median_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class Budget:
    """What one runtime on one device is held to on the machine a run is on (``machine_class``)."""

    device: str
    runtime: str
    machine_class: str
    min_layer_efficiency: float | None = None
    machine: MachineBudget | None = None  # the class budget that applies here, if any
    other_classes: tuple[str, ...] = ()  # the profile's class patterns for this device and runtime

    @property
    def judged_class(self) -> bool:
        return self.machine is not None

    def failures(self, median_ms: float, p95_ms: float, layer_efficiency: float | None) -> list[str]:
        """What misses this budget, one line each; empty when within it."""
        out = []
        floor = self.min_layer_efficiency
        if floor is not None and (layer_efficiency is None or layer_efficiency < floor):
            shown = "not measured" if layer_efficiency is None else f"{layer_efficiency:.3f}"
            out.append(f"layer efficiency {shown} < portable floor {floor:.3f}")
        m = self.machine
        if m is not None and m.median_ms is not None and median_ms > m.median_ms:
            out.append(f"median {median_ms:.3f} ms > {m.median_ms:.3f} ms, budget of class {m.pattern!r}")
        if m is not None and m.p95_ms is not None and p95_ms > m.p95_ms:
            out.append(f"p95 {p95_ms:.3f} ms > {m.p95_ms:.3f} ms, budget of class {m.pattern!r}")
        return out

    def not_judged(self, records: str) -> str | None:
        """Why no absolute budget was judged here (None when one was), naming what to do."""
        if self.machine is not None:
            return None
        known = f"the profile has budgets for {', '.join(self.other_classes)}" if self.other_classes else "none set"
        return (
            f"no latency budget for this machine class ({self.machine_class}; {known}); "
            f"`inspectnet budget --from {records}` writes one from these records"
        )

    def describe(self) -> str:
        parts = [f"{FLOOR} {self.min_layer_efficiency}"] if self.min_layer_efficiency is not None else []
        if self.machine is not None:
            limits = [f"{k} {getattr(self.machine, k)}" for k in CLASS_LIMITS if getattr(self.machine, k) is not None]
            parts.append(f"class {self.machine.pattern!r}: " + ", ".join(limits))
        return f"[latency.{self.device}.{self.runtime}] " + "; ".join(parts or ["no limits"])


@dataclass(frozen=True)
class DeviceBudgets:
    """A device's budgets in a profile: the floor per runtime and the machine-class entries."""

    floors: dict[str, float]  # runtime (or ``EVERY``) -> its floor
    machines: list[tuple[str, dict[str, MachineBudget]]]  # (pattern, runtime or ``EVERY`` -> its budget), in order

    def runtimes(self) -> set[str]:
        """The runtimes named by a sub-table (the registry checks they exist: ``harness.settings``)."""
        named = set(self.floors).union(*(set(by_runtime) for _, by_runtime in self.machines))
        return named - {EVERY}

    def budget(self, device: str, runtime: str, machine_class: str) -> Budget:
        found = [(p, _own(by_runtime, runtime)) for p, by_runtime in self.machines]
        patterns = tuple(p for p, budget in found if budget is not None)
        machine = next((b for p, b in found if b is not None and fnmatchcase(machine_class, p)), None)
        return Budget(device, runtime, machine_class, _own(self.floors, runtime), machine, patterns)


def _own(table: dict[str, Any], runtime: str) -> Any:
    return table.get(runtime, table.get(EVERY))


def _number(path: Path, where: str, key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{path}: {where}.{key} must be a positive number, got {value!r}")
    return float(value)


def _unknown(path: Path, where: str, key: str, known: tuple[str, ...]) -> ValueError:
    if key in RENAMED:
        return ValueError(f"{path}: {where}.{RENAMED[key]}")
    if key in CLASS_LIMITS:
        return ValueError(
            f"{path}: {where}.{key}: milliseconds hold on one kind of machine; put it in a "
            f'[[{where.split(".")[0]}.{where.split(".")[1]}.machine]] table with class = "<CPU model>/<ISA>/<cores>"'
        )
    return ValueError(f"{path}: unknown key {where}.{key} (known: {', '.join(known)})")


def _per_runtime(
    path: Path, where: str, table: dict[str, Any], limits: tuple[str, ...], skip: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """The ``limits`` a table sets for every runtime (under ``EVERY``), merged under each runtime's own
    sub-table (which overrides them); runtimes left with no limit are left out. A sub-table is any table-valued
    key (which runtimes exist is the registry's to say); other unknown keys are named."""
    shared: dict[str, float] = {}
    for key, value in table.items():
        if key in skip or isinstance(value, dict):
            continue
        if key not in limits:
            raise _unknown(path, where, key, (*skip, *limits, "<runtime>"))
        shared[key] = _number(path, where, key, value)
    merged = {EVERY: shared} if shared else {}
    for runtime, sub in table.items():
        if not isinstance(sub, dict):
            continue
        own = dict(shared)
        for key, value in sub.items():
            if key == "note":
                continue
            if key not in limits:
                raise _unknown(path, f"{where}.{runtime}", key, (*limits, "note"))
            own[key] = _number(path, f"{where}.{runtime}", key, value)
        if own:
            merged[runtime] = own
    return merged


def _floors(path: Path, device: str, table: dict[str, Any]) -> dict[str, float]:
    found = _per_runtime(path, f"latency.{device}", table, (FLOOR,), ("note", "machine"))
    return {runtime: limits[FLOOR] for runtime, limits in found.items()}


def _machine(path: Path, device: str, index: int, entry: Any) -> tuple[str, dict[str, MachineBudget]]:
    where = f"latency.{device}.machine[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: {where} must be a table")
    pattern = entry.get("class")
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(f'{path}: {where} needs class = "<CPU model>/<ISA level>/<usable cores>" (wildcards: *)')
    found = _per_runtime(path, where, entry, CLASS_LIMITS, ("class", "note"))
    return pattern, {runtime: MachineBudget(pattern, **limits) for runtime, limits in found.items()}


def parse_budgets(path: Path, data: Any) -> dict[str, DeviceBudgets]:
    """``[latency]`` of a profile, per device; raises ValueError naming the key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: latency must be a table")
    budgets: dict[str, DeviceBudgets] = {}
    for device, table in data.items():
        if device not in DEVICES:
            raise ValueError(f"{path}: unknown key latency.{device} (known: {', '.join(DEVICES)})")
        if not isinstance(table, dict):
            raise ValueError(f"{path}: latency.{device} must be a table")
        machines = table.get("machine", [])
        if not isinstance(machines, list):
            raise ValueError(f"{path}: latency.{device}.machine must be tables: [[latency.{device}.machine]]")
        entries = [_machine(path, device, i, m) for i, m in enumerate(machines)]
        budgets[device] = DeviceBudgets(_floors(path, device, table), entries)
    return budgets
