"""The builders of the records made from a session (parity, candidates, latency), fed typed producers: the record
they make reads back to itself, the provenance both comparison records spread is one value, and each measured
block is mapped, not passed through."""

from __future__ import annotations

import json
from pathlib import Path

from inspectnet import builders
from inspectnet.criteria.candidates import CandidateCriteria
from inspectnet.criteria.latency import Budget, MachineBudget
from inspectnet.deploy.calibration import Calibration
from inspectnet.deploy.candidates import Built
from inspectnet.measure.candidates import Agreement, SpeedUp
from inspectnet.measure.compute import FlopCount
from inspectnet.measure.latency import statistics, warmup_tail
from inspectnet.measure.layers import LayerOp, LayerTiming
from inspectnet.measure.parity import ParityResult, Where
from inspectnet.measure.peak import KernelRate, PeakMeasurement
from inspectnet.measure.stages import StageRow
from inspectnet.records import (
    CalibrationInfo,
    CandidateRecord,
    EvalRecord,
    LatencyRecord,
    ParityRecord,
    PeakMeasurementInfo,
    Record,
    read_as,
)

FIXTURES = Path(__file__).parent / "fixtures" / "reports" / "eval_harness"
EVALUATION = read_as(EvalRecord, FIXTURES / "patchcore_bottle.json")
EXPORT = read_as(CandidateRecord, FIXTURES / "candidate_patchcore_bottle_fp16.json").fp32_export
CALIBRATION = Calibration(2.0, 2.5, 0.5, 4.0, 0.0, 6.0)
FROM_EVALUATION = ("run_name", "method", "category", "checkpoint", "weights", "dataset", "source")


def _reads_back(record: Record) -> None:
    data = json.loads(json.dumps(record.to_json()))
    assert type(record).from_json(data) == record


def _parity() -> ParityRecord:
    result = ParityResult(
        tolerance=1e-3,
        n_images=2,
        max_abs_error={"pred_score": 2e-3, "anomaly_map": 1e-4},
        label_flips=0,
        mask_pixel_flips=0,
        mask_pixels=10,
        where=(Where("pred_score", "good/000.png", 2e-3),),
        reference_fp32_error={"reference": {"pred_score": 1e-6}, "candidate": {"pred_score": 2e-3}},
        stages=(StageRow("layer2", 1e-6, 1e-7, 3.0, False), StageRow("pred_label", None, None, 1.0, False, flips=0)),
        stage_images=("good/000.png",),
    )
    return builders.parity_record(
        evaluation=EVALUATION,
        runtime="openvino",
        device="cpu",
        images=[("good/000.png", False), ("broken/000.png", True)],
        result=result,
        tie_band=1e-6,
        runtime_settings={"threads": 2, "providers": ["CPU"]},
        export=EXPORT,
        calibration=CALIBRATION,
        environment_device="cpu",
    )


def test_parity_record_reads_back_with_its_stage_table_mapped() -> None:
    record = _parity()
    _reads_back(record)
    assert record.status == "parity_broken" and record.where and record.stages is not None
    label = record.stages[1]
    assert (label.flips, label.divergence_limit) == (0, None)  # a flip stage has no limit
    assert record.stages[0].divergence_limit is not None
    assert record.calibration == CalibrationInfo(2.0, 2.5, 0.5, 4.0, 0.0, 6.0)


def test_parity_and_candidate_records_spread_the_same_provenance() -> None:
    parity = _parity()
    built = Built("fp16", Path("model.xml"), "f32", "k" * 64, {"model.xml": "0" * 64}, 500, {"nncf": "none"}, 1.5)
    candidate = builders.candidate_record(
        evaluation=EVALUATION,
        built=built,
        limits=CandidateCriteria("fp16", min_speedup=1.1),
        fp32_metrics={"image_auroc": 1.0},
        metrics={"image_auroc": 0.99},
        measured=Agreement(1.0, 0.98, 48),
        fast=SpeedUp(1.2, 1.1, 1.3, 0.96, 12, 5.0, 4.2),
        latency_protocol="A/B",
        fp32_size_bytes=1000,
        failures=[],
        export=EXPORT,
        runtime_settings={"precision": "f32"},
        calibration=CALIBRATION,
        environment_device="cpu",
    )
    _reads_back(candidate)
    assert isinstance(candidate, CandidateRecord) and candidate.speedup.describe().startswith("x1.20")
    for name in FROM_EVALUATION:
        assert getattr(parity, name) == getattr(candidate, name) == getattr(EVALUATION, name), name
    assert parity.environment == candidate.environment


def test_latency_entry_maps_the_measured_blocks() -> None:
    samples = [0.005 + 1e-6 * i for i in range(30)]
    kernels = [KernelRate("torch", "matmul 1024", 2 * 1024**3, 0.01, 214.75)]
    peak = PeakMeasurement("cpu", 214_750_000_000, "torch matmul 1024", kernels, 0.5)
    layers = LayerTiming("torch", 2, 2.5, [LayerOp("conv", 3, 1e-4)], 0.2)
    runs = [builders.latency_run(i, "2026-01-01T00:00:00Z", samples[:3], samples) for i in range(3)]
    entry = builders.latency_entry(
        runtime="torch",
        stats=statistics(samples * 3, warmup=3),
        runs=runs,
        tail=warmup_tail(samples),
        peaks=[peak] * 6,
        floor_ms=1.0,
        efficiency=0.2,
        layer_timings=[layers] * 3,
        budget=Budget("cpu", "torch", "x86-avx2", 0.1, MachineBudget("x86-*", 10.0, 12.0)),
        budget_source="default.toml",
        records="reports",
        settings={"threads": 2},
        artifact=None,
    )
    assert isinstance(entry.calibrations[0], PeakMeasurementInfo) and entry.layer_floor_ms == 2.5
    record = builders.latency_record(
        evaluation=EVALUATION,
        device="cpu",
        runs=3,
        warmup=3,
        rounds=30,
        flops=FlopCount(10**9, {"aten.mm": 10**9}),
        entries={"torch": entry},
    )
    _reads_back(record)
    assert isinstance(record, LatencyRecord) and record.peak_gflops_per_s == 214.75
