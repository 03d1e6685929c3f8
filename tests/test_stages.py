"""The stage table and its diagnosis (``measure.stages``), stage location in a graph (``deploy.trace``) and the
planted defects (``deploy.mutants``) on small hand-made inputs; the real exports are in the parity suites."""

from __future__ import annotations

import numpy as np
import pytest

from inspectnet.deploy.trace import PREFIX, Op, locate
from inspectnet.measure.stages import (
    FACTOR,
    Bands,
    arithmetic_limit,
    diagnosis,
    first_divergence,
    own_errors,
    reference_bands,
    reference_limit,
    select,
    stage_order,
    stage_table,
    tensor,
)

LAYERS = ["layer2", "layer3"]


def _outputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    stages = {
        "input": rng.normal(size=(2, 3, 8, 8)),
        "backbone.layer2": rng.random((2, 4, 4, 4)),
        "backbone.layer3": rng.random((2, 4, 2, 2)),
        "embedding": rng.random((8, 8)),
        "patch_scores": rng.random((2, 1, 2, 2)),
        "map_upsampled": rng.random((2, 1, 8, 8)),
    }
    out = {PREFIX + k: v.astype(np.float32) for k, v in stages.items()}
    out |= {
        "anomaly_map_raw": rng.random((2, 1, 8, 8)).astype(np.float32),
        "pred_score_raw": rng.random(2).astype(np.float32),
        "anomaly_map": rng.random((2, 1, 8, 8)).astype(np.float32),
        "pred_score": rng.random(2).astype(np.float32),
    }
    return out


def _nudged(outputs: dict[str, np.ndarray], size: float, *names: str) -> dict[str, np.ndarray]:
    return {k: (v + np.float32(size) if k in names else v.copy()) for k, v in outputs.items()}


NO_FLIPS = {"label": 0, "mask": 0}


def _bands(reference: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> Bands:
    return reference_bands(LAYERS, reference, own_errors(reference, exact, 2))


def test_the_first_stage_beyond_the_references_own_error_is_named() -> None:
    reference = _outputs()
    exact = _nudged(reference, 1e-6, *reference)  # the reference's own error: 1e-6 everywhere
    later = (PREFIX + "patch_scores", PREFIX + "map_upsampled", "anomaly_map_raw", "anomaly_map")
    compared = _nudged(reference, 1e-2, *later)
    rows = stage_table(LAYERS, reference, compared, _bands(reference, exact), NO_FLIPS)
    assert [r.stage for r in rows] == list(stage_order(LAYERS))
    first = first_divergence(rows)
    assert first is not None and first.stage == "patch_scores"
    text = diagnosis(rows)
    assert text.startswith("first divergence at patch scores (nearest-neighbour distances) (max abs error 1.0e-02")
    assert "backbone layer3, patch embedding agree" in text


def test_an_error_the_references_arithmetic_explains_is_not_a_divergence() -> None:
    reference = _outputs()
    exact = _nudged(reference, 1e-5, *reference)
    compared = _nudged(reference, 1e-5 * FACTOR / 2, *reference)
    rows = stage_table(LAYERS, reference, compared, _bands(reference, exact), NO_FLIPS)
    assert first_divergence(rows) is None
    assert diagnosis(rows) == "no stage diverged beyond the reference's own float32 error"


def test_an_unreachable_stage_is_said_and_flips_diverge() -> None:
    reference = _outputs()
    compared = {k: v for k, v in reference.items() if not k.startswith(PREFIX + "embedding")}
    rows = stage_table(LAYERS, reference, compared, _bands(reference, reference), {"label": 2, "mask": 0})
    embedding = next(r for r in rows if r.stage == "embedding")
    assert embedding.error is None and embedding.note == "not reachable in this graph"
    assert diagnosis(rows).startswith("first divergence at label (2 flips)")
    assert "(patch embedding: not reachable in this graph)" in diagnosis(rows)


def test_a_reference_that_cannot_meet_the_tolerance_names_where_its_error_grows() -> None:
    reference = _outputs()
    exact = _nudged(reference, 1e-7, *reference)
    grows = (PREFIX + "patch_scores", PREFIX + "map_upsampled", "anomaly_map_raw", "anomaly_map", "pred_score")
    exact = _nudged(exact, 2e-3, *grows)
    rows = stage_table(LAYERS, reference, reference, _bands(reference, exact), NO_FLIPS)
    stage, before, there = arithmetic_limit(rows) or (None, 0, 0)
    assert stage is not None and stage.stage == "patch_scores" and there > 100 * before
    text = reference_limit(rows, {"anomaly_map": 2e-3, "pred_score": 5e-4}, 1e-3)
    assert text is not None
    assert text.startswith("the torch reference itself is 2.00e-03 from float64 on anomaly_map (tolerance 1e-03)")
    assert "its error grows at patch scores (nearest-neighbour distances)" in text
    assert reference_limit(rows, {"anomaly_map": 2e-4}, 1e-3) is None


def _op(kind: str, name: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Op:
    return Op(kind, name, inputs, outputs)


def _graph(first_conv_reads: str = "cast") -> list[Op]:
    """The shape of an exported PatchCore: scoped node names (TorchScript) and parameter names (dynamo)."""
    fx = "/model/feature_extractor/feature_extractor"
    return [
        _op("Cast", "/model/Cast", ("image",), ("cast",)),
        _op("Add", "node_sub", ("image", "mean"), ("centred",)),
        _op("Conv", f"{fx}/conv1/Conv", (first_conv_reads, "w"), ("c1",)),
        _op("Relu", f"{fx}/layer1/layer1.0/act/Relu", ("c1",), ("l1",)),
        _op("Conv", "node_Conv_7", ("l1", "model.feature_extractor.layer2.0.conv1.weight"), ("l2a",)),
        _op("Relu", "node_relu_8", ("l2a",), ("l2",)),
        _op("Conv", f"{fx}/layer3/layer3.0/conv1/Conv", ("l2", "w"), ("l3a",)),
        _op("Relu", f"{fx}/layer3/layer3.0/act3/Relu", ("l3a",), ("l3",)),
        _op("AveragePool", "/model/feature_pooler/AveragePool", ("l2",), ("p2",)),
        _op("AveragePool", "/model/feature_pooler/AveragePool_1", ("l3",), ("p3",)),
        _op("Concat", "/model/Concat", ("p2", "p3"), ("emb",)),
        _op("MatMul", "/model/MatMul", ("emb", "bankT"), ("dots",)),
        _op("Greater", "/post/Greater", ("score", "t"), ("g",)),
        _op("Less", "/post/Less", ("score", "t"), ("l",)),
        _op("Resize", "node_upsample_nearest2d", ("scores", "", ""), ("up",)),
        _op("Pad", "node_pad", ("up", "p"), ("padded",)),
        _op("Conv", "node_Conv_478", ("padded", "model.anomaly_map_generator.blur.kernel"), ("blurred",)),
        _op("Greater", "/post/Greater_1", ("blurred", "t"), ("g1",)),
        _op("Less", "/post/Less_1", ("blurred", "t"), ("l1",)),
    ]


def test_stages_are_located_by_the_graphs_structure() -> None:
    assert locate(_graph()) == {
        "input": "cast",
        "backbone.layer2": "l2",
        "backbone.layer3": "l3",
        "embedding": "emb",
        "patch_scores": "scores",
        "map_upsampled": "up",
        "map_smoothed": "blurred",
        "score_raw": "score",
    }
    assert "embedding" not in locate([op for op in _graph() if op.kind != "MatMul"])


def test_an_input_the_graph_has_already_half_normalised_is_not_reachable() -> None:
    """OpenVINO folds the normalisation's division into the first convolution's weights: what that
    convolution reads is the image minus the mean, which is no stage of the reference."""
    assert "input" not in locate(_graph(first_conv_reads="centred"))


def test_planted_defects_change_only_what_they_name() -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from inspectnet.deploy.mutants import channel_swap, gaussian_kernel, normalisation_bound

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 2, 2])
    nodes = [
        helper.make_node("Identity", ["image"], ["anomaly_map_raw"]),
        helper.make_node("Sub", ["anomaly_map_raw", "threshold"], ["centred"]),
        helper.make_node("Div", ["centred", "range"], ["anomaly_map"]),
    ]
    inits = [numpy_helper.from_array(np.float32(0.5), "threshold"), numpy_helper.from_array(np.float32(2), "range")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("anomaly_map_raw", "anomaly_map")]
    graph = helper.make_graph(nodes, "g", [x], outputs, inits)
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)

    def run(model: object) -> list[np.ndarray]:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
        return session.run(None, {"image": image})  # type: ignore[no-any-return]

    plain = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    raw, normalised = run(plain)
    swapped = onnx.ModelProto()
    swapped.CopyFrom(plain)
    channel_swap(swapped)
    np.testing.assert_array_equal(run(swapped)[0], image[:, ::-1])
    moved = onnx.ModelProto()
    moved.CopyFrom(plain)
    normalisation_bound(moved, shift=0.25)
    after = run(moved)
    np.testing.assert_array_equal(after[0], raw)
    np.testing.assert_allclose(after[1], normalised / 1.25, rtol=1e-6)
    kernel = gaussian_kernel(9, 2.0)
    assert kernel.shape == (1, 1, 9, 9) and abs(kernel.sum() - 1) < 1e-12


def test_the_stages_are_traced_on_the_images_that_differ_most() -> None:
    from inspectnet.measure.stages import select, worst_images

    n = 5
    reference = {
        "pred_label": np.zeros(n, bool),
        "pred_mask": np.zeros((n, 1, 2, 2), bool),
        "anomaly_map": np.zeros((n, 1, 2, 2), np.float32),
        "pred_score": np.zeros(n, np.float32),
        PREFIX + "embedding": np.arange(n * 3 * 2, dtype=np.float32).reshape(n * 3, 2),  # 3 patches per image
    }
    compared = {k: v.copy() for k, v in reference.items()}
    compared["pred_label"][4] = True  # a flip comes first
    compared["anomaly_map"][1] += 0.5
    compared["pred_score"][3] += 0.2
    compared["pred_score"][0] += 0.1
    assert worst_images(reference, compared, n, 3) == [1, 3, 4]
    picked = select(reference, [1, 3], n)
    assert picked["pred_score"].shape == (2,)
    np.testing.assert_array_equal(picked[PREFIX + "embedding"], reference[PREFIX + "embedding"][[3, 4, 5, 9, 10, 11]])


@pytest.mark.parametrize("positions", [[0], [1], [0, 1]])
def test_bands_from_each_images_own_error_equal_the_bands_of_the_selected_images(positions: list[int]) -> None:
    reference = _outputs()
    noise = np.random.default_rng(5)
    exact = {k: v.astype(np.float64) + noise.normal(size=v.shape) * 1e-6 for k, v in reference.items()}
    errors = own_errors(reference, exact, 2)
    ref, ex = select(reference, positions, 2), select(exact, positions, 2)
    got = reference_bands(LAYERS, ref, {stage: e[positions] for stage, e in errors.items()})
    for stage in stage_order(LAYERS):
        if stage in ("label", "mask"):
            continue
        a, b = tensor(ref, stage), tensor(ex, stage)
        assert a is not None and b is not None
        assert got[stage] == (float(np.max(np.abs(a.astype(np.float64) - b))), float(np.max(np.abs(a))))
