"""Metric speed, side by side: InspectNet's exact pixel AUROC + AUPRO against torchmetrics' AUROC and
anomalib's AUPRO on the same 100 maps of 256 x 256. Run: `pytest benchmarks/test_metric_speed.py`.

The ratio and the timings are published as ``<report-dir>/metric_speed.json``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from inspectnet.builders import metric_speed_record
from inspectnet.measure.metrics import pixel_metrics
from inspectnet.report.emit import Publisher

pytestmark = pytest.mark.slow
N, SIZE, REPEATS = 100, 256, 3


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = np.zeros((N, SIZE, SIZE), dtype=bool)
    for i in range(0, N, 2):
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.integers(0, SIZE - 40, 2)
            h, w = rng.integers(2, 40, 2)
            masks[i, y : y + h, x : x + w] = True
    maps = (rng.random((N, SIZE, SIZE)) + 0.5 * masks).astype(np.float32)
    return maps, masks


def _best_of(fn, repeats: int = REPEATS) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def test_metric_speed_against_anomalib(inspectnet_publisher: Publisher) -> None:
    from torchmetrics.classification import BinaryAUROC

    from inspectnet.models.anomalib_private import aupro

    maps, masks = _inputs()
    ours_s, ours = _best_of(lambda: pixel_metrics(maps, masks))
    tm, tt = torch.from_numpy(maps), torch.from_numpy(masks.astype(np.int64))

    def reference() -> tuple[float, float]:
        roc = BinaryAUROC()
        roc.update(tm.reshape(-1), tt.reshape(-1))
        return float(roc.compute()), aupro(tm, tt, fpr_limit=0.3)

    ref_s, ref = _best_of(reference)
    assert ours.pixel_auroc == pytest.approx(ref[0], abs=1e-4)  # type: ignore[attr-defined,index]
    assert ours.aupro == pytest.approx(ref[1], abs=1e-4)  # type: ignore[attr-defined,index]
    inspectnet_publisher.emit(
        "metric_speed.json",
        metric_speed_record(
            input=f"{N} maps of {SIZE}x{SIZE}, float32, about half of them with 1-3 rectangular defects",
            measure=f"best of {REPEATS} wall-clock runs, pixel AUROC and AUPRO@0.3 together",
            inspectnet_s=ours_s,
            reference_s=ref_s,
            reference="torchmetrics BinaryAUROC + anomalib 2.7 AUPRO(fpr_limit=0.3)",
        ),
    )
