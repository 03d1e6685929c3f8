"""Builders of the accuracy records: the evaluation, the ablation, the dataset check, threshold sanity and
which criteria passed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from inspectnet.builders.blocks import (
    block,
    calibration_info,
    checkpoint_info,
    environment_info,
    interval_info,
    model_info,
    split_sample,
    threshold_facts_info,
    weights_info,
)
from inspectnet.data.check import CheckResult, manifest_identity
from inspectnet.records import (
    METRIC_DEFINITIONS,
    OUTCOMES,
    AblationRecord,
    Aggregate,
    CategoryCheck,
    Counts,
    CriteriaRecord,
    CriterionOutcome,
    DatasetCheckRecord,
    DatasetInfo,
    EvalRecord,
    FalseAlarmLimitInfo,
    ManifestInfo,
    ModelSource,
    Scoring,
    ThresholdRecord,
    now,
)

if TYPE_CHECKING:
    from inspectnet.data.layout import CategorySummary
    from inspectnet.deploy.calibration import Calibration
    from inspectnet.measure.evaluate import AccuracyMetrics
    from inspectnet.measure.intervals import Interval
    from inspectnet.measure.thresholds import ThresholdFacts
    from inspectnet.models.store import Checkpoint
    from inspectnet.models.train import ModelSpec
    from inspectnet.models.weights import ResolvedWeights


def evaluation_record(
    *,
    run_name: str,
    spec: ModelSpec,
    scoring: Mapping[str, object],
    weights: ResolvedWeights,
    dataset: DatasetInfo,
    summary: CategorySummary,
    metrics: AccuracyMetrics,
    checkpoint: Checkpoint,
    trained_this_session: bool,
    timings_s: Mapping[str, float],
    device: str,
    source: ModelSource | None = None,
    tolerances: Sequence[float] = (),
) -> EvalRecord:
    """One model's evaluation; ``source`` names the user's checkpoint when InspectNet did not train it (its
    seed then was not pinned by InspectNet)."""
    from inspectnet.measure.intervals import resolution as auroc_step  # scipy, imported when a record is built

    return EvalRecord(
        run_name=run_name,
        method=spec.method,
        category=spec.category,
        seed=spec.seed,
        seed_pinned=source is None,
        coreset=spec.coreset,
        model=model_info(spec),
        scoring=block(Scoring, scoring),
        weights=weights_info(weights),
        dataset=dataset,
        counts=Counts(summary.train_good, summary.test_good, summary.test_defect_total),
        metrics=metrics.as_dict(),
        metric_definitions=METRIC_DEFINITIONS,
        curves=metrics.curves,
        checkpoint=checkpoint_info(checkpoint, trained_this_session),
        timings_s={k: round(v, 3) for k, v in timings_s.items()},
        environment=environment_info(device),
        created=now(),
        source=source,
        intervals={m: interval_info(i) for m, i in metrics.intervals.items()} or None,
        sample=split_sample(metrics.sample) if metrics.sample is not None else None,
        image_auroc_step=auroc_step(summary.test_good, summary.test_defect_total),
        paired_images_needed=_needed(metrics, summary, tolerances),
    )


def _needed(metrics: AccuracyMetrics, summary: CategorySummary, tolerances: Sequence[float]) -> dict[str, int] | None:
    """Per tolerance, the test images a paired test against an equally uncertain, uncorrelated model needs (twice
    this model's DeLong variance)."""
    from inspectnet.measure.intervals import delong_variance, images_needed

    if metrics.sample is None or not tolerances:
        return None
    variance = 2 * delong_variance(metrics.sample.scores, metrics.sample.anomalous)
    good, defective = summary.test_good, summary.test_defect_total
    return {f"{t:g}": images_needed(t, good, defective, variance) for t in sorted(set(tolerances))}


def ablation_record(
    category: str,
    dataset: str,
    per_method: Mapping[str, Mapping[str, Aggregate]],
    records: Mapping[str, list[str]],
    scoring: Mapping[str, str],
    delta_intervals: Mapping[str, Interval] | None = None,
) -> AblationRecord:
    """PatchCore against PaDiM on ``category``: each metric aggregated over seeds, and the deltas (with their
    paired intervals where the evaluations keep their samples)."""
    patchcore, padim = dict(per_method["patchcore"]), dict(per_method["padim"])
    return AblationRecord(
        category=category,
        dataset=dataset,
        patchcore=patchcore,
        padim=padim,
        deltas={m: patchcore[m].mean - padim[m].mean for m in patchcore},
        delta_intervals={m: interval_info(i) for m, i in delta_intervals.items()} if delta_intervals else None,
        records=dict(records),
        scoring=dict(scoring),
        created=now(),
    )


def dataset_check_record(result: CheckResult, tolerances: Sequence[float] = ()) -> DatasetCheckRecord:
    """What ``inspectnet data check`` found: each category's counts and fingerprint, the generator if any, and
    what its test split can resolve: image AUROC's step, and for each image-AUROC ``tolerance`` the test images
    a paired comparison would need (``measure.intervals.planned_images``)."""
    from inspectnet.measure.intervals import PLANNING_AUROC, POWER, planned_images
    from inspectnet.measure.intervals import resolution as auroc_step

    manifest = manifest_identity(result.root)
    categories = []
    for s in result.summaries:
        step, needed = None, None
        if s.test_good and s.test_defect_total:
            step = auroc_step(s.test_good, s.test_defect_total)
            needed = {
                f"{t:g}": planned_images(t, s.test_good, s.test_defect_total) for t in sorted(set(tolerances))
            } or None
        categories.append(
            CategoryCheck(
                category=s.category,
                train_good=s.train_good,
                test_good=s.test_good,
                test_defect=dict(s.test_defect),
                fingerprint=result.fingerprints[s.category],
                image_auroc_step=step,
                paired_images_needed=needed,
            )
        )
    planning = (
        f"test images, at the split's class balance, that a paired test (95% interval, {POWER:.0%} power) needs to "
        f"resolve an image-AUROC difference of each tolerance, for two models at image AUROC {PLANNING_AUROC} with "
        "uncorrelated errors (Hanley-McNeil variance): an upper bound, since retrains of one model correlate"
    )
    return DatasetCheckRecord(
        root=result.root.as_posix(),
        dataset=result.dataset,
        synthetic_manifest=block(ManifestInfo, manifest) if manifest is not None else None,
        categories=categories,
        planning=planning if tolerances else None,
    )


def criteria_record(tests: Mapping[str, CriterionOutcome], created: str) -> CriteriaRecord:
    """The criteria record of ``tests`` (pytest node id -> outcome), in node-id order, counted by outcome."""
    unknown = sorted({t.outcome for t in tests.values()} - set(OUTCOMES))
    if unknown:
        raise ValueError(f"criteria outcomes {unknown}: not one of {', '.join(OUTCOMES)}")
    ordered = {node: tests[node] for node in sorted(tests)}
    counts = {o: sum(t.outcome == o for t in ordered.values()) for o in OUTCOMES}
    return CriteriaRecord(ran=len(ordered), counts=counts, tests=ordered, created=created)


def threshold_record(
    run_name: str,
    spec: ModelSpec,
    calibration: Calibration,
    facts: ThresholdFacts,
    checkpoint: str | None,
    limit: tuple[float, str] | None,
    failures: Sequence[str],
    evaluation: str,
) -> ThresholdRecord:
    """The deployed thresholds of ``run_name`` against its test split (``facts``); ``checkpoint``: the user's
    file they came from (None: InspectNet calibrated); ``limit``: the profile's false-alarm limit and its key."""
    from inspectnet.measure.thresholds import DEFINITIONS

    return ThresholdRecord(
        run_name=run_name,
        method=spec.method,
        category=spec.category,
        seed=spec.seed,
        coreset=spec.coreset,
        thresholds_from="checkpoint" if checkpoint is not None else "inspectnet",
        checkpoint=checkpoint,
        calibration=calibration_info(calibration),
        facts=threshold_facts_info(facts),
        limit=FalseAlarmLimitInfo(*limit) if limit is not None else None,
        failures=list(failures),
        definitions=dict(DEFINITIONS),
        evaluation=evaluation,
        created=now(),
    )
