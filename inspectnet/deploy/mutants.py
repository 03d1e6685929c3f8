"""Planted defects, one per stage of the deployed model, made in a copy of its ONNX graph.

The parity self-check runs each through parity and expects the diagnosis to name the stage it was planted
in (``measure.stages``): a defect that parity misses, or places elsewhere, fails the self-check. Each
function edits an ``onnx.ModelProto`` in place and returns what it changed, in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


class MutantError(RuntimeError):
    """The graph lacks what the defect is planted in (e.g. no memory bank: not a PatchCore graph)."""


def _initializer(model: Any, contains: str) -> Any:
    found = [i for i in model.graph.initializer if contains in i.name]
    if not found:
        raise MutantError(f"no initializer named like {contains!r} in the graph")
    return found[0]


def _replace(init: Any, values: np.ndarray) -> None:
    from onnx import numpy_helper

    init.CopyFrom(numpy_helper.from_array(values.astype(numpy_helper.to_array(init).dtype), init.name))


def _array(init: Any) -> np.ndarray:
    from onnx import numpy_helper

    return np.array(numpy_helper.to_array(init), copy=True)


def channel_swap(model: Any) -> str:
    """Pre-processing: the image's channels reversed (RGB read as BGR) before anything else reads it."""
    import onnx

    source = model.graph.input[0].name
    swapped = f"{source}_bgr"
    for node in model.graph.node:
        node.input[:] = [swapped if name == source else name for name in node.input]
    order = onnx.helper.make_tensor(f"{source}_bgr_order", onnx.TensorProto.INT64, [3], [2, 1, 0])
    model.graph.initializer.append(order)
    gather = onnx.helper.make_node("Gather", [source, order.name], [swapped], axis=1, name="planted/channel_swap")
    model.graph.node.insert(0, gather)
    return "the input's channels reversed (RGB as BGR) before the backbone"


def layer_weight(model: Any, channel: int, layer: str = "layer3", delta: float = 0.5) -> str:
    """One weight of ``layer``: the bias of output ``channel`` of its last convolution (the one the layer's
    output is summed from), plus ``delta``. Pick a channel the images activate (``busiest_channel`` of the
    layer's output): a change under a ReLU that is zero there changes nothing. The changed bias gets an
    initializer of its own (the exporter shares one zero bias among many convolutions)."""
    from onnx import numpy_helper

    conv = next((n for n in reversed(model.graph.node) if n.op_type == "Conv" and f"/{layer}/" in n.name), None)
    if conv is None or len(conv.input) < 3:
        raise MutantError(f"no convolution with a bias in the graph's {layer}")
    values = {i.name: i for i in model.graph.initializer}
    source = values.get(conv.input[2])
    if source is None:  # shared through an Identity of another initializer
        alias = next((n for n in model.graph.node if n.op_type == "Identity" and n.output[0] == conv.input[2]), None)
        source = values.get(alias.input[0]) if alias is not None else None
    if source is None:
        raise MutantError(f"{conv.name}: its bias is not an initializer of the graph")
    bias = _array(source)
    bias[channel] += delta
    own = numpy_helper.from_array(bias.astype(np.float32), f"{conv.name}/planted_bias")
    model.graph.initializer.append(own)
    conv.input[2] = own.name
    return f"{conv.name} bias[{channel}] + {delta:g}"


def memory_bank_row(model: Any, row: int, factor: float = 1.1) -> str:
    """One memory-bank entry (``row``, e.g. the one most test patches are nearest to) scaled by ``factor``."""
    init = _initializer(model, "memory_bank")
    bank = _array(init)
    bank[row] *= factor
    _replace(init, bank)
    return f"memory bank row {row} of {bank.shape[0]} scaled by {factor:g}"


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """A normalised 2-D Gaussian of ``size`` x ``size`` (anomalib's GaussianBlur2d kernel, 1 x 1 x size x size)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g).reshape(1, 1, size, size)


def smoothing_sigma(model: Any, sigma: float = 3.0) -> str:
    """The anomaly map's Gaussian smoothing with another sigma (same kernel size)."""
    init = _initializer(model, "blur.kernel")
    size = int(init.dims[-1])
    _replace(init, gaussian_kernel(size, sigma))
    return f"smoothing sigma {sigma:g} (kernel {size}x{size})"


def normalisation_bound(model: Any, raw: str = "anomaly_map_raw", shift: float = 0.02) -> str:
    """The map's upper normalisation bound moved by ``shift`` x its range: anomalib's PostProcessor divides
    ``raw - threshold`` by ``max - min`` (the exporter folds that range into a constant), so the quotient is
    scaled by 1 / (1 + shift) right after the division."""
    import onnx

    nodes = list(model.graph.node)
    sub = next((n for n in nodes if n.op_type == "Sub" and n.input[0] == raw), None)
    div = next((n for n in nodes if sub is not None and n.op_type == "Div" and n.input[0] == sub.output[0]), None)
    if div is None:
        raise MutantError(f"no normalisation of {raw!r} (raw - threshold) / (max - min) in the graph")
    quotient, unmoved = div.output[0], f"{div.output[0]}_unmoved"
    div.output[0] = unmoved  # the Mul takes over the quotient's name, so every reader (or output) reads it moved
    factor = onnx.helper.make_tensor(f"{quotient}_factor", onnx.TensorProto.FLOAT, [], [1 / (1 + shift)])
    model.graph.initializer.append(factor)
    at = nodes.index(div) + 1
    model.graph.node.insert(at, onnx.helper.make_node("Mul", [unmoved, factor.name], [quotient], name="planted/bound"))
    return f"the map's upper normalisation bound moved by {shift:.0%} of its range"


@dataclass(frozen=True)
class Planted:
    """A defect planted in one stage, and the stage the diagnosis must name."""

    name: str
    stage: str
    plant: Callable[[Any], str]


def planted_defects(bank_row: int = 0, channel: int = 0) -> tuple[Planted, ...]:
    """One defect per stage of a PatchCore graph (``bank_row``: the memory-bank entry to perturb; ``channel``:
    the layer3 output channel whose bias to perturb)."""
    return (
        Planted("preprocessing-channel-swap", "input", channel_swap),
        Planted("layer3-weight", "backbone.layer3", lambda m: layer_weight(m, channel)),
        Planted("memory-bank-row", "patch_scores", lambda m: memory_bank_row(m, bank_row)),
        Planted("smoothing-sigma", "map_smoothed", smoothing_sigma),
        Planted("normalisation-bound", "map_normalised", normalisation_bound),
    )


def busiest_channel(features: np.ndarray) -> int:
    """The channel (axis 1) of ``features`` (N x C x H x W, after a ReLU) with the largest mean activation."""
    return int(np.argmax(features.astype(np.float64).mean(axis=(0, 2, 3))))


def most_used_row(embedding: np.ndarray, bank: np.ndarray) -> int:
    """The memory-bank entry that is the nearest neighbour of the most patches of ``embedding`` (P x D)."""
    e, b = embedding.astype(np.float64), bank.astype(np.float64)
    distances = (e**2).sum(1)[:, None] - 2 * e @ b.T + (b**2).sum(1)[None, :]
    return int(np.bincount(distances.argmin(1), minlength=len(b)).argmax())
