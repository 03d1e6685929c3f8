"""Does the portable latency floor hold on other CPUs, and does it still catch a misconfiguration?

The latency benchmark itself (``pytest benchmarks/test_latency.py``) runs in a subprocess per configuration:
this machine as it is; its vector ISA restricted the way the runtimes allow (``ATEN_CPU_CAPABILITY`` for
torch's own kernels, ``ONEDNN_MAX_CPU_ISA`` for oneDNN, which torch's convolutions use and OpenVINO's CPU
plugin is built on), which is how a CPU of another ISA level is simulated here; and a misconfiguration
(``OMP_NUM_THREADS=1``: torch left on one thread). Each run writes its latency records; the rows are their
layer efficiencies, next to the peak efficiencies for comparison. The floor is portable when every honest
configuration sits at least ``goal`` times above it and the misconfigured one falls below it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inspectnet.deploy.runtimes import runtime as registered
from inspectnet.records import FloorRow, LatencyRecord, read_as

RESTRICTED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


@dataclass(frozen=True)
class Config:
    name: str
    environment: dict[str, str]
    misconfigured: bool = False


CONFIGS = (
    Config("this machine", {}),
    Config("ISA restricted to AVX2", RESTRICTED),
    Config("torch on one thread (OMP_NUM_THREADS=1)", {"OMP_NUM_THREADS": "1"}, misconfigured=True),
)


def run_config(config: Config, benchmark: Path, args: Sequence[str], cwd: Path) -> list[FloorRow]:
    """The latency benchmark under ``config`` in a subprocess; its records' rows (a budget failure in the
    subprocess is an outcome here, not an error; a usage error is)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", *RESTRICTED)}
    env.update(config.environment)
    with tempfile.TemporaryDirectory(prefix="inspectnet-floor-") as tmp:
        reports = Path(tmp) / "eval_harness"
        command = [sys.executable, "-m", "pytest", str(benchmark), "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*command, *args, "--report-dir", str(reports)], cwd=cwd, env=env, capture_output=True, text=True
        )
        if done.returncode not in (0, 1):
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"latency benchmark under {config.name!r} exited {done.returncode}: {' | '.join(tail)}")
        rows = []
        for path in sorted(reports.glob("*_latency_*.json")):
            record = read_as(LatencyRecord, path)
            for runtime, entry in sorted(record.runtimes.items()):
                rows.append(
                    FloorRow(
                        config=config.name,
                        environment=dict(config.environment),
                        misconfigured=config.misconfigured,
                        category=record.category,
                        runtime=runtime,
                        runs=len(entry.runs),
                        median_ms=entry.stats.median_ms,
                        layer_floor_ms=entry.layer_floor_ms,
                        layer_efficiency=entry.layer_efficiency,
                        peak_efficiency=entry.efficiency,
                        peak_gflops_per_s=round(entry.peak_flops_per_s / 1e9, 2),
                        torch_threads=int(str(entry.settings.get("torch_threads", 0))),
                    )
                )
        return rows


def worst_honest(rows: Sequence[FloorRow]) -> dict[str, float]:
    """Per runtime, the lowest layer efficiency of the honest configurations."""
    out: dict[str, float] = {}
    for row in rows:
        if not row.misconfigured:
            out[row.runtime] = min(out.get(row.runtime, row.layer_efficiency), row.layer_efficiency)
    return dict(sorted(out.items()))


def problems(rows: Sequence[FloorRow], floors: dict[str, float], goal: float) -> list[str]:
    """What keeps the floor from being portable: an honest row under ``goal`` x its floor, or a misconfigured
    torch row at or above it (the misconfiguration touches torch only)."""
    out = []
    for row in rows:
        floor = floors.get(row.runtime)
        if floor is None:
            continue
        if not row.misconfigured and row.layer_efficiency < goal * floor:
            out.append(
                f"{row.config}: {row.category} {row.runtime} layer efficiency {row.layer_efficiency:.3f} < "
                f"{goal:g} x floor {floor:.3f}"
            )
        if row.misconfigured and registered(row.runtime).process_threads and row.layer_efficiency >= floor:
            out.append(
                f"{row.config}: {row.category} {row.runtime} layer efficiency {row.layer_efficiency:.3f} >= floor "
                f"{floor:.3f}: the floor misses a one-thread torch"
            )
    return out
