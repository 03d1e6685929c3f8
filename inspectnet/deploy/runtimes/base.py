"""What every inference runtime shares: the ``Runner`` it hands out, the registry's row (``Runtime``), and the
checks of a user's own anomalib export that any graph runtime applies.

A ``Runner`` splits an inference into what is timed and what is not: ``place`` puts an image where the
runtime reads it (on the device for torch; onnxruntime and OpenVINO read host arrays, so their copies are
inside the call and their settings say so), ``call`` runs the model, ``sync`` waits for the device, and
``fetch`` brings the outputs back as numpy arrays in ``OUTPUTS`` order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet.deploy.dense import no_sync
from inspectnet.deploy.export import OUTPUTS, ExportError
from inspectnet.models.inputs import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from inspectnet.deploy.dense import DenseOp, Kernel
    from inspectnet.deploy.export import Exported, Exporter


class RuntimeUnavailable(RuntimeError):
    """This runtime cannot run on this machine (e.g. onnxruntime without its CUDA provider)."""


Loader = Callable[[Path, str, int, bool], "Runner"]  # (model file, device, image size, a user's export?)
KernelBuilder = Callable[[str, Sequence["DenseOp"], "int | None"], list["Kernel"]]  # (device, ops, threads)


def no_threads(threads: int) -> AbstractContextManager[None]:
    """A runtime whose thread count is its own session setting, not a process-wide one."""
    return nullcontext()


@dataclass(frozen=True)
class Runtime:
    """One inference runtime, as the registry lists it: all the suite knows of it is here. A runtime either
    runs the deployed torch module itself (``exporter`` None: the reference every export is compared with)
    or loads the ``file`` an ``exporter`` writes (parity compares it with the reference)."""

    name: str  # the records' and test ids' key: "onnxruntime"
    label: str  # the card's: "OpenVINO f32"
    devices: tuple[str, ...]  # where it is measured: latency on each, and parity on each when it loads a file
    kernels: KernelBuilder  # its own dense ops: the device's peak rate and a model's layer floor
    exporter: Exporter | None = None  # what writes the file it loads (None: it runs the torch module)
    file: str = ""  # the exporter's file it loads
    load: Loader | None = None  # the file, the device, the image size, and whether it is a user's export
    model_files: tuple[str, ...] = ()  # the suffixes of the files it loads, main first (the gate's A/B finds them)
    user_export: str | None = None  # the KIND of --inspectnet-export KIND=FILE that it runs, if any
    threads: Callable[[int], AbstractContextManager[None]] = no_threads  # its process-wide thread count, set
    peak: bool = True  # its kernels count toward the device's peak rate (False: they are another's, e.g. torch's)

    @property
    def exported(self) -> bool:
        return self.exporter is not None

    @property
    def process_threads(self) -> bool:
        """Its thread count is the process's (torch's pool), so one-thread settings of the process reach it."""
        return self.threads is not no_threads

    def runner(self, path: Path, device: str, image_size: int, given: bool = False) -> Runner:
        """This runtime on the model file ``path`` (``given``: a user's anomalib export)."""
        if self.load is None:
            raise ValueError(f"{self.name} runs the torch module itself, not a model file")
        if device.split(":")[0] not in self.devices:
            raise RuntimeUnavailable(f"{self.name} runs on {', '.join(self.devices)}, not {device}")
        return self.load(path, device, image_size, given)

    def exported_runner(self, exported: Exported, device: str, image_size: int) -> Runner:
        """This runtime on InspectNet's own export (``exported`` by this runtime's exporter)."""
        if self.exporter is None or set(self.exporter.files) != set(exported.files):
            raise ValueError(f"{self.name} does not load the export in {exported.directory}")
        return self.runner(exported.directory / self.file, device, image_size)


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
    names: tuple[str, ...] = OUTPUTS  # what ``fetch`` returns, in order (a user's anomalib export: its own)
    # the same model with its stage tensors among the outputs (``deploy.trace``), built when asked
    traced: Callable[[], Runner] | None = None

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
        return dict(zip(self.names, self.fetch(result), strict=True))


# a user's own export, as anomalib's Engine.export writes it: the whole AnomalibModule, pre-processing included
# (resize + ImageNet normalisation) and post-processing included, outputs named by anomalib's InferenceBatch
ANOMALIB_OUTPUTS = ("pred_score", "pred_label", "anomaly_map", "pred_mask")
GIVEN_SETTINGS = {
    "graph": "the user's anomalib export (pre- and post-processing inside); fed the test images un-normalised "
    "(InspectNet's ImageNet normalisation undone: the graph normalises), outputs matched by name"
}
_MEAN = np.array(IMAGENET_MEAN, dtype=np.float64).reshape(1, 3, 1, 1)
_STD = np.array(IMAGENET_STD, dtype=np.float64).reshape(1, 3, 1, 1)


def unnormalised(x: np.ndarray) -> np.ndarray:
    """A preprocessed (ImageNet-normalised) image back to [0, 1] pixels, which an anomalib export expects."""
    return np.ascontiguousarray(x.astype(np.float64) * _STD + _MEAN, dtype=np.float32)


def given_names(path: Path, names: list[str]) -> tuple[str, ...]:
    missing = [n for n in ANOMALIB_OUTPUTS if n not in names]
    if missing:
        raise ExportError(
            f"{path}: outputs {', '.join(names) or 'none'}; an anomalib export names "
            f"{', '.join(ANOMALIB_OUTPUTS)} (missing {', '.join(missing)}); export it with anomalib's Engine.export"
        )
    return tuple(names)


def output_name(names: set[str], any_name: str) -> str:
    """An OpenVINO output by anomalib's name where it carries one among its names (a compiled graph may list
    an inner tensor's name first, e.g. ``clamp`` beside ``pred_score``)."""
    return next((n for n in ANOMALIB_OUTPUTS if n in names), any_name)


def graph_signature(path: Path) -> tuple[str, list[int | None], list[str]]:
    """An exported model's input name and shape (None: a dynamic axis) and its output names, read without
    running it (ONNX: the graph; OpenVINO: the IR)."""
    expect_file(path)
    if path.suffix == ".xml":
        import openvino as ov

        model = ov.Core().read_model(str(path))
        first = model.inputs[0]
        shape = [d.get_length() if d.is_static else None for d in first.get_partial_shape()]
        return first.get_any_name(), shape, [o.get_any_name() for o in model.outputs]
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    return graph.input[0].name, [d.dim_value or None for d in dims], [o.name for o in graph.output]


def check_given_export(path: Path, image_size: int) -> None:
    """A user's anomalib export takes the test images (batch 1, ``image_size`` square) and names anomalib's
    outputs; ExportError in one line naming the file and the shapes otherwise. Nothing is run."""
    if not path.is_file():
        raise ExportError(f"{path}: no such file; give the .onnx (or the OpenVINO .xml) that Engine.export wrote")
    if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise ExportError(f"{path}: an OpenVINO IR needs its weights beside it ({path.with_suffix('.bin').name})")
    try:
        _, shape, outputs = graph_signature(path)
    except ExportError:
        raise
    except Exception as exc:  # onnx / OpenVINO parse errors: the user's file
        raise ExportError(f"{path}: not a readable ONNX model or OpenVINO IR ({str(exc).splitlines()[0]})") from None
    check_input(path, shape, image_size)
    given_names(path, outputs)


def expect_file(path: Path) -> None:
    if not path.is_file():
        raise ExportError(f"{path}: no such exported model; run the parity or latency tests to export it")


def check_input(path: Path, shape: Sequence[Any], image_size: int) -> int | None:
    """The graph takes images of ``image_size`` square: each of its axes is that size or dynamic (anomalib's
    ``Engine.export`` leaves height and width dynamic), 3 channels, and a dynamic or fixed batch. Returns the
    fixed batch (None: dynamic), which ``fixed_batch`` fills; ExportError in one line otherwise."""
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    ok = len(fixed) == 4 and fixed[1] == 3 and all(d in (None, image_size) for d in fixed[2:])
    if not ok:
        shown = "x".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)
        raise ExportError(
            f"{path}: model input shape {shown} does not fit images of shape 1x3x{image_size}x{image_size}"
        )
    return fixed[0]


def fixed_batch(runner: Runner, batch: int | None) -> Runner:
    """A graph with a fixed batch (anomalib exports made with a batch of 2 have one) run on fewer images: each
    call pads the images to the batch with copies of the last one and drops the copies' outputs, so every
    image's outputs are its own. Its settings say so (a latency record times the whole padded batch)."""
    if batch is None or batch == 1:
        return runner
    place, call, fetch = runner.place, runner.call, runner.fetch

    def padded(x: np.ndarray) -> tuple[Any, int]:
        n = x.shape[0]
        if n > batch:
            raise ExportError(f"{runner.runtime}: {n} images do not fit the graph's fixed batch of {batch}")
        return place(np.concatenate([x, np.repeat(x[-1:], batch - n, axis=0)])), n

    runner.settings = {
        **runner.settings,
        "fixed_batch": batch,
        "batch_padding": f"the graph's batch is fixed at {batch}: each call pads the images with copies of the "
        "last one, whose outputs are dropped (a timed call runs the whole batch)",
    }
    runner.place = padded
    runner.call = lambda placed: (call(placed[0]), placed[1])
    # an output's first axis is the batch, or the batch times a per-image count (the traced patch embedding)
    runner.fetch = lambda result: [np.asarray(o)[: result[1] * (len(o) // batch)] for o in fetch(result[0])]
    return runner
