"""A user's own anomalib 2.7 Lightning checkpoint (Patchcore, Padim): what it holds, and reading it safely.

A ``model.ckpt`` written by anomalib's ``Engine`` is a pickle, and a pickle can run code when it is loaded.
This module loads one only with ``torch.load(..., weights_only=True)`` and an allowlist of exactly one extra
name, ``anomalib.PrecisionType`` (the enum Patchcore's ``precision`` hyper-parameter pickles as), mapped to a
stand-in enum defined here, so anomalib is not imported to read a file. Before anything is unpickled, the
file's globals are listed statically (``torch.serialization.get_unsafe_globals_in_checkpoint``) and any
other global is refused by name.

What a checkpoint holds (see ``UserCheckpoint``): the method (from the state dict's keys), the backbone and
layers (``hyper_parameters``), the square input side (the ``Resize`` of ``anomalib_pre_processor_config``),
and the post-processor's thresholds and normalisation bounds, which are NaN when training ran without
validation. The torch model's own state dict (the ``model.`` prefix stripped) goes to
``checkpoint_model.build_model``, which checks it against the backbone before loading it strictly;
``checkpoint_model.write_checkpoint`` is the other way. ``checkpoint_tree.find_checkpoints`` finds the
checkpoints in anomalib's results trees.
"""

from __future__ import annotations

import enum
import math
import pickle
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspectnet._io import sha256_file
from inspectnet.models.inputs import IMAGENET_MEAN, IMAGENET_STD
from inspectnet.names import Method

if TYPE_CHECKING:
    import torch


ALLOWED_GLOBAL = "anomalib.PrecisionType"
DEFAULT_IMAGE_SIZE = 256  # anomalib's configure_pre_processor() default, used when a checkpoint has no spec
# UserCheckpoint.thresholds key -> the PostProcessor buffer it comes from (in the Lightning state dict)
THRESHOLD_BUFFERS = {
    "image_threshold": "post_processor._image_threshold",
    "pixel_threshold": "post_processor._pixel_threshold",
    "image_min": "post_processor.image_min",
    "image_max": "post_processor.image_max",
    "pixel_min": "post_processor.pixel_min",
    "pixel_max": "post_processor.pixel_max",
}
# hyper-parameters a checkpoint may omit, with the value anomalib 2.7's constructors then use
DEFAULTS: dict[Method, dict[str, Any]] = {
    "patchcore": {
        "backbone": "wide_resnet50_2",
        "layers": ("layer2", "layer3"),
        "pre_trained": True,
        "coreset_sampling_ratio": 0.1,
        "num_neighbors": 9,
    },
    "padim": {"backbone": "resnet18", "layers": ("layer1", "layer2", "layer3"), "pre_trained": True},
}
SUMS_LEVELS = 6  # SHA256SUMS is looked for in the checkpoint's directory and this many parents
_SUMS_LINE = re.compile(r"\\?([0-9a-fA-F]{64}) [ *](.+)")


class CheckpointError(ValueError):
    """A checkpoint InspectNet will not read (or cannot write); one line naming the file and what to do."""


class _PrecisionType(enum.StrEnum):
    """Stand-in for ``anomalib.PrecisionType``, the one global an anomalib Patchcore checkpoint pickles.

    An unknown value fails inside the weights-only unpickler, which is the safe outcome."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"


@dataclass(frozen=True)
class UserCheckpoint:
    """What a user's anomalib checkpoint says about its model, and the facts a record should carry."""

    path: Path
    sha256: str
    size_bytes: int
    method: Method
    backbone: str
    layers: tuple[str, ...]
    image_size: int  # the square side the pre-processor resizes to
    coreset: float | None  # PatchCore's coreset sampling ratio (None for PaDiM)
    num_neighbors: int  # PatchCore's re-weighting neighbourhood
    n_features: int | None  # PaDiM's feature subset size (the length of model.idx; None for PatchCore)
    pre_trained: bool  # what training used; informational only, never used to download
    thresholds: dict[str, float] | None  # the six post-processor values; None when any is NaN or missing
    lightning_version: str
    anomalib_version: str | None  # anomalib 2.7 stores none
    notes: tuple[str, ...]

    def as_record(self) -> dict[str, object]:
        """The JSON-able facts a record cites about the checkpoint."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "lightning_version": self.lightning_version,
            "anomalib_version": self.anomalib_version,
            "thresholds_from": "checkpoint" if self.thresholds is not None else None,
            "notes": list(self.notes),
        }


# --- reading -------------------------------------------------------------------------------------------------


def load_checkpoint(path: Path, expected_sha256: str | None = None) -> tuple[UserCheckpoint, dict[str, torch.Tensor]]:
    """Read an anomalib 2.7 Patchcore / Padim Lightning checkpoint without running any code in it.

    Returns the metadata and the torch model's state dict with the ``model.`` prefix stripped (the keys of a
    plain ``PatchcoreModel`` / ``PadimModel``'s ``state_dict()``). The file's sha256 is computed before it
    is loaded and must equal ``expected_sha256`` when given. A ``SHA256SUMS`` file (``sha256sum`` format) in
    the checkpoint's directory or any of its 6 parents that lists the file (by its path relative to that
    directory, or by its bare name) must agree with it too. Backbone-dependent shapes (feature and patch
    counts) are checked by ``build_model``, which builds the backbone.

    Raises ``CheckpointError`` (one line, starting with the path) for anything it will not read.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file; give the model.ckpt anomalib's Engine wrote")
    sha256, size = _digest(path)
    notes = [*_verify_digest(path, sha256, expected_sha256)]
    raw = _safe_load(path)
    ckpt, state = _parse(path, raw, notes)
    return UserCheckpoint(path=path, sha256=sha256, size_bytes=size, **ckpt), state


def _digest(path: Path) -> tuple[str, int]:
    return sha256_file(path), path.stat().st_size


def _verify_digest(path: Path, sha256: str, expected: str | None) -> Iterator[str]:
    """Check ``sha256`` against ``expected`` and every ``SHA256SUMS`` that lists ``path``; yield notes."""
    if expected is not None and expected.strip().lower() != sha256:
        raise CheckpointError(
            f"{path}: sha256 {sha256} does not match the expected {expected.strip().lower()}; "
            "the file is not the one that was pinned"
        )
    for sums, listed in _sums_listings(path):
        if listed != sha256:
            raise CheckpointError(
                f"{path}: sha256 {sha256} does not match {listed} listed in {sums}; the file changed since "
                "the sums were written"
            )
        yield f"sha256 matches {sums}"


def _sums_listings(path: Path) -> Iterator[tuple[Path, str]]:
    """(SHA256SUMS file, digest it lists for ``path``) for every SHA256SUMS up the tree that lists ``path``."""
    target = path.resolve()
    seen: set[Path] = set()
    for start in (path.absolute().parent, target.parent):
        for directory in [start, *start.parents][: SUMS_LEVELS + 1]:
            sums = directory / "SHA256SUMS"
            if sums.resolve() in seen or not sums.is_file():
                continue
            seen.add(sums.resolve())
            for digest, name in _sums_entries(sums):
                listed = directory / name
                by_name = "/" not in name and name == path.name and not listed.exists()
                if by_name or (listed.exists() and listed.resolve() == target):
                    yield sums, digest.lower()


def _sums_entries(sums: Path) -> Iterator[tuple[str, str]]:
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _SUMS_LINE.fullmatch(line)
        if match:
            yield match[1], match[2]


def _safe_load(path: Path) -> object:
    """``torch.load`` with ``weights_only=True`` and only ``anomalib.PrecisionType`` allowed besides torch's
    defaults; every other global is refused by name before anything is unpickled."""
    import torch

    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # not a zip, truncated, torchscript: nothing was unpickled
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a torch file)") from exc
    refused = sorted(set(unsafe) - {ALLOWED_GLOBAL})
    if refused:
        raise CheckpointError(
            f"{path}: refuses to load: the pickle needs {refused[0]!r}, which is not on InspectNet's allowlist "
            "(anomalib Patchcore/Padim checkpoints need only anomalib.PrecisionType); re-save it with plain types"
        )
    try:
        with torch.serialization.safe_globals([(_PrecisionType, ALLOWED_GLOBAL)]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((ln for ln in str(exc).splitlines() if "WeightsUnpickler error" in ln), "weights-only load")
        raise CheckpointError(f"{path}: refuses to load: {reason.strip()}; re-save it with plain types") from exc
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a torch file)") from exc


def _parse(path: Path, raw: object, notes: list[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The UserCheckpoint fields (all but path, sha256 and size) and the stripped state dict."""
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (it holds a {type(raw).__name__}, not a dict)")
    sd = raw.get("state_dict")
    if not isinstance(sd, Mapping):
        keys = ", ".join(sorted(map(str, raw))[:8])
        raise CheckpointError(f"{path}: no state_dict: not a Lightning checkpoint (top-level keys: {keys})")
    hparams = raw.get("hyper_parameters") or {}
    if not isinstance(hparams, Mapping):
        raise CheckpointError(f"{path}: hyper_parameters is a {type(hparams).__name__}, not a dict")
    method = _method(path, sd, hparams)
    version = raw.get("pytorch-lightning_version")
    if not isinstance(version, str):
        raise CheckpointError(f"{path}: no pytorch-lightning_version: not a checkpoint Lightning wrote")
    state = _model_state(path, sd)
    hp = _hyper_parameters(path, method, hparams, notes)
    fields: dict[str, Any] = {
        "method": method,
        "backbone": hp["backbone"],
        "layers": hp["layers"],
        "image_size": _image_size(path, raw.get("anomalib_pre_processor_config"), notes),
        "coreset": hp["coreset_sampling_ratio"] if method == "patchcore" else None,
        "num_neighbors": hp["num_neighbors"] if method == "patchcore" else DEFAULTS["patchcore"]["num_neighbors"],
        "n_features": _check_head(path, method, state),
        "pre_trained": hp["pre_trained"],
        "thresholds": _thresholds(path, sd, notes),
        "lightning_version": version,
        "anomalib_version": None,
    }
    _check_fitted(path, sd, notes)
    return fields | {"notes": tuple(notes)}, state


def _method(path: Path, sd: Mapping[Any, Any], hparams: Mapping[Any, Any]) -> Method:
    if "model.memory_bank" in sd:
        return "patchcore"
    if "model.gaussian.mean" in sd:
        return "padim"
    modules = sorted({".".join(str(k).split(".")[:2]) for k in sd if str(k).startswith("model.")})[:5]
    if hparams:
        what = f"its hyper_parameters are {', '.join(map(str, hparams))}"
    else:
        what = f"its modules are {', '.join(modules)}" if modules else "it holds no model.* entries"
    raise CheckpointError(
        f"{path}: a Lightning checkpoint of another model (its state_dict has neither model.memory_bank nor "
        f"model.gaussian.mean; {what}); InspectNet reads anomalib Patchcore and Padim checkpoints only"
    )


def _model_state(path: Path, sd: Mapping[Any, Any]) -> dict[str, torch.Tensor]:
    import torch

    state: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
        if str(key).startswith("model."):
            state[str(key).removeprefix("model.")] = value
    return state


def _hyper_parameters(path: Path, method: Method, hparams: Mapping[Any, Any], notes: list[str]) -> dict[str, Any]:
    """The hyper-parameters the model needs, type-checked; an absent one takes anomalib's default (noted)."""
    defaults = DEFAULTS[method]
    absent = [k for k in defaults if k not in hparams]
    if absent:
        notes.append(f"hyper_parameters lack {', '.join(absent)}: anomalib's defaults assumed")
    hp = {k: hparams.get(k, v) for k, v in defaults.items()}
    layers = hp["layers"]
    if not isinstance(layers, list | tuple) or not layers or not all(isinstance(x, str) for x in layers):
        raise CheckpointError(f"{path}: hyper_parameters.layers is {layers!r}, not a list of layer names")
    hp["layers"] = tuple(layers)
    checks: dict[str, tuple[type, ...]] = {"backbone": (str,), "pre_trained": (bool,)}
    if method == "patchcore":
        checks |= {"coreset_sampling_ratio": (float, int), "num_neighbors": (int,)}
    for key, types in checks.items():
        value = hp[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise CheckpointError(f"{path}: hyper_parameters.{key} is {value!r}, not a {types[0].__name__}")
    if method == "patchcore":
        hp["coreset_sampling_ratio"] = float(hp["coreset_sampling_ratio"])
    precision = hparams.get("precision", "float32")
    if str(getattr(precision, "value", precision)) != "float32":
        notes.append(f"trained in {getattr(precision, 'value', precision)} precision; InspectNet evaluates float32")
    return hp


def _check_head(path: Path, method: Method, state: Mapping[str, torch.Tensor]) -> int | None:
    """The head's shapes agree with each other; PaDiM's feature count (the length of ``idx``)."""
    if method == "patchcore":
        bank = state["memory_bank"]
        if bank.dim() != 2 or bank.shape[0] == 0:
            raise CheckpointError(f"{path}: the memory bank is {_shape(bank)}, not a non-empty patches x features")
        return None
    mean, inv, idx = (state.get(k) for k in ("gaussian.mean", "gaussian.inv_covariance", "idx"))
    if mean is None or inv is None or idx is None:
        raise CheckpointError(f"{path}: a Padim state_dict without model.gaussian.inv_covariance or model.idx")
    f, p = (mean.shape[0], mean.shape[1]) if mean.dim() == 2 else (0, 0)
    if idx.dim() != 1 or f != idx.shape[0] or f == 0 or tuple(inv.shape) != (p, f, f):
        raise CheckpointError(
            f"{path}: inconsistent Padim Gaussian: mean {_shape(mean)}, inverse covariance {_shape(inv)}, "
            f"idx {_shape(idx)} (expected F x P, P x F x F and F)"
        )
    return int(idx.shape[0])


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


def _image_size(path: Path, config: object, notes: list[str]) -> int:
    """The square side the pre-processor resizes to; anomalib's default when the checkpoint has no spec."""
    spec = config.get("transform") if isinstance(config, Mapping) else None
    if spec is None:
        notes.append(f"no pre-processor spec: anomalib's default {DEFAULT_IMAGE_SIZE}x{DEFAULT_IMAGE_SIZE} assumed")
        return DEFAULT_IMAGE_SIZE
    size: int | None = None
    normalised = False
    for class_path, args in _transforms(path, spec):
        name = class_path.rsplit(".", 1)[-1]
        if name == "Resize":
            size = _resize_side(path, args.get("size"), notes)
        elif name == "Normalize" and _is_imagenet(args):
            normalised = True
        else:
            raise CheckpointError(
                f"{path}: its pre-processor applies {class_path} {dict(args)}, which InspectNet's inputs (a resize "
                "and ImageNet normalisation) do not; retrain with the default pre-processor"
            )
    if size is None or not normalised:
        missing = "a Resize" if size is None else "ImageNet normalisation"
        raise CheckpointError(f"{path}: its pre-processor has no {missing}, which InspectNet's inputs have")
    return size


def _transforms(path: Path, spec: object) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(class path, init args) of every transform in a spec, a Compose's members in order."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class_path"), str):
        raise CheckpointError(f"{path}: anomalib_pre_processor_config holds {spec!r}, not a transform spec")
    args = spec.get("init_args") or {}
    if not isinstance(args, Mapping):
        raise CheckpointError(f"{path}: the pre-processor's {spec['class_path']} has init_args {args!r}")
    if spec["class_path"].rsplit(".", 1)[-1] == "Compose":
        for member in args.get("transforms") or ():
            yield from _transforms(path, member)
    else:
        yield spec["class_path"], args


def _resize_side(path: Path, size: object, notes: list[str]) -> int:
    if isinstance(size, list | tuple) and len(size) == 1:
        size = size[0]
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        notes.append(f"the pre-processor resizes the shorter side to {size}; square images give {size}x{size}")
        return size
    if not isinstance(size, list | tuple) or len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise CheckpointError(f"{path}: the pre-processor's Resize size is {size!r}, not [H, W]")
    if size[0] != size[1]:
        raise CheckpointError(
            f"{path}: InspectNet evaluates square inputs; this checkpoint resizes to {size[0]}x{size[1]}"
        )
    return int(size[0])


def _is_imagenet(args: Mapping[str, Any]) -> bool:
    mean, std = args.get("mean"), args.get("std")
    if not isinstance(mean, list | tuple) or not isinstance(std, list | tuple) or len(mean) != 3 or len(std) != 3:
        return False
    pairs = [*zip(mean, IMAGENET_MEAN, strict=True), *zip(std, IMAGENET_STD, strict=True)]
    return all(isinstance(a, float | int) and abs(a - b) < 1e-6 for a, b in pairs)


def _thresholds(path: Path, sd: Mapping[Any, Any], notes: list[str]) -> dict[str, float] | None:
    if not all(key in sd for key in THRESHOLD_BUFFERS.values()):
        notes.append("no post-processor values: no thresholds from the checkpoint")
        return None
    values: dict[str, float] = {}
    for name, key in THRESHOLD_BUFFERS.items():
        if sd[key].numel() != 1:
            raise CheckpointError(f"{path}: state_dict[{key!r}] is {_shape(sd[key])}, not a scalar")
        values[name] = float(sd[key])
    if any(math.isnan(v) for v in values.values()):
        notes.append("post-processor values are NaN (trained without validation): no thresholds from the checkpoint")
        return None
    return values


def _check_fitted(path: Path, sd: Mapping[Any, Any], notes: list[str]) -> None:
    fitted = sd.get("_is_fitted")
    if fitted is None:
        notes.append("no _is_fitted flag (anomalib's load_from_checkpoint needs one)")
    elif not bool(fitted.all()):
        raise CheckpointError(f"{path}: _is_fitted is False: the model was saved before it was fitted")
