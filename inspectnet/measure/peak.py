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
from collections.abc import Sequence
from dataclasses import dataclass

from inspectnet.deploy.dense import PAUSE_S, Kernel, best_s, square_conv, square_matmul
from inspectnet.deploy.runtimes import REGISTRY

REPEATS = 5


@dataclass(frozen=True)
class KernelRate:
    runtime: str  # a registry name: "torch", "onnxruntime", ...
    kernel: str  # "conv3x3 c256 32x32", "matmul 1024"
    flops: int  # 2 x multiply-accumulates
    best_s: float  # best of the timed calls, rounded to 1e-7 s
    gflops_per_s: float  # flops / best_s / 1e9, rounded to 0.01


@dataclass(frozen=True)
class PeakMeasurement:
    device: str  # "cpu" | "cuda" | "cuda:0"
    flops_per_s: int  # the best kernel's rate
    best: str  # "<runtime> <kernel>" of the best kernel
    kernels: list[KernelRate]
    seconds: float  # wall time of this measurement (kernels built beforehand), rounded to 0.001


CPU_SHAPES = (
    square_conv(64, 128, 3),
    square_conv(32, 256, 3),
    square_conv(16, 512, 3),
    square_conv(16, 1024, 1),
    square_matmul(1024),
)
CUDA_SHAPES = (square_conv(64, 512, 3), square_conv(32, 1024, 3), square_matmul(8192))

METHOD = (
    "peak float32 rate = the best of float32 3x3/1x1 convolutions (128-1024 channels) and a matrix product, "
    "each run in torch, ONNX Runtime and OpenVINO (CPU only) with the suite's runner settings, "
    f"timed as the best of {REPEATS} calls after a {PAUSE_S * 1e3:.0f} ms pause and a warm-up call "
    "(FLOPs = 2 x multiply-accumulates)"
)


class PeakMeter:
    """Builds the kernels once (per runtime) and measures them on demand."""

    def __init__(self, device: str = "cpu", repeats: int = REPEATS) -> None:
        if device != "cpu" and device != "cuda" and not device.startswith("cuda:"):
            raise ValueError(f"peak rate: device {device!r} is not cpu, cuda or cuda:<n>")
        if repeats < 1:
            raise ValueError(f"peak rate: repeats must be at least 1, got {repeats}")
        self.device, self.repeats = device, repeats
        ops = CUDA_SHAPES if device != "cpu" else CPU_SHAPES
        self._kernels: list[Kernel] = []
        for runtime in (r for r in REGISTRY if r.peak):
            with contextlib.suppress(ImportError):  # a runtime that is not installed is left out
                self._kernels += runtime.kernels(device, ops, None)
        if not self._kernels:
            raise RuntimeError(f"peak rate on {device}: no runtime could run a kernel (torch, onnx not importable?)")

    def measure(self) -> PeakMeasurement:
        start = time.perf_counter()
        rates = []
        for kernel in self._kernels:
            best = max(round(best_s(kernel, self.repeats), 7), 1e-7)
            flops = kernel.op.flops
            rates.append(KernelRate(kernel.runtime, kernel.op.name, flops, best, round(flops / best / 1e9, 2)))
        top = max(rates, key=lambda r: r.flops / r.best_s)
        return PeakMeasurement(
            device=self.device,
            flops_per_s=round(top.flops / top.best_s),
            best=f"{top.runtime} {top.kernel}",
            kernels=rates,
            seconds=round(time.perf_counter() - start, 3),
        )


def floor_ms(flops: int, peaks: Sequence[PeakMeasurement]) -> float:
    """``flops`` over the best rate among ``peaks``, in ms (ValueError when there are none)."""
    if not peaks:
        raise ValueError("compute floor: no peak measurement to divide by")
    return flops / max(p.flops_per_s for p in peaks) * 1e3
