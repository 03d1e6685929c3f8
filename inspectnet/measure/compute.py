"""The compute floor's two halves: FLOPs counted on the model, dense throughput measured by a GEMM.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one forward pass at batch 1 (it counts
matrix products and convolutions as 2 x multiply-accumulates; element-wise work is not counted, so the
floor is a lower bound). Throughput is the best of several float32 matrix products on the same device,
measured in the same session as the latencies it divides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlopCount:
    total: int
    by_operator: dict[str, int]
    counter: str = "torch.utils.flop_counter.FlopCounterMode (matmul and convolution, 2 FLOPs per MAC)"

    def as_record(self) -> dict[str, Any]:
        return {"total": self.total, "by_operator": self.by_operator, "counter": self.counter}


def count_flops(module: Any, image_size: int, device: str = "cpu") -> FlopCount:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    example = torch.zeros(1, 3, image_size, image_size, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        module(example)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return FlopCount(int(counter.get_total_flops()), dict(sorted(by_op.items())))


@dataclass(frozen=True)
class Gemm:
    flops_per_s: float
    size: int
    repeats: int
    best_s: float
    dtype: str
    device: str
    threads: int
    tf32: bool

    def as_record(self) -> dict[str, Any]:
        return {
            "flops_per_s": round(self.flops_per_s),
            "gflops_per_s": round(self.flops_per_s / 1e9, 2),
            "method": f"best of {self.repeats} {self.dtype} {self.size}x{self.size} @ {self.size}x{self.size} "
            f"products (2 n^3 FLOPs each) on {self.device}",
            "best_s": self.best_s,
            "torch_threads": self.threads,
            "tf32_matmul": self.tf32,
        }


def gemm_throughput(device: str = "cpu", size: int = 2048, repeats: int = 7) -> Gemm:
    """Dense float32 matrix-product throughput of ``device`` (FLOP/s), best of ``repeats`` after a warm-up."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device)
    b = torch.randn(size, size, generator=gen).to(device)
    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    a @ b  # warm-up: thread pools, kernels
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return Gemm(
        flops_per_s=2 * size**3 / best,
        size=size,
        repeats=repeats,
        best_s=round(best, 6),
        dtype="float32",
        device=device,
        threads=torch.get_num_threads(),
        tf32=bool(torch.backends.cuda.matmul.allow_tf32),
    )
