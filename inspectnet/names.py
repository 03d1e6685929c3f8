"""The suite's vocabulary, defined once: methods, metrics, runtimes and how a trained model is named.

Everything that prints, files or looks up a run (test ids, record names, the card's rows, the gate's
index) goes through ``run_name`` / ``run_id``; nothing else spells the rule.
"""

from __future__ import annotations

from typing import Literal

Method = Literal["patchcore", "padim"]
METHODS: tuple[Method, ...] = ("patchcore", "padim")

METRIC_LABELS = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO@0.3"}
METRICS = tuple(METRIC_LABELS)

DEVICES = ("cpu", "cuda")
RUNTIMES = ("torch", "onnxruntime", "openvino")
# what each device measures: OpenVINO runs on its CPU plugin; onnxruntime on CUDA needs onnxruntime-gpu
LATENCY_RUNTIMES = {"cpu": RUNTIMES, "cuda": ("torch", "onnxruntime")}
PARITY_RUNTIMES = {"cpu": ("onnxruntime", "openvino"), "cuda": ("onnxruntime",)}
# deployment candidates built from the FP32 OpenVINO IR (``deploy.candidates``), in the card's order
CANDIDATES = ("int8", "int8-fp32-search", "fp16", "bf16")


def candidate_record_name(method: str, category: str, candidate: str) -> str:
    """``candidate_patchcore_bottle_int8-fp32-search.json``."""
    return f"candidate_{method}_{category}_{candidate}.json"


def _parts(method: str, category: str, seed: int, coreset: float | None) -> list[str]:
    """A run's distinguishing parts. ``coreset`` is None for the plan's own ratio (whatever it is) and a
    ratio only for a coreset-sweep run, so a profile's base runs are named the same at any ratio."""
    parts = [method, category]
    if seed != 0:
        parts.append(f"seed{seed}")
    if coreset is not None:
        parts.append(f"coreset{coreset:.2f}")
    return parts


def run_name(method: str, category: str, seed: int = 0, coreset: float | None = None) -> str:
    """The card's and the records' naming: patchcore_cable, patchcore_leather_seed1, patchcore_cable_coreset0.10."""
    return "_".join(_parts(method, category, seed, coreset))


def run_id(method: str, category: str, seed: int, coreset: float | None = None) -> str:
    """Test ids that read like the card: patchcore-cable-seed0, patchcore-cable-seed0-coreset0.10."""
    parts = _parts(method, category, seed, coreset)
    if seed == 0:
        parts.insert(2, "seed0")
    return "-".join(parts)


def latency_record_name(run: str, device: str) -> str:
    """``patchcore_bottle_latency_cpu.json``."""
    return f"{run}_latency_{device}.json"


def parity_record_name(runtime: str, device: str, run: str) -> str:
    """``openvino_parity_patchcore_bottle.json``; the CUDA provider's: ``onnxruntime_cuda_parity_...``."""
    prefix = runtime if device == "cpu" else f"{runtime}_{device}"
    return f"{prefix}_parity_{run}.json"
