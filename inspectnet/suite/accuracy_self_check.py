"""The accuracy criteria's self-check: each must fail on a planted defect of the same model, or it proves nothing.

Each mutant is scored with the same exact metrics and judged by the same profile criteria as the real model.
A criterion that also accepts the mutant is named in one line, with the mutant's value and what to set it
above: a profile whose minimums a broken model meets cannot hold a model to its card.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from inspectnet.criteria import Criterion
from inspectnet.harness.session import Session
from inspectnet.measure.evaluate import Predictions
from inspectnet.names import METRICS, RunKey

pytestmark = pytest.mark.accuracy


def _criteria(session: Session, run: RunKey) -> dict[str, Criterion]:
    """Every criterion the profile sets for ``run``; a run with none fails (nothing to prove)."""
    profile = session.options.profile
    criteria = {m: c for m in METRICS if (c := profile.criterion_or_none(run.method, run.category, m)) is not None}
    if not criteria:
        pytest.fail(f"{profile.path}: no criterion for {run.method}/{run.category}: nothing to prove", pytrace=False)
    return criteria


def _where(run: RunKey) -> str:
    return f"[criteria.{run.method}.{run.category}]"


def _must_pass_first(session: Session, run: RunKey, metrics: dict[str, float]) -> dict[str, Criterion]:
    criteria = _criteria(session, run)
    failed = [
        f"{m} {c.shown_minimum(2)} ({metrics[m]:.2f})" for m, c in criteria.items() if not c.check(metrics[m]).passed
    ]
    if failed:
        pytest.fail(
            f"{_where(run)} the model itself misses {', '.join(failed)}: the self-check needs a model "
            "that meets its criteria (see its accuracy tests)",
            pytrace=False,
        )
    return criteria


def test_shuffled_scores_fail_every_criterion(inspectnet: Session, inspectnet_base_run: RunKey) -> None:
    """Image scores shuffled against their labels (median of 25 shuffles) and map pixels shuffled: every
    criterion must reject them."""
    run = inspectnet_base_run
    evaluation = inspectnet.evaluate(run)
    criteria = _must_pass_first(inspectnet, run, evaluation.record.metrics)
    rng = np.random.default_rng(0)
    preds = evaluation.predictions
    image = []
    for _ in range(25):
        shuffled = Predictions(rng.permutation(preds.scores), preds.maps)
        image.append(inspectnet.rescore(evaluation, shuffled).image_auroc)
    flat = rng.permutation(preds.maps.reshape(-1)).reshape(preds.maps.shape)
    pixel = inspectnet.rescore(evaluation, Predictions(preds.scores, flat))
    mutant = {"image_auroc": statistics.median(image), "pixel_auroc": pixel.pixel_auroc, "aupro": pixel.aupro}
    lax = [
        f"{_where(run)} {m} ≥ {c.shown_minimum(2)} also accepts the same model with shuffled scores "
        f"({mutant[m]:.2f}): it cannot catch a broken model; set it above {mutant[m]:.2f}"
        for m, c in criteria.items()
        if c.check(mutant[m]).passed
    ]
    if lax:
        pytest.fail("\n".join(lax), pytrace=False)


def test_single_vector_memory_bank_fails(inspectnet: Session, inspectnet_patchcore_run: RunKey) -> None:
    """PatchCore with its memory bank cut to one vector must fail at least one criterion."""
    run = inspectnet_patchcore_run
    evaluation = inspectnet.evaluate(run)
    criteria = _must_pass_first(inspectnet, run, evaluation.record.metrics)
    head = dict(evaluation.head)
    head["memory_bank"] = head["memory_bank"][:1].clone()
    model = inspectnet.build_model(inspectnet.spec(run), head)
    mutant = inspectnet.rescore(evaluation, inspectnet.predict_with(run, model)).as_dict()
    if all(c.check(mutant[m]).passed for m, c in criteria.items()):
        values = ", ".join(f"{m} {mutant[m]:.2f} ≥ {c.shown_minimum(2)}" for m, c in criteria.items())
        pytest.fail(
            f"{_where(run)} every criterion also accepts the same model with its memory bank cut to one "
            f"vector ({values}): they cannot catch a broken model; raise them above these values",
            pytrace=False,
        )


PLANTED_THRESHOLDS = ("below-every-normal-score", "above-every-score", "not-finite", "bounds-min-equals-max")


@pytest.mark.parametrize("planted", PLANTED_THRESHOLDS)
def test_a_degenerate_threshold_fails_the_sanity_check(
    inspectnet: Session, inspectnet_base_run: RunKey, planted: str
) -> None:
    """The model's own scores with a degenerate calibration planted: the threshold under every normal test
    score (as anomalib's F1-adaptive threshold lands on validation data without anomalies), above every score,
    NaN, or normalisation bounds with min = max. The threshold check must name each."""
    from dataclasses import replace

    from inspectnet.measure.thresholds import Origin, measure, problems

    run = inspectnet_base_run
    evaluation = inspectnet.evaluate(run)
    calibration = inspectnet.deployment(run).calibration
    scores, labels = evaluation.predictions.scores, evaluation.inputs.labels
    span = float(scores.max() - scores.min())
    mutant = {
        "below-every-normal-score": replace(calibration, image_threshold=float(scores[~labels].min()) - 0.01 * span),
        "above-every-score": replace(calibration, image_threshold=float(scores.max()) + 0.01 * span),
        "not-finite": replace(calibration, image_threshold=float("nan")),
        "bounds-min-equals-max": replace(calibration, image_max=calibration.image_min),
    }[planted]
    failures = problems(mutant, measure(scores, labels, mutant.image_threshold), Origin(None))
    print(f"{planted}: {failures}")
    assert failures, f"{run.test_id}: a threshold check that accepts a planted {planted} threshold cannot catch one"
