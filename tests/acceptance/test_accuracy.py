"""Accuracy acceptance: the card's ablation as criteria, per method x category x seed (and coreset).

Each test trains (or loads from the artifact store) one model, evaluates it exactly on raw scores, writes
its JSON record and checks one metric against the profile's minimum.
"""

from __future__ import annotations

import pytest

from inspectnet.criteria import RunKey
from inspectnet.harness.session import Session

pytestmark = pytest.mark.accuracy


def _check(inspectnet: Session, run: RunKey, metric: str) -> None:
    evaluation = inspectnet.publish(run)
    criterion = inspectnet.options.profile.criterion(run.method, run.category, metric)
    verdict = criterion.check(evaluation.record.metrics[metric])
    assert verdict.passed, verdict.message(run.test_id, evaluation.record_path)


def test_image_auroc(inspectnet: Session, accuracy_run: RunKey) -> None:
    _check(inspectnet, accuracy_run, "image_auroc")


def test_pixel_auroc(inspectnet: Session, accuracy_run: RunKey) -> None:
    _check(inspectnet, accuracy_run, "pixel_auroc")


def test_aupro(inspectnet: Session, accuracy_run: RunKey) -> None:
    _check(inspectnet, accuracy_run, "aupro")


def test_ablation(inspectnet: Session, ablation_category: str) -> None:
    """PatchCore against PaDiM on one category: the delta table row, checked where the profile sets a delta."""
    from inspectnet.harness.ablation import ablation_row, write_ablation

    row = ablation_row(inspectnet, ablation_category)
    path = write_ablation(inspectnet, row)
    criteria = inspectnet.options.profile.deltas.get(ablation_category, {})
    if not criteria:
        pytest.skip(f"{path} written; the profile sets no [delta.{ablation_category}] criterion")
    verdicts = [c.check(row.deltas[metric]) for metric, c in criteria.items()]
    failures = [v.message(f"{ablation_category} PatchCore - PaDiM", path) for v in verdicts if not v.passed]
    assert not failures, "\n".join(failures)
