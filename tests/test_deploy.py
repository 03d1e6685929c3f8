"""Deployment: calibration, ONNX / OpenVINO export cached per checkpoint, runtimes and their errors.

A small PatchCore (resnet18 layer2, random init, 64x64 images, a random memory bank) keeps this fast; the
acceptance suites export the real models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inspectnet.deploy.calibration import Calibration
from inspectnet.deploy.export import OUTPUTS, Exported, ExportError, export
from inspectnet.deploy.postprocess import calibrate, deployed, f1_threshold
from inspectnet.deploy.runtimes import onnxruntime_runner, openvino_runner, torch_runner

SIZE = 64
CALIBRATION = Calibration(2.0, 2.5, 0.5, 4.0, 0.0, 6.0)


@pytest.fixture(scope="module")
def module() -> torch.nn.Module:
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    torch.manual_seed(0)
    model = PatchcoreModel(layers=["layer2"], backbone="resnet18", pre_trained=False, num_neighbors=3).eval()
    model.memory_bank = torch.randn(64, 128)
    return deployed(model, CALIBRATION)


@pytest.fixture(scope="module")
def exported(module: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return export(module, SIZE, tmp_path_factory.mktemp("store"), {"checkpoint_sha256": "a" * 64})


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


def test_calibration_is_anomalibs_f1_threshold() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 1, 1, 1, 0])
    best = max(scores, key=lambda t: _f1(scores >= t, labels))
    assert f1_threshold(scores, labels) == pytest.approx(best)
    maps = np.random.default_rng(1).random((6, 8, 8))
    cal = calibrate(scores, maps, labels.astype(bool), maps > 0.7)
    assert cal.image_threshold == pytest.approx((best + 0.2) / 2)  # mid-gap below the F1 cut: 0.35 stays positive
    assert np.all((scores > cal.image_threshold) == (scores >= best))
    assert (cal.image_min, cal.image_max) == (0.1, 0.8)
    assert cal.pixel_min == pytest.approx(maps.min()) and cal.pixel_max == pytest.approx(maps.max())


def _f1(pred: np.ndarray, labels: np.ndarray) -> float:
    tp = float(np.sum(pred & (labels == 1)))
    return 2 * tp / (float(pred.sum()) + float(labels.sum()))


def test_deployed_outputs_are_anomalibs_post_processing(module: torch.nn.Module) -> None:
    with torch.no_grad():
        raw_map, raw_score, norm_map, norm_score, label, mask = module(torch.from_numpy(_images(2)))
    expected = (
        (raw_score - CALIBRATION.image_threshold) / (CALIBRATION.image_max - CALIBRATION.image_min) + 0.5
    ).clamp(0, 1)
    assert torch.allclose(norm_score, expected)
    assert torch.equal(label, norm_score > 0.5) and torch.equal(mask, norm_map > 0.5)
    assert raw_map.shape == (2, 1, SIZE, SIZE)


def test_export_is_cached_per_checkpoint(module: torch.nn.Module, exported: Exported) -> None:
    assert exported.export_s is not None and exported.onnx.is_file() and exported.openvino.is_file()
    store = exported.directory.parents[1]
    again = export(module, SIZE, store, {"checkpoint_sha256": "a" * 64})
    assert again.export_s is None and again.key == exported.key and again.files == exported.files
    assert again.settings["opset"] == 17 and again.settings["precision"] == "fp32"
    other = export(module, SIZE, store, {"checkpoint_sha256": "b" * 64})  # a new checkpoint: never the old export
    assert other.key != exported.key and other.directory != exported.directory


@pytest.mark.parametrize("batch", [1, 3])
def test_exported_graphs_take_any_batch_and_match_torch(
    module: torch.nn.Module, exported: Exported, batch: int
) -> None:
    images = _images(batch)
    reference = torch_runner(module, "cpu", SIZE).outputs(images)
    for runner in (onnxruntime_runner(exported.onnx, "cpu", SIZE), openvino_runner(exported.openvino, SIZE)):
        out = runner.outputs(images)
        assert list(out) == list(OUTPUTS)
        for name in ("anomaly_map_raw", "pred_score_raw"):
            assert out[name].shape == reference[name].shape
            np.testing.assert_allclose(out[name], reference[name], atol=1e-4, err_msg=f"{runner.runtime} {name}")


def test_runtime_settings_are_recorded(exported: Exported) -> None:
    ov = openvino_runner(exported.openvino, SIZE).settings
    assert ov["inference_precision_hint"] == "f32" and isinstance(ov["host_can_run_bf16"], bool)
    assert onnxruntime_runner(exported.onnx, "cpu", SIZE).settings["providers"] == ["CPUExecutionProvider"]


def test_a_modified_cached_export_is_refused(module: torch.nn.Module, tmp_path: Path) -> None:
    first = export(module, SIZE, tmp_path, {"checkpoint_sha256": "c" * 64})
    with first.onnx.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ExportError, match=r"model.onnx: sha256 .* does not match its export record.*delete"):
        export(module, SIZE, tmp_path, {"checkpoint_sha256": "c" * 64})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, e: onnxruntime_runner(d / "absent.onnx", "cpu", SIZE), "absent.onnx: no such exported model"),
        (lambda d, e: openvino_runner(d / "absent.xml", SIZE), "absent.xml: no such exported model"),
        (lambda d, e: onnxruntime_runner(_garbage(d / "bad.onnx"), "cpu", SIZE), "bad.onnx: not a loadable ONNX"),
        (lambda d, e: openvino_runner(_garbage(d / "bad.xml"), SIZE), "bad.xml: not a loadable OpenVINO IR"),
        (lambda d, e: onnxruntime_runner(e.onnx, "cpu", 128), r"input shape batchx3x64x64 does not fit .*1x3x128x128"),
        (lambda d, e: openvino_runner(e.openvino, 128), r"input shape \?x3x64x64 does not fit .*1x3x128x128"),
    ],
)
def test_bad_exported_files_are_named(tmp_path: Path, exported: Exported, make: Any, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        make(tmp_path, exported)


def test_an_image_of_the_wrong_shape_is_named(exported: Exported) -> None:
    runner = onnxruntime_runner(exported.onnx, "cpu", SIZE)
    with pytest.raises(ExportError, match=r"onnxruntime: input of shape \(1, 3, 32, 32\) does not fit"):
        runner.outputs(np.zeros((1, 3, 32, 32), dtype=np.float32))


def _garbage(path: Path) -> Path:
    path.write_bytes(b"not a model")
    return path


# ---------------------------------------------------------------- the runtime registry


def test_the_registry_lists_each_runtime_once_with_what_the_suites_ask() -> None:
    from inspectnet.deploy.runtimes import NAMES, REFERENCE, REGISTRY, on, runtime, user_export

    assert len(set(NAMES)) == len(REGISTRY) and REFERENCE.name == "torch" and not REFERENCE.exported
    assert [r.name for r in on("cpu")] == ["torch", "onnxruntime", "openvino", "torch-export"]
    assert [r.name for r in on("cpu", exported=True)] == ["onnxruntime", "openvino", "torch-export"]
    assert [r.name for r in on("cuda", exported=True)] == ["onnxruntime", "onnxruntime-tensorrt"]
    assert user_export("onnx") is runtime("onnxruntime") and user_export("pt2") is None
    for row in REGISTRY:
        assert row.exported == (row.load is not None) == bool(row.file) == bool(row.model_files), row.name
        assert row.file.endswith(row.model_files[0]) if row.exported else True
    with pytest.raises(ValueError, match=r"unknown runtime 'tensorrt' \(known: torch, onnxruntime"):
        runtime("tensorrt")


def test_a_gpu_runtime_says_in_one_line_why_it_cannot_run_here(exported: Exported) -> None:
    from inspectnet.deploy.runtimes import RuntimeUnavailable, runtime

    tensorrt = runtime("onnxruntime-tensorrt")
    with pytest.raises(RuntimeUnavailable, match=r"runs on cuda, not cpu"):
        tensorrt.exported_runner(exported, "cpu", SIZE)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeUnavailable, match=r"^onnxruntime \S+ has no (TensorrtExecutionProvider|CUDA)"):
            tensorrt.exported_runner(exported, "cuda", SIZE)
        from inspectnet.deploy.dense import square_conv

        assert tensorrt.kernels("cuda", [square_conv(8, 16, 3)], None) == []  # no provider, no kernel: not timed


@pytest.fixture(scope="module")
def program(module: torch.nn.Module, exported: Exported) -> Exported:
    from inspectnet.deploy.runtimes.torch_export import EXPORTER

    return export(module, SIZE, exported.directory.parents[1], {"checkpoint_sha256": "a" * 64}, exporter=EXPORTER)


def test_the_torch_export_program_is_cached_apart_and_matches_torch(
    module: torch.nn.Module, exported: Exported, program: Exported
) -> None:
    from inspectnet.deploy.runtimes import runtime
    from inspectnet.deploy.runtimes.torch_export import EXPORTER

    assert program.key != exported.key and list(program.files) == ["model.pt2"] and program.export_s is not None
    store = exported.directory.parents[1]
    again = export(module, SIZE, store, {"checkpoint_sha256": "a" * 64}, exporter=EXPORTER)
    assert again.export_s is None and again.files == program.files
    runner = runtime("torch-export").exported_runner(program, "cpu", SIZE)
    images = _images(1)
    reference = torch_runner(module, "cpu", SIZE).outputs(images)
    out = runner.outputs(images)
    assert list(out) == list(OUTPUTS)
    for name in OUTPUTS:
        np.testing.assert_allclose(out[name], reference[name], atol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="does not load the export"):
        runtime("torch-export").exported_runner(exported, "cpu", SIZE)


def test_a_bad_torch_export_program_is_named(tmp_path: Path) -> None:
    from inspectnet.deploy.runtimes.torch_export import torch_export_runner

    with pytest.raises(ExportError, match=r"absent.pt2: no such exported model"):
        torch_export_runner(tmp_path / "absent.pt2", "cpu", SIZE)
    with pytest.raises(ExportError, match=r"bad.pt2: not a loadable torch.export program"):
        torch_export_runner(_garbage(tmp_path / "bad.pt2"), "cpu", SIZE)


def test_a_changed_weight_in_the_torch_export_program_breaks_parity(module: torch.nn.Module, tmp_path: Path) -> None:
    import copy

    from inspectnet.deploy.runtimes import runtime
    from inspectnet.deploy.runtimes.torch_export import EXPORTER
    from inspectnet.measure.parity import compare

    mutant: Any = copy.deepcopy(module)
    with torch.no_grad():
        next(mutant.model.feature_extractor.parameters()).mul_(1.01)  # the first convolution's weights, +1%
    program = export(mutant, SIZE, tmp_path, {"checkpoint_sha256": "d" * 64}, exporter=EXPORTER)
    images = _images(2)
    runner = runtime("torch-export").exported_runner(program, "cpu", SIZE)
    reference = torch_runner(module, "cpu", SIZE).outputs(images[:1])
    result = compare(reference, runner.outputs(images[:1]), ["a"], 1e-3)
    assert not result.clean and max(result.max_abs_error.values()) > 1e-3, result.summary()
