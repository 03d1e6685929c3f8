"""Intervals over several evaluation records on the same test images, from the samples they keep: the mean over
seeds of one model, and the difference of two models (PatchCore against PaDiM, a current model against its
baseline), each paired image by image (``measure.intervals``)."""

from __future__ import annotations

import numpy as np

from inspectnet.measure.evaluate import SplitSample as MeasuredSample
from inspectnet.measure.evaluate import contrast as paired
from inspectnet.measure.intervals import Interval, Replicates
from inspectnet.records import EvalRecord, SplitSample


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
    samples = [_measured(r.sample) for r in records if r.sample is not None]
    return paired(samples, [r.metrics[metric] for r in records], coefficients, metric)


def _measured(sample: SplitSample) -> MeasuredSample:
    """A record's sample as the arrays the measurement pairs."""
    reps = {
        m: Replicates(m, sample.bootstrap_seed, np.array(v), sample.at_one[m]) for m, v in sample.replicates.items()
    }
    return MeasuredSample(np.array(sample.anomalous, dtype=bool), np.array(sample.scores), reps)


def mean_over(records: list[EvalRecord], metric: str) -> Interval | None:
    """The mean of ``metric`` over ``records`` (seeds of one model), with its interval on their shared split."""
    return contrast(records, [1.0 / len(records)] * len(records), metric)


def difference(first: list[EvalRecord], second: list[EvalRecord], metric: str) -> Interval | None:
    """mean(first) - mean(second) of ``metric``, paired on the shared test split."""
    coefficients = [1.0 / len(first)] * len(first) + [-1.0 / len(second)] * len(second)
    return contrast([*first, *second], coefficients, metric)
