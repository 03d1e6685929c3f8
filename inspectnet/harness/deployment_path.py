"""Run the deployment path: a user's checkpoint through anomalib's Lightning predict, and each of its exports
through anomalib's ``OpenVINOInferencer`` (it reads ONNX and OpenVINO IR alike; anomalib has no other
inferencer for them), on the original image files. ``measure.deployment`` compares what they decide.

Both are anomalib's own code, run as a user runs them: ``Engine.predict`` over a ``PredictDataset`` of the
files, and ``OpenVINOInferencer.predict(file)`` with its default settings (which do not pin the inference
precision: what it ran is recorded). The stages are read beside them without changing either: the
checkpoint's torch model watched (``deploy.trace.watching``), and a traced copy of the export
(``deploy.trace``) fed exactly what the inferencer feeds its graph.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.deploy.trace import PREFIX
from inspectnet.measure.deployment import PathOutputs


def _resize(transform: Any) -> Any:
    """The Resize among a torchvision transform's steps (None: it has none)."""
    steps = getattr(transform, "transforms", [transform])
    return next((t for t in steps if type(t).__name__ == "Resize"), None)


def preprocessing_note(module: Any) -> str:
    """How the checkpoint's predict transform and its export transform resize a file of another size, when they
    do it differently (anomalib's PreProcessor keeps one for each), else ""."""
    pre = getattr(module, "pre_processor", None)
    ours, theirs = _resize(getattr(pre, "transform", None)), _resize(getattr(pre, "export_transform", None))
    if ours is None or theirs is None:
        return ""
    a, b = bool(getattr(ours, "antialias", False)), bool(getattr(theirs, "antialias", False))
    if a == b:
        return ""
    return (
        f"the checkpoint's pre-processing resizes {'with' if a else 'without'} antialiasing, the exported "
        f"graph's {'with' if b else 'without'} (anomalib's PreProcessor transform and export_transform): on files "
        f"of another size than {list(getattr(ours, 'size', []))} they see different images; resize the files to "
        "that size before the exported model, as the checkpoint's path does"
    )


def _module(checkpoint: Path, method: str) -> Any:
    from anomalib.models import Padim, Patchcore

    classes: dict[str, Any] = {"patchcore": Patchcore, "padim": Padim}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return classes[method].load_from_checkpoint(str(checkpoint), pre_trained=False, map_location="cpu")


def checkpoint_path(checkpoint: Path, method: str, files: Sequence[Path]) -> tuple[PathOutputs, str]:
    """The checkpoint through anomalib's ``Engine.predict`` on ``files`` (batch 1), with every stage its torch
    model computed (``deploy.trace.watching``); and what its pre-processing does differently from its
    export's (``preprocessing_note``)."""
    from anomalib.data import PredictDataset
    from anomalib.engine import Engine
    from torch.utils.data import DataLoader

    from inspectnet.deploy.trace import watching

    module = _module(checkpoint, method)
    dataset = PredictDataset(Path(files[0]).parent)
    dataset.image_filenames = [Path(f) for f in files]
    with watching(module.model) as forwards, tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = Engine(
            default_root_dir=root,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
        )
        loader = DataLoader(dataset, batch_size=1, collate_fn=dataset.collate_fn)
        batches = engine.predict(model=module, dataloaders=loader) or []
    outputs = _stacked(
        [
            {name: np.asarray(getattr(b, name)) for name in ("pred_score", "pred_label", "anomaly_map", "pred_mask")}
            for b in batches
        ]
    )
    stages = {s: np.concatenate([f[s].detach().cpu().numpy() for f in forwards]) for s in forwards[0]}
    return _path_outputs(outputs, stages), preprocessing_note(module)


def _stacked(outputs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([np.asarray(o[name]).reshape(1, -1) for o in outputs]) for name in outputs[0]}


def _path_outputs(outputs: dict[str, np.ndarray], stages: dict[str, np.ndarray]) -> PathOutputs:
    n = len(outputs["pred_score"])
    side = round(float(np.sqrt(outputs["anomaly_map"].shape[1])))
    return PathOutputs(
        scores=outputs["pred_score"].reshape(n).astype(np.float64),
        labels=outputs["pred_label"].reshape(n).astype(bool),
        maps=outputs["anomaly_map"].reshape(n, side, -1),
        masks=outputs["pred_mask"].reshape(n, side, -1).astype(bool),
        stages=stages,
    )


def _traced(export: Path) -> Any:
    """A callable running a traced copy of ``export`` (stages added as outputs) on one pre-processed image."""
    if export.suffix == ".onnx":
        import onnx
        import onnxruntime as ort

        from inspectnet.deploy.trace import onnx_with_stages

        model, stages = onnx_with_stages(onnx.load(str(export)))
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        own = [o.name for o in session.get_outputs()][: len(session.get_outputs()) - len(stages)]
        names, feed = [*own, *stages], session.get_inputs()[0].name
        return lambda x: dict(zip(names, session.run(None, {feed: x}), strict=True)), names
    import openvino as ov

    from inspectnet.deploy.trace import openvino_add_stages

    core = ov.Core()
    ir = core.read_model(str(export))
    count = len(ir.outputs)
    added = openvino_add_stages(ir)
    compiled = core.compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    outputs = list(compiled.outputs)
    names = [o.get_any_name() for o in outputs[:count]] + list(added)
    request = compiled.create_infer_request()
    return lambda x: {n: np.array(request.infer({0: x})[o]) for n, o in zip(names, outputs, strict=True)}, names


def export_path(
    export: Path, files: Sequence[Path], precision: str | None = None
) -> tuple[PathOutputs, dict[str, Any]]:
    """``export`` through anomalib's ``OpenVINOInferencer`` on ``files``, with the stages of a traced copy fed
    what the inferencer feeds its graph; and the inferencer's settings (device, the precision it ran).
    ``precision`` None: the inferencer's defaults, as a user runs it; else ``INFERENCE_PRECISION_HINT``."""
    from anomalib.data.utils import read_image
    from anomalib.deploy import OpenVINOInferencer

    config = {"INFERENCE_PRECISION_HINT": precision} if precision is not None else None
    inferencer = OpenVINOInferencer(path=export, device="CPU", config=config)
    predictions = [inferencer.predict(Path(f)) for f in files]
    outputs = _stacked(
        [
            {name: getattr(p, name) for name in ("pred_score", "pred_label", "anomaly_map", "pred_mask")}
            for p in predictions
        ]
    )
    run, names = _traced(export)
    traced = [run(OpenVINOInferencer.pre_process(np.asarray(read_image(Path(f), as_tensor=False)))) for f in files]
    stages = {
        name.removeprefix(PREFIX): np.concatenate([t[name] for t in traced])
        for name in names
        if name.startswith(PREFIX)
    }
    settings = {
        "inferencer": "anomalib.deploy.OpenVINOInferencer "
        + ("(default settings)" if precision is None else f"(INFERENCE_PRECISION_HINT={precision})"),
        "device": "CPU",
        "inference_precision_hint": inferencer.model.get_property("INFERENCE_PRECISION_HINT").to_string(),
    }
    return _path_outputs(outputs, stages), settings
