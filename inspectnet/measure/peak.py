"""The device's peak float32 rate, measured as the best of several dense kernels in every runtime.

The compute floor of a model's latency is its counted FLOPs over this rate: no runtime can run the model
faster than the device runs its best dense kernel, so the floor divided by a measured latency (the efficiency)
stays at or below 1. One matrix product in one runtime is not enough for that: a runtime whose convolutions
beat torch's GEMM (OpenVINO's do, on CPU) would then run models "faster than the floor". So the rate here is
the best over 3x3 and 1x1 convolutions of several channel widths and a matrix product, each run in torch,
ONNX Runtime and (on CPU) OpenVINO, each with the settings the suite's own runners use, its input and output
bound in place (no copies timed), timed as the best of a few calls after a warm-up call.

What it does not count: element-wise work, memory traffic, input transfer and per-call overhead, all of
which a model pays and a dense kernel mostly hides; the floor is a lower bound, not a prediction. It is the
rate of this process with its thread settings (torch threads, TF32 flags) as they are, not of the chip's
datasheet.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

REPEATS = 5
PAUSE_S = 0.02  # before each kernel: the previous one's worker threads stop spinning (see _best_s)


@dataclass(frozen=True)
class KernelRate:
    runtime: str  # "torch" | "onnxruntime" | "openvino"
    kernel: str  # "conv3x3 c256 32x32", "matmul 1024"
    flops: int  # 2 x multiply-accumulates
    best_s: float  # best of the timed calls, rounded to 1e-7 s
    gflops_per_s: float  # flops / best_s / 1e9, rounded to 0.01


@dataclass(frozen=True)
class PeakCalibration:
    device: str  # "cpu" | "cuda" | "cuda:0"
    flops_per_s: int  # the best kernel's rate
    best: str  # "<runtime> <kernel>" of the best kernel
    kernels: list[KernelRate]
    seconds: float  # wall time of this calibration (kernels built beforehand), rounded to 0.001


@dataclass(frozen=True)
class _Shape:
    op: str  # "conv" | "matmul"
    size: int  # the square image's side (conv) or n (matmul)
    channels: int = 0  # conv: in = out
    k: int = 0  # conv: square kernel, same padding

    @property
    def name(self) -> str:
        if self.op == "matmul":
            return f"matmul {self.size}"
        return f"conv{self.k}x{self.k} c{self.channels} {self.size}x{self.size}"

    @property
    def flops(self) -> int:
        if self.op == "matmul":
            return 2 * self.size**3
        return 2 * self.channels * self.channels * self.k * self.k * self.size * self.size

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(input, weight): deterministic, scaled x0.01 (no denormals, no overflow)."""
        rng = np.random.default_rng(0)
        if self.op == "matmul":
            shapes: tuple[tuple[int, ...], ...] = ((self.size, self.size), (self.size, self.size))
        else:
            shapes = ((1, self.channels, self.size, self.size), (self.channels, self.channels, self.k, self.k))
        x, w = (rng.standard_normal(s, dtype=np.float32) * np.float32(0.01) for s in shapes)
        return x, w


CPU_SHAPES = (
    _Shape("conv", 64, 128, 3),
    _Shape("conv", 32, 256, 3),
    _Shape("conv", 16, 512, 3),
    _Shape("conv", 16, 1024, 1),
    _Shape("matmul", 1024),
)
CUDA_SHAPES = (_Shape("conv", 64, 512, 3), _Shape("conv", 32, 1024, 3), _Shape("matmul", 8192))

METHOD = (
    "peak float32 rate = the best of float32 3x3/1x1 convolutions (128-1024 channels) and a matrix product, "
    "each run in torch, ONNX Runtime and OpenVINO (CPU only) with the suite's runner settings, "
    f"timed as the best of {REPEATS} calls after a {PAUSE_S * 1e3:.0f} ms pause and a warm-up call "
    "(FLOPs = 2 x multiply-accumulates)"
)


@dataclass(frozen=True)
class _Kernel:
    runtime: str
    shape: _Shape
    call: Callable[[], object]
    sync: Callable[[], None]


def _no_sync() -> None:
    return None


def _cuda_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0


def _torch_kernels(device: str, data: Sequence[tuple[_Shape, np.ndarray, np.ndarray]]) -> list[_Kernel]:
    import torch

    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    conv2d = torch.nn.functional.conv2d
    out = []
    for shape, x, w in data:
        tx, tw = torch.from_numpy(x).to(dev), torch.from_numpy(w).to(dev)

        def call(tx: Any = tx, tw: Any = tw, shape: _Shape = shape) -> object:
            with torch.inference_mode():
                return tx @ tw if shape.op == "matmul" else conv2d(tx, tw, padding=shape.k // 2)

        out.append(_Kernel("torch", shape, call, sync))
    return out


def _onnx_bytes(shape: _Shape, x: np.ndarray, w: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    if shape.op == "matmul":
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
    else:
        pad = shape.k // 2
        node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[shape.k] * 2, pads=[pad] * 4)
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(x.shape)) for name in "xy"]  # y: x's shape
    graph = helper.make_graph([node], shape.name, io[:1], io[1:], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


def _onnxruntime_kernels(device: str, models: Sequence[tuple[_Shape, np.ndarray, bytes]]) -> list[_Kernel]:
    import onnxruntime as ort

    cuda = device.startswith("cuda")
    if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
        return []
    index = _cuda_index(device) if cuda else 0
    providers: list[Any] = [("CUDAExecutionProvider", {"device_id": index})] if cuda else ["CPUExecutionProvider"]
    where = "cuda" if cuda else "cpu"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    out = []
    for shape, x, model in models:
        session = ort.InferenceSession(model, options, providers=providers)
        binding = session.io_binding()  # inputs and outputs stay where the kernel runs: no copies timed
        binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x, where, index))
        binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_shape_and_type(x.shape, np.float32, where, index))

        def call(session: Any = session, binding: Any = binding) -> object:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()  # the device's work is done
            return None

        out.append(_Kernel("onnxruntime", shape, call, _no_sync))
    return out


def _openvino_kernels(device: str, models: Sequence[tuple[_Shape, np.ndarray, bytes]]) -> list[_Kernel]:
    if device != "cpu":
        return []
    import openvino as ov

    core = ov.Core()
    out = []
    for shape, x, model in models:
        compiled = core.compile_model(
            core.read_model(model), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        )
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(x))

        def call(request: Any = request) -> object:
            request.start_async()  # with wait(): infer() without building (copying) an output dict
            request.wait()
            return None

        out.append(_Kernel("openvino", shape, call, _no_sync))
    return out


def _best_s(kernel: _Kernel, repeats: int) -> float:
    """Best of ``repeats`` timed calls after a pause and a warm-up call. The pause matters: ONNX Runtime's
    workers keep spinning after a session's last run, and on a 2-core host they halved the next kernel's
    rate (measured: 120 instead of 210 GF/s for a conv right after another session's) until they went idle."""
    time.sleep(PAUSE_S)
    kernel.call()  # warm-up: thread pools, kernel selection, weight packing
    kernel.sync()
    best = float("inf")
    for _ in range(repeats):
        kernel.sync()
        start = time.perf_counter()
        kernel.call()
        kernel.sync()
        best = min(best, time.perf_counter() - start)
    return best


class PeakMeter:
    """Builds the kernels once (per runtime) and measures them on demand."""

    def __init__(self, device: str = "cpu", repeats: int = REPEATS) -> None:
        if device != "cpu" and device != "cuda" and not device.startswith("cuda:"):
            raise ValueError(f"peak rate: device {device!r} is not cpu, cuda or cuda:<n>")
        if repeats < 1:
            raise ValueError(f"peak rate: repeats must be at least 1, got {repeats}")
        self.device, self.repeats = device, repeats
        data = [(shape, *shape.arrays()) for shape in (CUDA_SHAPES if device != "cpu" else CPU_SHAPES)]
        self._kernels: list[_Kernel] = []
        with contextlib.suppress(ImportError):  # a runtime that is not installed is left out, here and below
            self._kernels += _torch_kernels(device, data)
        models: list[tuple[_Shape, np.ndarray, bytes]] = []
        with contextlib.suppress(ImportError):
            models = [(shape, x, _onnx_bytes(shape, x, w)) for shape, x, w in data]
        for build in (_onnxruntime_kernels, _openvino_kernels):
            with contextlib.suppress(ImportError):
                self._kernels += build(device, models)
        if not self._kernels:
            raise RuntimeError(f"peak rate on {device}: no runtime could run a kernel (torch, onnx not importable?)")

    def measure(self) -> PeakCalibration:
        start = time.perf_counter()
        rates = []
        for kernel in self._kernels:
            best_s = max(round(_best_s(kernel, self.repeats), 7), 1e-7)
            flops = kernel.shape.flops
            rates.append(KernelRate(kernel.runtime, kernel.shape.name, flops, best_s, round(flops / best_s / 1e9, 2)))
        top = max(rates, key=lambda r: r.flops / r.best_s)
        return PeakCalibration(
            device=self.device,
            flops_per_s=round(top.flops / top.best_s),
            best=f"{top.runtime} {top.kernel}",
            kernels=rates,
            seconds=round(time.perf_counter() - start, 3),
        )


def floor_ms(flops: int, calibrations: Sequence[PeakCalibration]) -> float:
    """``flops`` over the best rate among ``calibrations``, in ms (ValueError when there are none)."""
    if not calibrations:
        raise ValueError("compute floor: no peak calibration to divide by")
    return flops / max(c.flops_per_s for c in calibrations) * 1e3
