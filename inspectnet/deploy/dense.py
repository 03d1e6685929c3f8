"""Single dense operations (a convolution or a matrix product), as each runtime builds and times them.

Each runtime's module builds its own kernels (``Runtime.kernels``); two meters use them: the device's peak
float32 rate (``inspectnet.measure.peak``: the best of a few fixed shapes) and a runtime's own rate on a
model's own layers (``inspectnet.measure.layers``: every convolution and matrix product the model runs, with
its strides and padding). Each op is built with the settings the
suite's runners use (ONNX Runtime's ``extended`` graph optimisation, OpenVINO's f32 hint and LATENCY mode),
its input and output bound in place (no copies timed), and timed as the best of a few calls after a pause
and a warm-up call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PAUSE_S = 0.02  # before each op: the previous one's worker threads stop spinning (see best_s)


@dataclass(frozen=True)
class DenseOp:
    """One convolution (NCHW input, OIHW weight) or matrix product (M x K input, K x N weight)."""

    op: str  # "conv" | "matmul"
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.op == "matmul":
            return (*self.input_shape[:-1], self.weight_shape[-1])
        n, _, h, w = self.input_shape
        o, _, kh, kw = self.weight_shape
        size = [
            (side + 2 * p - d * (k - 1) - 1) // s + 1
            for side, p, d, k, s in zip((h, w), self.padding, self.dilation, (kh, kw), self.stride, strict=True)
        ]
        return (n, o, *size)

    @property
    def flops(self) -> int:
        """2 x multiply-accumulates."""
        if self.op == "matmul":
            return 2 * int(np.prod(self.input_shape)) * self.weight_shape[-1]
        _, i_per_group, kh, kw = self.weight_shape
        return 2 * int(np.prod(self.output_shape)) * i_per_group * kh * kw

    @property
    def name(self) -> str:
        if self.op == "matmul":
            m, k = self.input_shape[-2:]
            n = self.weight_shape[-1]
            return f"matmul {m}" if m == k == n else f"matmul {m}x{k}x{n}"
        _, c, h, w = self.input_shape
        o, _, kh, kw = self.weight_shape
        base = f"conv{kh}x{kw} c{c}" if c == o else f"conv{kh}x{kw} c{c}->{o}"
        extra = "".join(
            f" {label}{a}" if a == b else f" {label}{a}x{b}"
            for label, (a, b), plain in (("s", self.stride, 1), ("d", self.dilation, 1))
            if (a, b) != (plain, plain)
        )
        same = self.padding == (kh // 2, kw // 2) and self.stride == (1, 1)
        pad = "" if same or self.padding == (0, 0) else f" p{self.padding[0]}"
        groups = f" g{self.groups}" if self.groups != 1 else ""
        return f"{base} {h}x{w}{extra}{pad}{groups}"

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(input, weight): deterministic, scaled x0.01 (no denormals, no overflow)."""
        rng = np.random.default_rng(0)
        shapes = (self.input_shape, self.weight_shape)
        x, w = (rng.standard_normal(s, dtype=np.float32) * np.float32(0.01) for s in shapes)
        return x, w


def square_conv(size: int, channels: int, k: int) -> DenseOp:
    """A same-padded k x k convolution of a ``size`` x ``size`` image with ``channels`` in and out."""
    return DenseOp("conv", (1, channels, size, size), (channels, channels, k, k), padding=(k // 2, k // 2))


def square_matmul(n: int) -> DenseOp:
    return DenseOp("matmul", (n, n), (n, n))


@dataclass(frozen=True)
class Kernel:
    runtime: str
    op: DenseOp
    call: Callable[[], object]
    sync: Callable[[], None]


def no_sync() -> None:
    return None


def cuda_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0


def onnx_bytes(op: DenseOp) -> bytes:
    """A one-node ONNX model of ``op``, its weight an initializer."""
    from onnx import TensorProto, helper, numpy_helper

    _, w = op.arrays()
    if op.op == "matmul":
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
    else:
        node = helper.make_node(
            "Conv",
            ["x", "w"],
            ["y"],
            kernel_shape=list(op.weight_shape[2:]),
            pads=[*op.padding, *op.padding],
            strides=list(op.stride),
            dilations=list(op.dilation),
            group=op.groups,
        )
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(op.input_shape))]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(op.output_shape))]
    graph = helper.make_graph([node], op.name, inputs, outputs, [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


def best_s(kernel: Kernel, repeats: int) -> float:
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
