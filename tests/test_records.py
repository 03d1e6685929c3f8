"""Records: every committed record reads into its dataclass and writes back to the same JSON; malformed or
schema-mismatched files are refused with one line naming the file and the field; seed aggregates."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

import pytest

from inspectnet.harness.ablation import aggregate
from inspectnet.records import (
    KINDS,
    SCHEMA_VERSION,
    EvalRecord,
    LatencyRecord,
    ParityRecord,
    Record,
    RecordError,
    Scoring,
    parse,
    read,
    read_as,
    write_record,
)
from inspectnet.typed_json import DecodeError, decode, encode

ROOT = Path(__file__).parent.parent
COMMITTED = sorted((ROOT / "reports").rglob("*.json"))  # every record under reports/ (report.load reads them all)
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "reports").rglob("*.json"))
RETRAINS = sorted((ROOT / "tests" / "fixtures" / "retrains").glob("*.json"))  # written with indent=1
EVALUATION = ROOT / "tests" / "fixtures" / "reports" / "eval_harness" / "patchcore_bottle.json"


@pytest.mark.parametrize("path", COMMITTED + FIXTURES, ids=lambda p: f"{p.parent.parent.parent.name}/{p.name}")
def test_every_committed_record_round_trips_exactly(path: Path, tmp_path: Path) -> None:
    """Read and written again, a committed record is the same file, byte for byte."""
    data = json.loads(path.read_text())
    record = parse(data, path)
    assert type(record) is KINDS[data["kind"]]
    assert record.to_json() == data
    write_record(tmp_path / path.name, record)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", RETRAINS, ids=lambda p: p.name)
def test_retrain_fixtures_round_trip(path: Path) -> None:
    """The retrain fixtures (written compactly, with indent=1) re-encode to the same text too."""
    record = parse(json.loads(path.read_text()), path)
    assert json.dumps(record.to_json(), indent=1, sort_keys=True) == path.read_text()


def test_every_kind_is_committed() -> None:
    """The round trip above covers every record kind (a new kind needs a committed or fixture record)."""
    assert {json.loads(p.read_text())["kind"] for p in COMMITTED + FIXTURES} == set(KINDS)


LATENCY_RECORDS = [p for p in COMMITTED + FIXTURES if json.loads(p.read_text())["kind"] == "latency"]


@pytest.mark.parametrize("path", LATENCY_RECORDS, ids=lambda p: f"{p.parent.parent.parent.name}/{p.name}")
def test_the_floor_is_a_floor_in_every_committed_latency_record(path: Path) -> None:
    """No runtime beats the compute floor (efficiency <= 1, with 2% for the peak measurement's own noise),
    the floor is the FLOPs over the best peak measurement around the runtime's runs, and each holds R >= 3 runs."""
    record = read_as(LatencyRecord, path)
    for name, entry in record.runtimes.items():
        assert entry.efficiency <= 1.02, f"{path.name} {name}: efficiency {entry.efficiency} beats the floor"
        assert entry.compute_floor_ms == pytest.approx(record.flops.total / entry.peak_flops_per_s * 1e3, abs=1e-3)
        assert len(entry.runs) >= 3 and len(entry.calibrations) == 2 * len(entry.runs), f"{path.name} {name}"


def test_records_are_typed_all_the_way_down() -> None:
    """No record field, at any depth, is an untyped dict: every block is a dataclass or a typed container."""
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, hint in get_type_hints(cls).items():
            text = str(hint)
            assert "Any" not in text and "object" not in text, f"{cls.__name__}.{name}: {text}"
            for arg in _dataclasses_in(hint):
                walk(arg)

    for cls in KINDS.values():
        walk(cls)


def _dataclasses_in(hint: object) -> list[type]:
    from typing import get_args

    if isinstance(hint, type) and is_dataclass(hint):
        return [hint]
    return [c for arg in get_args(hint) for c in _dataclasses_in(arg)]


def _evaluation() -> dict[str, object]:
    data: dict[str, object] = json.loads(EVALUATION.read_text())
    return data


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.pop("metrics"), r"fields do not match EvalRecord \(missing metrics\)"),
        (lambda d: d.update(extra=1), r"fields do not match EvalRecord \(unknown extra\)"),
        (lambda d: d.update(kind="latency"), "not an evaluation record"),
        (lambda d: d.update(counts={"train": 1}), r"counts: fields do not match Counts \(missing test_defective"),
        (lambda d: d["model"].update(image_size="256"), "model.image_size: expected int, got '256'"),
        (lambda d: d["checkpoint"].update(size_bytes=True), "checkpoint.size_bytes: expected int, got True"),
        (lambda d: d["metrics"].update(aupro=None), "metrics.aupro: expected float, got None"),
    ],
)
def test_malformed_records_are_refused_naming_the_file_and_field(tmp_path: Path, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    data = _evaluation()
    mutate(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=match) as exc:
        read_as(EvalRecord, path)
    assert str(exc.value).startswith(f"{path}: ")
    assert "\n" not in str(exc.value)


def test_unreadable_json_and_unknown_kinds_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match="not readable JSON"):
        read(path)
    path.write_text(json.dumps({"kind": "mystery", "schema_version": SCHEMA_VERSION}))
    with pytest.raises(RecordError, match="unknown record kind 'mystery'"):
        read(path)


def test_records_of_one_kind_refuse_another(tmp_path: Path) -> None:
    write_record(tmp_path / "e.json", parse(_evaluation()))
    assert isinstance(read_as(EvalRecord, tmp_path / "e.json"), EvalRecord)
    with pytest.raises(RecordError, match=r"e\.json: not a latency record"):
        read_as(LatencyRecord, tmp_path / "e.json")
    with pytest.raises(RecordError, match=r"e\.json: not a parity record"):
        read_as(ParityRecord, tmp_path / "e.json")


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    record = parse(_evaluation())
    write_record(tmp_path / "r.json", record)
    assert read(tmp_path / "r.json") == record


def test_one_schema_version_and_the_kind_filled_from_the_class() -> None:
    record = parse(_evaluation())  # a committed record of version 5: read, and kept at its version
    assert isinstance(record, Record) and record.schema_version == 5 and SCHEMA_VERSION == 6
    assert parse({**_evaluation(), "schema_version": SCHEMA_VERSION}).schema_version == SCHEMA_VERSION
    assert {f.default for cls in KINDS.values() for f in fields(cls) if f.name == "schema_version"} == {SCHEMA_VERSION}
    with pytest.raises(ValueError, match="has kind 'evaluation', not 'latency'"):
        EvalRecord(**{**record.__dict__, "kind": "latency"})


def test_a_block_only_some_records_have_is_left_out_not_null() -> None:
    from inspectnet.typed_json import encode

    padim = Scoring("anomalib", False, "anomalib 2.7's PadimModel as is")

    assert encode(padim) == {"name": "anomalib", "departs_from_anomalib": False, "description": padim.description}


def test_an_int_where_a_float_is_declared_is_kept_as_written() -> None:
    assert decode(dict[str, float], {"a": 1, "b": 0.5}) == {"a": 1, "b": 0.5}
    assert type(decode(dict[str, float], {"a": 1})["a"]) is int
    with pytest.raises(DecodeError, match="a: expected float, got True"):
        decode(dict[str, float], {"a": True})


def test_seed_aggregate_is_mean_and_population_std() -> None:
    agg = aggregate([0, 1, 2], [0.9, 1.0, 0.8])
    assert agg.mean == pytest.approx(0.9) and agg.n == 3
    assert agg.pstd == pytest.approx((((0.0) ** 2 + 0.1**2 + 0.1**2) / 3) ** 0.5)
    single = aggregate([0], [0.7])
    assert (single.n, single.pstd) == (1, None) and "pstd" not in encode(single)  # no spread, not a zero one


def test_an_export_block_keeps_the_export_time_and_older_records_still_load() -> None:
    from dataclasses import replace

    from inspectnet.builders import export_info
    from inspectnet.deploy.export import Exported
    from inspectnet.records import ExportInfo
    from inspectnet.typed_json import encode

    path = ROOT / "reports" / "eval_harness" / "onnxruntime_parity_patchcore_bottle.json"
    record = read_as(ParityRecord, path)  # written before export_s was kept: none in its export block
    assert isinstance(record.export, ExportInfo) and record.export.export_s is None
    assert "export_s" not in encode(record.export)
    old = record.export
    made = export_info(Exported(old.key, path.parent, encode(old.settings), old.sha256, 12.5))
    assert made == replace(old, export_s=12.5) and encode(made)["export_s"] == 12.5
    reused = export_info(Exported(old.key, path.parent, encode(old.settings), old.sha256, None))
    assert reused == old  # from the store: no time, and the block is what it was
