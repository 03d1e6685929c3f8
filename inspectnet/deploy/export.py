"""Export a deployed model, cached per checkpoint in the artifact store: ONNX and OpenVINO IR here (``ONNX``);
another runtime's exporter (e.g. ``torch.export``'s program) is an ``Exporter`` of its own module.

Route: torch's TorchScript exporter (``dynamo=False``, opset 17) with a dynamic batch axis. anomalib 2.7's
``Engine.export(ONNX)`` under torch 2.14 writes a graph with its batch fixed at 2; this one takes any batch.
OpenVINO IR is converted from that ONNX file with ``compress_to_fp16=False`` (FP32 weights).

Layout: ``<store>/exports/<key>/{model.onnx, model.xml, model.bin, export.json}``; the key hashes the
checkpoint sha256, the weights sha256, the calibration and the export settings, so an export from an
older checkpoint is never found for a newer one. A directory is staged and renamed whole; on reuse every
file is checked against the sha256 that ``export.json`` holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspectnet import progress
from inspectnet._io import atomic_directory, atomic_write_json, sha256_file
from inspectnet.models.store import ArtifactStore, spec_key

OPSET = 17
INPUT_NAME = "image"
# the deployed graph's outputs, in order (``deploy.postprocess.Deployed``)
OUTPUTS = ("anomaly_map_raw", "pred_score_raw", "anomaly_map", "pred_score", "pred_label", "pred_mask")
FILES = ("model.onnx", "model.xml", "model.bin")


class ExportError(RuntimeError):
    """A missing, corrupt or unfitting exported model; one line naming the file (and the shapes)."""


@dataclass(frozen=True)
class Exporter:
    """How one artifact is written: its files, the settings its store key hashes, and the writer, which fills
    a staging directory and ticks once per written step (``steps`` of them, then the checksums)."""

    name: str
    files: tuple[str, ...]
    settings: Callable[[int], dict[str, Any]]  # image size -> settings (versions, opset, ...)
    write: Callable[[Any, int, Path, Callable[[int], None]], None]  # module, image size, staging, tick
    steps: int


@dataclass(frozen=True)
class Exported:
    key: str
    directory: Path
    settings: dict[str, Any]
    files: dict[str, str]  # file name -> sha256
    export_s: float | None  # None when reused from the store

    @property
    def onnx(self) -> Path:
        return self.directory / "model.onnx"

    @property
    def openvino(self) -> Path:
        return self.directory / "model.xml"


def settings(image_size: int) -> dict[str, Any]:
    import onnx
    import openvino
    import torch

    return {
        "onnx_exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "opset": OPSET,
        "precision": "fp32",
        "input": {"name": INPUT_NAME, "shape": ["batch", 3, image_size, image_size], "dtype": "float32"},
        "dynamic_axes": {"batch": "every input and output's first axis"},
        "outputs": list(OUTPUTS),
        "openvino_conversion": "openvino.convert_model(model.onnx), save_model(compress_to_fp16=False)",
        "torch": torch.__version__.split("+")[0],
        "onnx": onnx.__version__,
        "openvino": openvino.get_version(),
    }


def export(
    module: Any,
    image_size: int,
    store_dir: Path,
    identity: dict[str, Any],
    label: str = "",
    exporter: Exporter | None = None,
) -> Exported:
    """``exporter``'s artifact of ``module`` (a ``Deployed``; default ONNX + OpenVINO IR), from the store when
    an intact export exists.

    ``identity`` must name what the graph is made of (checkpoint and weights sha256, calibration); ``label``
    names the run in progress lines (the exporter's steps, then the checksums).
    """
    exporter = exporter or ONNX
    config = exporter.settings(image_size)
    key = spec_key({"identity": identity, "settings": config})
    store = ArtifactStore(store_dir)
    directory = store.export_dir(key)
    with store.lock(f"export-{key}"):
        if (directory / "export.json").is_file():
            return _verified(directory, key, exporter.files)
        started = time.perf_counter()
        steps = exporter.steps + 1
        with progress.phase("export", steps, "steps", label) as shown, atomic_directory(directory) as staging:
            exporter.write(module, image_size, staging, shown.tick)
            files = {name: sha256_file(staging / name) for name in exporter.files}
            shown.tick(steps)
            atomic_write_json(staging / "export.json", {"identity": identity, "settings": config, "sha256": files})
        return Exported(key, directory, config, files, round(time.perf_counter() - started, 3))


def _write_onnx_and_ir(module: Any, image_size: int, staging: Path, tick: Callable[[int], None]) -> None:
    _write_onnx(module, image_size, staging / "model.onnx")
    tick(1)
    _write_openvino(staging / "model.onnx", staging / "model.xml")
    tick(2)


ONNX = Exporter("onnx", FILES, settings, _write_onnx_and_ir, 2)


def _write_onnx(module: Any, image_size: int, path: Path) -> None:
    import warnings

    import torch

    example = torch.zeros(1, 3, image_size, image_size, device=next(module.parameters()).device)
    axes = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUTS)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript tracer's notes on anomalib's python-side branches
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
        )


def _write_openvino(onnx_path: Path, xml_path: Path) -> None:
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)


def _verified(directory: Path, key: str, files: tuple[str, ...]) -> Exported:
    meta = verified_record(directory, "export.json", files, "export", "re-export")
    return Exported(key, directory, meta["settings"], meta["sha256"], None)


def verified_record(directory: Path, record: str, files: tuple[str, ...], what: str, redo: str) -> dict[str, Any]:
    """The JSON ``record`` of a cached store directory, after checking each of ``files`` against the sha256 it
    holds; ExportError in one line naming the file and how to recover (delete the directory, then ``redo``)."""
    meta_path = directory / record
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        digests: dict[str, str] = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{meta_path}: unreadable {what} record ({exc}); delete {directory} to {redo}") from None
    for name in files:
        path = directory / name
        if not path.is_file():
            raise ExportError(f"{path}: missing from the cached {what}; delete {directory} to {redo}")
        actual = sha256_file(path)
        if actual != digests.get(name):
            raise ExportError(
                f"{path}: sha256 {actual[:16]}... does not match its {what} record; the file was modified or "
                f"truncated; delete {directory} to {redo}"
            )
    return meta
