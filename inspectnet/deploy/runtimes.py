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

from inspectnet.deploy.export import INPUT_NAME, Exported, ExportError
from inspectnet.deploy.postprocess import OUTPUTS
from inspectnet.deploy.trace import PREFIX
from inspectnet.models.inputs import IMAGENET_MEAN, IMAGENET_STD


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
        names=(*OUTPUTS, *(PREFIX + s for s in stages)),
    )
    if not trace:
        runner.traced = lambda: torch_runner(module, device, image_size, dtype, trace=True)
    return runner


# a user's own export, as anomalib's Engine.export writes it: the whole AnomalibModule, pre-processing included
# (resize + ImageNet normalisation) and post-processing included, outputs named by anomalib's InferenceBatch
ANOMALIB_OUTPUTS = ("pred_score", "pred_label", "anomaly_map", "pred_mask")
GIVEN_SETTINGS = {
    "graph": "the user's anomalib export (pre- and post-processing inside); fed the test images un-normalised "
    "(InspectNet's ImageNet normalisation undone: the graph normalises), outputs matched by name"
}
_MEAN = np.array(IMAGENET_MEAN, dtype=np.float64).reshape(1, 3, 1, 1)
_STD = np.array(IMAGENET_STD, dtype=np.float64).reshape(1, 3, 1, 1)


def _unnormalised(x: np.ndarray) -> np.ndarray:
    """A preprocessed (ImageNet-normalised) image back to [0, 1] pixels, which an anomalib export expects."""
    return np.ascontiguousarray(x.astype(np.float64) * _STD + _MEAN, dtype=np.float32)


def _given_names(path: Path, names: list[str]) -> tuple[str, ...]:
    missing = [n for n in ANOMALIB_OUTPUTS if n not in names]
    if missing:
        raise ExportError(
            f"{path}: outputs {', '.join(names) or 'none'}; an anomalib export names "
            f"{', '.join(ANOMALIB_OUTPUTS)} (missing {', '.join(missing)}); export it with anomalib's Engine.export"
        )
    return tuple(names)


def _output_name(names: set[str], any_name: str) -> str:
    """An OpenVINO output by anomalib's name where it carries one among its names (a compiled graph may list
    an inner tensor's name first, e.g. ``clamp`` beside ``pred_score``)."""
    return next((n for n in ANOMALIB_OUTPUTS if n in names), any_name)


def graph_signature(path: Path) -> tuple[str, list[int | None], list[str]]:
    """An exported model's input name and shape (None: a dynamic axis) and its output names, read without
    running it (ONNX: the graph; OpenVINO: the IR)."""
    _expect_file(path)
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
    _check_input(path, shape, image_size)
    _given_names(path, outputs)


def _expect_file(path: Path) -> None:
    if not path.is_file():
        raise ExportError(f"{path}: no such exported model; run the parity or latency tests to export it")


def _check_input(path: Path, shape: Sequence[Any], image_size: int) -> int | None:
    """The graph takes images of ``image_size`` square: each of its axes is that size or dynamic (anomalib's
    ``Engine.export`` leaves height and width dynamic), 3 channels, and a dynamic or fixed batch. Returns the
    fixed batch (None: dynamic), which ``_fixed_batch`` fills; ExportError in one line otherwise."""
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    ok = len(fixed) == 4 and fixed[1] == 3 and all(d in (None, image_size) for d in fixed[2:])
    if not ok:
        shown = "x".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)
        raise ExportError(
            f"{path}: model input shape {shown} does not fit images of shape 1x3x{image_size}x{image_size}"
        )
    return fixed[0]


def _fixed_batch(runner: Runner, batch: int | None) -> Runner:
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


def onnxruntime_runner(
    path: Path, device: str, image_size: int, optimization: str = "extended", given: bool = False, trace: bool = False
) -> Runner:
    """onnxruntime in FP32 on its CPU (or CUDA) provider. Graph optimisation stops at ``extended`` by default:
    on this project's CPU, level ``all`` (its NCHWc layout transforms) moved a PatchCore score by 4e-4 where
    ``extended`` stays within 4e-6 of a float64 reference (measured; see the parity records). ``trace``: the
    stages the graph reaches as extra outputs of an in-memory copy (``deploy.trace``); the file is unchanged."""
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
    stages: tuple[str, ...] = ()
    try:
        source: str | bytes = str(path)
        if trace:
            import onnx

            from inspectnet.deploy.trace import onnx_with_stages

            source, stages = onnx_with_stages(onnx.load(str(path)))
        session = ort.InferenceSession(source, options, providers=[provider])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise ExportError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
    batch = _check_input(path, session.get_inputs()[0].shape, image_size)
    feed = session.get_inputs()[0].name if given else INPUT_NAME
    own = [o.name for o in session.get_outputs()][: len(session.get_outputs()) - len(stages)]
    names = (*(_given_names(path, own) if given else OUTPUTS), *stages)
    transfer = "included: onnxruntime copies the host array in and the outputs out inside each call"
    runner = Runner(
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
            **(GIVEN_SETTINGS if given else {}),
        },
        place=_unnormalised if given else lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: session.run(None, {feed: x}),
        fetch=list,
        names=names,
    )
    if not trace:
        runner.traced = lambda: onnxruntime_runner(path, device, image_size, optimization, given, trace=True)
    return _fixed_batch(runner, batch)


def openvino_runner(
    path: Path, image_size: int, precision: str = "f32", given: bool = False, trace: bool = False
) -> Runner:
    """OpenVINO's CPU plugin with ``INFERENCE_PRECISION_HINT`` set explicitly (without it, a host with
    AVX-512-BF16 or AMX silently runs bf16). ``trace``: the stages the IR reaches added as outputs of the
    in-memory model before compiling (``deploy.trace``); the file is unchanged."""
    import openvino as ov

    _expect_file(path)
    core = ov.Core()
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
        raise ExportError(f"{path}: not a loadable OpenVINO IR ({str(exc).splitlines()[0]})") from None
    batch = _check_input(
        path, [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()], image_size
    )
    own_count = len(model.outputs)
    stages: tuple[str, ...] = ()
    if trace:
        from inspectnet.deploy.trace import openvino_add_stages

        stages = openvino_add_stages(model)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    outputs = list(compiled.outputs)
    own = [_output_name(o.get_names(), o.get_any_name()) for o in outputs[:own_count]]
    names = (*(_given_names(path, own) if given else OUTPUTS), *stages)
    runner = Runner(
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
            **(GIVEN_SETTINGS if given else {}),
        },
        place=_unnormalised if given else lambda x: np.ascontiguousarray(x, dtype=np.float32),
        call=lambda x: request.infer({0: x}),
        fetch=lambda result: [np.array(result[o], copy=True) for o in outputs],
        names=names,
    )
    if not trace:
        runner.traced = lambda: openvino_runner(path, image_size, precision, given, trace=True)
    return _fixed_batch(runner, batch)


def exported_runner(exported: Exported, runtime: str, device: str, image_size: int) -> Runner:
    """InspectNet's own export on ``runtime`` (onnxruntime on ``device``; OpenVINO on its CPU plugin)."""
    if runtime == "onnxruntime":
        return onnxruntime_runner(exported.onnx, device, image_size)
    if runtime == "openvino":
        return openvino_runner(exported.openvino, image_size)
    raise ValueError(f"{runtime!r} runs no exported graph (onnxruntime or openvino)")
