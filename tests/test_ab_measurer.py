"""The gate's A/B measurer: models found by the sha256 their records hold, the reasons it falls back, and an
A/B run end to end on two tiny real exported models (ONNX Runtime and OpenVINO) through ``compare``; torch
eager rebuilt from a store (a tiny real PatchCore: resnet18 at 32 x 32) or refused with the reason."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inspectnet._io import sha256_file
from inspectnet.gate import compare
from inspectnet.harness.ab import ABMeasurer, find_model, torch_model
from inspectnet.measure.ab import ABProtocol, ABTiming
from inspectnet.records import (
    CheckpointInfo,
    ExportInfo,
    GivenExport,
    LatencyRecord,
    ModelInfo,
    WeightsInfo,
    read_as,
    write_record,
)

FIXTURE = Path(__file__).parent / "fixtures" / "reports"
LATENCY = FIXTURE / "eval_harness" / "patchcore_bottle_latency_cpu.json"
SIZE = 8
FAST = ABProtocol(quads=2, block_calls=1, warmup=1)


def _tiny_export(directory: Path, scale: float) -> dict[str, str]:
    """A one-convolution model with the suite's input name and shape, as model.onnx and model.xml/.bin."""
    import numpy as np
    import onnx
    import openvino as ov
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((3, 3, 3, 3), scale, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["out"], pads=[1, 1, 1, 1])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [w],
    )
    directory.mkdir(parents=True)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), directory / "model.onnx"
    )
    ov.save_model(ov.convert_model(str(directory / "model.onnx")), str(directory / "model.xml"), compress_to_fp16=False)
    return {name: sha256_file(directory / name) for name in ("model.onnx", "model.xml", "model.bin")}


def _record(key: str, sha256: dict[str, str]) -> LatencyRecord:
    """The fixture's latency record, its exported runtimes pointing at the tiny model ``key``."""
    record = read_as(LatencyRecord, LATENCY)
    runtimes = {}
    for name, entry in record.runtimes.items():
        if isinstance(entry.artifact, ExportInfo):
            entry = dataclasses.replace(entry, artifact=dataclasses.replace(entry.artifact, key=key, sha256=sha256))
        runtimes[name] = entry
    return dataclasses.replace(
        record, runtimes=runtimes, protocol=dataclasses.replace(record.protocol, image_size=SIZE)
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("store")
    return root, {key: _tiny_export(root / "exports" / key, scale) for key, scale in (("base", 0.1), ("cur", 0.2))}


def test_an_export_is_found_by_key_and_sha256_and_refused_when_modified(
    store: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    root, digests = store
    info = _record("base", digests["base"]).runtimes["openvino"].artifact
    assert isinstance(info, ExportInfo)
    assert find_model(info, "openvino", [root]) == root / "exports" / "base" / "model.xml"
    assert find_model(info, "onnxruntime", [root]) == root / "exports" / "base" / "model.onnx"
    copy = tmp_path / "copy"
    shutil.copytree(root / "exports" / "base", copy / "exports" / "base")
    (copy / "exports" / "base" / "model.bin").write_bytes(b"modified")
    assert find_model(info, "openvino", [copy]) is None  # the .bin no longer matches its sha256


def test_a_given_export_is_found_by_name_and_sha256_anywhere_under_a_directory(
    store: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    root, digests = store
    shutil.copytree(root / "exports" / "cur", tmp_path / "deep" / "user" / "export")
    given = GivenExport(
        "anomalib export", "model.xml", {k: v for k, v in digests["cur"].items() if k != "model.onnx"}, "", []
    )
    assert find_model(given, "openvino", [tmp_path]) == tmp_path / "deep" / "user" / "export" / "model.xml"
    wrong = dataclasses.replace(given, sha256={**given.sha256, "model.xml": "0" * 64})
    assert find_model(wrong, "openvino", [tmp_path]) is None


def test_the_measurer_says_why_it_cannot_run_a_row(store: tuple[Path, dict[str, dict[str, str]]]) -> None:
    root, digests = store
    base, cur = _record("base", digests["base"]), _record("cur", digests["cur"])
    measurer = ABMeasurer([root], FAST)
    torch_reason = str(measurer(base, cur, "torch"))  # the fixture's checkpoint is not in this store
    assert torch_reason.startswith("the baseline's torch model cannot be rebuilt: its checkpoint (key ")
    assert torch_reason.endswith(f"is not in {root}")
    nowhere = ABMeasurer([], FAST)(base, cur, "openvino")
    assert isinstance(nowhere, str) and "is not in no directory; pass --artifacts DIR" in nowhere
    entry = cur.runtimes["openvino"]
    other = dataclasses.replace(entry, settings={**entry.settings, "version": "2099.1"})
    upgraded = dataclasses.replace(cur, runtimes={**cur.runtimes, "openvino": other})
    assert "A/B here would time both on one version" in str(measurer(base, upgraded, "openvino"))


def test_ab_end_to_end_through_the_gate(store: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path) -> None:
    root, digests = store
    for side, key in (("baseline", "base"), ("current", "cur")):
        write_record(tmp_path / side / "eval_harness" / LATENCY.name, _record(key, digests[key]))
    measurer = ABMeasurer([root], FAST)
    timing = measurer(_record("base", digests["base"]), _record("cur", digests["cur"]), "onnxruntime")
    assert isinstance(timing, ABTiming) and len(timing.ratios) == 2 and len(timing.a_block_ms) == 4
    result = compare(tmp_path / "baseline", tmp_path / "current", ab=measurer)
    modes = {f.subject: f.mode for f in result.findings if f.kind == "latency"}
    assert modes == {"bottle cpu onnxruntime": "ab", "bottle cpu openvino": "ab", "bottle cpu torch": "records"}
    assert any("exports/base/model.xml vs" in line for line in measurer.log)


TORCH_SIZE = 32


def _torch_side(root: Path, name: str, bank: int) -> LatencyRecord:
    """A tiny real PatchCore (resnet18 layer1+2, random:0 weights, ``bank`` memory entries) stored the way a
    session stores one: head in ``models/<key>/``, weights in ``weights/``, thresholds in an export's
    ``export.json``; and the fixture's latency record pointing at it by sha256."""
    import torch

    from inspectnet.models.store import ArtifactStore, spec_key
    from inspectnet.models.train import ModelSpec, build, head_state
    from inspectnet.models.weights import WeightsSpec, resolve

    weights = resolve(WeightsSpec("random", seed=0), "resnet18", root)
    spec = ModelSpec("patchcore", "bottle", 0, "resnet18", ("layer1", "layer2"), TORCH_SIZE, None)
    model = build(spec, weights)
    model.memory_bank = torch.randn(bank, 192, generator=torch.Generator().manual_seed(bank))
    key = spec_key({"test": name})
    checkpoint = ArtifactStore(root).save(key, head_state(model), {"test": name})
    calibration = dict(
        image_threshold=1.0, pixel_threshold=1.0, image_min=0.0, image_max=2.0, pixel_min=0.0, pixel_max=2.0
    )
    identity = {
        "checkpoint_sha256": checkpoint.sha256,
        "weights_sha256": weights.sha256,
        "model": spec.as_record(),
        "calibration": calibration,
    }
    export_key = spec_key({"export": name})
    (root / "exports" / export_key).mkdir(parents=True)
    (root / "exports" / export_key / "export.json").write_text(json.dumps({"identity": identity}))
    record = _record(export_key, {})
    return dataclasses.replace(
        record,
        model=ModelInfo(**{**spec.as_record(), "layers": list(spec.layers)}),
        checkpoint=CheckpointInfo(key, "checkpoint.pt", checkpoint.sha256, checkpoint.size_bytes, False),
        weights=WeightsInfo("random:0", "random", "resnet18", weights.sha256),
        protocol=dataclasses.replace(record.protocol, image_size=TORCH_SIZE),
    )


@pytest.fixture(scope="module")
def torch_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LatencyRecord, LatencyRecord]:
    root = tmp_path_factory.mktemp("torch_store")
    return root, _torch_side(root, "base", 64), _torch_side(root, "cur", 4096)


def test_torch_eager_is_rebuilt_from_the_store_and_timed_ab(
    torch_store: tuple[Path, LatencyRecord, LatencyRecord],
) -> None:
    root, base, cur = torch_store
    module: Any = torch_model(cur, [root])
    assert not isinstance(module, str)
    assert tuple(module.model.memory_bank.shape) == (4096, 192)
    assert float(module.post.image_threshold) == 1.0  # the export's thresholds
    measurer = ABMeasurer([root], FAST)
    timing = measurer(base, cur, "torch")
    assert isinstance(timing, ABTiming) and len(timing.ratios) == 2
    assert measurer.log[-1].startswith(f"bottle cpu torch: checkpoints {base.checkpoint.sha256[:12]} vs ")


def test_torch_eager_is_refused_with_the_missing_piece(
    torch_store: tuple[Path, LatencyRecord, LatencyRecord], tmp_path: Path
) -> None:
    root, base, cur = torch_store
    for missing, reason in (
        ("weights", "its resnet18 weights (random:0, sha256 "),
        ("exports", "holds its thresholds (exports/*/export.json)"),
    ):
        partial = tmp_path / missing
        shutil.copytree(root, partial, ignore=shutil.ignore_patterns(missing))
        assert reason in str(torch_model(base, [partial]))
    upgraded = dataclasses.replace(cur, platform=dataclasses.replace(cur.platform, torch="9.9.9"))
    assert str(ABMeasurer([root], FAST)(base, upgraded, "torch")) == (
        f"torch {base.platform.torch} (baseline) vs 9.9.9 (current): A/B here would time both on one version"
    )
    tampered = tmp_path / "tampered"
    shutil.copytree(root, tampered)
    (tampered / "models" / base.checkpoint.key / "checkpoint.pt").write_bytes(b"modified")
    assert "refusing to load a modified checkpoint" in str(torch_model(base, [tampered]))


def _tiny_program(directory: Path, scale: float) -> dict[str, str]:
    """A one-convolution module as a ``torch.export`` program (``model.pt2``), the suite's input shape."""
    import torch

    class Conv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1, bias=False)
            torch.nn.init.constant_(self.conv.weight, scale)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
            return (self.conv(image),)

    directory.mkdir(parents=True)
    program = torch.export.export(Conv().eval(), (torch.zeros(1, 3, SIZE, SIZE),))
    torch.export.save(program, str(directory / "model.pt2"))
    return {"model.pt2": sha256_file(directory / "model.pt2")}


def test_a_registered_runtime_is_timed_ab_by_the_gate_without_a_line_of_its_own(tmp_path: Path) -> None:
    """torch.export came in as one module and one registry row; the gate's A/B finds and times its programs."""
    digests = {key: _tiny_program(tmp_path / "exports" / key, scale) for key, scale in (("base", 0.1), ("cur", 0.2))}

    def side(key: str) -> LatencyRecord:
        record = _record(key, digests[key])
        entry = record.runtimes["onnxruntime"]
        assert isinstance(entry.artifact, ExportInfo)
        artifact = dataclasses.replace(entry.artifact, key=key, sha256=digests[key])
        program = dataclasses.replace(entry, artifact=artifact, settings={"version": "same"})
        return dataclasses.replace(record, runtimes={"torch-export": program})

    measurer = ABMeasurer([tmp_path], FAST)
    timing = measurer(side("base"), side("cur"), "torch-export")
    assert isinstance(timing, ABTiming) and len(timing.ratios) == 2, timing
    assert any("exports/base/model.pt2 vs" in line for line in measurer.log)
