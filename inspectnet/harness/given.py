"""Models under test that InspectNet did not train: anomalib checkpoints named with ``--model CATEGORY=PATH`` or
found in an anomalib results tree (``--model-dir DIR``).

Each becomes a run of the session like a trained one (same tests, metrics, record names and criteria): its
backbone weights are written once into the store as a weights file (so the same build, feature cache and
export path apply), its fitted head is loaded as it is, and its own PostProcessor thresholds are deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspectnet.models.checkpoint import CheckpointError, UserCheckpoint, load_checkpoint
from inspectnet.models.checkpoint_model import build_model
from inspectnet.models.checkpoint_tree import find_checkpoints
from inspectnet.models.train import ModelSpec
from inspectnet.models.weights import ResolvedWeights
from inspectnet.names import RunKey
from inspectnet.records import ModelSource

if TYPE_CHECKING:
    import torch

BACKBONE_PREFIX = "feature_extractor.feature_extractor."


@dataclass(frozen=True)
class GivenModel:
    """One user checkpoint as a run of the plan."""

    run: RunKey
    checkpoint: UserCheckpoint
    expected_sha256: str | None = None

    @property
    def spec(self) -> ModelSpec:
        c = self.checkpoint
        return ModelSpec(
            method=self.run.method,
            category=self.run.category,
            seed=self.run.seed,
            backbone=c.backbone,
            layers=c.layers,
            image_size=c.image_size,
            coreset=c.coreset,
            num_neighbors=c.num_neighbors,
            n_features=c.n_features,
        )

    def source(self) -> ModelSource:
        """The record's ``source`` block: the checkpoint's own facts, and where the deployed thresholds came from."""
        from inspectnet.builders import block

        c = self.checkpoint
        thresholds_from = (
            "checkpoint"
            if c.thresholds is not None
            else "inspectnet: the checkpoint's thresholds are NaN (anomalib trained it without validation); "
            "calibrated on the test split as for a trained model"
        )
        facts = {**c.as_record(), "kind": "checkpoint", "thresholds_from": thresholds_from}
        return block(ModelSource, facts | {"thresholds": dict(c.thresholds) if c.thresholds is not None else None})

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The checkpoint's backbone tensors (as the features-only backbone names them) and its fitted head,
        loaded again (and its sha256 checked again) when the session needs them."""
        _, state = load_checkpoint(self.checkpoint.path, self.checkpoint.sha256)
        backbone = {k[len(BACKBONE_PREFIX) :]: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
        head = {k: v for k, v in state.items() if not k.startswith("feature_extractor.")}
        return backbone, head

    def weights(self, store_dir: Path) -> ResolvedWeights:
        """The checkpoint's backbone as a weights file in the store (written once; safetensors, no metadata,
        so the same tensors give the same bytes and the same sha256)."""
        from safetensors.torch import save

        from inspectnet._io import atomic_write_bytes, sha256_file
        from inspectnet.models.store import ArtifactStore

        c = self.checkpoint
        path = ArtifactStore(store_dir).weights_file(f"{c.backbone}-checkpoint-{c.sha256[:16]}.safetensors")
        if not path.is_file():
            backbone, _ = self.load()
            atomic_write_bytes(path, save({k: v.contiguous() for k, v in sorted(backbone.items())}))
        return ResolvedWeights(f"checkpoint:{c.path}", "checkpoint", c.backbone, path, sha256_file(path))


def given_models(
    named: list[tuple[str, Path]],
    model_dir: Path | None,
    sha256: dict[str, str],
    categories: list[str] | None,
) -> list[GivenModel]:
    """Every model named by ``--inspectnet-model CATEGORY=PATH`` (seed 0) and found under
    ``--inspectnet-model-dir``, restricted to ``categories`` (a category without one is the caller's to judge).
    Each checkpoint is read (safely) and its model built once here, so a bad file stops the run before anything
    is trained. ``sha256`` pins a category's seed-0 checkpoints (``--model-sha256``)."""
    checkpoints: list[tuple[str, int, Path]] = []
    if model_dir is not None:
        checkpoints += [(c, seed, path) for (_, c, seed), path in sorted(find_checkpoints(model_dir).items())]
    checkpoints += [(category, 0, path) for category, path in named]
    unknown = sorted(set(sha256) - {c for c, _, _ in checkpoints})
    if unknown:
        raise CheckpointError(f"--inspectnet-model-sha256 {unknown[0]}=...: no checkpoint was given for {unknown[0]}")
    models: dict[RunKey, GivenModel] = {}
    for category, seed, path in checkpoints:
        if categories is not None and category not in categories:
            continue
        pin = sha256.get(category) if seed == 0 else None
        checkpoint, state = load_checkpoint(path, pin)
        build_model(checkpoint, state)  # its shapes agree with its backbone and image size, or one line
        run = RunKey(checkpoint.method, category, seed)
        if run in models:
            other = models[run].checkpoint.path
            raise CheckpointError(
                f"{path}: a second {run.method} checkpoint for {category} seed {seed} ({other}); give one"
            )
        models[run] = GivenModel(run, checkpoint, pin)
    return [models[r] for r in sorted(models, key=lambda r: (r.category, r.method, r.seed))]
