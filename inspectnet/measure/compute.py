"""The compute floor's numerator: FLOPs counted on the model (the denominator, the device's peak rate, is
measured in ``inspectnet.measure.peak``).

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one forward pass at batch 1 (it counts
matrix products and convolutions as 2 x multiply-accumulates; element-wise work is not counted, so the
floor is a lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlopCount:
    total: int
    by_operator: dict[str, int]
    counter: str = "torch.utils.flop_counter.FlopCounterMode (matmul and convolution, 2 FLOPs per MAC)"


def count_flops(module: Any, image_size: int, device: str = "cpu") -> FlopCount:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    example = torch.zeros(1, 3, image_size, image_size, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        module(example)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return FlopCount(int(counter.get_total_flops()), dict(sorted(by_op.items())))
