"""Intervals over several evaluation records on the same test images, from the samples they keep: the mean over
seeds of one model, and the difference of two models (PatchCore against PaDiM, a current model against its
baseline), each paired image by image (``measure.intervals``)."""

from __future__ import annotations

import numpy as np

from inspectnet.measure.intervals import Interval, Replicates, bootstrap_contrast, delong_contrast
from inspectnet.records import EvalRecord


def same_images(records: list[EvalRecord]) -> bool:
    """Whether ``records`` were all measured on one test split, image for image (and keep their samples)."""
    first = records[0]
    return all(
        r.sample is not None
        and first.sample is not None
        and r.dataset.fingerprint == first.dataset.fingerprint
        and r.sample.anomalous == first.sample.anomalous
        and r.sample.bootstrap_seed == first.sample.bootstrap_seed
        for r in records
    )


def contrast(records: list[EvalRecord], coefficients: list[float], metric: str) -> Interval | None:
    """sum_k c_k metric(record_k) with its paired 95% interval; None where the records cannot be paired."""
    if not records or not same_images(records):
        return None
    samples = [r.sample for r in records if r.sample is not None]
    labels = np.array(samples[0].anomalous, dtype=bool)
    if metric == "image_auroc":
        return delong_contrast([np.array(s.scores) for s in samples], labels, coefficients)
    reps = [Replicates(metric, s.bootstrap_seed, np.array(s.replicates[metric]), s.at_one[metric]) for s in samples]
    return bootstrap_contrast([r.metrics[metric] for r in records], reps, coefficients, labels.size)


def mean_over(records: list[EvalRecord], metric: str) -> Interval | None:
    """The mean of ``metric`` over ``records`` (seeds of one model), with its interval on their shared split."""
    return contrast(records, [1.0 / len(records)] * len(records), metric)


def difference(first: list[EvalRecord], second: list[EvalRecord], metric: str) -> Interval | None:
    """mean(first) - mean(second) of ``metric``, paired on the shared test split."""
    coefficients = [1.0 / len(first)] * len(first) + [-1.0 / len(second)] * len(second)
    return contrast([*first, *second], coefficients, metric)
