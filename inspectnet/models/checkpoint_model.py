"""The torch model of a user's anomalib checkpoint: rebuilt from one, and written back as one.

``build_model`` turns what ``checkpoint.load_checkpoint`` read into a plain anomalib ``PatchcoreModel`` /
``PadimModel``, its head checked against the backbone before the state is loaded strictly.
``write_checkpoint`` is the other way: a plain ``PatchcoreModel`` / ``PadimModel`` as a checkpoint
anomalib's ``load_from_checkpoint`` accepts, readable with a plain ``weights_only=True`` load.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspectnet._io import atomic_write_bytes
from inspectnet.models.checkpoint import THRESHOLD_BUFFERS, CheckpointError, UserCheckpoint, _PrecisionType
from inspectnet.names import METHODS

if TYPE_CHECKING:
    import torch
    from torch import nn


# --- the torch model -----------------------------------------------------------------------------------------


def build_model(ckpt: UserCheckpoint, state: dict[str, torch.Tensor]) -> nn.Module:
    """A plain anomalib ``PatchcoreModel`` / ``PadimModel`` (``pre_trained=False``, the checkpoint's backbone,
    layers, ``num_neighbors`` / ``n_features``) with ``state`` loaded strictly, in eval mode.

    The head is checked against the backbone first: a memory bank whose feature size is not the layers'
    channel sum, or a PaDiM Gaussian whose patch count is not what ``image_size`` gives, is a
    ``CheckpointError`` naming both numbers."""
    import torch

    with torch.random.fork_rng(devices=[]):  # PadimModel draws a feature subset that the state replaces
        model = _construct(ckpt)
    _check_against_backbone(ckpt, model, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{ckpt.path}: the state does not fit {type(model).__name__}: {first}") from exc
    return model.eval()


def _construct(ckpt: UserCheckpoint) -> nn.Module:
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    where = f"{ckpt.backbone} {'+'.join(ckpt.layers)}"
    try:
        if ckpt.method == "patchcore":
            return PatchcoreModel(
                layers=list(ckpt.layers),
                backbone=ckpt.backbone,
                pre_trained=False,
                num_neighbors=ckpt.num_neighbors,
            )
        return PadimModel(
            backbone=ckpt.backbone, layers=list(ckpt.layers), pre_trained=False, n_features=ckpt.n_features
        )
    except ValueError as exc:  # PadimModel: n_features larger than the layers' channels
        raise CheckpointError(f"{ckpt.path}: feature size mismatch: {exc} ({where})") from exc
    except RuntimeError as exc:  # timm: an unknown backbone or layer
        raise CheckpointError(f"{ckpt.path}: cannot build {where}: {str(exc).splitlines()[0]}") from exc


def _check_against_backbone(ckpt: UserCheckpoint, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    import torch

    m: Any = model
    channels = int(sum(m.feature_extractor.out_dims))
    where = f"{ckpt.backbone} {'+'.join(ckpt.layers)}"
    if ckpt.method == "patchcore":
        found = state["memory_bank"].shape[1]
        if found != channels:
            raise CheckpointError(
                f"{ckpt.path}: feature size mismatch: the memory bank has {found} features per patch; "
                f"{where} gives {channels}"
            )
        return
    idx = state["idx"]
    if idx.numel() and (int(idx.max()) >= channels or int(idx.min()) < 0):
        raise CheckpointError(
            f"{ckpt.path}: feature size mismatch: idx picks feature {int(idx.max())}; {where} gives {channels}"
        )
    size = ckpt.image_size
    with torch.no_grad():
        first = m.feature_extractor(torch.zeros(1, 3, size, size))[ckpt.layers[0]]
    h, w = first.shape[-2:]
    found = state["gaussian.mean"].shape[1]
    if found != h * w:
        raise CheckpointError(
            f"{ckpt.path}: image size mismatch: the Gaussian has {found} patches; {size}x{size} inputs give "
            f"{h}x{w} = {h * w} on {ckpt.backbone} {ckpt.layers[0]}"
        )


# --- writing -------------------------------------------------------------------------------------------------


def write_checkpoint(
    path: Path,
    model: nn.Module,
    method: str,
    backbone: str,
    layers: tuple[str, ...],
    image_size: int,
    thresholds: dict[str, float],
    coreset: float | None = None,
    num_neighbors: int = 9,
) -> None:
    """Write a plain ``PatchcoreModel`` / ``PadimModel`` as a Lightning checkpoint that anomalib's
    ``Patchcore.load_from_checkpoint`` / ``Padim.load_from_checkpoint`` accept.

    It holds ``pytorch-lightning_version``, the hyper-parameters (``pre_trained`` False, ``precision`` the
    plain string "float32", so a plain ``weights_only=True`` load reads it with no allowlist), the state
    dict (the model's under ``model.``, the six post-processor values, ``_is_fitted``) and the pre-processor
    spec anomalib itself writes for an ``image_size`` x ``image_size`` resize. Written atomically (a
    temporary file in the same directory, then ``os.replace``)."""
    import torch

    if method not in METHODS:
        raise CheckpointError(f"{path}: method {method!r} is not one of {', '.join(METHODS)}")
    _check_writable(path, model, method, backbone, layers, image_size, thresholds, num_neighbors)
    state = {f"model.{k}": v.detach().cpu().clone() for k, v in model.state_dict().items()}
    state["_is_fitted"] = torch.tensor([True])
    state |= {key: torch.tensor(float(thresholds[name])) for name, key in THRESHOLD_BUFFERS.items()}
    hparams: dict[str, Any] = {"backbone": backbone, "layers": list(layers), "pre_trained": False}
    if method == "patchcore":
        hparams |= {"num_neighbors": num_neighbors, "precision": _PrecisionType.FLOAT32.value}
        if coreset is not None:
            hparams["coreset_sampling_ratio"] = float(coreset)
    else:
        hparams["n_features"] = int(state["model.idx"].numel())
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": _lightning_version(),
        "state_dict": state,
        "hparams_name": "kwargs",
        "hyper_parameters": hparams,
        "anomalib_pre_processor_config": {"transform": _pre_processor_spec(method, image_size)},
    }
    _atomic_save(checkpoint, path)


def _check_writable(
    path: Path,
    model: nn.Module,
    method: str,
    backbone: str,
    layers: tuple[str, ...],
    image_size: int,
    thresholds: dict[str, float],
    num_neighbors: int,
) -> None:
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    cls = PatchcoreModel if method == "patchcore" else PadimModel
    m: Any = model
    if not isinstance(model, cls):
        raise CheckpointError(f"{path}: a {method} checkpoint needs a {cls.__name__}, not a {type(model).__name__}")
    if (m.backbone, tuple(m.layers)) != (backbone, tuple(layers)):
        raise CheckpointError(f"{path}: the model is {m.backbone} {m.layers}, not {backbone} {list(layers)}")
    if method == "patchcore" and m.num_neighbors != num_neighbors:
        raise CheckpointError(f"{path}: the model uses num_neighbors {m.num_neighbors}, not {num_neighbors}")
    if image_size <= 0:
        raise CheckpointError(f"{path}: image_size {image_size} is not a positive side")
    if set(thresholds) != set(THRESHOLD_BUFFERS) or not all(math.isfinite(v) for v in thresholds.values()):
        raise CheckpointError(f"{path}: thresholds must be finite {', '.join(THRESHOLD_BUFFERS)}; got {thresholds}")


def _pre_processor_spec(method: str, image_size: int) -> object:
    from anomalib.models import Padim, Patchcore
    from anomalib.pre_processing.utils.spec import transform_to_spec

    cls = Patchcore if method == "patchcore" else Padim
    return transform_to_spec(cls.configure_pre_processor(image_size=(image_size, image_size)).transform)


def _lightning_version() -> str:
    from importlib.metadata import version

    return version("lightning")


def _atomic_save(obj: object, path: Path) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
