"""The portable latency floor on other CPUs, simulated here: the latency benchmark run in a subprocess as this
machine is, with its vector ISA restricted to AVX2 (torch's and oneDNN's dispatch), and misconfigured (torch
on one thread). Goal: every honest configuration at least 1.5x above its runtime's floor, the misconfigured
torch below it. `pytest benchmarks/test_floor_portability.py --run-slow` (about 6 min on 2 cores, the subject
category); writes ``<report-dir>/floor_portability.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectnet.deploy.runtimes import on
from inspectnet.harness.session import Session

pytestmark = [pytest.mark.latency, pytest.mark.slow]
GOAL = 1.5
RUNS = 3


def test_floor_portability(inspectnet: Session) -> None:
    from inspectnet.builders import floor_portability_record
    from inspectnet.harness.floor_portability import CONFIGS, problems, run_config, worst_honest
    from inspectnet.hostinfo import machine_class

    options = inspectnet.options
    profile = options.profile
    here = machine_class("cpu")
    floors = {r: profile.budget("cpu", r, here).min_layer_efficiency or 0.0 for r in (rt.name for rt in on("cpu"))}
    args = [
        *("--category", ",".join(inspectnet.plan.categories), "--device", "cpu", "--latency-runs", str(RUNS)),
        *("--data-root", str(options.data_root), "--store-dir", str(options.store_dir)),
        *("--criteria", str(profile.path), "--weights", str(options.weights), "--dataset", options.dataset),
    ]
    root = Path(__file__).resolve().parents[1]
    benchmark = root / "benchmarks" / "test_latency.py"
    rows = [row for config in CONFIGS for row in run_config(config, benchmark, args, root)]
    found = problems(rows, floors, GOAL)
    path = inspectnet.emit(
        "floor_portability.json",
        floor_portability_record(
            machine_class=here,
            floors=floors,
            goal=GOAL,
            rows=rows,
            worst_honest=worst_honest(rows),
            problems=found,
        ),
    )
    assert not found, f"{'; '.join(found)}; {path}"
