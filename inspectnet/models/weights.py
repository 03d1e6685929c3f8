"""Backbone weights with no network: ``imagenet`` (a local cache), ``random:N`` or a file the user gives.

Every kind ends as a file on disk loaded through one path (``load_state_dict``), so the embedded default
(``random:N``, materialised once as a safetensors file) exercises the same code as real ImageNet weights.
Nothing here downloads: a missing file is an error that says how to provide it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from inspectnet._io import atomic_write_bytes, sha256_file
from inspectnet.models.store import ArtifactStore

if TYPE_CHECKING:
    import torch
    from torch import nn

WeightsKind = Literal["imagenet", "random", "file", "checkpoint"]  # checkpoint: the backbone inside a user checkpoint
_RANDOM = re.compile(r"^random:(\d+)$")
_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


class WeightsError(ValueError):
    """Weights that cannot be found or do not fit the backbone; one line, naming the file."""


@dataclass(frozen=True)
class WeightsSpec:
    kind: WeightsKind
    seed: int | None = None
    path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "random":
            return f"random:{self.seed}"
        if self.kind == "file":
            return str(self.path)
        return "imagenet"


def parse_weights(text: str) -> WeightsSpec:
    """``imagenet`` | ``random:N`` | a path to a weights file or a directory of ``<backbone>.<ext>`` files."""
    if text == "imagenet":
        return WeightsSpec("imagenet")
    match = _RANDOM.match(text)
    if match:
        return WeightsSpec("random", seed=int(match.group(1)))
    if text.startswith("random"):
        raise WeightsError(
            f"--inspectnet-weights {text!r}: write random:N with a non-negative integer seed, e.g. random:0"
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise WeightsError(
            f"--inspectnet-weights {text!r}: no such file or directory; use imagenet, random:N, "
            "or a path to a weights file"
        )
    return WeightsSpec("file", path=path)


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file for one backbone, with the identity every report carries."""

    spec: str
    kind: WeightsKind
    backbone: str
    path: Path
    sha256: str


def resolve(spec: WeightsSpec, backbone: str, store_dir: Path) -> ResolvedWeights:
    """Find (or, for ``random:N``, materialise) the weights file of ``backbone``."""
    if spec.kind == "random":
        assert spec.seed is not None
        path = ArtifactStore(store_dir).weights_file(f"{backbone}-random-{spec.seed}.safetensors")
        if not path.is_file():
            _materialise_random(backbone, spec.seed, path)
    elif spec.kind == "imagenet":
        path = _find_imagenet(backbone)
    else:
        assert spec.path is not None
        path = _file_for(spec.path, backbone)
    return ResolvedWeights(str(spec), spec.kind, backbone, path, sha256_file(path))


def _materialise_random(backbone: str, seed: int, path: Path) -> None:
    import timm
    import torch
    from safetensors.torch import save

    torch.manual_seed(seed)
    model = timm.create_model(backbone, pretrained=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(state))  # no metadata: its key order is not stable, the bytes must be


def _file_for(path: Path, backbone: str) -> Path:
    if path.is_file():
        return path
    for suffix in _SUFFIXES:
        file = path / f"{backbone}{suffix}"
        if file.is_file():
            return file
    raise WeightsError(
        f"--inspectnet-weights {path}: directory has no {backbone}{{{','.join(_SUFFIXES)}}}; "
        f"put the {backbone} state dict there or pass the file itself"
    )


def imagenet_places(backbone: str) -> list[Path]:
    """Where timm's pretrained weights for ``backbone`` would be if they were cached on this machine."""
    import timm
    import torch

    cfg = timm.models.get_pretrained_cfg(backbone)
    places: list[Path] = []
    if cfg is None:
        return places
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        hub_cache = Path(
            os.environ.get("HF_HUB_CACHE")
            or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
        )
        snapshots = hub_cache / f"models--{hub_id.replace('/', '--')}" / "snapshots"
        for name in ("model.safetensors", "pytorch_model.bin"):
            places.extend(sorted(snapshots.glob(f"*/{name}")) or [snapshots / "*" / name])
    url = getattr(cfg, "url", None)
    if url:
        places.append(Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1])
    return places


def _find_imagenet(backbone: str) -> Path:
    places = imagenet_places(backbone)
    for path in places:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in places) or "(timm knows no pretrained weights for it)"
    raise WeightsError(
        f"--inspectnet-weights imagenet: no ImageNet weights for {backbone} on this machine (looked in {looked}); "
        f"nothing is downloaded at run time: copy timm's cached weights there, or pass --inspectnet-weights FILE"
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file or a torch file (loaded with ``weights_only=True``)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any parse failure is the user's file, not our bug
        raise WeightsError(f"{path}: not a readable weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            inner = state.get(key)
            if isinstance(inner, dict):
                state = inner
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: does not hold a state dict of tensors")
    return state


def apply(module: nn.Module, weights: ResolvedWeights) -> None:
    """Load ``weights`` into a backbone (or its features-only truncation); every parameter must be covered."""
    state = load_state_dict(weights.path)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsError(
            f"{weights.path}: does not fit {weights.backbone}: {len(missing)} of its tensors are missing "
            f"(e.g. {missing[0]}); pass weights saved from {weights.backbone}"
        )
    wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(
            f"{weights.path}: does not fit {weights.backbone}: {k} has shape {tuple(state[k].shape)}, "
            f"expected {tuple(own[k].shape)}"
        )
    module.load_state_dict({k: state[k] for k in own}, strict=True)
