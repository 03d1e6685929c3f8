"""A model's predictions on its test split, kept in the artifact store for the card's other processes.

Evaluating a model is, after fitting it, the card's largest cost; the latency benchmark (its own pytest
process), a later ``pytest -m parity`` or a re-run need the very same predictions (the deployed thresholds,
the record). They are kept under a hash of everything that determines them: the model's store key (spec,
weights, dataset fingerprint, anomalib, torch, device), the checkpoint's sha256, the scoring arithmetic, the
batch size, numpy's version and the source of InspectNet's code that computes them, so an edit to that code
computes them again. Reloaded only when the bytes hash to the sha256 kept beside them; otherwise computed
again and overwritten. Plain Python.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from inspectnet._io import sha256_file
from inspectnet.measure.evaluate import Predictions
from inspectnet.models.store import ArtifactStore, spec_key

# the code a prediction goes through, beyond anomalib and torch (whose versions are in the model's key)
CODE = (
    "inspectnet.models.stable",
    "inspectnet.models.features",
    "inspectnet.models.inputs",
    "inspectnet.models.train",
    "inspectnet.measure.evaluate",
)
Computed = tuple[Predictions, dict[str, float] | None]  # the predictions, and the metrics with anomalib's distances


def code_sha256() -> dict[str, str]:
    """sha256 of each module's source in ``CODE``."""
    out = {}
    for name in CODE:
        path = importlib.import_module(name).__file__
        out[name] = sha256_file(Path(str(path)))
    return out


def prediction_key(model_key: Mapping[str, Any], checkpoint_sha256: str, scoring: str, batch_size: int) -> str:
    import numpy as np

    return spec_key(
        {
            "model": dict(model_key),
            "checkpoint_sha256": checkpoint_sha256,
            "scoring": scoring,
            "batch_size": batch_size,
            "numpy": np.__version__,
            "code": code_sha256(),
        }
    )


def stored_predictions(store: ArtifactStore, key: str, compute: Callable[[], Computed]) -> tuple[Computed, bool]:
    """``key``'s predictions from ``store``, or ``compute``d and kept (once across processes); with whether
    they were computed here."""
    with store.lock(f"predictions-{key}"):
        found = store.load_arrays(key)
        if found is not None:
            arrays, facts = found
            anomalib = facts.get("anomalib_metrics")
            return (Predictions(arrays["scores"], arrays["maps"]), anomalib), False
        predictions, anomalib = compute()
        facts = {} if anomalib is None else {"anomalib_metrics": anomalib}
        store.save_arrays(key, {"scores": predictions.scores, "maps": predictions.maps}, facts)
        return (predictions, anomalib), True
