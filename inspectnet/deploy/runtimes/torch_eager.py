"""torch eager: the deployed anomalib module itself, the reference every exported runtime is compared with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from inspectnet.deploy.dense import DenseOp, Kernel, no_sync
from inspectnet.deploy.export import OUTPUTS
from inspectnet.deploy.runtimes.base import Runner, Runtime
from inspectnet.deploy.trace import PREFIX

NAME = "torch"


def torch_runner(
    module: Any, device: str, image_size: int, dtype: type[np.floating[Any]] = np.float32, trace: bool = False
) -> Runner:
    """The anomalib torch model, eager; ``dtype`` float64 (with a ``.double()`` module) for an exact reference;
    ``trace``: each stage's tensor (``deploy.trace.watching``) after the outputs, as ``stage:<name>``."""
    import torch

    from inspectnet.deploy.trace import torch_stages, watching

    module = module.to(device).eval()
    stages = torch_stages(module.model) if trace else ()

    def call(x: torch.Tensor) -> Any:
        with torch.inference_mode():
            if not stages:
                return module(x)
            with watching(module.model) as forwards:
                out = module(x)
            return (*out, *(forwards[0][s] for s in stages))

    runner = Runner(
        NAME,
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
        names=(*OUTPUTS, *(PREFIX + s for s in stages)),
    )
    if not trace:
        runner.traced = lambda: torch_runner(module, device, image_size, dtype, trace=True)
    return runner


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` for the block (its thread pool is the process's)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def kernels(device: str, ops: Sequence[DenseOp], threads: int | None = None) -> list[Kernel]:
    """torch's own convolution and matrix product (``threads``: set by ``threads`` around the timing)."""
    import torch

    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    conv2d = torch.nn.functional.conv2d
    out = []
    for op in ops:
        x, w = op.arrays()
        tx, tw = torch.from_numpy(x).to(dev), torch.from_numpy(w).to(dev)

        def call(tx: Any = tx, tw: Any = tw, op: DenseOp = op) -> object:
            with torch.inference_mode():
                if op.op == "matmul":
                    return tx @ tw
                return conv2d(tx, tw, stride=op.stride, padding=op.padding, dilation=op.dilation, groups=op.groups)

        out.append(Kernel(NAME, op, call, sync))
    return out


RUNTIME = Runtime(NAME, "torch eager", ("cpu", "cuda"), kernels, threads=torch_threads)
