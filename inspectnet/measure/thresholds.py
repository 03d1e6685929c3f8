"""Threshold sanity: does the deployed image threshold separate anything on the test split?

A deployed model flags an image when its raw score is above the image threshold (anomalib's PostProcessor:
the normalised score above 0.5, which is the raw score above the threshold). The threshold is sane when it is
finite and lies inside the test scores (above the lowest normal test score, below the highest test score),
and the PostProcessor's normalisation bounds are finite with min < max. Each failure is one line with its
likely cause and what to do, worded for who set the thresholds (``Origin``): a user's checkpoint (anomalib's
validation epoch: ``F1AdaptiveThreshold`` and ``MinMax``) or InspectNet's own calibration on the test split.

The false-alarm rate is the share of normal test images flagged, with its exact (Clopper-Pearson) 95% upper
bound; a profile's limit (``false_alarm_rate = { max = X }``) is met when that bound is at most X, so a limit
is shown, not merely hoped for: a handful of normal images cannot show a low rate, and the message says how
many would. Plain Python and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspectnet.deploy.calibration import Calibration
from inspectnet.models.checkpoint import THRESHOLD_BUFFERS

CONFIDENCE = 0.95  # of the Clopper-Pearson interval (two-sided; its upper end is what a limit is judged on)
DEFINITIONS = {
    "flagged": "raw image score > image threshold (anomalib's PostProcessor: normalised score > 0.5)",
    "false_alarm_rate": "flagged normal test images / normal test images",
    "false_alarm_upper": "upper end of the two-sided Clopper-Pearson 95% interval of the false-alarm rate (exact)",
    "sane": "finite thresholds and bounds; lowest normal test score < image threshold < highest test score; "
    "image_min < image_max and pixel_min < pixel_max",
}


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact to float rounding for any n)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    terms = [log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def clopper_pearson_upper(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The upper end of the exact two-sided ``confidence`` interval of a rate with ``k`` events in ``n`` trials:
    the p at which P(X <= k | n, p) = (1 - confidence) / 2 (the Beta(k + 1, n - k) quantile), found by
    bisection on the binomial CDF, which falls as p rises; 1 when k == n. 0 of 10 -> 0.3085, 1 of 20 -> 0.2487."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson_upper: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"clopper_pearson_upper: confidence must be in (0, 1), got {confidence}")
    if k == n:
        return 1.0
    tail = (1 - confidence) / 2
    low, high = 0.0, 1.0
    while True:
        mid = (low + high) / 2
        if mid in (low, high):  # the interval is two adjacent floats
            return high
        if binomial_cdf(k, n, mid) > tail:
            low = mid
        else:
            high = mid


def images_to_show(limit: float, confidence: float = CONFIDENCE) -> int:
    """The fewest normal test images, none flagged, whose Clopper-Pearson upper bound is at most ``limit``."""
    if not 0 < limit <= 1:
        raise ValueError(f"images_to_show: the limit must be in (0, 1], got {limit}")
    n = max(1, math.ceil(math.log((1 - confidence) / 2) / math.log1p(-limit))) if limit < 1 else 1
    while clopper_pearson_upper(0, n, confidence) > limit:  # float rounding at the boundary
        n += 1
    return n


@dataclass(frozen=True)
class ThresholdFacts:
    """Where the image threshold sits among one test split's raw scores, and the false alarms it makes."""

    image_threshold: float
    normal_images: int
    anomalous_images: int
    lowest_normal: float | None  # None: no normal test image
    highest_normal: float | None
    lowest_anomalous: float | None  # None: no anomalous test image
    highest_score: float  # over the whole test split
    false_alarms: int  # normal test images flagged
    missed: int  # anomalous test images not flagged
    false_alarm_rate: float | None  # None: no normal test image
    false_alarm_upper: float | None  # Clopper-Pearson upper bound (CONFIDENCE) of the rate
    confidence: float


def measure(scores: np.ndarray, labels: np.ndarray, image_threshold: float) -> ThresholdFacts:
    """``image_threshold`` against raw image ``scores`` (``labels``: True = anomalous), compared in float64."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    anomalous = np.asarray(labels, dtype=bool).ravel()
    if values.size == 0 or values.size != anomalous.size:
        raise ValueError(f"threshold facts: {values.size} scores for {anomalous.size} labels")
    normal, defective = values[~anomalous], values[anomalous]
    flagged = values > image_threshold
    k, n = int(np.sum(flagged & ~anomalous)), int(normal.size)
    return ThresholdFacts(
        image_threshold=float(image_threshold),
        normal_images=n,
        anomalous_images=int(defective.size),
        lowest_normal=float(normal.min()) if n else None,
        highest_normal=float(normal.max()) if n else None,
        lowest_anomalous=float(defective.min()) if defective.size else None,
        highest_score=float(values.max()),
        false_alarms=k,
        missed=int(np.sum(~flagged & anomalous)),
        false_alarm_rate=k / n if n else None,
        false_alarm_upper=clopper_pearson_upper(k, n) if n else None,
        confidence=CONFIDENCE,
    )


@dataclass(frozen=True)
class Origin:
    """Who set the thresholds: a user's checkpoint (``checkpoint``: its path, as given), or InspectNet, which
    calibrates its own models (and a checkpoint whose values are NaN) on the test split."""

    checkpoint: str | None = None

    def where(self, *fields: str) -> str:
        """Where ``fields`` (Calibration field names) are set in the checkpoint: its PostProcessor's buffers."""
        return f"{' and '.join(THRESHOLD_BUFFERS[f] for f in fields)} in {self.checkpoint}"

    def cause(self, likely: str, redo: str, *fields: str) -> str:
        """The likely cause and what to do: for a checkpoint, ``likely``, then ``redo`` or set ``fields`` in
        the file; for InspectNet's own calibration, that the test scores themselves do not separate."""
        if self.checkpoint is None:
            return OWN_CALIBRATION
        return f"{likely}; {redo} or set {'it' if len(fields) == 1 else 'them'} ({self.where(*fields)})"


OWN_CALIBRATION = (
    "InspectNet calibrated it on the test split (F1-adaptive, inspectnet/deploy/postprocess.py), where the best F1 "
    "flags every image or none: the model does not separate normal from anomalous test images (see its image "
    "AUROC), or the split is nearly all one class (inspectnet data check DIR)"
)


def _g(value: float) -> str:
    return f"{value:.4g}"


def problems(calibration: Calibration, facts: ThresholdFacts, origin: Origin) -> list[str]:
    """Why the deployed thresholds are not sane (empty: they are); one line each, cause and what to do."""
    c, t = calibration, calibration.image_threshold
    found: list[str] = []
    bad = [name for name, v in c.as_record().items() if not math.isfinite(v)]
    if bad:
        shown = ", ".join(f"{name} = {getattr(c, name)}" for name in bad)
        cause = (
            "the model's raw test scores are not finite: check its evaluation record"
            if origin.checkpoint is None
            else origin.cause(
                "anomalib's PostProcessor was left without finite values (scores that overflowed)",
                "recalibrate on validation data with anomalies",
                *bad,
            )
        )
        found.append(f"{shown}: not finite: {cause}")
    if math.isfinite(t) and facts.lowest_normal is not None and t <= facts.lowest_normal:
        relation = "below every" if t < facts.lowest_normal else "at the lowest"
        if facts.lowest_anomalous is None or t < facts.lowest_anomalous:  # below every test score
            cause = origin.cause(
                "it was likely set on validation data without anomalies (anomalib F1AdaptiveThreshold)",
                "calibrate on data with anomalies",
                "image_threshold",
            )
        else:  # some anomalous images score at or below it too: flagging everything may have won the F1
            cause = origin.cause(
                "it was likely set on validation data without anomalies, or on data so mostly anomalous that "
                "flagging every image scored the best F1 (anomalib F1AdaptiveThreshold)",
                "calibrate on data with normal and anomalous images",
                "image_threshold",
            )
        found.append(
            f"image threshold {_g(t)} is {relation} normal test score: {cause}; lowest normal test score "
            f"{_g(facts.lowest_normal)}, {facts.false_alarms} of {facts.normal_images} normal test images flagged"
        )
    if math.isfinite(t) and t >= facts.highest_score:
        relation = "above every" if t > facts.highest_score else "at the highest"
        cause = origin.cause(
            "it was likely set on other data or for another model (re-fitted after its validation epoch, other "
            "pre-processing)",
            "calibrate on this model's validation data with anomalies",
            "image_threshold",
        )
        found.append(
            f"image threshold {_g(t)} is {relation} test score ({_g(facts.highest_score)}), none is flagged: {cause}"
        )
    for level in ("image", "pixel"):
        low, high = getattr(c, f"{level}_min"), getattr(c, f"{level}_max")
        if math.isfinite(low) and math.isfinite(high) and low >= high:
            cause = origin.cause(
                "they were likely set on one validation image or on equal scores (anomalib MinMax)",
                "calibrate on more validation images",
                f"{level}_min",
                f"{level}_max",
            )
            found.append(
                f"normalisation bounds {level}_min {_g(low)} >= {level}_max {_g(high)}: normalised {level} "
                f"{'scores' if level == 'image' else 'maps'} collapse to 0, 0.5 or 1: {cause}"
            )
    return found


def limit_problem(facts: ThresholdFacts, limit: float, where: str, origin: Origin) -> str | None:
    """Why the false-alarm rate does not meet ``limit`` (in (0, 1]: its Clopper-Pearson upper bound must be at
    most the limit; ``where`` names the profile key), or None when it does."""
    k, n, rate, upper = facts.false_alarms, facts.normal_images, facts.false_alarm_rate, facts.false_alarm_upper
    if upper is None or rate is None:
        return (
            f"false-alarm rate not measured: the test split has no normal image; add normal test images "
            f"(test/good) or remove the limit ({where})"
        )
    if upper <= limit:
        return None
    measured = (
        f"false-alarm rate {k}/{n} = {rate:.3f}, Clopper-Pearson {facts.confidence:.0%} upper bound {upper:.3f} "
        f"> max {limit:g} ({where})"
    )
    need = images_to_show(limit, facts.confidence)
    if n < need:
        few = f"{n} normal test images cannot show a rate under {limit:g} even with none flagged: {need} can"
        return f"{measured}: {few}; add normal test images (test/good) or loosen the limit"
    action = (
        f"fewer flagged normal images: raise the image threshold ({origin.where('image_threshold')}) or improve "
        "the model"
        if origin.checkpoint is not None
        else "the threshold is F1-optimal on the test split: a better model, or a looser limit"
    )
    return f"{measured}: {action}"
