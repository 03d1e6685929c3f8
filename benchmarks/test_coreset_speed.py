"""Coreset speed, side by side: anomalib 2.7's KCenterGreedy against InspectNet's exact fast sampler on the
same real embeddings (a category of the session's dataset, PatchCore's wide_resnet50_2 layer2+3 with the
session's weights; cable when the plan has it), at the card's ratios 0.01 / 0.10 / 0.25, same seed.
Run: `pytest benchmarks/test_coreset_speed.py --run-slow` (about 10 min on 2 cores, most of it anomalib).
Publishes ``<report-dir>/coreset_speed.json``.
"""

from __future__ import annotations

import time

import pytest
import torch

from inspectnet.builders import environment_info
from inspectnet.harness.session import Session
from inspectnet.records import CoresetRow, CoresetSpeedRecord, now

pytestmark = pytest.mark.slow
RATIOS = (0.01, 0.10, 0.25)


def _embeddings(session: Session, category: str) -> tuple[torch.Tensor, str]:
    """PatchCore's training embeddings of ``category`` (before any coreset), and what they are."""
    from inspectnet.models.train import build

    run = session.plan.base_run("patchcore", category)
    spec = session.spec(run)
    weights = session.weights_for(spec)
    model = build(spec, weights)
    images = session.inputs(category, spec.image_size).train
    model.train()
    with torch.no_grad():
        embedding = torch.cat([model(images[i : i + 8]) for i in range(0, len(images), 8)])
    what = (
        f"{category}, {session.options.dataset} dataset, {spec.backbone} {'+'.join(spec.layers)}, "
        f"{weights.spec}: {tuple(embedding.shape)}"
    )
    return embedding, what


def test_coreset_speed_against_anomalib(inspectnet: Session) -> None:
    from inspectnet.models import coreset
    from inspectnet.models.anomalib_private import k_center_greedy_indices
    from inspectnet.models.train import pin_seed

    categories = inspectnet.plan.categories
    embedding, what = _embeddings(inspectnet, "cable" if "cable" in categories else categories[0])
    rows = []
    for ratio in RATIOS:
        pin_seed(0)
        started = time.perf_counter()
        theirs = k_center_greedy_indices(embedding, ratio)
        anomalib_s = time.perf_counter() - started
        pin_seed(0)
        started = time.perf_counter()
        ours = coreset.select(embedding, ratio)
        ours_s = time.perf_counter() - started
        rows.append(
            CoresetRow(
                ratio=ratio,
                picks=len(ours),
                identical_picks=ours == theirs,
                anomalib_s=round(anomalib_s, 3),
                inspectnet_s=round(ours_s, 3),
                speedup=round(anomalib_s / ours_s, 2),
            )
        )
    path = inspectnet.emit(
        "coreset_speed.json",
        CoresetSpeedRecord(
            embedding=what,
            measure="one wall-clock run each, anomalib first, same seed (0), projection included",
            rows=rows,
            environment=environment_info("cpu"),
            created=now(),
        ),
    )
    different = [row.ratio for row in rows if not row.identical_picks]
    assert not different, f"picks differ from anomalib's at ratios {different}; {path}"
