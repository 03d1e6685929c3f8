"""Parity must be able to fail: planted defects in the exported model are caught.

- one weight of the exported graph perturbed by 1e-2 (the largest-magnitude weight of the first convolution,
  the one every pixel passes through);
- reduced precision: the OpenVINO IR with its weights compressed to FP16, and (on a host that can run it)
  the f32 graph compiled with INFERENCE_PRECISION_HINT=bf16, the silent default the card warns about;
- one defect per stage of the deployed model (``deploy.mutants``): the input's channels swapped, one weight
  of layer3, one memory-bank row, the smoothing sigma, a normalisation bound. Each must break parity and
  the diagnosis must name the stage it was planted in, not an earlier one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectnet.harness.parity import ParityChecker
from inspectnet.harness.session import Session
from inspectnet.names import RunKey

pytestmark = pytest.mark.parity


@pytest.fixture
def run(inspectnet_subject: RunKey) -> RunKey:
    """The model the mutants are made from (the suite's shared ``inspectnet_subject``)."""
    return inspectnet_subject


def _perturbed_onnx(source: Path, target: Path, delta: float) -> str:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    first_conv = next(node for node in model.graph.node if node.op_type == "Conv")
    init = next(i for i in model.graph.initializer if i.name == first_conv.input[1])
    weights = numpy_helper.to_array(init).copy()
    index = np.unravel_index(np.argmax(np.abs(weights)), weights.shape)
    weights[index] += delta
    init.CopyFrom(numpy_helper.from_array(weights, init.name))
    onnx.save(model, str(target))
    return f"{init.name}{list(map(int, index))}"


def test_one_weight_perturbed_by_1e_2_breaks_parity(
    inspectnet: Session, inspectnet_parity: ParityChecker, run: RunKey, tmp_path: Path
) -> None:
    from inspectnet.deploy.runtimes import onnxruntime_runner

    mutant = tmp_path / "perturbed.onnx"
    weight = _perturbed_onnx(inspectnet.exported(run).onnx, mutant, 1e-2)
    result = inspectnet_parity.check(run, onnxruntime_runner(mutant, "cpu", inspectnet.spec(run).image_size))
    print(f"{weight} + 1e-2: {result.summary()}")
    assert not result.clean, f"{weight} + 1e-2 went unnoticed: {result.summary()}"
    assert max(result.max_abs_error.values()) > result.tolerance


def test_fp16_weights_break_parity(
    inspectnet: Session, inspectnet_parity: ParityChecker, run: RunKey, tmp_path: Path
) -> None:
    import openvino as ov

    from inspectnet.deploy.runtimes import openvino_runner

    mutant = tmp_path / "fp16.xml"
    ov.save_model(ov.Core().read_model(str(inspectnet.exported(run).openvino)), str(mutant), compress_to_fp16=True)
    result = inspectnet_parity.check(run, openvino_runner(mutant, inspectnet.spec(run).image_size))
    print(f"FP16 weights: {result.summary()}")
    assert not result.clean, f"FP16-compressed weights went unnoticed: {result.summary()}"


def test_bf16_inference_breaks_parity(inspectnet: Session, inspectnet_parity: ParityChecker, run: RunKey) -> None:
    from inspectnet.deploy.runtimes import openvino_runner

    runner = openvino_runner(inspectnet.exported(run).openvino, inspectnet.spec(run).image_size, precision="bf16")
    if runner.settings["inference_precision_hint"] != "bf16":
        pytest.skip("this CPU cannot run bf16 (OpenVINO falls back to f32); the FP16-weights mutant covers it")
    result = inspectnet_parity.check(run, runner)
    print(f"bf16 inference: {result.summary()}")
    assert not result.clean, f"bf16 inference went unnoticed: {result.summary()}"


def _planted_defects() -> list[str]:
    from inspectnet.deploy.mutants import planted_defects

    return [p.name for p in planted_defects()]


@pytest.mark.parametrize("defect", _planted_defects())
def test_a_planted_defect_is_found_at_its_stage(
    inspectnet: Session, inspectnet_parity: ParityChecker, run: RunKey, tmp_path: Path, defect: str
) -> None:
    import onnx

    from inspectnet.deploy.mutants import busiest_channel, most_used_row, planted_defects
    from inspectnet.deploy.runtimes import onnxruntime_runner
    from inspectnet.measure.stages import first_divergence, shown

    graph = onnx.load(str(inspectnet.exported(run).onnx))
    reference = inspectnet_parity.reference(run, "cpu")
    bank = inspectnet.deployment(run).module.model.memory_bank.detach().cpu().numpy()  # type: ignore[union-attr,operator]
    row = most_used_row(reference["stage:embedding"], bank)
    channel = busiest_channel(reference["stage:backbone.layer3"])
    planted = next(p for p in planted_defects(row, channel) if p.name == defect)
    what = planted.plant(graph)
    mutant = tmp_path / f"{defect}.onnx"
    onnx.save(graph, str(mutant))
    result = inspectnet_parity.check(run, onnxruntime_runner(mutant, "cpu", inspectnet.spec(run).image_size))
    print(f"{what}: {result.diagnosis()}; {result.summary()}")
    assert not result.clean, f"{what} went unnoticed: {result.summary()}"
    first = first_divergence(result.stages)
    assert first is not None and first.stage == planted.stage, (
        f"{what} is in the {shown(planted.stage)}, but the diagnosis says: {result.diagnosis()}"
    )
