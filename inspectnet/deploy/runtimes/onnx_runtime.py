"""ONNX Runtime on InspectNet's ONNX export: its CPU provider (or CUDA's, on ``--device cuda``), and its
TensorRT provider on CUDA as a runtime of its own (collected on ``--device cuda``; where onnxruntime has no
TensorRT provider, its tests skip with the reason)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.deploy.dense import DenseOp, Kernel, cuda_index, no_sync, onnx_bytes
from inspectnet.deploy.export import INPUT_NAME, ONNX, OUTPUTS, ExportError
from inspectnet.deploy.runtimes.base import (
    GIVEN_SETTINGS,
    Runner,
    Runtime,
    RuntimeUnavailable,
    check_input,
    expect_file,
    fixed_batch,
    given_names,
    unnormalised,
)

NAME = "onnxruntime"
TENSORRT_NAME = "onnxruntime-tensorrt"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


def onnxruntime_runner(
    path: Path,
    device: str,
    image_size: int,
    optimization: str = "extended",
    given: bool = False,
    trace: bool = False,
    provider: str | None = None,
) -> Runner:
    """onnxruntime in FP32 on its CPU (or CUDA) provider, or on ``provider`` (e.g. TensorRT's, with CUDA's for
    what TensorRT does not take). Graph optimisation stops at ``extended`` by default:
    on this project's CPU, level ``all`` (its NCHWc layout transforms) moved a PatchCore score by 4e-4 where
    ``extended`` stays within 4e-6 of a float64 reference (measured; see the parity records). ``trace``: the
    stages the graph reaches as extra outputs of an in-memory copy (``deploy.trace``); the file is unchanged."""
    import onnxruntime as ort

    expect_file(path)
    default = CUDA if device.startswith("cuda") else "CPUExecutionProvider"
    providers = [provider, CUDA] if provider is not None else [default]
    missing = [p for p in providers if p not in ort.get_available_providers()]
    if missing:
        raise RuntimeUnavailable(
            f"onnxruntime {ort.__version__} has no {missing[0]} here (install onnxruntime-gpu, with TensorRT for "
            "its provider, on a machine with an NVIDIA GPU)"
        )
    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    stages: tuple[str, ...] = ()
    try:
        source: str | bytes = str(path)
        if trace:
            import onnx

            from inspectnet.deploy.trace import onnx_with_stages

            source, stages = onnx_with_stages(onnx.load(str(path)))
        session = ort.InferenceSession(source, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise ExportError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
    batch = check_input(path, session.get_inputs()[0].shape, image_size)
    feed = session.get_inputs()[0].name if given else INPUT_NAME
    own = [o.name for o in session.get_outputs()][: len(session.get_outputs()) - len(stages)]
    names = (*(given_names(path, own) if given else OUTPUTS), *stages)
    transfer = "included: onnxruntime copies the host array in and the outputs out inside each call"
    runner = Runner(
        TENSORRT_NAME if provider == TENSORRT else NAME,
        device,
        image_size,
        {
            "version": ort.__version__,
            "providers": session.get_providers(),
            "precision": "fp32",
            "graph_optimization_level": optimization,
            "intra_op_num_threads": session.get_session_options().intra_op_num_threads or "default (physical cores)",
            "input_transfer": transfer if device.startswith("cuda") else "none: host memory is the device's",
            **(GIVEN_SETTINGS if given else {}),
        },
        place=unnormalised if given else lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: session.run(None, {feed: x}),
        fetch=list,
        names=names,
    )
    if not trace:
        runner.traced = lambda: onnxruntime_runner(path, device, image_size, optimization, given, True, provider)
    return fixed_batch(runner, batch)


def kernels(
    device: str, ops: Sequence[DenseOp], threads: int | None = None, provider: str | None = None
) -> list[Kernel]:
    """``threads``: ONNX Runtime's intra-op threads (None: its default, the physical cores); ``provider``: a
    CUDA provider tried before CUDA's own (TensorRT's), as its runner does."""
    import onnxruntime as ort

    cuda = device.startswith("cuda")
    wanted = [p for p in (provider, CUDA) if p is not None] if cuda else ["CPUExecutionProvider"]
    if any(p not in ort.get_available_providers() for p in wanted):
        return []
    index = cuda_index(device) if cuda else 0
    providers: list[Any] = [(p, {"device_id": index}) for p in wanted] if cuda else wanted
    where = "cuda" if cuda else "cpu"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    if threads is not None:
        options.intra_op_num_threads = threads
    out = []
    for op in ops:
        x, _ = op.arrays()
        session = ort.InferenceSession(onnx_bytes(op), options, providers=providers)
        binding = session.io_binding()  # inputs and outputs stay where the kernel runs: no copies timed
        binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x, where, index))
        output = ort.OrtValue.ortvalue_from_shape_and_type(op.output_shape, np.float32, where, index)
        binding.bind_ortvalue_output("y", output)

        def call(session: Any = session, binding: Any = binding) -> object:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()  # the device's work is done
            return None

        out.append(Kernel(NAME, op, call, no_sync))
    return out


def _load(path: Path, device: str, image_size: int, given: bool) -> Runner:
    return onnxruntime_runner(path, device, image_size, given=given)


def _load_tensorrt(path: Path, device: str, image_size: int, given: bool) -> Runner:
    return onnxruntime_runner(path, device, image_size, given=given, provider=TENSORRT)


def _tensorrt_kernels(device: str, ops: Sequence[DenseOp], threads: int | None = None) -> list[Kernel]:
    """Each dense op as a one-node graph under the TensorRT provider (CUDA's for what it does not take)."""
    return kernels(device, ops, threads, TENSORRT)


RUNTIME = Runtime(
    NAME, "onnxruntime", ("cpu", "cuda"), kernels, ONNX, "model.onnx", _load, (".onnx",), user_export="onnx"
)
TENSORRT_RUNTIME = Runtime(
    TENSORRT_NAME,
    "onnxruntime TensorRT EP",
    ("cuda",),
    _tensorrt_kernels,
    ONNX,
    "model.onnx",
    _load_tensorrt,
    (".onnx",),
    peak=False,
)
