"""The stage tensors of a deployed model, from torch and from an exported graph, without changing either.

torch: the deployed module runs as always; for the duration of one call, the backbone, the nearest-neighbour
search and the anomaly-map generator are watched (a wrapper and forward pre-hooks), and what they see is
returned beside the outputs. Composes with the feature cache's replay (the watcher wraps whatever backbone
is in place when the call starts).

ONNX / OpenVINO: each stage is found in the graph by its structure (``locate``), and added as a graph output
to a copy held in memory (ONNX ``graph.output``; OpenVINO ``Model.add_outputs``). The file on disk, a user's
own export included, is never written. A stage the graph does not let be found is reported as not reachable.

How a stage is found (``locate``): by the graph's structure, not its node names, which differ between
exporters (TorchScript scopes in InspectNet's exports, ``node_Conv_411`` in anomalib's dynamo ``Engine.export``):
- input: the first convolution's input, when what feeds it is the input as fed, a cast or the normalisation's
  division (a normalisation folded into that convolution's weights, as OpenVINO's converter does, leaves it
  not reachable);
- backbone.<layer>: each tensor PatchCore's feature pooler reads, named by the nearest convolution before it;
- embedding: the first matrix product's first input (PatchCore's distance to the memory bank);
- map_smoothed: the output of the convolution whose weights are the blur kernel; patch_scores / map_upsampled:
  the input / output of the resize before it (through any padding);
- score_raw: the tensor the PostProcessor compares with its threshold both ways (greater and less), that is
  not the smoothed map.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "stage:"  # a traced stage among a runner's outputs: ``stage:<name>``
_LAYER = re.compile(r"(?<![a-z])(layer\d+)(?![0-9])")
_AS_FED = ("Cast", "Div", "Gather")  # what may stand between the input as fed and the backbone: a cast, the
# normalisation's division (a graph with pre-processing inside), a planted channel swap


@dataclass(frozen=True)
class Op:
    """One operation of a graph, as ``locate`` needs it: type, name and the tensors it reads and writes."""

    kind: str  # ONNX op type (OpenVINO types are mapped to these)
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _producers(ops: Sequence[Op]) -> dict[str, int]:
    return {tensor: i for i, op in enumerate(ops) for tensor in op.outputs}


def _layer_of(ops: Sequence[Op], at: int) -> str | None:
    """The backbone layer the op at ``at`` belongs to: the ``layerN`` named by the nearest convolution at or
    before it (its node name, or its weight's name: exporters keep one or the other)."""
    for op in reversed(ops[: at + 1]):
        match = _LAYER.search(" ".join((op.name, *op.inputs))) if op.kind == "Conv" else None
        if match:
            return match.group(1)
    return None


def locate(ops: Sequence[Op]) -> dict[str, str]:
    """Stage name -> tensor name (or port key) for every stage found in ``ops`` (graph order), in flow order;
    the stages missing from it are not reachable in this graph."""
    found: dict[str, str] = {}
    made = _producers(ops)
    conv = next((op for op in ops if op.kind == "Conv"), None)
    source = ops[made[conv.inputs[0]]].kind if conv is not None and conv.inputs[0] in made else None
    if conv is not None and source in (None, *_AS_FED):  # a normalisation folded into the weights: not reachable
        found["input"] = conv.inputs[0]
    for pool in (op for op in ops if op.kind == "AveragePool"):  # PatchCore pools each layer it uses
        layer = _layer_of(ops, made[pool.inputs[0]]) if pool.inputs[0] in made else None
        if layer is not None:
            found[f"backbone.{layer}"] = pool.inputs[0]
    matmul = next((op for op in ops if op.kind == "MatMul"), None)
    if matmul is not None:
        found["embedding"] = matmul.inputs[0]
    blur = next((op for op in ops if op.kind == "Conv" and any("blur" in name for name in op.inputs[1:])), None)
    if blur is not None:
        before = ops[made[blur.inputs[0]]] if blur.inputs[0] in made else None
        while before is not None and before.kind == "Pad":
            before = ops[made[before.inputs[0]]] if before.inputs[0] in made else None
        if before is not None and before.kind == "Resize":
            found["patch_scores"], found["map_upsampled"] = before.inputs[0], before.outputs[0]
        found["map_smoothed"] = blur.outputs[0]
    compared = [op for op in ops if op.kind == "Greater"]
    twins = {op.inputs[0] for op in ops if op.kind == "Less"}
    scores = [op.inputs[0] for op in compared if op.inputs[0] in twins and op.inputs[0] != found.get("map_smoothed")]
    if scores:  # the PostProcessor compares the raw score and the raw map with their thresholds both ways
        found["score_raw"] = scores[0]
    return found


# ---------------------------------------------------------------- ONNX


def onnx_ops(model: Any) -> list[Op]:
    """An ONNX model's nodes as ``Op``s, in graph (topological) order."""
    return [Op(n.op_type, n.name, tuple(n.input), tuple(n.output)) for n in model.graph.node]


def onnx_with_stages(model: Any) -> tuple[bytes, tuple[str, ...]]:
    """``model`` (an ``onnx.ModelProto`` loaded for this, changed in place) with each stage it reaches added
    as an output, serialised; and the added outputs' names, ``stage:<name>`` (a stage that is already a graph
    output, such as InspectNet's ``anomaly_map_raw``, is left to the output it is)."""
    import onnx

    existing = {o.name for o in model.graph.output}
    found = locate(onnx_ops(model))
    if "anomaly_map_raw" in existing:  # InspectNet's graph outputs its smoothed map
        found.pop("map_smoothed", None)
    added = []
    for stage, name in found.items():
        if name in existing:
            continue
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        added.append(PREFIX + stage)
    return model.SerializeToString(), tuple(added)


# ---------------------------------------------------------------- OpenVINO

_OV_KINDS = {"Convolution": "Conv", "Interpolate": "Resize", "AvgPool": "AveragePool", "Divide": "Div"}


def _key(port: Any) -> str:
    """An OpenVINO output port as a tensor name for ``locate``: its node's friendly name and its index."""
    return f"{port.get_node().get_friendly_name()}:{port.get_index()}"


def openvino_add_stages(model: Any) -> tuple[str, ...]:
    """Add each stage ``model`` (an ``openvino.Model``, read from the IR) reaches as an output, in place on
    that in-memory model; returns the added outputs' names, ``stage:<name>``, in the order they were added
    (after the model's own outputs)."""
    ops, ports = [], {}
    for node in model.get_ordered_ops():
        kind = _OV_KINDS.get(node.get_type_name(), node.get_type_name())
        outputs = []
        for port in node.outputs():
            ports[_key(port)] = port
            outputs.append(_key(port))
        inputs = tuple(_key(v.get_source_output()) for v in node.inputs())
        if kind not in ("Parameter", "Result", "Constant"):
            ops.append(Op(kind, node.get_friendly_name(), inputs, tuple(outputs)))
    found = locate(ops)
    own = {_key(r.input_value(0)) for r in model.get_results()}
    added = []
    for stage, key in found.items():
        if key in own:
            continue
        model.add_outputs([ports[key]])
        added.append(PREFIX + stage)
    return tuple(added)


# ---------------------------------------------------------------- torch


def torch_stages(model: Any) -> tuple[str, ...]:
    """The stages ``watching`` records for anomalib's torch ``model`` that the deployed module does not output,
    in flow order (the smoothed map is its own ``anomaly_map_raw``)."""
    head = ("embedding", "patch_scores", "map_upsampled") if _is_patchcore(model) else ()
    return ("input", *(f"backbone.{layer}" for layer in model.layers), *head)


def _is_patchcore(model: Any) -> bool:
    generator = getattr(model, "anomaly_map_generator", None)
    return hasattr(model, "nearest_neighbors") and hasattr(generator, "blur")


@contextlib.contextmanager
def watching(model: Any) -> Iterator[list[dict[str, Any]]]:
    """For the block, record the stage tensors each forward of ``model`` (anomalib's PatchCore or PaDiM torch
    model) computes: one ``stage name -> tensor`` dict per forward, in call order (input, backbone layers;
    PatchCore also embedding, patch scores, map before and after smoothing). Restores the model afterwards."""
    from torch import nn

    forwards: list[dict[str, Any]] = []
    backbone = model.feature_extractor

    class Watched(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = backbone

        def forward(self, batch: Any) -> Any:
            features = self.inner(batch)
            forwards.append({"input": batch, **{f"backbone.{layer}": f for layer, f in features.items()}})
            return features

    def keep(stage: str, value: Any) -> None:  # a hook that returns None leaves the call as it was
        forwards[-1].setdefault(stage, value)

    handles = []
    search = model.__dict__.get("nearest_neighbors")
    if _is_patchcore(model):
        generator, bound = model.anomaly_map_generator, model.nearest_neighbors
        handles.append(generator.register_forward_pre_hook(lambda _, a: keep("patch_scores", a[0])))
        handles.append(generator.blur.register_forward_pre_hook(lambda _, a: keep("map_upsampled", a[0])))
        handles.append(generator.blur.register_forward_hook(lambda _, __, out: keep("map_smoothed", out)))

        def recorded(embedding: Any, n_neighbors: int) -> Any:
            keep("embedding", embedding)  # the first search of a forward; the support set's comes second
            return bound(embedding, n_neighbors)

        model.nearest_neighbors = recorded
    model.feature_extractor = Watched()
    try:
        yield forwards
    finally:
        model.feature_extractor = backbone
        for handle in handles:
            handle.remove()
        if search is None:
            model.__dict__.pop("nearest_neighbors", None)
        else:
            model.nearest_neighbors = search
