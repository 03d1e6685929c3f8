"""The suite's vocabulary, defined once: methods, metrics, devices and how a trained model is named.

Everything that prints, files or looks up a run (test ids, record names, the card's rows, the gate's
index) goes through ``run_name`` / ``run_id``; nothing else spells the rule. A run's identity is a ``RunKey``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeGuard

Method = Literal["patchcore", "padim"]
METHODS: tuple[Method, ...] = ("patchcore", "padim")


def is_method(text: object) -> TypeGuard[Method]:
    """True iff ``text`` names a method InspectNet trains (narrows a user's or a record's string)."""
    return text in METHODS


def as_method(text: object) -> Method:
    """``text`` as a ``Method``; ValueError naming the known ones otherwise."""
    if not is_method(text):
        raise ValueError(f"unknown method {text!r} (known: {', '.join(METHODS)})")
    return text


METRIC_LABELS = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO@0.3"}
METRICS = tuple(METRIC_LABELS)

DEVICES = ("cpu", "cuda")
# the runtimes are listed by their registry (``inspectnet.deploy.runtimes.REGISTRY``), one module each
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


@dataclass(frozen=True)
class RunKey:
    """One trained model of the plan."""

    method: Method
    category: str
    seed: int
    coreset: float | None = None  # a coreset-sweep ratio; None: the plan's ratio (PatchCore) or none (PaDiM)

    @property
    def name(self) -> str:
        """Its records' name: patchcore_cable, patchcore_cable_coreset0.10 (``run_name``)."""
        return run_name(self.method, self.category, self.seed, self.coreset)

    @property
    def test_id(self) -> str:
        """Reads like the card: patchcore-cable-seed0, patchcore-cable-seed0-coreset0.10."""
        return run_id(self.method, self.category, self.seed, self.coreset)

    @property
    def is_base(self) -> bool:
        """Trained at the plan's own coreset ratio (every run but the coreset sweep's)."""
        return self.coreset is None


def latency_record_name(run: str, device: str) -> str:
    """``patchcore_bottle_latency_cpu.json``."""
    return f"{run}_latency_{device}.json"


def parity_record_name(runtime: str, device: str, run: str) -> str:
    """``openvino_parity_patchcore_bottle.json``; the CUDA provider's: ``onnxruntime_cuda_parity_...``."""
    prefix = runtime if device == "cpu" else f"{runtime}_{device}"
    return f"{prefix}_parity_{run}.json"
