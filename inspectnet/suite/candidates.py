"""Deployment candidates: `pytest -m candidates` builds each of the profile's candidates from every category's
FP32 OpenVINO model (INT8 by NNCF from train/good images, INT8 with the search kept FP32, FP16 weights,
bf16 where the CPU has it) and judges it on the whole test split against the FP32 model: metric drops, label
agreement, mask IoU, speed-up (A/B in one process) and size. Writes ``candidate_<method>_<category>_<name>.json``.

A rejected candidate fails its test, naming each criterion it missed and by how much; with the profile's
``fail_on_reject = false`` it is reported as an expected failure (xfail) instead, and the gate still treats
an accepted candidate turning rejected as a regression.
"""

from __future__ import annotations

import pytest

from inspectnet.harness.candidates import CandidateJudge, outcome
from inspectnet.harness.session import Session

pytestmark = pytest.mark.candidates


def test_candidate(
    inspectnet: Session, inspectnet_candidates: CandidateJudge, inspectnet_candidate_case: tuple[str, str]
) -> None:
    from inspectnet.deploy.candidates import CandidateUnavailable

    category, name = inspectnet_candidate_case
    run = inspectnet.measured_run(category)
    if run is None:
        pytest.skip(f"no model of {category} to build candidates from (the given checkpoints hold none)")
    try:
        built = inspectnet_candidates.build(run, name)
    except CandidateUnavailable as exc:
        pytest.skip(str(exc))
    record = inspectnet_candidates.judge(run, built, inspectnet_candidates.profile.build[name])
    path = inspectnet_candidates.emit(record)
    kind, message = outcome(record, path, inspectnet_candidates.profile.fail_on_reject)
    print(message)
    if kind == "fail":
        pytest.fail(message, pytrace=False)
    if kind == "xfail":
        pytest.xfail(message)
