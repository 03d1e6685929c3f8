"""Where parity stops: the error of every stage of the deployed model, and the first stage that diverged.

A deployed PatchCore is a chain: the input after pre-processing, each backbone layer's features, the patch
embedding, the patch scores (nearest-neighbour distances), the anomaly map upsampled (before smoothing) and
smoothed, the raw score, the normalised map and score, the label and the mask. The torch reference, its
float64 twin and the compared model (an exported graph, its stage tensors added as outputs at run time) each give
every stage they can reach; this module compares them. Pure numpy, no runtime.

A stage *diverged* when the compared model's error there exceeds ``FACTOR`` times what the reference's own
float32 arithmetic explains: its error against float64 at that stage (the band), floored at float32
resolution of the stage's values (a stage the reference computes exactly, such as the input, has band 0).
The first diverged stage is where the export stops computing the model; every later stage inherits it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inspectnet.deploy.trace import PREFIX

TRACED_IMAGES = 6  # the stage table is traced on the images whose outputs differ most (see ``worst_images``)
FACTOR = 100.0  # a stage diverged: error > FACTOR x max(band, floor); see ARCHITECTURE.md, "Parity says where"
RESOLUTION = 2.0**-23  # float32 unit roundoff: the floor of a band is RESOLUTION x the stage's largest value
# the stages after the backbone, in order; the backbone's layers (``backbone.<layer>``) come before them
HEAD = ("embedding", "patch_scores", "map_upsampled", "map_smoothed", "score_raw")
# stages that are the deployed graph's own outputs (by its output name), with the decision stages last
OUTPUT_STAGES = {
    "map_smoothed": "anomaly_map_raw",
    "score_raw": "pred_score_raw",
    "map_normalised": "anomaly_map",
    "score_normalised": "pred_score",
    "label": "pred_label",
    "mask": "pred_mask",
}
SHOWN = {
    "input": "pre-processing (the input the backbone sees)",
    "embedding": "patch embedding",
    "patch_scores": "patch scores (nearest-neighbour distances)",
    "map_upsampled": "anomaly map before smoothing",
    "map_smoothed": "anomaly map after smoothing",
    "score_raw": "raw score",
    "map_normalised": "normalised map",
    "score_normalised": "normalised score",
    "label": "label",
    "mask": "mask",
}


def stage_order(layers: Sequence[str]) -> tuple[str, ...]:
    """Every stage of a deployed model whose backbone gives ``layers``, in the order the data flows."""
    return (
        "input",
        *(f"backbone.{layer}" for layer in layers),
        *HEAD,
        "map_normalised",
        "score_normalised",
        "label",
        "mask",
    )


def shown(stage: str) -> str:
    """A stage as a reader names it: ``backbone layer3``, ``patch scores (nearest-neighbour distances)``."""
    if stage.startswith("backbone."):
        return f"backbone {stage.removeprefix('backbone.')}"
    return SHOWN.get(stage, stage)


def tensor(outputs: Mapping[str, np.ndarray], stage: str) -> np.ndarray | None:
    """``stage``'s values among a runner's outputs: a traced stage, or the graph output that is that stage."""
    if PREFIX + stage in outputs:
        return outputs[PREFIX + stage]
    name = OUTPUT_STAGES.get(stage)
    return outputs[name] if name is not None and name in outputs else None


@dataclass(frozen=True)
class StageRow:
    """One stage: the compared model's max abs error against the reference, the reference's own (float32 against
    float64) error there, the largest reference value, and the verdict. ``error`` None: not reached."""

    stage: str
    error: float | None
    band: float | None
    scale: float
    diverged: bool
    flips: int | None = None  # label and mask: flips beyond the reference's own error (ParityResult)
    note: str = ""  # why a stage has no error (not reachable in the graph, another shape)

    @property
    def floored_band(self) -> float:
        """The reference's own error here, floored at float32 resolution of the stage's values."""
        return max(self.band or 0.0, RESOLUTION * self.scale)

    @property
    def limit(self) -> float:
        """The error above which this stage diverged: FACTOR x the floored band."""
        return FACTOR * self.floored_band


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference; in float32 when both are (exact for values within 2x of each other, else within
    float32 rounding of the difference), so a stage table costs no float64 copies of large feature maps."""
    if not a.size:
        return 0.0
    if a.dtype == b.dtype == np.float32:
        return float(np.max(np.abs(np.subtract(a, b))))
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


Bands = dict[str, tuple[float | None, float]]  # stage -> (the reference's own error, its largest value)


OwnErrors = dict[str, np.ndarray]  # stage -> each image's max abs error of the reference against float64


def own_errors(reference: Mapping[str, np.ndarray], exact: Mapping[str, np.ndarray], n: int) -> OwnErrors:
    """Per stage that the reference and ``exact`` (the same model in float64) both give in one shape: each of
    the ``n`` images' max abs error of the reference against it. A band over any of the images is the max of
    theirs, so the float64 stage tensors (the patch embedding alone is 12 MiB an image) need not be kept."""
    stages = [k.removeprefix(PREFIX) for k in exact if k.startswith(PREFIX)]
    stages += [stage for stage, name in OUTPUT_STAGES.items() if name in exact and stage not in ("label", "mask")]
    errors: OwnErrors = {}
    for stage in stages:
        ref, ex = tensor(reference, stage), tensor(exact, stage)
        if ref is not None and ex is not None and ex.shape == ref.shape:
            errors[stage] = np.array([_max_abs(image(ref, i, n), image(ex, i, n)) for i in range(n)], np.float64)
    return errors


def reference_bands(layers: Sequence[str], reference: Mapping[str, np.ndarray], errors: OwnErrors) -> Bands:
    """Per stage: the reference's own float32 error over its images (the max of ``errors``, ``own_errors`` of the
    same images; None where float64 lacks the stage) and its largest value. The same for every check of one
    reference: compute once."""
    bands: Bands = {}
    for stage in stage_order(layers):
        ref = tensor(reference, stage)
        if ref is None or stage in ("label", "mask"):
            continue
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        own = errors.get(stage)
        bands[stage] = (None if own is None else float(own.max()) if own.size else 0.0, scale)
    return bands


def stage_row(
    stage: str, reference: np.ndarray, compared: np.ndarray | None, band: float | None, scale: float
) -> StageRow:
    """One numeric stage's row (``compared`` None: the graph does not let it be reached)."""
    if compared is None:
        return StageRow(stage, None, band, scale, False, note="not reachable in this graph")
    if compared.shape != reference.shape:
        note = f"shape {compared.shape} where the reference has {reference.shape}"
        return StageRow(stage, None, band, scale, False, note=note)
    error = _max_abs(reference, compared)
    row = StageRow(stage, error, band, scale, False)
    return StageRow(stage, error, band, scale, error > row.limit)


def stage_table(
    layers: Sequence[str],
    reference: Mapping[str, np.ndarray],
    compared: Mapping[str, np.ndarray],
    bands: Bands,
    flips: Mapping[str, int],
) -> tuple[StageRow, ...]:
    """Every stage of the deployed model: the compared model against the reference, with the reference's own error and
    scale per stage from ``bands`` (``reference_bands``). ``flips`` holds the label and mask flips parity
    counted."""
    rows = []
    for stage in stage_order(layers):
        if stage in flips:
            rows.append(StageRow(stage, None, None, 1.0, flips[stage] > 0, flips=flips[stage]))
            continue
        ref = tensor(reference, stage)
        if ref is None:
            rows.append(StageRow(stage, None, None, 0.0, False, note="the reference does not compute it"))
            continue
        band, scale = bands.get(stage, (None, float(np.max(np.abs(ref))) if ref.size else 0.0))
        rows.append(stage_row(stage, ref, tensor(compared, stage), band, scale))
    return tuple(rows)


def per_image_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each image's max abs difference (axis 0 is the image), in float64."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return diff.reshape(diff.shape[0], -1).max(axis=1)


def worst_images(reference: Mapping[str, np.ndarray], compared: Mapping[str, np.ndarray], n: int, k: int) -> list[int]:
    """The ``k`` images (positions, ascending) whose outputs differ most: any with a flipped label or mask
    first, then by turns the largest normalised-map and normalised-score errors. Tracing every stage costs a
    second pass through the graph; these are the images that say where a difference starts."""
    ranked: list[int] = []
    flipped = (reference["pred_label"].reshape(n) != compared["pred_label"].reshape(n)).astype(float)
    flipped += per_image_error(reference["pred_mask"], compared["pred_mask"]) > 0
    orders = [np.argsort(-flipped, kind="stable")[: int((flipped > 0).sum())]]
    orders += [
        np.argsort(-per_image_error(reference[o], compared[o]), kind="stable") for o in ("anomaly_map", "pred_score")
    ]
    for position in range(n):
        for order in orders:
            if position < len(order) and int(order[position]) not in ranked and len(ranked) < k:
                ranked.append(int(order[position]))
    return sorted(ranked)


def _per_image(a: np.ndarray, n: int) -> np.ndarray:
    """An output with the image as its first axis: its first axis is the image, or the image times a per-image
    count (the patch embedding: images x patches rows)."""
    return a.reshape(n, -1, *a.shape[1:]) if a.shape[0] != n else a[:, None]


def image(a: np.ndarray, i: int, n: int) -> np.ndarray:
    """Image ``i`` of ``n`` in an output (``select`` of one image, without the copy)."""
    return _per_image(a, n)[i]


def select(outputs: Mapping[str, np.ndarray], positions: Sequence[int], n: int) -> dict[str, np.ndarray]:
    """The outputs of the images at ``positions`` of ``n`` (``_per_image``), concatenated as the outputs are."""
    return {name: _per_image(a, n)[list(positions)].reshape(-1, *a.shape[1:]) for name, a in outputs.items()}


def first_divergence(rows: Sequence[StageRow]) -> StageRow | None:
    return next((row for row in rows if row.diverged), None)


def _number(row: StageRow) -> str:
    if row.flips is not None:
        return f"{row.flips} flips"
    return f"max abs error {row.error:.1e}, band {row.floored_band:.0e}"


def diagnosis(rows: Sequence[StageRow]) -> str:
    """Where parity stops, in one sentence: the first diverged stage and the stages before it that agree."""
    first = first_divergence(rows)
    if first is None:
        return "no stage diverged beyond the reference's own float32 error"
    before = rows[: rows.index(first)]
    agree = [shown(r.stage) for r in before if r.error is not None]
    unreached = [shown(r.stage) for r in before if r.error is None and r.flips is None]
    text = f"first divergence at {shown(first.stage)} ({_number(first)})"
    if agree:
        text += f"; {', '.join(agree)} agree"
    if unreached:
        text += f" ({', '.join(unreached)}: not reachable in this graph)"
    return text


def _relative(row: StageRow) -> float:
    """The reference's own error at a stage relative to its values, floored at float32 resolution."""
    return row.floored_band / row.scale if row.scale > 0 else 0.0


def arithmetic_limit(rows: Sequence[StageRow]) -> tuple[StageRow, float, float] | None:
    """The stage where the reference's own float32 error grows most (its relative error against the stage
    before): (that stage, relative error before, relative error there); None without two measured stages."""
    measured = [r for r in rows if r.flips is None and r.band is not None and r.scale > 0]
    steps = [(b, _relative(a), _relative(b)) for a, b in itertools.pairwise(measured)]
    return max(steps, key=lambda step: step[2] / step[1] if step[1] > 0 else 0.0, default=None)


def reference_limit(rows: Sequence[StageRow], reference_error: Mapping[str, float], tolerance: float) -> str | None:
    """When the torch reference's own float32 error (against float64, per output) exceeds ``tolerance``: the
    sentence that says so, names the stage its error grows at, and says the export is not the cause."""
    over = {name: error for name, error in reference_error.items() if error > tolerance}
    if not over:
        return None
    output, error = max(over.items(), key=lambda item: item[1])
    text = (
        f"the torch reference itself is {error:.2e} from float64 on {output} (tolerance {tolerance:.0e}): the "
        "model's float32 arithmetic, not the export, is the limit"
    )
    grown = arithmetic_limit(rows)
    if grown is not None:
        stage, before, there = grown
        text += f"; its error grows at {shown(stage.stage)} (relative error {before:.0e} -> {there:.0e})"
    return text
