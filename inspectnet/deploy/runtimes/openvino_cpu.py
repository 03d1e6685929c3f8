"""OpenVINO's CPU plugin on the IR converted from InspectNet's ONNX export, in f32 unless asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.deploy.dense import DenseOp, Kernel, no_sync, onnx_bytes
from inspectnet.deploy.export import ONNX, OUTPUTS, ExportError
from inspectnet.deploy.runtimes.base import (
    GIVEN_SETTINGS,
    Runner,
    Runtime,
    check_input,
    expect_file,
    fixed_batch,
    given_names,
    output_name,
    unnormalised,
)

NAME = "openvino"


def openvino_runner(
    path: Path, image_size: int, precision: str = "f32", given: bool = False, trace: bool = False
) -> Runner:
    """OpenVINO's CPU plugin with ``INFERENCE_PRECISION_HINT`` set explicitly (without it, a host with
    AVX-512-BF16 or AMX silently runs bf16). ``trace``: the stages the IR reaches added as outputs of the
    in-memory model before compiling (``deploy.trace``); the file is unchanged."""
    import openvino as ov

    expect_file(path)
    core = ov.Core()
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
        raise ExportError(f"{path}: not a loadable OpenVINO IR ({str(exc).splitlines()[0]})") from None
    batch = check_input(
        path, [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()], image_size
    )
    own_count = len(model.outputs)
    stages: tuple[str, ...] = ()
    if trace:
        from inspectnet.deploy.trace import openvino_add_stages

        stages = openvino_add_stages(model)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    outputs = list(compiled.outputs)
    own = [output_name(o.get_names(), o.get_any_name()) for o in outputs[:own_count]]
    names = (*(given_names(path, own) if given else OUTPUTS), *stages)
    runner = Runner(
        NAME,
        "cpu",
        image_size,
        {
            "version": ov.get_version(),
            "device": "CPU",
            "inference_precision_hint": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
            "host_can_run_bf16": "BF16" in capabilities,
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "inference_num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "num_streams": int(compiled.get_property("NUM_STREAMS")),
            "input_transfer": "none: host memory is the device's",
            **(GIVEN_SETTINGS if given else {}),
        },
        place=unnormalised if given else lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: request.infer({0: x}),
        fetch=lambda result: [np.array(result[o], copy=True) for o in outputs],
        names=names,
    )
    if not trace:
        runner.traced = lambda: openvino_runner(path, image_size, precision, given, trace=True)
    return fixed_batch(runner, batch)


def kernels(device: str, ops: Sequence[DenseOp], threads: int | None = None) -> list[Kernel]:
    """``threads``: OpenVINO's ``INFERENCE_NUM_THREADS`` (None: its default)."""
    if device != "cpu":
        return []
    import openvino as ov

    core = ov.Core()
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    out = []
    for op in ops:
        x, _ = op.arrays()
        compiled = core.compile_model(core.read_model(onnx_bytes(op)), "CPU", config)
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(x))

        def call(request: Any = request) -> object:
            request.start_async()  # with wait(): infer() without building (copying) an output dict
            request.wait()
            return None

        out.append(Kernel(NAME, op, call, no_sync))
    return out


def _load(path: Path, device: str, image_size: int, given: bool) -> Runner:
    return openvino_runner(path, image_size, given=given)


RUNTIME = Runtime(
    NAME,
    "OpenVINO f32",
    ("cpu",),
    kernels,
    ONNX,
    "model.xml",
    _load,
    (".xml", ".bin"),
    user_export="openvino",
)
