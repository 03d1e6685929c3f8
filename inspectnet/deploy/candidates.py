"""Deployment candidates: cheaper OpenVINO models built from a deployed model's FP32 IR, cached in the store.

- ``int8``: NNCF post-training quantisation (``nncf.quantize``, its default preset) of every operation NNCF
  quantises, its quantisation images drawn from ``train/good`` only.
- ``int8-fp32-search``: the same with every operation after the backbone (the nearest-neighbour search, the
  anomaly map and anomalib's post-processing) in NNCF's ``IgnoredScope``: only the backbone is INT8.
- ``fp16``: the FP32 IR with its weights compressed to FP16 (``save_model(compress_to_fp16=True)``); the CPU
  decompresses them and infers in FP32: a smaller file, not a faster call.
- ``bf16``: the FP32 IR itself, run with ``INFERENCE_PRECISION_HINT = bf16``; only where the CPU has BF16
  (AVX512-BF16 or AMX): elsewhere OpenVINO would emulate it, so the candidate is skipped, saying so.

Layout: ``<store>/candidates/<key>/{model.xml, model.bin, candidate.json}``; the key hashes the FP32 IR's
sha256, the candidate's settings, the quantisation images' sha256 and the NNCF and OpenVINO versions. A
directory is staged and renamed whole; on reuse every file is checked against its recorded sha256. NNCF is
imported only here, only when an INT8 candidate is built.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet._io import atomic_directory, atomic_write_json, sha256_file
from inspectnet.deploy.export import verified_record
from inspectnet.deploy.runtimes import openvino_cpu
from inspectnet.models.store import ArtifactStore, spec_key
from inspectnet.names import CANDIDATES

FILES = ("model.xml", "model.bin")
BASE_RUNTIME = openvino_cpu.NAME  # the candidates are built from its FP32 IR and run on it
BACKBONE = "feature_extractor"  # every backbone operation's name holds this (the exported module's path)
DESCRIPTIONS = {
    "int8": "OpenVINO INT8: NNCF post-training quantisation of every layer, calibrated on train/good images",
    "int8-fp32-search": "OpenVINO INT8 backbone; nearest-neighbour search, anomaly map and post-processing "
    "kept FP32 (NNCF IgnoredScope)",
    "fp16": "OpenVINO FP16 weights (compress_to_fp16), FP32 inference",
    "bf16": "the FP32 IR run with OpenVINO's bf16 inference precision hint",
}


class CandidateUnavailable(RuntimeError):
    """This candidate cannot be built or run on this machine (e.g. bf16 on a CPU without BF16)."""


@dataclass(frozen=True)
class Built:
    """A candidate as built: the IR to load, the precision hint to load it with, and its provenance."""

    name: str
    path: Path  # model.xml
    precision_hint: str  # "f32" | "bf16"
    key: str | None  # the store key; None for bf16 (it runs the FP32 IR itself)
    sha256: dict[str, str]
    size_bytes: int
    settings: dict[str, Any]
    build_s: float | None  # None when reused from the store (or nothing was built)


def size_of(xml: Path) -> int:
    """An IR's bytes on disk: the .xml and its .bin."""
    return sum(p.stat().st_size for p in (xml, xml.with_suffix(".bin")))


def bf16_capable() -> bool:
    import openvino as ov

    return "BF16" in list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def images_sha256(images: np.ndarray) -> str:
    """The quantisation images' identity: their float32 bytes and shape."""
    data = np.ascontiguousarray(images, dtype=np.float32)
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()


def build(
    name: str,
    fp32_xml: Path,
    fp32_sha256: dict[str, str],
    quantisation_images: np.ndarray,
    store_dir: Path,
    whole_model: bool | None = None,
) -> Built:
    """Candidate ``name`` of the FP32 IR ``fp32_xml`` (whose files' sha256 are ``fp32_sha256``), from the store
    when an intact one exists. ``quantisation_images``: N x 3 x S x S preprocessed train/good images (INT8 only).
    ``whole_model`` overrides which INT8 scope is quantised (the mutation tests plant a bad one with it)."""
    import openvino as ov

    if name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r} (known: {', '.join(CANDIDATES)})")
    settings: dict[str, Any] = {"openvino": ov.get_version()}
    if name == "bf16":
        if not bf16_capable():
            raise CandidateUnavailable(
                "bf16: this CPU has no BF16 support (AVX512-BF16 or AMX); OpenVINO would emulate it"
            )
        settings |= {"inference_precision_hint": "bf16", "weights": "the FP32 IR's"}
        return Built(name, fp32_xml, "bf16", None, dict(fp32_sha256), size_of(fp32_xml), settings, None)
    whole = name == "int8" if whole_model is None else whole_model
    if name == "fp16":
        settings |= {"conversion": "openvino.save_model(compress_to_fp16=True)"}
    else:
        settings |= _int8_settings(whole, quantisation_images)
    key = spec_key({"candidate": name, "fp32_sha256": dict(sorted(fp32_sha256.items())), "settings": settings})
    store = ArtifactStore(store_dir)
    directory = store.candidate_dir(key)
    with store.lock(f"candidate-{key}"):
        if (directory / "candidate.json").is_file():
            return _verified(name, directory, key)
        started = time.perf_counter()
        with atomic_directory(directory) as staging:
            model = ov.Core().read_model(str(fp32_xml))
            if name == "fp16":
                ov.save_model(model, str(staging / "model.xml"), compress_to_fp16=True)
            else:
                ov.save_model(
                    _quantised(model, quantisation_images, whole), str(staging / "model.xml"), compress_to_fp16=False
                )
            files = {f: sha256_file(staging / f) for f in FILES}
            atomic_write_json(staging / "candidate.json", {"candidate": name, "settings": settings, "sha256": files})
        built_s = round(time.perf_counter() - started, 3)
    xml = directory / "model.xml"
    return Built(name, xml, "f32", key, files, size_of(xml), settings, built_s)


def _int8_settings(whole: bool, images: np.ndarray) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "quantisation": "nncf.quantize (post-training, default preset), calibration on train/good images",
        "scope": "every layer" if whole else f"the backbone only (operations named *{BACKBONE}*); the rest FP32",
        "calibration_images": int(images.shape[0]),  # the record's and the store key's names
        "calibration_sha256": images_sha256(images),
        "nncf": version("nncf"),
    }


def _quantised(model: Any, images: np.ndarray, whole: bool) -> Any:
    import logging

    import nncf

    nncf.set_log_level(logging.ERROR)
    samples = [np.ascontiguousarray(images[i : i + 1], dtype=np.float32) for i in range(images.shape[0])]
    scope = None
    if not whole:
        names = [op.get_friendly_name() for op in model.get_ordered_ops()]
        if not any(BACKBONE in n for n in names):
            raise CandidateUnavailable(
                f"int8-fp32-search: no operation of this model is named *{BACKBONE}*, so its backbone cannot be "
                "told from the search; build int8 instead"
            )
        scope = nncf.IgnoredScope(names=[n for n in names if BACKBONE not in n], validate=False)
    return nncf.quantize(
        model, nncf.Dataset(samples), subset_size=len(samples), ignored_scope=scope, fast_bias_correction=True
    )


def _verified(name: str, directory: Path, key: str) -> Built:
    meta = verified_record(directory, "candidate.json", FILES, "candidate", "rebuild")
    xml = directory / "model.xml"
    return Built(name, xml, "f32", key, meta["sha256"], size_of(xml), meta["settings"], None)
