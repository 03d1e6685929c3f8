"""The card's comparisons between runs of a category: PatchCore against PaDiM over seeds (the ablation), each
seed's own numbers, and the coreset sweep."""

from __future__ import annotations

from inspectnet.measure.intervals import LEVEL
from inspectnet.names import METHODS, METRIC_LABELS, run_name
from inspectnet.records import AblationRecord, EvalRecord
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import METRICS, bounded, categories, table


def _over_seeds(src: Source[AblationRecord] | None, method: str, category: str, cite: Citations) -> list[str]:
    """One method's cells of an ablation row: what they are (the seeds), then each metric's mean, with its
    population std where there are several seeds and bare for a single seed (no spread was measured)."""
    aggregates = getattr(src.record, method) if src is not None else {}
    if not aggregates:
        return [NOT_MEASURED] * (1 + len(METRICS))
    seeds = "single seed"
    if next(iter(aggregates.values())).n > 1:
        n = cite.num(src, lambda r: getattr(r, method)["image_auroc"].n, "d", f"{method} {category} seeds")
        seeds = f"mean ± pstd over {n} seeds"
    cells = [seeds]
    for key, label in METRICS:
        what = f"{method} {category} {label}"
        mean = cite.num(src, lambda r: getattr(r, method)[key].mean, ".4f", f"{what} mean")
        if aggregates[key].n > 1 and aggregates[key].pstd is not None:
            mean += f" ± {cite.num(src, lambda r: getattr(r, method)[key].pstd, '.4f', f'{what} pstd')}"
        cells.append(bounded(cite, src, lambda r: getattr(r, method)[key].interval, mean, what))
    return cells


def ablation(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "ablation"
    lines = ["## Ablation: PatchCore against PaDiM", ""]
    rows = []
    for category in categories(reports):
        src = reports.one(AblationRecord, lambda r: r.category == category)
        row = [category]
        for method in METHODS:
            row += _over_seeds(src, method, category, cite)
        for k, label in METRICS:
            delta = cite.num(src, lambda r: r.deltas[k], "+.4f", f"delta {category} {label}")
            row.append(bounded(cite, src, lambda r: r.delta_intervals[k], delta, f"delta {category} {label}"))  # type: ignore[index]
        rows.append(row)
    header = ["category"]
    for m in ("PatchCore", "PaDiM"):
        header += [f"{m} seeds", *(f"{m} {label}" for _, label in METRICS)]
    header += [f"Δ {label}" for _, label in METRICS]
    lines += table(header, rows)
    return [
        *lines,
        "",
        "Mean ± population standard deviation over seeds (a single seed is its own value, with no spread), then "
        f"[the {LEVEL:.0%} interval on the test split]: how far the number could move on another draw of test images "
        "(image AUROC: DeLong, over the seeds' scores together; pixel AUROC and AUPRO: a stratified bootstrap "
        "over test images). Δ = PatchCore mean - PaDiM mean, with its paired interval (both models on the same "
        "images): an interval that holds zero is a difference this split cannot resolve.",
        "",
    ]


def _metric(source: Source[EvalRecord], key: str, cite: Citations) -> str:
    """One evaluation's metric with its 95% interval on the test split."""
    label = f"{source.record.run_name} {METRIC_LABELS[key]}"
    value = cite.num(source, lambda r: r.metrics[key], ".4f", label)
    return bounded(cite, source, lambda r: r.intervals[key], value, label)  # type: ignore[index]


def seeds(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "seeds"
    rows = []
    evaluations = reports.of(EvalRecord)
    for source in evaluations:
        r = source.record
        if r.method != "patchcore" or r.run_name != run_name("patchcore", r.category, r.seed):
            continue  # a coreset-sweep run
        rows.append(
            [
                r.category,
                cite.num(source, lambda r: r.seed, "d", f"{r.run_name} seed"),
                "pinned" if r.seed_pinned else "not pinned",
                *(_metric(source, key, cite) for key in ("image_auroc", "aupro")),
                f"`{source.name}`",
            ]
        )
    unpinned = any(not s.record.seed_pinned for s in evaluations)
    note = (
        "Some seeds were not pinned: their rows are not reproducible draw for draw."
        if unpinned
        else "Every seed, the first included, pins python, numpy and torch: each row is reproducible draw for draw."
    )
    header = ["category", "seed", "seed state", "image AUROC", "AUPRO", "record"]
    return ["## Seeds", "", note, "", *table(header, rows), ""]


def coreset(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "coreset"
    rows = []
    evaluations = reports.of(EvalRecord)
    for source in sorted(evaluations, key=lambda s: (s.record.category, s.record.coreset or 0)):
        r = source.record
        sweep = [s.record.coreset for s in evaluations if s.record.category == r.category and s.record.seed == 0]
        if r.method != "patchcore" or r.seed != 0 or len(set(sweep)) < 3:
            continue
        rows.append(
            [
                r.category,
                cite.num(source, lambda r: r.coreset, ".2f", f"{r.run_name} coreset ratio"),
                *(_metric(source, k, cite) for k, _ in METRICS),
                cite.num(source, lambda r: r.checkpoint.size_bytes, ",d", f"{r.run_name} checkpoint bytes"),
            ]
        )
    if not rows:
        return ["## Coreset sensitivity", "", NOT_MEASURED, ""]
    header = ["category", "coreset ratio", *(label for _, label in METRICS), "checkpoint bytes"]
    return ["## Coreset sensitivity", "", *table(header, rows), ""]
