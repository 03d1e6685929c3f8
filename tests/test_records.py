"""Evaluation records: JSON round trip, refusal of malformed or schema-mismatched files, seed aggregates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspectnet.harness.ablation import Aggregate
from inspectnet.records import SCHEMA_VERSION, Counts, DatasetInfo, EvalRecord, RecordError, read_record, write_record


def _record() -> EvalRecord:
    return EvalRecord(
        kind="evaluation",
        schema_version=SCHEMA_VERSION,
        run_name="patchcore_cable",
        method="patchcore",
        category="cable",
        seed=0,
        seed_pinned=True,
        coreset=0.01,
        model={"backbone": "wide_resnet50_2"},
        scoring={"name": "stable-distances-v1", "departs_from_anomalib": True},
        weights={"spec": "random:0", "kind": "random", "backbone": "wide_resnet50_2", "sha256": "ab" * 32},
        dataset=DatasetInfo("synthetic", "data/synthetic", "cd" * 32, "CC0-1.0", "not MVTec AD"),
        counts=Counts(60, 16, 32),
        metrics={"image_auroc": 0.9, "pixel_auroc": 0.95, "aupro": 0.8},
        metric_definitions={},
        curves={"roc": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0]}},
        checkpoint={"sha256": "ef" * 32, "size_bytes": 10},
        timings_s={"fit": 1.0},
        environment={"python": "3.11"},
        created="2026-11-28T00:00:00Z",
    )


def test_round_trip(tmp_path: Path) -> None:
    write_record(tmp_path / "r.json", _record())
    assert read_record(tmp_path / "r.json") == _record()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.pop("metrics"), "fields do not match"),
        (lambda d: d.update(kind="latency"), "not an evaluation record"),
        (lambda d: d.update(counts={"train": 1}), "malformed"),
    ],
)
def test_malformed_records_are_refused_naming_the_file(tmp_path: Path, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    data = _record().to_json()
    mutate(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=match) as exc:
        read_record(path)
    assert str(path) in str(exc.value)


def test_unreadable_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match="not readable JSON"):
        read_record(path)


def test_seed_aggregate_is_mean_and_population_std() -> None:
    agg = Aggregate.of([0, 1, 2], [0.9, 1.0, 0.8])
    assert agg.mean == pytest.approx(0.9) and agg.n == 3
    assert agg.pstd == pytest.approx((((0.0) ** 2 + 0.1**2 + 0.1**2) / 3) ** 0.5)


def _fill(cls: type, **given: object) -> object:
    """An instance of a record class with every field given or a plain placeholder of its JSON kind."""
    from dataclasses import fields

    values: dict[str, object] = {}
    for f in fields(cls):
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.name == "schema_version":
            values[f.name] = SCHEMA_VERSION
        elif f.name == "dataset":
            values[f.name] = DatasetInfo("synthetic", "data/synthetic", "cd" * 32, "CC0-1.0", "not MVTec AD")
        else:
            text = str(f.type)
            values[f.name] = {} if text.startswith("dict") else [] if text.startswith("list") else f.name
    return cls(**values)


def test_latency_and_parity_records_round_trip_and_refuse_each_other(tmp_path: Path) -> None:
    from inspectnet.records import LatencyRecord, ParityRecord, RuntimeLatency, read_latency, read_parity

    entry = _fill(RuntimeLatency, stats={"median_ms": 1.0}, samples_ms=[1.0, 2.0], artifact=None, efficiency=0.5)
    latency = _fill(LatencyRecord, kind="latency", runtimes={"openvino": entry}, compute_floor_ms=1.0)
    parity = _fill(ParityRecord, kind="parity", tolerance=1e-3, n_images=20, label_flips=0)
    write_record(tmp_path / "l.json", latency)  # type: ignore[arg-type]
    write_record(tmp_path / "p.json", parity)  # type: ignore[arg-type]
    assert read_latency(tmp_path / "l.json") == latency
    assert read_parity(tmp_path / "p.json") == parity
    with pytest.raises(RecordError, match=r"p\.json: not a latency record"):
        read_latency(tmp_path / "p.json")
    with pytest.raises(RecordError, match=r"l\.json: not a parity record"):
        read_parity(tmp_path / "l.json")
