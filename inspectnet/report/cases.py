"""The best and worst test cases of an evaluation, as a figure made in the session (it needs the maps)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.data.layout import shown_path
from inspectnet.models.inputs import IMAGENET_MEAN, IMAGENET_STD

STRIDE = 2  # shown at half resolution: the figure stays small enough to commit

if TYPE_CHECKING:
    from inspectnet.measure.evaluate import Predictions
    from inspectnet.models.inputs import CategoryInputs
    from inspectnet.report.figures import Case


def pick(scores: np.ndarray, labels: np.ndarray) -> list[tuple[str, int]]:
    """Best and worst per class: the highest- and lowest-scoring anomalous and normal images."""
    anomalous, normal = np.flatnonzero(labels), np.flatnonzero(~labels)
    picks = []
    if anomalous.size:
        picks += [("best anomalous", int(anomalous[np.argmax(scores[anomalous])]))]
        picks += [("worst anomalous (lowest score)", int(anomalous[np.argmin(scores[anomalous])]))]
    if normal.size:
        picks += [("best normal", int(normal[np.argmin(scores[normal])]))]
        picks += [("worst normal (highest score)", int(normal[np.argmax(scores[normal])]))]
    return picks


def _image(tensor: np.ndarray) -> np.ndarray:
    """A normalised 3 x S x S tensor back to S x S x 3 uint8."""
    mean, std = np.array(IMAGENET_MEAN)[:, None, None], np.array(IMAGENET_STD)[:, None, None]
    return np.clip((tensor * std + mean) * 255.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def cases(predictions: Predictions, inputs: CategoryInputs, data_root: Path) -> list[Case]:
    from inspectnet.report.figures import Case

    out = []
    for title, i in pick(predictions.scores, inputs.labels):
        shown = shown_path(inputs.test_paths[i], data_root)
        out.append(
            Case(
                f"{title}: {shown}, score {predictions.scores[i]:.4f}",
                _image(inputs.test[i].numpy())[::STRIDE, ::STRIDE],
                predictions.maps[i][::STRIDE, ::STRIDE],
                inputs.masks[i].astype(bool)[::STRIDE, ::STRIDE],
            )
        )
    return out


def cases_png(category: str, predictions: Predictions, inputs: CategoryInputs, data_root: Path) -> bytes:
    """The figure as a 256-colour PNG (about 60 kB instead of 300: small enough to commit)."""
    import io

    from PIL import Image

    from inspectnet.report.figures import cases_figure

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.png"
        cases_figure(category, cases(predictions, inputs, data_root), path)
        with Image.open(path) as image:
            quantized = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    quantized.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
