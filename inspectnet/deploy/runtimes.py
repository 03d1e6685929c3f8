"""One inference runtime behind one interface: torch (eager), onnxruntime and OpenVINO.

A ``Runner`` splits an inference into what is timed and what is not: ``place`` puts an image where the
runtime reads it (on the device for torch; onnxruntime and OpenVINO read host arrays, so their copies are
inside the call and their settings say so), ``call`` runs the model, ``sync`` waits for the device, and
``fetch`` brings the outputs back as numpy arrays in ``OUTPUTS`` order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.deploy.export import INPUT_NAME, ExportError
from inspectnet.deploy.postprocess import OUTPUTS


def no_sync() -> None:
    """Nothing to wait for: host runtimes return when their outputs are ready."""


class RuntimeUnavailable(RuntimeError):
    """This runtime cannot run on this machine (e.g. onnxruntime without its CUDA provider)."""


@dataclass
class Runner:
    runtime: str
    device: str
    image_size: int
    settings: dict[str, Any]
    place: Callable[[np.ndarray], Any]
    call: Callable[[Any], Any]
    fetch: Callable[[Any], Sequence[np.ndarray]]
    sync: Callable[[], None] = field(default=no_sync)

    def outputs(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The model's outputs for ``image`` (B x 3 x S x S float32), by name."""
        expected = (3, self.image_size, self.image_size)
        if image.ndim != 4 or tuple(image.shape[1:]) != expected:
            raise ExportError(
                f"{self.runtime}: input of shape {tuple(image.shape)} does not fit the model's "
                f"(batch, {', '.join(map(str, expected))})"
            )
        result = self.call(self.place(image))
        self.sync()
        return dict(zip(OUTPUTS, self.fetch(result), strict=True))


def torch_runner(module: Any, device: str, image_size: int, dtype: type[np.floating[Any]] = np.float32) -> Runner:
    """The anomalib torch model, eager; ``dtype`` float64 (with a ``.double()`` module) for an exact reference."""
    import torch

    module = module.to(device).eval()

    def call(x: torch.Tensor) -> Any:
        with torch.inference_mode():
            return module(x)

    return Runner(
        "torch",
        device,
        image_size,
        {
            "mode": "eager, torch.inference_mode",
            "input_transfer": "excluded: the image is on the device before the call",
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
        },
        place=lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=dtype)).to(device),
        call=call,
        fetch=lambda out: [t.detach().cpu().numpy() for t in out],
        sync=torch.cuda.synchronize if device.startswith("cuda") else no_sync,
    )


def _expect_file(path: Path) -> None:
    if not path.is_file():
        raise ExportError(f"{path}: no such exported model; run the parity or latency tests to export it")


def _check_input(path: Path, shape: Sequence[Any], image_size: int) -> None:
    fixed = [d if isinstance(d, int) else None for d in shape]
    ok = len(fixed) == 4 and fixed[0] in (None, 1) and fixed[1:] == [3, image_size, image_size]
    if not ok:
        shown = "x".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)
        raise ExportError(
            f"{path}: model input shape {shown} does not fit images of shape 1x3x{image_size}x{image_size}"
        )


def onnxruntime_runner(path: Path, device: str, image_size: int, optimization: str = "extended") -> Runner:
    """onnxruntime in FP32 on its CPU (or CUDA) provider. Graph optimisation stops at ``extended`` by default:
    on this project's CPU, level ``all`` (its NCHWc layout transforms) moved a PatchCore score by 4e-4 where
    ``extended`` stays within 4e-6 of a float64 reference (measured; see the parity records)."""
    import onnxruntime as ort

    _expect_file(path)
    provider = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        raise RuntimeUnavailable(
            f"onnxruntime {ort.__version__} has no {provider} here (install onnxruntime-gpu for CUDA)"
        )
    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    try:
        session = ort.InferenceSession(str(path), options, providers=[provider])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise ExportError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
    _check_input(path, session.get_inputs()[0].shape, image_size)
    transfer = "included: onnxruntime copies the host array in and the outputs out inside each call"
    return Runner(
        "onnxruntime",
        device,
        image_size,
        {
            "version": ort.__version__,
            "providers": session.get_providers(),
            "precision": "fp32",
            "graph_optimization_level": optimization,
            "intra_op_num_threads": session.get_session_options().intra_op_num_threads or "default (physical cores)",
            "input_transfer": transfer if device.startswith("cuda") else "none: host memory is the device's",
        },
        place=lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: session.run(None, {INPUT_NAME: x}),
        fetch=list,
    )


def openvino_runner(path: Path, image_size: int, precision: str = "f32") -> Runner:
    """OpenVINO's CPU plugin with ``INFERENCE_PRECISION_HINT`` set explicitly (without it, a host with
    AVX-512-BF16 or AMX silently runs bf16)."""
    import openvino as ov

    _expect_file(path)
    core = ov.Core()
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
        raise ExportError(f"{path}: not a loadable OpenVINO IR ({str(exc).splitlines()[0]})") from None
    _check_input(
        path, [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()], image_size
    )
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    outputs = list(compiled.outputs)
    return Runner(
        "openvino",
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
        },
        place=lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: request.infer({0: x}),
        fetch=lambda result: [np.array(result[o], copy=True) for o in outputs],
    )
