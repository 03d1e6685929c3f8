"""The record schema is declared in one place and held to a committed fingerprint: every kind's JSON shape
(field names and order, types, optionality, nested blocks) derived from ``inspectnet.records``; a change to it
without a new ``SCHEMA_VERSION`` fails, naming what changed. Producers in ``measure`` and ``deploy`` reach a
record only through ``builders``' explicit mappings, which keep every field."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspectnet.records import KINDS, SCHEMA_VERSION, LatencyRecord, LatencyStats, RuntimeLatency, schema
from inspectnet.typed_json import encode

ROOT = Path(__file__).parent.parent


def _committed() -> dict[str, object]:
    data: dict[str, object] = json.loads(schema.COMMITTED.read_text())
    return data


def test_the_derived_schema_is_the_committed_one() -> None:
    problem = schema.check(_committed(), schema.fingerprint())
    assert problem is None, problem


def test_the_fingerprint_covers_every_kind_at_this_schema_version() -> None:
    committed = _committed()
    assert committed["schema_version"] == SCHEMA_VERSION
    assert set(committed["kinds"]) == set(KINDS)  # type: ignore[call-overload]
    assert schema.COMMITTED.read_text() == schema.text(schema.fingerprint())  # written by --write, byte for byte


def _planted(cls: type, name: str, hint: object, **field_kwargs: object) -> type:
    """A copy of the dataclass ``cls`` with one more field (a planted schema change)."""
    extra = (name, hint, dataclasses.field(**field_kwargs))  # type: ignore[call-overload]
    return dataclasses.make_dataclass(
        cls.__name__, [extra], bases=(cls,), frozen=True, kw_only=True, namespace={"__module__": cls.__module__}
    )


def test_a_field_added_to_a_nested_block_fails_the_check_naming_it() -> None:
    """A field planted three blocks deep (a latency record's runtime entry's stats) changes the fingerprint;
    the check names the path and says to bump SCHEMA_VERSION."""
    stats = _planted(LatencyStats, "jitter_ms", float)
    entry = dataclasses.make_dataclass(
        "RuntimeLatency", [("stats", stats)], bases=(RuntimeLatency,), frozen=True, namespace={"__module__": __name__}
    )
    kind = _planted(LatencyRecord, "runtimes", dict[str, entry])  # type: ignore[valid-type]
    problem = schema.check(_committed(), schema.fingerprint({**KINDS, "latency": kind}))
    assert problem is not None
    assert "latency.runtimes{}.stats.jitter_ms: added" in problem
    assert "bump SCHEMA_VERSION" in problem and schema.COMMAND in problem


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda c: _planted(c, "note", str | None, default=None), "evaluation.note: added"),
        (
            lambda c: _planted(c, "seed", str),
            'evaluation.seed: "int" -> "str"',
        ),
        (
            lambda c: _planted(c, "source", str | None),  # no longer left out while None
            "evaluation.source (optional): removed",
        ),
    ],
    ids=["added", "retyped", "no-longer-optional"],
)
def test_each_kind_of_change_is_caught(plant, expected: str) -> None:  # type: ignore[no-untyped-def]
    kind = plant(KINDS["evaluation"])
    problem = schema.check(_committed(), schema.fingerprint({**KINDS, "evaluation": kind}))
    assert problem is not None and expected in problem, problem


def test_a_removed_kind_and_a_bumped_version_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = {k: v for k, v in KINDS.items() if k != "criteria"}
    problem = schema.check(_committed(), schema.fingerprint(kinds))
    assert problem is not None and "criteria: removed" in problem
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    problem = schema.check(_committed(), schema.fingerprint())
    assert problem is not None and "regenerate with" in problem and "bump" not in problem


def test_the_command_checks_and_regenerates(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    run = [sys.executable, "-m", "inspectnet.records.schema", "--path", str(target)]
    subprocess.run([*run, "--write"], check=True, cwd=ROOT, capture_output=True)
    assert target.read_text() == schema.COMMITTED.read_text()
    assert subprocess.run(run, cwd=ROOT, capture_output=True).returncode == 0
    target.write_text(target.read_text().replace('"min_ms"', '"minimum_ms"'))
    checked = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 1 and "bump SCHEMA_VERSION" in checked.stdout


def test_records_import_neither_measure_nor_deploy() -> None:
    code = (
        "import sys, inspectnet.records, inspectnet.records.schema; "
        "print(sorted(m for m in sys.modules if m.startswith(('inspectnet.measure', 'inspectnet.deploy'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the builders' mappings


def _same_json(produced: object, mapped: object) -> None:
    """The producer's value and the record block made from it encode alike: the mapping keeps every field."""
    assert encode(mapped) == encode(produced)


def test_measured_blocks_map_every_field() -> None:
    from inspectnet import builders
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.measure.ab import RatioDecision
    from inspectnet.measure.candidates import SpeedUp
    from inspectnet.measure.compute import FlopCount
    from inspectnet.measure.deployment import StageDifference
    from inspectnet.measure.layers import LayerOp, LayerTiming
    from inspectnet.measure.peak import KernelRate, PeakMeasurement
    from inspectnet.measure.thresholds import ThresholdFacts

    kernels = [KernelRate("torch", "matmul 1024", 2 * 1024**3, 0.0123456, 174.0)]
    produced = [
        (Calibration(1.0, 2.0, 0.5, 3.0, 0.0, 4.0), builders.calibration_info),
        (RatioDecision("ab", 1.01, 0.99, 1.03, 0.95, 12, "same"), builders.decision_info),
        (RatioDecision("records", 1.2, 0.9, 1.4, 0.95, 3, "undecided", "moved"), builders.decision_info),
        (SpeedUp(1.5, 1.4, 1.6, 0.96, 12, 5.0, 3.3), builders.speedup_info),
        (FlopCount(10**9, {"aten.mm": 10**9}), builders.flops_info),
        (StageDifference("layer2", None, 3.0, False), builders.stage_difference_info),
        (PeakMeasurement("cpu", 174 * 10**9, "torch matmul 1024", kernels, 0.5), builders.peak_measurement_info),
        (LayerTiming("onnxruntime", 2, 1.25, [LayerOp("conv", 3, 1e-4)], 0.2), builders.layer_timing_info),
        (ThresholdFacts(0.5, 16, 32, 0.1, 0.4, None, 0.9, 0, 1, 0.0, 0.17, 0.95), builders.threshold_facts_info),
    ]
    for value, mapping in produced:
        _same_json(value, mapping(value))  # type: ignore[operator]


def test_latency_statistics_are_rounded_as_records_keep_them() -> None:
    from inspectnet import builders
    from inspectnet.measure.latency import statistics, warmup_tail

    samples = [0.0051234567, 0.0049876543, 0.0050000001] * 10
    stats = builders.latency_stats(statistics(samples, warmup=3))
    assert (stats.n, stats.warmup, stats.median_ms) == (30, 3, 5.0)
    assert all(round(v, 4) == v for v in dataclasses.astuple(stats))
    tail = builders.warmup_tail_info(warmup_tail(samples))
    assert tail.threshold == 1.25 and round(tail.ratio, 4) == tail.ratio
