"""Models InspectNet did not train: ``--model CATEGORY=PATH`` and ``--model-dir`` judge anomalib checkpoints with
the same tests, metrics, record names and criteria as trained models.

The checkpoints are real (root conftest's ``anomalib_results``: anomalib's own Engine fits PatchCore and PaDiM
on a small copy of the embedded bottle). Every refusal is one line, exit 4, with nothing trained or written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).parents[1]
Results = tuple[Path, dict[str, Path]]
PROFILE = """schema = 1
dataset = "folder"
[plan]
methods = ["patchcore", "padim"]
categories = ["bottle"]
seeds = [0]
coreset = 0.1
[criteria.patchcore.bottle]
image_auroc = { min = 0.0 }
pixel_auroc = { min = 0.0 }
aupro = { min = 0.0 }
[criteria.padim.bottle]
image_auroc = { min = 0.0 }
pixel_auroc = { min = 0.0 }
aupro = { min = 0.0 }
# A given checkpoint runs anomalib's own PatchCore arithmetic, whose float32 distance expansion differs
# between runtimes by up to 3.4e-4 here (normalised score; measured 2026-11-29). These tests check the
# plumbing, so their tolerance keeps a 10x margin for another CPU; the product's default stays 1e-3.
[parity]
tolerance = 5e-3
"""


def _pytest(
    tmp_path: Path,
    data: Path,
    *args: str,
    parity: bool = False,
    select: str = "not test_threshold and not test_deployment_path",
) -> subprocess.CompletedProcess[str]:
    """The accuracy suite (and the parity suite) in ``tmp_path`` (its profile.toml: ``PROFILE`` when absent),
    its tests chosen by ``select`` (``-k``). Not ``test_threshold`` unless asked: anomalib validated the
    ``anomalib_results`` checkpoints on their test split, 3 normal and 12 anomalous images, where flagging every
    image scores the best F1, so their thresholds are not sane (tests/test_threshold_checkpoints.py). Nor
    ``test_deployment_path``: on these 256 x 256 files anomalib's own two paths resize differently (below)."""
    if not (tmp_path / "profile.toml").exists():
        (tmp_path / "profile.toml").write_text(PROFILE)
    files = [str(ROOT / "tests" / "acceptance" / "test_accuracy.py")]
    files += [str(ROOT / "parity" / "test_parity.py")] if parity else []
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "-m", "accuracy or parity"]
    cmd += ["-k", select]
    cmd += ["--dataset", "folder", "--dataset-licence", "CC0-1.0"]
    cmd += ["--data-root", str(data), "--criteria", str(tmp_path / "profile.toml")]
    cmd += ["--store-dir", str(tmp_path / "store"), "--report-dir", str(tmp_path / "reports" / "eval_harness")]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, check=False, cwd=tmp_path)


def _direct_metrics(path: Path, method: str, data: Path, size: int) -> dict[str, float]:
    """The anomalib model's raw outputs on the same preprocessed test images, scored by the same metrics."""
    from anomalib.models import Padim, Patchcore

    from inspectnet.data.layout import load_category
    from inspectnet.measure.evaluate import Predictions, score
    from inspectnet.models.inputs import load_inputs

    inputs = load_inputs(load_category(data, "bottle"), size)
    model = (Patchcore if method == "patchcore" else Padim).load_from_checkpoint(path, pre_trained=False).model
    with torch.no_grad():
        out = model.eval()(inputs.test)
    predictions = Predictions(out.pred_score.reshape(-1).numpy(), out.anomaly_map[:, 0].numpy())
    return score(predictions, inputs.labels, inputs.masks).as_dict()


def test_given_checkpoints_are_judged_like_trained_models(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path
) -> None:
    from inspectnet.models.checkpoint import load_checkpoint

    paths = anomalib_results[1]
    run = _pytest(
        tmp_path, small_bottle, "--model", f"bottle={paths['patchcore']}", "--model", f"bottle={paths['padim']}"
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert not (tmp_path / "store" / "models").exists()  # nothing was trained
    for method in ("patchcore", "padim"):
        record = json.loads((tmp_path / "reports" / "eval_harness" / f"{method}_bottle.json").read_text())
        checkpoint, _ = load_checkpoint(paths[method])
        source = record["source"]
        assert source["kind"] == "checkpoint" and source["path"] == str(paths[method])
        assert source["sha256"] == checkpoint.sha256 and source["size_bytes"] == paths[method].stat().st_size
        assert source["thresholds_from"] == "checkpoint" and source["lightning_version"] == checkpoint.lightning_version
        assert source["thresholds"] == pytest.approx(checkpoint.thresholds)
        assert record["checkpoint"]["sha256"] == checkpoint.sha256 and record["seed_pinned"] is False
        assert record["weights"]["kind"] == "checkpoint" and record["model"]["image_size"] == 64
        assert record["dataset"]["licence"] == "CC0-1.0"
        # the same anomalib model's raw outputs, scored directly (PatchCore: minus the stable-distance effect)
        direct = _direct_metrics(paths[method], method, small_bottle, 64)
        effect = record["scoring"].get("effect_on_metrics", {})
        for metric, value in direct.items():
            assert record["metrics"][metric] - effect.get(metric, 0.0) == pytest.approx(value, abs=1e-6), metric


def test_the_checkpoints_own_thresholds_are_deployed(anomalib_results: Results, small_bottle: Path) -> None:
    """With a given model the deployed PostProcessor carries the checkpoint's values, not a recalibration."""
    from inspectnet.criteria import load_profile
    from inspectnet.harness.given import given_models
    from inspectnet.harness.session import Session, SessionOptions
    from inspectnet.models.weights import parse_weights

    given = tuple(given_models([("bottle", anomalib_results[1]["patchcore"])], None, {}, None))
    profile_path = small_bottle.parent / "given-profile.toml"
    profile_path.write_text(PROFILE)
    options = SessionOptions(
        dataset="mvtec_ad",
        data_root=small_bottle,
        weights=parse_weights("random:0"),
        device="cpu",
        report_dir=small_bottle.parent / "given-reports" / "eval_harness",
        store_dir=small_bottle.parent / "given-store",
        profile=load_profile(profile_path),
        given=given,
    )
    session = Session(options)
    deployment = session.deployment(given[0].run)
    thresholds = given[0].checkpoint.thresholds
    assert thresholds is not None
    post = deployment.module.post  # type: ignore[union-attr]
    assert float(post.image_threshold) == pytest.approx(thresholds["image_threshold"], rel=1e-7)
    assert float(post.pixel_max) == pytest.approx(thresholds["pixel_max"], rel=1e-7)
    assert deployment.calibration.as_record() == pytest.approx(thresholds, rel=1e-7)


def _other_model(src: Path, dst: Path) -> None:
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": {"model.encoder.weight": torch.ones(2)}}, dst)


def _truncated(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])


def _planted(src: Path, dst: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (shutil.copy, (str(src), str(dst.parent / "pwned")))

    torch.save({"state_dict": {}, "x": Payload()}, dst)


def _wrong_size(src: Path, dst: Path) -> None:
    """A PaDiM checkpoint whose pre-processor claims another image size than its Gaussian was fitted at."""
    from anomalib import PrecisionType

    with torch.serialization.safe_globals([PrecisionType]):
        data = torch.load(src, map_location="cpu", weights_only=True)
    resize = data["anomalib_pre_processor_config"]["transform"]["init_args"]["transforms"][0]
    resize["init_args"]["size"] = [128, 128]
    torch.save(data, dst)


@pytest.mark.parametrize(
    ("make", "method", "category", "fragment"),
    [
        (_other_model, "patchcore", "bottle", "a Lightning checkpoint of another model"),
        (_truncated, "patchcore", "bottle", "not a readable checkpoint"),
        (_planted, "patchcore", "bottle", "not on InspectNet's allowlist"),
        (_wrong_size, "padim", "bottle", "image size mismatch"),
        (None, "patchcore", "cable", "--inspectnet-model: no checkpoint for cable (found: none)"),
    ],
    ids=["other-model", "truncated", "planted-pickle", "image-size", "no-checkpoint-for-category"],
)
def test_a_bad_checkpoint_stops_the_run_in_one_line(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path, make, method: str, category: str, fragment: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "given" / "model.ckpt"
    path.parent.mkdir()
    if make is None:
        shutil.copy(anomalib_results[1][method], path)
    else:
        make(anomalib_results[1][method], path)
    data = tmp_path / "data"
    shutil.copytree(small_bottle, data)
    (data / "cable").mkdir()  # a category named on the command line that has no checkpoint
    run = _pytest(tmp_path, data, "--model", f"bottle={path}", "--category", category)
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and fragment in errors[0], run.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / "store").exists()
    assert not (path.parent / "pwned").exists()


def test_model_dir_finds_the_results_tree(anomalib_results: Results, small_bottle: Path) -> None:
    from inspectnet.harness.given import given_models

    given = given_models([], anomalib_results[0], {}, None)
    assert sorted((g.run.method, g.run.category, g.run.seed) for g in given) == [
        ("padim", "bottle", 0),
        ("patchcore", "bottle", 0),
    ]
    assert np.all([g.checkpoint.image_size == 64 for g in given])


def test_a_model_written_for_anomalib_is_judged_the_same(
    small_bottle: Path, tmp_path: Path, anomalib_results: Results
) -> None:
    """The other direction: ``--anomalib-checkpoints DIR`` writes each published model (here a judged one, so
    the test trains nothing heavy) as a .ckpt that anomalib's ``load_from_checkpoint`` accepts with plain
    ``weights_only`` loading, and judging that file with ``--model`` gives the same metrics."""
    from anomalib.models import Patchcore

    from inspectnet.models.checkpoint import load_checkpoint

    profile = PROFILE.replace('methods = ["patchcore", "padim"]', 'methods = ["patchcore"]')
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    for folder in (first_dir, second_dir):
        folder.mkdir()
        (folder / "profile.toml").write_text(profile)
    written = tmp_path / "ckpts"
    given = f"bottle={anomalib_results[1]['patchcore']}"
    first = _pytest(first_dir, small_bottle, "--model", given, "--anomalib-checkpoints", str(written))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    path = written / "patchcore_bottle.ckpt"
    torch.load(path, map_location="cpu", weights_only=True)  # plain types only: no allowlist needed
    model = Patchcore.load_from_checkpoint(path, pre_trained=False)
    checkpoint, _ = load_checkpoint(path)
    assert checkpoint.thresholds is not None
    assert float(model.post_processor.image_threshold) == pytest.approx(checkpoint.thresholds["image_threshold"])
    second = _pytest(second_dir, small_bottle, "--model", f"bottle={path}")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    before, after = (
        json.loads((d / "reports" / "eval_harness" / "patchcore_bottle.json").read_text())
        for d in (first_dir, second_dir)
    )
    assert after["source"]["sha256"] == checkpoint.sha256 != before["source"]["sha256"]
    assert after["metrics"] == pytest.approx(before["metrics"], abs=1e-9)


@pytest.fixture(scope="module")
def anomalib_exports(anomalib_results: Results, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The PatchCore checkpoint exported by anomalib itself (``to_onnx`` / ``to_openvino``, as Engine.export
    does), at its image size with a dynamic batch axis."""
    import warnings

    from anomalib.models import Patchcore

    root = tmp_path_factory.mktemp("exports")
    model = Patchcore.load_from_checkpoint(anomalib_results[1]["patchcore"], pre_trained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx = model.to_onnx(root / "onnx", input_size=(64, 64))
        xml = model.to_openvino(root / "openvino", input_size=(64, 64))
    return {"onnx": Path(onnx), "openvino": Path(xml)}


def test_the_users_own_exports_are_checked_instead_of_exporting(
    anomalib_results: Results, anomalib_exports: dict[str, Path], small_bottle: Path, tmp_path: Path
) -> None:
    from inspectnet.models.checkpoint import load_checkpoint

    given = ["--model", f"bottle={anomalib_results[1]['patchcore']}"]
    exports = [f"--export=bottle:{kind}={path}" for kind, path in anomalib_exports.items()]
    run = _pytest(tmp_path, small_bottle, *given, *exports, "--device", "cpu", parity=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    made = [json.loads(f.read_text())["settings"] for f in (tmp_path / "store" / "exports").glob("*/export.json")]
    assert all("onnx_exporter" not in m for m in made)  # the ONNX and IR files are the user's, not exported
    assert [m["exporter"].split()[0] for m in made] == ["torch.export.export"]  # a runtime they gave no file for
    thresholds = load_checkpoint(anomalib_results[1]["patchcore"])[0].thresholds
    for runtime, kind in (("onnxruntime", "onnx"), ("openvino", "openvino")):
        record = json.loads(
            (tmp_path / "reports" / "eval_harness" / f"{runtime}_parity_patchcore_bottle.json").read_text()
        )
        assert record["status"] == "parity_clean"
        assert record["export"]["kind"] == "anomalib export" and record["export"]["path"] == str(anomalib_exports[kind])
        assert record["export"]["input"].startswith("input: ")
        assert set(record["max_abs_error"]) == {"anomaly_map", "pred_score"}  # what an anomalib export outputs
        assert record["calibration"] == pytest.approx(thresholds, rel=1e-6)
        assert record["scoring"]["name"] == "anomalib"  # a user's model: anomalib's arithmetic, as its export


def _fixed_batch_of_two(path: Path, size: int = 64) -> None:
    """An export whose batch axis is fixed at 2 and its images at ``size``, with anomalib's output names."""

    class Two(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            score = x.mean(dim=(1, 2, 3))
            return score, score > 0.5, x[:, :1], x[:, :1] > 0.5

    import warnings

    names = ["pred_score", "pred_label", "anomaly_map", "pred_mask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: all this test needs
        torch.onnx.export(
            Two(), (torch.zeros(2, 3, size, size),), str(path), input_names=["input"], output_names=names, dynamo=False
        )


@pytest.fixture(scope="module")
def anomalib_default_exports(anomalib_results: Results, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The PatchCore checkpoint as anomalib's ``Engine.export`` writes it with its default arguments (batch,
    height and width left dynamic), and the same graphs with the batch fixed at 2 (as exports made with a
    batch of two have it): ``onnx``, ``openvino``, ``onnx-batch2``, ``openvino-batch2``."""
    import warnings

    import onnx
    import openvino as ov
    from anomalib.deploy import ExportType
    from anomalib.engine import Engine
    from anomalib.models import Patchcore

    root = tmp_path_factory.mktemp("default-exports")
    model = Patchcore.load_from_checkpoint(anomalib_results[1]["patchcore"], pre_trained=False)
    engine = Engine(default_root_dir=root, logger=False, enable_progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = {
            kind: Path(engine.export(model=model, export_type=kind, export_root=root / kind.value))
            for kind in (ExportType.ONNX, ExportType.OPENVINO)
        }
    found = {"onnx": next((root / "onnx").rglob("*.onnx")), "openvino": next((root / "openvino").rglob("*.xml"))}
    assert paths  # Engine.export returns the export's directory or file; the files are found under it
    graph = onnx.load(str(found["onnx"]))
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    found["onnx-batch2"] = root / "batch2.onnx"
    onnx.save(graph, str(found["onnx-batch2"]))
    ir = ov.Core().read_model(str(found["openvino"]))
    names = [set(o.get_names()) for o in ir.outputs]
    ir.reshape({ir.inputs[0]: ov.PartialShape([2, 3, -1, -1])})
    for output, kept in zip(ir.outputs, names, strict=True):  # reshape renames an output; the file keeps them
        output.get_tensor().set_names(kept)
    found["openvino-batch2"] = root / "batch2.xml"
    ov.save_model(ir, str(found["openvino-batch2"]), compress_to_fp16=False)
    return found


@pytest.mark.parametrize("variant", ["", "-batch2"], ids=["dynamic", "batch-fixed-at-2"])
def test_anomalib_default_exports_are_checked_not_refused(
    anomalib_results: Results,
    anomalib_default_exports: dict[str, Path],
    small_bottle: Path,
    tmp_path: Path,
    variant: str,
) -> None:
    """``Engine.export`` with its defaults leaves height and width dynamic; a graph made with a batch of two
    fixes the batch at 2. Both are run on the test images one at a time (the batch padded with copies whose
    outputs are dropped) and are as clean as the export with a dynamic batch; 15 test images: an odd count."""
    from inspectnet._io import sha256_file
    from inspectnet.deploy.runtimes import graph_signature

    exports = {kind: anomalib_default_exports[kind + variant] for kind in ("onnx", "openvino")}
    for path in exports.values():
        shape = graph_signature(path)[1]
        assert shape == ([2, 3, None, None] if variant else [None, 3, None, None]), shape
    given = ["--model", f"bottle={anomalib_results[1]['patchcore']}"]
    args = [f"--export=bottle:{kind}={path}" for kind, path in exports.items()]
    before = {p: sha256_file(p) for path in exports.values() for p in path.parent.iterdir() if p.is_file()}
    run = _pytest(tmp_path, small_bottle, *given, *args, "--device", "cpu", parity=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for runtime in ("onnxruntime", "openvino"):
        record = json.loads(
            (tmp_path / "reports" / "eval_harness" / f"{runtime}_parity_patchcore_bottle.json").read_text()
        )
        assert record["status"] == "parity_clean" and record["n_images"] == 15, record["max_abs_error"]
        assert (record["runtime_settings"].get("fixed_batch") == 2) == bool(variant), record["runtime_settings"]
        # every stage is traced in the user's graph, added as outputs at run time (the file is unchanged),
        # except, in the OpenVINO IR, the input: its converter folded the normalisation into the first conv
        unreached = {s["stage"] for s in record["stages"] if s["note"] == "not reachable in this graph"}
        assert unreached == ({"input"} if runtime == "openvino" else set()), record["stages"]
        assert record["diagnosis"] == "no stage diverged beyond the reference's own float32 error"
    assert all(sha256_file(path) == digest for path, digest in before.items())


@pytest.mark.parametrize("with_model", [True, False], ids=["another-image-size", "export-without-model"])
def test_an_export_that_cannot_take_the_test_images_is_refused(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path, with_model: bool
) -> None:
    path = tmp_path / "two.onnx"
    _fixed_batch_of_two(path, size=32)
    given = ["--model", f"bottle={anomalib_results[1]['patchcore']}"] if with_model else []
    run = _pytest(tmp_path, small_bottle, *given, f"--export=bottle:onnx={path}", parity=True)
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    expected = (
        "model input shape 2x3x32x32 does not fit images of shape 1x3x64x64"
        if with_model
        else "give --inspectnet-model"
    )
    assert len(errors) == 1 and str(path) in errors[0] and expected in errors[0], run.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / "store").exists()


def test_a_missing_export_file_is_named(tmp_path: Path) -> None:
    from inspectnet.deploy.export import ExportError
    from inspectnet.deploy.runtimes import check_given_export

    with pytest.raises(ExportError, match=r"model\.onnx: no such file; give the \.onnx"):
        check_given_export(tmp_path / "model.onnx", 64)


def _resized(src: Path, dst: Path, size: tuple[int, int]) -> Path:
    """``src`` (a dataset root) with every image and mask resized to ``size`` (width, height), as a camera that
    writes files of another size than the model's input would."""
    from PIL import Image

    for path in sorted(src.rglob("*.png")):
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(path)
        mask = "ground_truth" in path.parts
        image.resize(size, Image.Resampling.NEAREST if mask else Image.Resampling.BILINEAR).save(out)
    return dst


def _deployment_path(
    tmp_path: Path, data: Path, checkpoint: Path, onnx: Path, select: str = "test_deployment_path"
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    tmp_path.mkdir(exist_ok=True)
    args = ["--model", f"bottle={checkpoint}", f"--export=bottle:onnx={onnx}", "--device", "cpu"]
    run = _pytest(tmp_path, data, *args, parity=True, select=select)
    path = tmp_path / "reports" / "eval_harness" / "onnxruntime_deployment_path_patchcore_bottle.json"
    assert path.is_file(), run.stdout[-3000:] + run.stderr[-2000:]
    return run, json.loads(path.read_text())


def test_the_deployment_path_runs_anomalibs_own_inference_on_the_original_files(
    anomalib_results: Results, anomalib_default_exports: dict[str, Path], small_bottle: Path, tmp_path: Path
) -> None:
    """The checkpoint through anomalib's Lightning predict and its ``Engine.export`` ONNX through anomalib's
    OpenVINOInferencer, on 300x280 files: anomalib resizes with antialiasing on the checkpoint's path and
    without in the exported graph, so the two decide differently, and the comparison says it is pre-processing.

    The same run holds parity to 1e-5: anomalib's own PatchCore arithmetic (its float32 distance expansion)
    puts the torch model itself about 1e-4 from float64 here, so parity fails, and the failure says the model's
    arithmetic, not the export, is the limit, and names the stage where that error grows."""
    data = _resized(small_bottle, tmp_path / "data", (300, 280))
    (tmp_path / "profile.toml").write_text(PROFILE.replace("tolerance = 5e-3", "tolerance = 1e-5"))
    checkpoint, export = anomalib_results[1]["patchcore"], anomalib_default_exports["onnx"]
    select = "test_deployment_path or test_parity and onnxruntime"
    run, record = _deployment_path(tmp_path, data, checkpoint, export, select)
    assert run.returncode == 1 and record["status"] == "paths_disagree", record
    assert {(i["width"], i["height"]) for i in record["images"]} == {(300, 280)}  # type: ignore[union-attr]
    diagnosis = str(record["diagnosis"])
    assert diagnosis.startswith("the paths part at pre-processing (the input the backbone sees)"), diagnosis
    assert "resizes with antialiasing, the exported graph's without" in diagnosis, diagnosis
    parity = json.loads(
        (tmp_path / "reports" / "eval_harness" / "onnxruntime_parity_patchcore_bottle.json").read_text()
    )
    assert parity["status"] == "parity_broken"
    limit = parity["diagnosis"]
    assert limit.startswith("the torch reference itself is "), limit
    assert "the model's float32 arithmetic, not the export, is the limit" in limit
    assert "its error grows at patch scores (nearest-neighbour distances)" in limit
    assert "model's float32 arithmetic, not the export" in run.stdout  # the test's failure message says so
    # the way out, measured: the same checkpoint exported with InspectNet's stable distances (a separate store
    # directory) meets the tolerance and decides as the checkpoint does on the parity images
    way_out = parity["way_out"]
    assert way_out["offered"] and way_out["status"] == "parity_clean", way_out
    assert way_out["label_flips_against_checkpoint"] == 0, way_out
    assert (tmp_path / "store" / "exports").is_dir()  # InspectNet exported it; the user's files are untouched
    assert "exported with InspectNet's stable distances" in run.stdout


def test_the_deployment_path_agrees_at_the_models_size_and_catches_a_planted_channel_swap(
    anomalib_results: Results, anomalib_default_exports: dict[str, Path], small_bottle: Path, tmp_path: Path
) -> None:
    """Files already at the model's size: both paths see the same image and agree. The same export with its
    input's channels reversed (a planted pre-processing defect) is caught and put at pre-processing."""
    import onnx

    from inspectnet.deploy.mutants import channel_swap

    data = _resized(small_bottle, tmp_path / "data", (64, 64))  # the checkpoint's input size
    checkpoint, export = anomalib_results[1]["patchcore"], anomalib_default_exports["onnx"]
    run, record = _deployment_path(tmp_path / "plain", data, checkpoint, export)
    code = run.returncode
    settings: dict[str, str] = record["export_path"]  # type: ignore[assignment]
    if settings["inference_precision_hint"] == "f32":
        assert code == 0 and record["status"] == "paths_agree", record
        assert record["label_flips"] == 0 and float(record["mask_iou_min"]) > 0.99, record  # type: ignore[arg-type]
    else:  # a CPU that can runs anomalib's OpenVINOInferencer in bf16 by default: that is what is compared
        assert code == 1 and record["status"] == "paths_disagree", record
        assert f"anomalib's OpenVINOInferencer ran in {settings['inference_precision_hint']}" in str(
            record["diagnosis"]
        )
        assert "with f32 the paths agree" in str(record["diagnosis"]), record["diagnosis"]
    graph = onnx.load(str(export))
    channel_swap(graph)
    onnx.save(graph, str(tmp_path / "swapped.onnx"))
    run, record = _deployment_path(tmp_path / "swapped", data, checkpoint, tmp_path / "swapped.onnx")
    assert run.returncode == 1 and record["status"] == "paths_disagree", record
    assert str(record["diagnosis"]).startswith("the paths part at pre-processing (the input the backbone sees)")
