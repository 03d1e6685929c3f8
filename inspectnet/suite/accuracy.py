"""Accuracy acceptance: the card's ablation as criteria, per method x category x seed (and coreset).

Each test trains (or loads from the artifact store) one model, evaluates it exactly on raw scores, writes
its JSON record and checks one metric against the profile's minimum (or skips, naming the profile, where a
partial profile sets no criterion for that metric). ``test_threshold`` checks the model's deployed thresholds
against the same test split (threshold sanity, and the false-alarm limit where the profile sets one).
"""

from __future__ import annotations

import pytest

from inspectnet.criteria import Bound
from inspectnet.harness.session import Session
from inspectnet.names import RunKey

pytestmark = pytest.mark.accuracy


def _check(inspectnet: Session, run: RunKey, metric: str) -> None:
    """Measured and recorded whatever the profile says; judged where it sets a criterion (a partial profile may
    set only some metrics: the others skip, saying where their value is)."""
    evaluation = inspectnet.publish(run)
    profile = inspectnet.options.profile
    criterion = profile.criterion_or_none(run.method, run.category, metric)
    if criterion is None:
        value = evaluation.record.metrics[metric]
        pytest.skip(
            f"{profile.no_criterion(run.method, run.category, metric)}; "
            f"{metric} = {value:.4f} recorded in {evaluation.record_path}"
        )
    record = evaluation.record
    found = record.intervals.get(metric) if record.intervals is not None else None
    bound = Bound(found.low, found.high, record.counts.test_good, record.counts.test_defective) if found else None
    verdict = criterion.check(record.metrics[metric], bound)
    assert verdict.passed, verdict.message(run.test_id, evaluation.record_path)


def test_image_auroc(inspectnet: Session, inspectnet_run: RunKey) -> None:
    _check(inspectnet, inspectnet_run, "image_auroc")


def test_pixel_auroc(inspectnet: Session, inspectnet_run: RunKey) -> None:
    _check(inspectnet, inspectnet_run, "pixel_auroc")


def test_aupro(inspectnet: Session, inspectnet_run: RunKey) -> None:
    _check(inspectnet, inspectnet_run, "aupro")


def test_threshold(inspectnet: Session, inspectnet_run: RunKey) -> None:
    """The deployed image threshold (a given checkpoint's own, else InspectNet's calibration) is finite and lies
    inside the test scores, and the normalisation bounds are not degenerate; the false-alarm rate on normal test
    images is recorded with its Clopper-Pearson 95% upper bound, which must be within the profile's
    ``false_alarm_rate = { max = X }`` where it sets one (``thresholds_<run>.json``)."""
    from inspectnet.harness.thresholds import judge_thresholds

    judged = judge_thresholds(inspectnet, inspectnet_run)
    failures = judged.messages(inspectnet_run)
    run, profile = inspectnet_run, inspectnet.options.profile
    why = profile.expected_insane.get((run.method, run.category))
    if why is not None:  # declared in the profile: reported as an expected failure, strict
        assert failures, (
            f"{run.test_id}: the threshold is sane now; remove [criteria.{run.method}.{run.category}] "
            f"threshold_sanity from {profile.path}; record: {judged.record_path}"
        )
        pytest.xfail(f"{why} ({profile.path.name}); {failures[0]}")
    assert not failures, "\n".join(failures)


def test_ablation(inspectnet: Session, inspectnet_ablation_category: str) -> None:
    """PatchCore against PaDiM on one category: the delta table row, checked where the profile sets a delta."""
    from inspectnet.harness.ablation import ablation_row, missing_methods, write_ablation

    category = inspectnet_ablation_category
    missing = missing_methods(inspectnet, category)
    if missing:
        pytest.skip(f"the ablation compares PatchCore with PaDiM; no {' or '.join(missing)} model of {category}")
    row = ablation_row(inspectnet, category)
    path = write_ablation(inspectnet, row)
    criteria = inspectnet.options.profile.deltas.get(category, {})
    if not criteria:
        pytest.skip(f"{path} written; the profile sets no [delta.{category}] criterion")
    verdicts = [c.check(row.deltas[metric]) for metric, c in criteria.items()]
    failures = [v.message(f"{category} PatchCore - PaDiM", path) for v in verdicts if not v.passed]
    assert not failures, "\n".join(failures)
