"""The parity margin benchmark's summary and perturbation, as plain functions."""

from __future__ import annotations

import pytest
import torch

from inspectnet.harness.parity_margin import NOISE, noisy, summarise
from inspectnet.records import Fp32Error, MarginRow, TiedScore


def _row(runtime: str, status: str, map_error: float, image: str | None = None) -> MarginRow:
    errors = {"anomaly_map": map_error, "pred_score": 1e-7, "anomaly_map_raw": map_error / 2, "pred_score_raw": 2e-7}
    ambiguous = [TiedScore(image, 1e-7, [1.0, 1.1], False, 1.0, 1.1, 0.1, 0.0, 0.0)] if image else []
    return MarginRow("base", 1, runtime, status, errors, Fp32Error({}, {}), 1e-7, ambiguous, 0, 0)


def test_summary_is_the_worst_run_per_runtime_with_every_verdict() -> None:
    rows = [
        _row("openvino", "parity_clean", 2e-6),
        _row("openvino", "parity_broken", 3e-3, "a.png"),
        _row("onnxruntime", "parity_clean", 1e-6),
    ]
    summary = summarise(rows, 1e-3)
    assert summary["openvino"].max_normalised_error == 3e-3
    assert summary["openvino"].verdicts == ["parity_broken", "parity_clean"]
    assert summary["openvino"].ambiguous_images == ["a.png"]
    assert summary["onnxruntime"].margin_x == pytest.approx(1000.0)
    assert summary["onnxruntime"].max_raw_error == 5e-7


def test_noise_is_relative_reproducible_and_seeded() -> None:
    x = torch.full((100, 8), 3.0)
    a, b, c = noisy(0)(x), noisy(0)(x), noisy(1)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    relative = ((a - x) / x).abs()
    assert 0 < float(relative.max()) < 10 * NOISE
