"""Coreset speed, side by side: anomalib 2.7's KCenterGreedy against InspectNet's exact fast sampler on the
same real embeddings (cable of the embedded dataset, wide_resnet50_2 layer2+3, random:0 weights), at the
card's ratios 0.01 / 0.10 / 0.25, same seed. Run: `pytest benchmarks/test_coreset_speed.py` (about 10 min
on 2 cores, most of it anomalib). Writes ``<report-dir>/coreset_speed.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from inspectnet._io import atomic_write_json
from inspectnet.hostinfo import environment
from inspectnet.records import now

pytestmark = pytest.mark.slow
RATIOS = (0.01, 0.10, 0.25)


def _cable_embeddings(root: Path, store: Path) -> torch.Tensor:
    from inspectnet.data.layout import load_category
    from inspectnet.data.synthetic import ensure
    from inspectnet.models.inputs import load_inputs
    from inspectnet.models.train import build, default_spec
    from inspectnet.models.weights import parse_weights, resolve

    ensure(root, seed=0)
    spec = default_spec("patchcore", "cable")
    model = build(spec, resolve(parse_weights("random:0"), spec.backbone, store))
    images = load_inputs(load_category(root, "cable", pixels=False), spec.image_size).train
    model.train()
    with torch.no_grad():
        return torch.cat([model(images[i : i + 8]) for i in range(0, len(images), 8)])


def test_coreset_speed_against_anomalib(request: pytest.FixtureRequest) -> None:
    from inspectnet.models import coreset
    from inspectnet.models.anomalib_private import k_center_greedy_indices
    from inspectnet.models.train import pin_seed

    embedding = _cable_embeddings(Path(request.config.rootpath) / "data" / "synthetic", Path(".inspectnet/store"))
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
            {
                "ratio": ratio,
                "picks": len(ours),
                "identical_picks": ours == theirs,
                "anomalib_s": round(anomalib_s, 3),
                "inspectnet_s": round(ours_s, 3),
                "speedup": round(anomalib_s / ours_s, 2),
            }
        )
        assert ours == theirs, f"picks differ at ratio {ratio}"
    atomic_write_json(
        Path(request.config.getoption("--report-dir")) / "coreset_speed.json",
        {
            "kind": "coreset_speed",
            "schema_version": 1,
            "embedding": f"cable, embedded dataset, wide_resnet50_2 layer2+3, random:0: {tuple(embedding.shape)}",
            "measure": "one wall-clock run each, anomalib first, same seed (0), projection included",
            "rows": rows,
            "environment": environment("cpu"),
            "created": now(),
        },
    )
