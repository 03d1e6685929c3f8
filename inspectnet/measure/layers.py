"""A runtime's own rate on a model's own layers: the denominator of the portable latency floor.

Efficiency against the device's best kernel (``inspectnet.measure.peak``) is not portable: when the vector
width doubles, the best dense kernel speeds up more than a model's convolutions do, and each runtime's
kernels speed up differently (measured: peak x1.64, OpenVINO's model x1.38, ONNX Runtime's x1.25, torch's
x1.15 from an AVX2-class to an AVX-512 CPU). Here the denominator moves with the model: every convolution
and matrix product the model runs (its own shapes, strides and padding, captured from one forward pass) is
built as a one-op graph in the *same* runtime and timed alone; their sum (each op's best time x how often the
model runs it) is what that runtime needs for the model's dense work on this machine, now. A model's
latency over that sum is then about what the runtime adds around its dense ops (element-wise work, memory
traffic, per-call overhead), which is the same order on any CPU.

The ops run with an explicit thread count, the usable cores, whatever the model's runner was given: a
runner left at one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) then runs the model on one
core against a sum measured on all of them, and the floor catches it. What it cannot catch is what slows
the ops and the model alike (a debug build of the runtime itself): the device's peak efficiency, still
recorded beside it, shows that.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inspectnet.deploy.dense import DenseOp, best_s
from inspectnet.deploy.runtimes import runtime as registered

REPEATS = 3
METHOD = (
    "layer floor = the sum, over every convolution and matrix product of the model's forward pass (captured "
    "at batch 1 with their shapes, strides and padding), of the op's best time alone in the same runtime "
    f"(one-op graph, the runner's settings, threads = usable cores; best of {REPEATS} calls after a pause and a "
    "warm-up call) times how often the model runs it; layer efficiency = layer floor / median latency"
)


@dataclass(frozen=True)
class LayerOp:
    op: str  # DenseOp.name
    count: int  # how often the model's forward pass runs it
    best_s: float  # one call, best of the timed calls, rounded to 1e-7 s


@dataclass(frozen=True)
class LayerTiming:
    """What a runtime needs, on this machine now, for one forward pass's dense ops."""

    runtime: str
    threads: int
    floor_ms: float  # sum of count x best_s, in ms, rounded to 1e-4
    ops: list[LayerOp]
    seconds: float  # wall time of this timing (ops built beforehand), rounded to 0.001


def _pair(value: Any, default: int) -> tuple[int, int]:
    if value is None:
        return default, default
    seq = [value] if isinstance(value, int) else list(value)
    return int(seq[0]), int(seq[-1])


def _conv(args: Sequence[Any], kwargs: dict[str, Any], convolution: bool) -> DenseOp | None:
    """``aten.conv2d(x, w, bias, stride, padding, dilation, groups)`` or ``aten.convolution(x, w, bias, stride,
    padding, dilation, transposed, output_padding, groups)``, as a DenseOp (None: not a 2-D convolution)."""
    names: tuple[str, ...] = ("x", "w", "bias", "stride", "padding", "dilation", "groups")
    if convolution:
        names = ("x", "w", "bias", "stride", "padding", "dilation", "transposed", "output_padding", "groups")
    a = dict(zip(names, args, strict=False)) | kwargs
    x, w = a["x"], a["w"]
    if a.get("transposed") or x.dim() != 4:
        return None
    dilation = _pair(a.get("dilation"), 1)
    padding = a.get("padding")
    if isinstance(padding, str):  # "valid" | "same" (stride 1)
        kh, kw = w.shape[2:]
        padding = (0, 0) if padding == "valid" else (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2)
    return DenseOp(
        "conv", tuple(x.shape), tuple(w.shape), _pair(a.get("stride"), 1), _pair(padding, 0), dilation,
        int(a.get("groups") or 1),
    )  # fmt: skip


def dense_ops(module: Any, image_size: int, device: str = "cpu") -> Counter[DenseOp]:
    """Every convolution and matrix product of one forward pass at batch 1, with how often each runs (the
    ops as dispatched: a composite such as ``conv2d`` or ``matmul`` is one op, its inner calls are not seen)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    seen: Counter[DenseOp] = Counter()

    class Capture(TorchDispatchMode):  # type: ignore[misc,no-untyped-call]
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            op: DenseOp | None = None
            if func in (aten.conv2d.default, aten.convolution.default):
                op = _conv(args, kwargs or {}, convolution=func is aten.convolution.default)
            elif (
                func in (aten.mm.default, aten.bmm.default, aten.matmul.default) and min(a.dim() for a in args[:2]) > 1
            ):
                op = DenseOp("matmul", tuple(args[0].shape), tuple(args[1].shape))
            elif func is aten.addmm.default:
                op = DenseOp("matmul", tuple(args[1].shape), tuple(args[2].shape))
            if op is not None:
                seen[op] += 1
            return func(*args, **(kwargs or {}))

    example = torch.zeros(1, 3, image_size, image_size, device=device)
    with Capture(), torch.inference_mode():  # type: ignore[no-untyped-call]
        module(example)
    return seen


class LayerMeter:
    """Builds a model's dense ops once in one runtime and measures their sum on demand."""

    def __init__(self, runtime: str, device: str, ops: Counter[DenseOp], threads: int, repeats: int = REPEATS) -> None:
        if not ops:
            raise ValueError("layer floor: the model ran no convolution or matrix product")
        if threads < 1 or repeats < 1:
            raise ValueError(f"layer floor: threads and repeats must be at least 1, got {threads}, {repeats}")
        self.runtime, self.device, self.threads, self.repeats = runtime, device, threads, repeats
        self.counts = ops
        unique = list(ops)
        try:
            self._runtime = registered(runtime)
        except ValueError as exc:
            raise ValueError(f"layer floor: {exc}") from None
        kernels = self._runtime.kernels(device, unique, threads)
        if len(kernels) != len(unique):
            raise ValueError(f"layer floor: {runtime} cannot run on {device}")
        self._kernels = kernels

    def measure(self) -> LayerTiming:
        start = time.perf_counter()
        with self._runtime.threads(self.threads):
            timed = [(k.op, max(round(best_s(k, self.repeats), 7), 1e-7)) for k in self._kernels]
        ops = sorted(
            (LayerOp(op.name, self.counts[op], best) for op, best in timed),
            key=lambda o: (-o.count * o.best_s, o.op),
        )
        total_s = sum(o.count * o.best_s for o in ops)
        return LayerTiming(
            runtime=self.runtime,
            threads=self.threads,
            floor_ms=round(total_s * 1e3, 4),
            ops=ops,
            seconds=round(time.perf_counter() - start, 3),
        )
