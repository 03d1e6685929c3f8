"""Coreset speed, side by side: anomalib 2.7's KCenterGreedy against InspectNet's exact sampler, at the card's
ratios 0.01 / 0.10 / 0.25, same seed, at two scales:

- ``card``: PatchCore's training embedding of a category of the session's dataset (wide_resnet50_2
  layer2+3, the session's weights; cable when the plan has it); anomalib runs every pick.
- ``mvtec``: the same category at MVTec AD's size, 200 training images (>= 200,000 patches): the category's
  own training images where it has 200, else, on the embedded set, 200 rendered by its generator (the shipped
  60 are the first 60 of them). anomalib would take about an hour per ratio here, so it is timed on its first
  ``MVTEC_ANOMALIB_PICKS`` picks and every pick is compared with a replay of its arithmetic.

Run: ``pytest benchmarks/test_coreset_speed.py --run-slow`` (about 25 min on 2 cores, most of it anomalib and
its replay); ``--device cuda`` runs both samplers on the GPU. Publishes ``<report-dir>/coreset_speed.json``.
"""

from __future__ import annotations

import pytest
import torch

from inspectnet.builders import coreset_speed_record
from inspectnet.harness.coreset_speed import measure_scale
from inspectnet.harness.session import Session
from inspectnet.records import CoresetScale

pytestmark = pytest.mark.slow
MVTEC_IMAGES = 200
MVTEC_ANOMALIB_PICKS = 1024


def _embedding(session: Session, category: str, images: torch.Tensor, source: str) -> tuple[torch.Tensor, str]:
    """PatchCore's training embedding of ``images`` (before any coreset), and what it is."""
    from inspectnet.models.train import build

    run = session.plan.base_run("patchcore", category)
    spec = session.spec(run)
    weights = session.weights_for(spec)
    model = build(spec, weights).to(session.options.device)
    model.train()
    with torch.no_grad():
        embedding = torch.cat([model(images[i : i + 8].to(session.options.device)) for i in range(0, len(images), 8)])
    what = (
        f"{category}, {session.options.dataset} dataset, {source}, {spec.backbone} {'+'.join(spec.layers)}, "
        f"{weights.spec}: {tuple(embedding.shape)}"
    )
    return embedding, what


def _mvtec_sized_images(session: Session, category: str, size: int) -> tuple[torch.Tensor, str] | None:
    train = session.inputs(category, size).train
    if len(train) >= MVTEC_IMAGES:
        return train[:MVTEC_IMAGES], f"its first {MVTEC_IMAGES} training images"
    if session.options.dataset != "synthetic":
        return None
    from inspectnet.data.synthetic import render_sample
    from inspectnet.models.inputs import to_tensor

    rendered = [to_tensor(render_sample(category, 0, "train", None, i)[0], size) for i in range(MVTEC_IMAGES)]
    return torch.stack(rendered), f"{MVTEC_IMAGES} training images rendered by the embedded generator (seed 0)"


def test_coreset_speed_against_anomalib(inspectnet: Session) -> None:
    categories = inspectnet.plan.categories
    category = "cable" if "cable" in categories else categories[0]
    size = inspectnet.spec(inspectnet.plan.base_run("patchcore", category)).image_size
    train = inspectnet.inputs(category, size).train
    embedding, what = _embedding(inspectnet, category, train, f"its {len(train)} training images")
    scales: list[CoresetScale] = [measure_scale("card", embedding, what)]
    del embedding
    mvtec = _mvtec_sized_images(inspectnet, category, size)
    if mvtec is not None:
        embedding, what = _embedding(inspectnet, category, *mvtec)
        scales.append(measure_scale("mvtec", embedding, what, anomalib_limit=MVTEC_ANOMALIB_PICKS))
    path = inspectnet.emit(
        "coreset_speed.json",
        coreset_speed_record(
            measure="one wall-clock run each, same seed (0), projection included, on an otherwise idle machine",
            scales=scales,
            device=inspectnet.options.device,
        ),
    )
    different = [(s.name, row.ratio) for s in scales for row in s.rows if not row.identical_picks]
    assert not different, f"picks differ from anomalib's at {different}; {path}"
    if mvtec is None:
        pytest.skip(f"{category} has fewer than {MVTEC_IMAGES} training images: no MVTec-sized row; {path}")
