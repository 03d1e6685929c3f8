"""Mutation tests: the accuracy criteria must fail on a planted defect, or they prove nothing.

Each mutant is scored with the same exact metrics and judged by the same profile criteria as the real model:
every criterion the profile sets (a partial profile's missing metrics are not judged; a run with none fails).
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from inspectnet.criteria import RunKey
from inspectnet.harness.session import Session
from inspectnet.measure.evaluate import Predictions
from inspectnet.names import METRICS

pytestmark = pytest.mark.accuracy


def _verdicts(session: Session, run: RunKey, metrics: dict[str, float]) -> dict[str, bool]:
    """Pass/fail of every criterion the profile sets for ``run`` (a metric without one is left out); a run with
    no criterion at all fails: a mutation test with nothing to judge proves nothing."""
    profile = session.options.profile
    criteria = {m: c for m in METRICS if (c := profile.criterion_or_none(run.method, run.category, m)) is not None}
    if not criteria:
        pytest.fail(f"{profile.path}: no criterion for {run.method}/{run.category}: nothing to prove", pytrace=False)
    return {m: c.check(metrics[m]).passed for m, c in criteria.items()}


def test_shuffled_scores_fail_every_criterion(inspectnet: Session, base_run: RunKey) -> None:
    """Image scores shuffled against their labels (median of 25 shuffles) and map pixels shuffled."""
    evaluation = inspectnet.evaluate(base_run)
    assert all(_verdicts(inspectnet, base_run, evaluation.record.metrics).values()), "the real model must pass first"
    rng = np.random.default_rng(0)
    preds = evaluation.predictions
    image = []
    for _ in range(25):
        shuffled = Predictions(rng.permutation(preds.scores), preds.maps)
        image.append(inspectnet.rescore(evaluation, shuffled).image_auroc)
    flat = rng.permutation(preds.maps.reshape(-1)).reshape(preds.maps.shape)
    pixel = inspectnet.rescore(evaluation, Predictions(preds.scores, flat))
    mutant = {"image_auroc": statistics.median(image), "pixel_auroc": pixel.pixel_auroc, "aupro": pixel.aupro}
    verdicts = _verdicts(inspectnet, base_run, mutant)
    assert not any(verdicts.values()), f"criteria passed on shuffled scores: {mutant} -> {verdicts}"


def test_single_vector_memory_bank_fails(inspectnet: Session, patchcore_base_run: RunKey) -> None:
    """PatchCore with its memory bank cut to one vector must fail at least one criterion."""
    base_run = patchcore_base_run
    evaluation = inspectnet.evaluate(base_run)
    head = dict(evaluation.head)
    head["memory_bank"] = head["memory_bank"][:1].clone()
    model = inspectnet.build_model(inspectnet.spec(base_run), head)
    mutant = inspectnet.rescore(evaluation, inspectnet.predict_with(base_run, model)).as_dict()
    verdicts = _verdicts(inspectnet, base_run, mutant)
    assert not all(verdicts.values()), f"criteria passed with a one-vector memory bank: {mutant}"
