"""A/B latency for the gate: the baseline's and the current record's model, found by the sha256 their records
hold, loaded in this process and timed alternately (``inspectnet.measure.ab``).

Torch eager has no model file: each side's deployed torch model (anomalib's model and its PostProcessor) is
rebuilt from what its record names by sha256 (``torch_model``): the fitted head from the artifact store's
checkpoint (or a user's ``--inspectnet-model`` checkpoint found by its sha256), the backbone weights file, and the
thresholds that the record's export (``exports/<key>/export.json``) was made with.

Where a side cannot be run here, ``ABMeasurer`` says why in one line and the gate decides that row on the
records alone: a runtime (for torch: torch or anomalib) whose version differs between the two records would
be timed on one version here, hiding the other; a file that is in no searched directory cannot be loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet.measure.ab import ABProtocol, ABTiming, straddles, time_ab
from inspectnet.measure.latency import Timer
from inspectnet.models.store import ArtifactStore
from inspectnet.names import METHODS
from inspectnet.records import ExportInfo, GivenExport, LatencyRecord

if TYPE_CHECKING:
    from torch import nn

    from inspectnet.criteria import GateCriteria
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.models.train import ModelSpec

INPUTS = 4  # fixed-seed images of the model's input shape, cycled; the models' cost does not depend on content


def _matches(directory: Path, sha256: dict[str, str]) -> bool:
    from inspectnet._io import sha256_file

    return all(
        (directory / name).is_file() and sha256_file(directory / name) == digest for name, digest in sha256.items()
    )


def find_model(artifact: ExportInfo | GivenExport, runtime: str, roots: Sequence[Path]) -> Path | None:
    """The file ``runtime`` loads for ``artifact``, in ``roots`` (artifact stores or any directories): an
    InspectNet export under ``<root>/exports/<key>/``, else any directory holding files of the same names
    whose sha256 all match."""
    from inspectnet.deploy.runtimes import runtime as registered

    suffixes = registered(runtime).model_files
    wanted = {n: d for n, d in artifact.sha256.items() if Path(n).suffix in suffixes}
    main = next((n for n in wanted if suffixes and Path(n).suffix == suffixes[0]), None)
    if main is None:
        return None
    for root in roots:
        directory = ArtifactStore(root).export_dir(artifact.key) if isinstance(artifact, ExportInfo) else None
        if directory is not None and _matches(directory, wanted):
            return directory / main
    for root in roots:
        for found in sorted(root.rglob(main)) if root.is_dir() else []:
            if _matches(found.parent, wanted):
                return found
    return None


def inputs_for(image_size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((1, 3, image_size, image_size)).astype(np.float32) for _ in range(INPUTS)]


@dataclass
class ABMeasurer:
    """The gate's A/B measurer over the artifact stores and directories in ``roots``."""

    roots: list[Path]
    protocol: ABProtocol = field(default_factory=ABProtocol)
    undecided: Callable[[list[float]], bool] | None = None  # extend a run while this holds (``straddles``)
    log: list[str] = field(default_factory=list)
    option: str = "--artifacts"  # how the caller names its directories option (one-line reasons say it)

    def __call__(self, base: LatencyRecord, cur: LatencyRecord, runtime: str) -> ABTiming | str:
        from inspectnet.deploy.export import ExportError
        from inspectnet.deploy.runtimes import RuntimeUnavailable
        from inspectnet.deploy.runtimes import runtime as registered

        if not registered(runtime).exported:  # the torch module itself, rebuilt from the stores
            return self._torch(base, cur)
        b, c = base.runtimes[runtime], cur.runtimes[runtime]
        if b.artifact is None or c.artifact is None:
            return f"{runtime} has no model file to load (its records name none)"
        if b.settings.get("version") != c.settings.get("version"):
            return (
                f"{runtime} {b.settings.get('version')} (baseline) vs {c.settings.get('version')} (current): "
                "A/B here would time both on one version"
            )
        paths = []
        for side, artifact in (("baseline", b.artifact), ("current", c.artifact)):
            path = find_model(artifact, runtime, self.roots)
            if path is None:
                digest = next(iter(artifact.sha256.values()))[:12]
                where = ", ".join(str(r) for r in self.roots) or "no directory"
                return f"the {side}'s {runtime} model (sha256 {digest}...) is not in {where}; pass {self.option} DIR"
            paths.append(path)
        sides = [
            Side(path, record.protocol.image_size, isinstance(entry.artifact, GivenExport))
            for path, record, entry in zip(paths, (base, cur), (b, c), strict=True)
        ]
        try:
            timing = time_models(runtime, base.device, sides[0], sides[1], self.protocol, self.undecided)
        except (RuntimeUnavailable, ExportError) as exc:
            return str(exc)
        self.log.append(f"{base.category} {base.device} {runtime}: {paths[0]} vs {paths[1]}, {timing.seconds:.1f} s")
        return timing

    def _torch(self, base: LatencyRecord, cur: LatencyRecord) -> ABTiming | str:
        """Both sides' deployed torch models rebuilt from the stores (``torch_model``), timed here."""
        import torch

        from inspectnet.deploy import runtimes

        versions = {
            "torch": (base.platform.torch, cur.platform.torch),
            "anomalib": (base.platform.anomalib, cur.platform.anomalib),
        }
        for name, (was, now) in versions.items():
            if was != now:
                return f"{name} {was} (baseline) vs {now} (current): A/B here would time both on one version"
        if base.device.startswith("cuda") and not torch.cuda.is_available():
            return f"the records ran torch on {base.device}; this machine has no CUDA device"
        modules = []
        for side, record in (("baseline", base), ("current", cur)):
            module = torch_model(record, self.roots)
            if isinstance(module, str):
                return f"the {side}'s torch model cannot be rebuilt: {module}"
            modules.append(module)
        size = base.protocol.image_size
        runners = [runtimes.torch_runner(m, base.device, size) for m in modules]
        timing = time_runners(runners[0], runners[1], self.protocol, self.undecided)
        digests = " vs ".join(r.checkpoint.sha256[:12] for r in (base, cur))
        self.log.append(f"{base.category} {base.device} torch: checkpoints {digests}, rebuilt; {timing.seconds:.1f} s")
        return timing


@dataclass(frozen=True)
class Side:
    """One side of an A/B: the model file, its input size, and whether it is a user's anomalib export."""

    path: Path
    image_size: int
    given: bool = False

    def runner(self, runtime: str, device: str) -> Runner:
        from inspectnet.deploy.runtimes import runtime as registered

        return registered(runtime).runner(self.path, device, self.image_size, self.given)


def time_models(
    runtime: str,
    device: str,
    a: Side,
    b: Side,
    protocol: ABProtocol,
    undecided: Callable[[list[float]], bool] | None = None,
) -> ABTiming:
    """Load both models anew and time them alternately (ABBA) on the same fixed-seed inputs."""
    return time_runners(a.runner(runtime, device), b.runner(runtime, device), protocol, undecided)


def time_runners(
    a: Runner, b: Runner, protocol: ABProtocol, undecided: Callable[[list[float]], bool] | None = None
) -> ABTiming:
    """Time two runners alternately (ABBA) on the same fixed-seed inputs."""
    placed = [[r.place(x) for x in inputs_for(r.image_size)] for r in (a, b)]
    timer = Timer(sync=a.sync)
    return time_ab(a.call, b.call, placed[0], placed[1], protocol, timer, undecided)


# ---------------------------------------------------------------- torch eager, rebuilt from the stores

STORE_KEY = re.compile(r"[0-9a-f]{64}")


def _where(roots: Sequence[Path]) -> str:
    return ", ".join(str(r) for r in roots) or "no directory"


def torch_model(record: LatencyRecord, roots: Sequence[Path]) -> nn.Module | str:
    """``record``'s deployed torch model (model + PostProcessor), rebuilt from the artifact stores and
    directories in ``roots`` by the sha256 its record holds; a string says in one line what is missing."""
    found = _locate(record, roots)
    if isinstance(found, str):
        return found
    spec, head, path, calibration = found
    stable = _stable(record)  # imports anomalib: only once every file is found
    if isinstance(stable, str):
        return stable
    from inspectnet.deploy.postprocess import deployed
    from inspectnet.models.train import build, load_head
    from inspectnet.models.weights import ResolvedWeights, WeightsError

    w = record.weights
    weights = ResolvedWeights(w.spec, w.kind, w.backbone, path, w.sha256)  # type: ignore[arg-type]
    try:
        model = build(spec, weights, stable)
        load_head(model, head)
    except (WeightsError, ValueError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return deployed(model, calibration)


def _locate(record: LatencyRecord, roots: Sequence[Path]) -> tuple[ModelSpec, dict[str, Any], Path, Calibration] | str:
    """What rebuilding ``record``'s torch model takes: its spec, head, weights file and thresholds."""
    from inspectnet.models.checkpoint import CheckpointError
    from inspectnet.models.store import TamperedCheckpointError

    spec = model_spec(record)
    if isinstance(spec, str):
        return spec
    try:
        head = find_head(record, roots)
    except (TamperedCheckpointError, CheckpointError) as exc:
        return str(exc)
    if isinstance(head, str):
        return head
    w = record.weights
    path = find_weights(record, roots)
    if path is None:
        return f"its {w.backbone} weights ({w.spec}, sha256 {w.sha256[:12]}...) are not in {_where(roots)}"
    calibration = find_calibration(record, roots)
    if calibration is None:
        digest = record.checkpoint.sha256[:12]
        return f"no export of checkpoint {digest}... in {_where(roots)} holds its thresholds (exports/*/export.json)"
    return spec, head, path, calibration


def model_spec(record: LatencyRecord) -> ModelSpec | str:
    from inspectnet.models.train import ModelSpec

    m = record.model
    if m.method not in METHODS:
        return f"its method {m.method!r} is not one of {', '.join(METHODS)}"
    return ModelSpec(
        m.method,  # type: ignore[arg-type]
        m.category,
        m.seed,
        m.backbone,
        tuple(m.layers),
        m.image_size,
        m.coreset,
        m.num_neighbors,
        m.n_features,
    )


def _stable(record: LatencyRecord) -> bool | str:
    """Whether the record's PatchCore scored with InspectNet's stable distances (else anomalib's own)."""
    from inspectnet.models.stable import SCORING

    if record.scoring.name == SCORING["name"]:
        return True
    if not record.scoring.departs_from_anomalib:
        return False
    return f"its scoring {record.scoring.name!r} is not one this InspectNet builds"


def find_head(record: LatencyRecord, roots: Sequence[Path]) -> dict[str, Any] | str:
    """The fitted head whose checkpoint has the record's sha256: the artifact store's ``models/<key>/`` for a
    model InspectNet trained, else (a ``--inspectnet-model`` checkpoint) the user's file where the record says or by
    name under ``roots``. Raises the store's or the checkpoint reader's one-line error for a modified file."""
    from inspectnet._io import sha256_file
    from inspectnet.models.checkpoint import load_checkpoint

    info = record.checkpoint
    if record.source is None:
        for root in roots if STORE_KEY.fullmatch(info.key) else []:
            found = ArtifactStore(root).load(info.key)
            if found is not None and found[1].sha256 == info.sha256:
                return found[0]
        return f"its checkpoint (key {info.key[:12]}..., sha256 {info.sha256[:12]}...) is not in {_where(roots)}"
    given = Path(record.source.path)
    for path in [given, *(p for root in roots if root.is_dir() for p in sorted(root.rglob(given.name)))]:
        if path.is_file() and sha256_file(path) == info.sha256:
            _, state = load_checkpoint(path, info.sha256)
            return {k: v for k, v in state.items() if not k.startswith("feature_extractor.")}
    return f"its checkpoint {given.name} (sha256 {info.sha256[:12]}...) is not at {given} nor in {_where(roots)}"


def _weights_places(record: LatencyRecord, roots: Sequence[Path]) -> Iterator[Path]:
    w = record.weights
    for (
        root
    ) in roots:  # random:N and a --inspectnet-model checkpoint's backbone live in the store; this backbone's first
        weights = ArtifactStore(root).weights
        files = sorted(weights.glob("*")) if weights.is_dir() else []
        yield from sorted(files, key=lambda p: not p.name.startswith(f"{w.backbone}-"))
    if w.kind == "imagenet":
        from inspectnet.models.weights import imagenet_places

        yield from imagenet_places(w.backbone)
    if w.kind == "file":
        given = Path(w.spec)
        yield from [given] if given.is_file() else sorted(given.glob(f"{w.backbone}.*"))


def find_weights(record: LatencyRecord, roots: Sequence[Path]) -> Path | None:
    """The backbone weights file whose sha256 the record holds: in a store's ``weights/``, timm's cache
    (``imagenet``) or where ``--inspectnet-weights FILE`` pointed."""
    from inspectnet._io import sha256_file

    for path in _weights_places(record, roots):
        if path.is_file() and sha256_file(path) == record.weights.sha256:
            return path
    return None


def find_calibration(record: LatencyRecord, roots: Sequence[Path]) -> Calibration | None:
    """The thresholds the record's model was deployed with: those of an export (``exports/<key>/export.json``)
    of the same checkpoint and weights, the record's own exports first."""
    from inspectnet.deploy.calibration import Calibration

    keys = [e.artifact.key for e in record.runtimes.values() if isinstance(e.artifact, ExportInfo)]
    for root in roots:
        exports = ArtifactStore(root).exports
        if not exports.is_dir():
            continue
        for directory in [*(exports / k for k in keys), *sorted(exports.iterdir())]:
            identity = _export_identity(directory)
            if (
                identity.get("checkpoint_sha256") == record.checkpoint.sha256
                and identity.get("weights_sha256") == record.weights.sha256
                and isinstance(identity.get("calibration"), dict)
            ):
                try:
                    return Calibration(**identity["calibration"])
                except TypeError:
                    continue
    return None


def _export_identity(directory: Path) -> dict[str, Any]:
    try:
        identity = json.loads((directory / "export.json").read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        return {}
    return identity if isinstance(identity, dict) else {}


def gate_protocol(settings: GateCriteria) -> tuple[ABProtocol, Callable[[list[float]], bool]]:
    """The gate profile's A/B protocol and its extension rule (a run goes on while it ``straddles``)."""
    protocol = ABProtocol(quads=settings.ab_quads, max_quads=settings.ab_max_quads, block_calls=settings.ab_block_calls)
    return protocol, lambda ratios: straddles(ratios, settings.alpha, settings.min_effect)


def measurer(roots: Iterable[Path], settings: GateCriteria, option: str = "--artifacts") -> ABMeasurer:
    """An A/B measurer with the gate profile's protocol, over the directories that exist among ``roots``
    (``option``: the caller's option for more of them, named where a model is not found)."""
    protocol, undecided = gate_protocol(settings)
    return ABMeasurer([r for r in roots if r.is_dir()], protocol, undecided, option=option)
