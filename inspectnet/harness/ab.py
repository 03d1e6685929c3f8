"""A/B latency for the gate: the baseline's and the current record's model, found by the sha256 their records
hold, loaded in this process and timed alternately (``inspectnet.measure.ab``).

Where a side cannot be run here, ``ABMeasurer`` says why in one line and the gate decides that row on the
records alone: torch eager has no model file; a runtime whose version differs between the two records would
be timed on one version here, hiding the other; a file that is in no searched directory cannot be loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.measure.ab import ABProtocol, ABTiming, straddles, time_ab
from inspectnet.measure.latency import Timer
from inspectnet.records import ExportInfo, GivenExport, LatencyRecord

if TYPE_CHECKING:
    from inspectnet.criteria import GateCriteria
    from inspectnet.deploy.runtimes import Runner

MODEL_FILE = {"onnxruntime": (".onnx",), "openvino": (".xml", ".bin")}
INPUTS = 4  # fixed-seed images of the model's input shape, cycled; the models' cost does not depend on content


def _matches(directory: Path, sha256: dict[str, str]) -> bool:
    from inspectnet.models.weights import file_sha256

    return all(
        (directory / name).is_file() and file_sha256(directory / name) == digest for name, digest in sha256.items()
    )


def find_model(artifact: ExportInfo | GivenExport, runtime: str, roots: Sequence[Path]) -> Path | None:
    """The file ``runtime`` loads for ``artifact``, in ``roots`` (artifact stores or any directories): an
    InspectNet export under ``<root>/exports/<key>/``, else any directory holding files of the same names
    whose sha256 all match."""
    suffixes = MODEL_FILE[runtime]
    wanted = {n: d for n, d in artifact.sha256.items() if Path(n).suffix in suffixes}
    main = next((n for n in wanted if Path(n).suffix == suffixes[0]), None)
    if main is None:
        return None
    for root in roots:
        if isinstance(artifact, ExportInfo) and _matches(root / "exports" / artifact.key, wanted):
            return root / "exports" / artifact.key / main
    for root in roots:
        for candidate in sorted(root.rglob(main)) if root.is_dir() else []:
            if _matches(candidate.parent, wanted):
                return candidate
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

    def __call__(self, base: LatencyRecord, cur: LatencyRecord, runtime: str) -> ABTiming | str:
        from inspectnet.deploy.export import ExportError
        from inspectnet.deploy.runtimes import RuntimeUnavailable

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
                return f"the {side}'s {runtime} model (sha256 {digest}...) is not in {where}; pass --artifacts DIR"
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


@dataclass(frozen=True)
class Side:
    """One side of an A/B: the model file, its input size, and whether it is a user's anomalib export."""

    path: Path
    image_size: int
    given: bool = False

    def runner(self, runtime: str, device: str) -> Runner:
        from inspectnet.deploy import runtimes

        if runtime == "onnxruntime":
            return runtimes.onnxruntime_runner(self.path, device, self.image_size, given=self.given)
        if runtime == "openvino":
            return runtimes.openvino_runner(self.path, self.image_size, given=self.given)
        raise ValueError(f"A/B times exported models (onnxruntime, openvino), not {runtime!r}")


def time_models(
    runtime: str,
    device: str,
    a: Side,
    b: Side,
    protocol: ABProtocol,
    undecided: Callable[[list[float]], bool] | None = None,
) -> ABTiming:
    """Load both models anew and time them alternately (ABBA) on the same fixed-seed inputs."""
    runners = [a.runner(runtime, device), b.runner(runtime, device)]
    placed = [[r.place(x) for x in inputs_for(r.image_size)] for r in runners]
    timer = Timer(sync=runners[0].sync)
    return time_ab(runners[0].call, runners[1].call, placed[0], placed[1], protocol, timer, undecided)


def gate_protocol(settings: GateCriteria) -> tuple[ABProtocol, Callable[[list[float]], bool]]:
    """The gate profile's A/B protocol and its extension rule (a run goes on while it ``straddles``)."""
    protocol = ABProtocol(quads=settings.ab_quads, max_quads=settings.ab_max_quads, block_calls=settings.ab_block_calls)
    return protocol, lambda ratios: straddles(ratios, settings.alpha, settings.min_effect)


def measurer(roots: Iterable[Path], settings: GateCriteria) -> ABMeasurer:
    """An A/B measurer with the gate profile's protocol, over the directories that exist among ``roots``."""
    protocol, undecided = gate_protocol(settings)
    return ABMeasurer([r for r in roots if r.is_dir()], protocol, undecided)
