"""The candidates' criteria must be able to fail: a planted bad quantisation is rejected.

The planted candidate quantises every layer (the nearest-neighbour search included) from two quantisation
images fed as raw 0-255 pixels instead of the model's ImageNet-normalised input: the preprocessing mismatch a
quantisation script makes when it reads images itself. Measured here on bottle: drops of 0.16 image AUROC,
0.40 pixel AUROC and 0.44 AUPRO, 32-79x the limits. The judge must reject it on each metric, and the verdict
must say which criterion and by how much, and, rejected before timing, it is timed on the short screening A/B
with its speed-up not judged; the control (the FP32 IR judged against itself) is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectnet.criteria.candidates import CandidateCriteria
from inspectnet.harness.candidates import SCREENING, CandidateJudge, outcome
from inspectnet.harness.session import Session
from inspectnet.measure.ab import ABProtocol
from inspectnet.names import RunKey

pytestmark = pytest.mark.candidates
SHORT = ABProtocol(quads=2, max_quads=2, block_calls=1, warmup=1)  # neither verdict here rests on the speed-up


def test_a_badly_quantised_candidate_is_rejected(
    inspectnet: Session, inspectnet_candidates: CandidateJudge, inspectnet_subject: RunKey
) -> None:
    import numpy as np

    from inspectnet.models.inputs import IMAGENET_MEAN, IMAGENET_STD

    mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    raw = (inspectnet_candidates.quantisation_images(inspectnet_subject, images=2) * std + mean) * 255.0  # planted
    built = inspectnet_candidates.build(
        inspectnet_subject, "int8", quantisation_images=raw.astype(np.float32), whole=True
    )
    assert built.settings["calibration_images"] == 2 and built.settings["scope"] == "every layer"
    record = inspectnet_candidates.judge(inspectnet_subject, built, CandidateCriteria("int8"))
    print(f"planted: drop {record.drop}, agreement {record.label_agreement:.1%}; {record.failures}")
    assert record.status == "rejected"
    # rejected before timing, so timed on the screening A/B only, and its speed-up is not judged
    assert record.screened and f"{SCREENING.quads} ABBA quads" in record.latency_protocol
    assert not any(f.startswith("speed-up") for f in record.failures)
    for label, limit in (("image AUROC", "0.0050"), ("pixel AUROC", "0.0050"), ("AUPRO@0.3", "0.0100")):
        assert any(f.startswith(f"{label} drop") and f"> max {limit} (by " in f for f in record.failures), label
    kind, message = outcome(record, Path("r.json"), fail_on_reject=True)
    assert kind == "fail" and "image AUROC drop" in message and "r.json" in message
    assert outcome(record, Path("r.json"), fail_on_reject=False)[0] == "xfail"


def test_the_fp32_model_judged_against_itself_is_accepted(
    inspectnet: Session, inspectnet_candidates: CandidateJudge, inspectnet_subject: RunKey
) -> None:
    """The control for the mutant: the same judge, every limit set, on the FP32 IR itself (bf16's path with an
    f32 hint) accepts it with zero drops and full agreement, so the rejection above is the quantisation's."""
    from dataclasses import replace

    from inspectnet.deploy.candidates import Built, size_of

    exported = inspectnet.exported(inspectnet_subject)
    files = {n: exported.files[n] for n in ("model.xml", "model.bin")}
    itself = Built("bf16", exported.openvino, "f32", None, files, size_of(exported.openvino), {}, None)
    limits = replace(CandidateCriteria("bf16"), min_label_agreement=1.0, min_mask_iou=1.0, max_size_ratio=1.0)
    record = inspectnet_candidates.judge(inspectnet_subject, itself, limits, SHORT)
    assert record.status == "accepted", record.failures
    assert all(d == 0.0 for d in record.drop.values()) and record.label_agreement == 1.0 and record.mask_iou == 1.0
