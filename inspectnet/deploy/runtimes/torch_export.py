"""``torch.export``: the deployed module captured as an ``ExportedProgram`` and saved as one ``.pt2`` file a user
can ship (no anomalib or InspectNet code needed to load it: ``torch.export.load(path).module()``), run on the
CPU through the program's own graph. Its dense ops are torch's (the layer floor uses torch's kernels); it is
not compiled (AOTInductor would compile it: minutes per model on two cores, which this suite does not pay).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.deploy.export import INPUT_NAME, Exporter, ExportError
from inspectnet.deploy.runtimes.base import Runner, Runtime, check_input, expect_file
from inspectnet.deploy.runtimes.torch_eager import kernels, torch_threads

NAME = "torch-export"
FILE = "model.pt2"


def settings(image_size: int) -> dict[str, Any]:
    import torch

    return {
        "exporter": "torch.export.export (non-strict), saved with torch.export.save",
        "precision": "fp32",
        "input": {"name": INPUT_NAME, "shape": [1, 3, image_size, image_size], "dtype": "float32"},
        "torch": torch.__version__.split("+")[0],
    }


def _write(module: Any, image_size: int, staging: Path, tick: Callable[[int], None]) -> None:
    import torch

    example = torch.zeros(1, 3, image_size, image_size, device=next(module.parameters()).device)
    with torch.no_grad():
        program = torch.export.export(module.eval(), (example,), strict=False)
    torch.export.save(program, str(staging / FILE))
    tick(1)


EXPORTER = Exporter(NAME, (FILE,), settings, _write, 1)


def torch_export_runner(path: Path, device: str, image_size: int, given: bool = False) -> Runner:
    """The saved program on the CPU (its graph as captured: batch 1, InspectNet's normalised input)."""
    import torch

    expect_file(path)
    if given:
        raise ExportError(
            f"{path}: a user's own torch.export program is not read here (give an ONNX or OpenVINO export)"
        )
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises several types for a foreign or truncated archive
        raise ExportError(f"{path}: not a loadable torch.export program ({str(exc).splitlines()[0]})") from None
    check_input(path, list(program.example_inputs[0][0].shape), image_size)
    graph = program.module()

    def call(x: torch.Tensor) -> Any:
        with torch.inference_mode():
            return graph(x)

    return Runner(
        NAME,
        device,
        image_size,
        {
            "version": torch.__version__.split("+")[0],
            "mode": "torch.export program (ExportedProgram.module()), torch.inference_mode",
            "torch_threads": torch.get_num_threads(),
            "input_transfer": "none: host memory is the device's",
        },
        place=lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        call=call,
        fetch=lambda out: [t.detach().numpy() for t in out],
    )


RUNTIME = Runtime(
    NAME,
    "torch.export",
    ("cpu",),
    kernels,
    EXPORTER,
    FILE,
    torch_export_runner,
    (".pt2",),
    threads=torch_threads,
    peak=False,
)
