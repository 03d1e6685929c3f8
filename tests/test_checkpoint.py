"""A user's anomalib checkpoint: read safely, rebuilt as anomalib loads it, found in results trees, written back.

The checkpoints are real: anomalib's own ``Engine`` trains PatchCore and PaDiM (resnet18, random weights,
64x64) on a small copy of the embedded bottle category, a fresh Engine for each fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from inspectnet.models.checkpoint import THRESHOLD_BUFFERS, CheckpointError, load_checkpoint
from inspectnet.models.checkpoint_model import build_model, write_checkpoint
from inspectnet.models.checkpoint_tree import find_checkpoints

# Lightning's remarks on a one-epoch fit of a model with no optimiser and a frozen backbone
pytestmark = [
    pytest.mark.filterwarnings("ignore:`LightningModule.configure_optimizers` returned `None`"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:Found \\d+ module\\(s\\) in eval mode"),
]
SIZE = 64  # the size the anomalib_results fixture (root conftest.py) trains at
Results = tuple[Path, dict[str, Path]]  # that fixture: the results tree and each method's checkpoint
CKPT = Path("weights", "lightning", "model.ckpt")
EXPECTED = {
    "patchcore": {"backbone": "resnet18", "layers": ("layer2", "layer3"), "coreset": 0.1, "n_features": None},
    "padim": {"backbone": "resnet18", "layers": ("layer1", "layer2", "layer3"), "coreset": None, "n_features": 100},
}


def _lightning_class(method: str) -> Any:
    from anomalib.models import Padim, Patchcore

    return Patchcore if method == "patchcore" else Padim


def _raw(path: Path) -> dict[str, Any]:
    """The checkpoint as anomalib's own loader reads it (with anomalib's PrecisionType allowed)."""
    from anomalib import PrecisionType

    with torch.serialization.safe_globals([PrecisionType]):
        return torch.load(path, map_location="cpu", weights_only=True)


def _images() -> torch.Tensor:
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def _refused(path: Path, *fragments: str, **kwargs: Any) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- reading what anomalib's Engine wrote --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patchcore", "padim"])
def test_reads_the_engines_checkpoint(anomalib_results: Results, method: str) -> None:
    import lightning

    path = anomalib_results[1][method]
    ckpt, state = load_checkpoint(path)
    raw = _raw(path)
    expected = EXPECTED[method]
    assert (ckpt.method, ckpt.backbone, ckpt.layers) == (method, expected["backbone"], expected["layers"])
    assert (ckpt.image_size, ckpt.coreset, ckpt.n_features) == (SIZE, expected["coreset"], expected["n_features"])
    assert ckpt.num_neighbors == 9
    assert ckpt.pre_trained is False
    assert ckpt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ckpt.size_bytes == path.stat().st_size
    assert (ckpt.lightning_version, ckpt.anomalib_version) == (lightning.__version__, None)
    assert ckpt.notes == ()
    assert ckpt.thresholds == {name: float(raw["state_dict"][key]) for name, key in THRESHOLD_BUFFERS.items()}
    assert all(torch.isfinite(torch.tensor(v)) for v in ckpt.thresholds.values())
    assert state.keys() == {k.removeprefix("model.") for k in raw["state_dict"] if k.startswith("model.")}
    assert all(torch.equal(v, raw["state_dict"][f"model.{k}"]) for k, v in state.items())
    record = ckpt.as_record()
    assert json.loads(json.dumps(record)) == record
    assert (record["path"], record["thresholds_from"], record["notes"]) == (str(path), "checkpoint", [])


@pytest.mark.parametrize("method", ["patchcore", "padim"])
def test_build_model_scores_as_anomalibs_load_from_checkpoint(anomalib_results: Results, method: str) -> None:
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    path = anomalib_results[1][method]
    ours = build_model(*load_checkpoint(path))
    reference = _lightning_class(method).load_from_checkpoint(path, pre_trained=False, map_location="cpu").model
    assert type(ours) is (PatchcoreModel if method == "patchcore" else PadimModel)
    assert not ours.training
    x = _images()
    with torch.no_grad():
        got, want = ours(x), reference.eval()(x)
    assert torch.equal(got.pred_score, want.pred_score)
    assert torch.equal(got.anomaly_map, want.anomaly_map)


def test_nan_thresholds_and_a_missing_spec_are_noted(anomalib_results: Results, tmp_path: Path) -> None:
    raw = _raw(anomalib_results[1]["patchcore"])
    for key in THRESHOLD_BUFFERS.values():  # what a fit without validation leaves
        raw["state_dict"][key] = torch.tensor(float("nan"))
    del raw["anomalib_pre_processor_config"]
    torch.save(raw, path := tmp_path / "noval.ckpt")
    ckpt, _ = load_checkpoint(path)
    assert ckpt.thresholds is None
    assert ckpt.image_size == 256
    assert ckpt.as_record()["thresholds_from"] is None
    assert "no pre-processor spec: anomalib's default 256x256 assumed" in ckpt.notes
    assert any("NaN (trained without validation)" in note for note in ckpt.notes)


def test_build_model_refuses_a_head_the_backbone_does_not_give(anomalib_results: Results) -> None:
    padim, padim_state = load_checkpoint(anomalib_results[1]["padim"])
    with pytest.raises(CheckpointError, match=r"image size mismatch: the Gaussian has 256 patches; .* = 1024"):
        build_model(replace(padim, image_size=128), padim_state)
    patchcore, patchcore_state = load_checkpoint(anomalib_results[1]["patchcore"])
    with pytest.raises(CheckpointError, match=r"feature size mismatch: the memory bank has 384 .* gives 256"):
        build_model(replace(patchcore, layers=("layer3",)), patchcore_state)


# --- results trees ---------------------------------------------------------------------------------------------------


def test_finds_the_engines_results_tree(anomalib_results: Results, tmp_path: Path) -> None:
    root, paths = anomalib_results
    found = find_checkpoints(root)
    assert {k: v.resolve() for k, v in found.items()} == {
        ("padim", "bottle", 0): paths["padim"].resolve(),
        ("patchcore", "bottle", 0): paths["patchcore"].resolve(),
    }
    # a moved tree: anomalib's absolute `latest` still points into the old one, which is not used
    moved = tmp_path / "moved"
    shutil.copytree(root, moved, symlinks=True)
    assert (moved / "Padim" / "MVTecAD" / "bottle" / "latest").is_symlink()
    assert find_checkpoints(moved)[("padim", "bottle", 0)] == moved / "Padim" / "MVTecAD" / "bottle" / "v0" / CKPT


def _touch_versions(category: Path, *versions: str) -> None:
    for version in versions:
        (category / version / CKPT).parent.mkdir(parents=True)
        (category / version / CKPT).touch()


def test_latest_or_else_the_highest_version(tmp_path: Path) -> None:
    category = tmp_path / "results" / "Patchcore" / "MVTecAD" / "bottle"
    _touch_versions(category, "v0", "v1", "v10")
    key = ("patchcore", "bottle", 0)
    latest = category / "latest"
    assert find_checkpoints(tmp_path / "results")[key] == category / "v10" / CKPT  # no latest: the newest
    latest.symlink_to(category / "v1", target_is_directory=True)  # absolute, as anomalib writes it
    assert find_checkpoints(tmp_path / "results")[key] == category / "v1" / CKPT
    latest.unlink()
    latest.symlink_to(tmp_path / "elsewhere" / "v1", target_is_directory=True)  # dangling after a move
    assert find_checkpoints(tmp_path / "results")[key] == category / "v10" / CKPT


def test_finds_the_cards_layout_with_seeds(anomalib_results: Results, tmp_path: Path) -> None:
    root = tmp_path / "models"
    seeded = root / "patchcore_bottle_seed1" / "Patchcore" / "MVTecAD" / "bottle" / "v0" / CKPT
    unseeded = root / "padim_bottle" / "Padim" / "MVTecAD" / "bottle" / "v0" / CKPT
    for path, method in ((seeded, "patchcore"), (unseeded, "padim")):
        path.parent.mkdir(parents=True)
        shutil.copy(anomalib_results[1][method], path)
    found = find_checkpoints(root)
    assert found == {("padim", "bottle", 0): unseeded, ("patchcore", "bottle", 1): seeded}
    assert load_checkpoint(found[("patchcore", "bottle", 1)])[0].method == "patchcore"


def test_refuses_two_checkpoints_for_one_key_and_other_models(tmp_path: Path) -> None:
    first, second = (tmp_path / "a" / run / "Patchcore" / "MVTecAD" / "bottle" for run in ("x_seed1", "y_seed1"))
    _touch_versions(first, "v0")
    _touch_versions(second, "v0")
    with pytest.raises(CheckpointError, match="two checkpoints for patchcore bottle seed 1") as info:
        find_checkpoints(tmp_path / "a")
    assert str(first / "v0" / CKPT) in str(info.value) and str(second / "v0" / CKPT) in str(info.value)
    _touch_versions(tmp_path / "b" / "Stfpm" / "MVTecAD" / "bottle", "v0")
    with pytest.raises(CheckpointError, match="model directory 'Stfpm' is not one of Patchcore, Padim"):
        find_checkpoints(tmp_path / "b")


# --- refusals ------------------------------------------------------------------------------------------------


def _truncated(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])


def _text(src: Path, dst: Path) -> None:
    dst.write_text("backbone: resnet18\n")


def _other_model(src: Path, dst: Path) -> None:
    state = {"model.student.conv1.weight": torch.zeros(2, 3, 1, 1), "model.teacher.conv1.weight": torch.zeros(1)}
    hparams = {"teacher_out_channels": 384, "model_size": "small"}
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": state, "hyper_parameters": hparams}, dst)


def _no_state_dict(src: Path, dst: Path) -> None:
    torch.save({"pytorch-lightning_version": "2.6.6", "epoch": 0}, dst)


def _resized(size: list[int]) -> Callable[[Path, Path], None]:
    def write(src: Path, dst: Path) -> None:
        raw = _raw(src)
        resize = raw["anomalib_pre_processor_config"]["transform"]["init_args"]["transforms"][0]
        assert resize["class_path"].endswith(".Resize")
        resize["init_args"]["size"] = size
        torch.save(raw, dst)

    return write


def _center_cropped(src: Path, dst: Path) -> None:
    raw = _raw(src)
    crop = {"class_path": "torchvision.transforms.v2.CenterCrop", "init_args": {"size": [56, 56]}}
    raw["anomalib_pre_processor_config"]["transform"]["init_args"]["transforms"].insert(1, crop)
    torch.save(raw, dst)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_truncated, "not a readable checkpoint (truncated or not a torch file)"),
        (_text, "not a readable checkpoint (truncated or not a torch file)"),
        (_other_model, "another model (its state_dict has neither model.memory_bank nor model.gaussian.mean; "),
        (
            _no_state_dict,
            "no state_dict: not a Lightning checkpoint (top-level keys: epoch, pytorch-lightning_version)",
        ),
        (_resized([64, 96]), "InspectNet evaluates square inputs; this checkpoint resizes to 64x96"),
        (_center_cropped, "applies torchvision.transforms.v2.CenterCrop"),
    ],
    ids=["truncated", "text", "other-model", "no-state-dict", "non-square", "center-crop"],
)
def test_refusals(anomalib_results: Results, tmp_path: Path, make: Callable[[Path, Path], None], fragment: str) -> None:
    path = tmp_path / "model.ckpt"
    make(anomalib_results[1]["patchcore"], path)
    message = _refused(path, fragment)
    if make is _other_model:
        assert "teacher_out_channels, model_size" in message


def test_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    _refused(tmp_path, "not a file")
    _refused(tmp_path / "missing.ckpt", "not a file")


def test_sha256_pinned_by_argument(anomalib_results: Results) -> None:
    path = anomalib_results[1]["padim"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    _refused(path, actual, "0" * 64, expected_sha256="0" * 64)
    assert load_checkpoint(path, expected_sha256=actual.upper())[0].sha256 == actual


def test_sha256_pinned_by_a_sums_file(anomalib_results: Results, tmp_path: Path) -> None:
    path = tmp_path / "Padim" / "MVTecAD" / "bottle" / "v0" / CKPT
    path.parent.mkdir(parents=True)
    shutil.copy(anomalib_results[1]["padim"], path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    sums = tmp_path / "SHA256SUMS"  # six levels up, by relative path
    sums.write_text(f"{'1' * 64}  {path.relative_to(tmp_path)}\n{'2' * 64}  other.ckpt\n")
    _refused(path, f"does not match {'1' * 64} listed in {sums}")
    sums.write_text(f"{actual}  {path.relative_to(tmp_path)}\n")
    assert f"sha256 matches {sums}" in load_checkpoint(path)[0].notes
    beside = path.parent / "SHA256SUMS"  # in its own directory, by name (binary mode)
    beside.write_text(f"{'3' * 64} *model.ckpt\n")
    _refused(path, f"listed in {beside}")


class _System:
    """Pickles as a call of os.system: unpickling it would run a shell command."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.target}'",))


class _Touch:
    """Pickles as a call of pathlib.Path.touch."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


@pytest.mark.parametrize(
    ("payload", "global_name"),
    [(_System, f"{os.system.__module__}.system"), (_Touch, "builtins.getattr")],  # Path.touch is getattr(Path, ...)
    ids=["os.system", "Path.touch"],
)
def test_a_planted_pickle_is_refused_unrun(tmp_path: Path, payload: type, global_name: str) -> None:
    pwned = tmp_path / "pwned"
    planted = {
        "pytorch-lightning_version": "2.6.6",
        "state_dict": {"model.memory_bank": torch.zeros(4, 384)},
        "hyper_parameters": {"backbone": payload(pwned)},
    }
    path = tmp_path / "model.ckpt"
    torch.save(planted, path)
    assert global_name in torch.serialization.get_unsafe_globals_in_checkpoint(path)  # the plant is there
    _refused(path, f"refuses to load: the pickle needs {global_name!r}, which is not on InspectNet's allowlist")
    legacy = tmp_path / "legacy.ckpt"  # the pre-zip format is not read at all
    torch.save(planted, legacy, _use_new_zipfile_serialization=False)
    _refused(legacy, "not a readable checkpoint")
    assert not pwned.exists()


# --- writing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patchcore", "padim"])
def test_written_checkpoint_loads_in_anomalib_as_the_original(
    anomalib_results: Results, tmp_path: Path, method: str
) -> None:
    source = anomalib_results[1][method]
    ckpt, state = load_checkpoint(source)
    assert ckpt.thresholds is not None
    written = tmp_path / "out" / "model.ckpt"
    write_checkpoint(
        written,
        build_model(ckpt, state),
        ckpt.method,
        ckpt.backbone,
        ckpt.layers,
        ckpt.image_size,
        ckpt.thresholds,
        coreset=ckpt.coreset,
        num_neighbors=ckpt.num_neighbors,
    )
    assert os.listdir(written.parent) == ["model.ckpt"]  # no temporary file left
    assert torch.serialization.get_unsafe_globals_in_checkpoint(written) == []
    assert torch.load(written, map_location="cpu", weights_only=True)["hyper_parameters"]["pre_trained"] is False
    again, again_state = load_checkpoint(written)
    fields = ("method", "backbone", "layers", "image_size", "coreset", "num_neighbors", "n_features", "thresholds")
    assert [getattr(again, f) for f in fields] == [getattr(ckpt, f) for f in fields]
    assert again.notes == ()
    assert again_state.keys() == state.keys() and all(torch.equal(again_state[k], v) for k, v in state.items())

    cls = _lightning_class(method)
    ours = cls.load_from_checkpoint(written, pre_trained=False, map_location="cpu").eval()
    original = cls.load_from_checkpoint(source, pre_trained=False, map_location="cpu").eval()
    for name in ("image_threshold", "pixel_threshold", "image_min", "image_max", "pixel_min", "pixel_max"):
        assert torch.equal(getattr(ours.post_processor, name), getattr(original.post_processor, name)), name
    x = _images()
    with torch.no_grad():
        got, want = ours(x), original(x)  # pre-processor, model and post-processor
    for name in ("pred_score", "anomaly_map", "pred_label", "pred_mask"):
        assert torch.equal(getattr(got, name), getattr(want, name)), name
