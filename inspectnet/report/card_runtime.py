"""The card's runtime sections: latency per device with the platform, parity, and accuracy against cost."""

from __future__ import annotations

import math
from collections.abc import Callable

from inspectnet.deploy.runtimes import REFERENCE
from inspectnet.deploy.runtimes import label as runtime_label
from inspectnet.names import DEVICES
from inspectnet.records import LatencyRecord, ParityMarginRecord, ParityRecord
from inspectnet.report import FIGURES_DIR
from inspectnet.report.card_stages import deployment_paths, stage_tables
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import categories, method_metric, seed_of, seeds_label, table

STATS = ("min_ms", "median_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms")
ERRORS = ("anomaly_map_raw", "pred_score_raw", "anomaly_map", "pred_score")


def latency(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "latency"
    lines = ["## Latency", ""]
    records = reports.of(LatencyRecord)
    for device in DEVICES:
        mine = sorted((s for s in records if s.record.device == device), key=lambda s: s.record.category)
        lines += [f"### {device.upper()}", ""]
        if not mine:
            lines += [f"{NOT_MEASURED} on {device}.", ""]
            continue
        lines += [*_platform(mine, device, cite), ""]
        rows = []
        for source in mine:
            for runtime in sorted(source.record.runtimes):
                label = f"{source.record.category} {device} {runtime}"
                stats = [
                    cite.num(source, lambda r: getattr(r.runtimes[runtime].stats, k), ".3f", f"{label} {k}")
                    for k in STATS
                ]
                entry = source.record.runtimes[runtime]
                rows.append(
                    [
                        source.record.category,
                        runtime_label(runtime),
                        *stats,
                        cite.num(source, lambda r: r.runtimes[runtime].stats.warmup, "d", f"{label} warm-up"),
                        cite.num(source, lambda r: r.runtimes[runtime].efficiency, ".3f", f"{label} efficiency"),
                        cite.num(
                            source, lambda r: r.runtimes[runtime].layer_efficiency, ".3f", f"{label} layer efficiency"
                        ),
                        "yes" if entry.warmup_tail.detected else "no",
                        f"**failed**: {budget_failures(source, runtime, cite)}" if entry.budget_failures else "met",
                    ]
                )
        header = [
            "category",
            "runtime",
            "min",
            "median",
            "p95",
            "p99",
            "mean",
            "std",
            "warm-up",
            "peak eff.",
            "layer eff.",
            "tail",
            "budget",
        ]
        lines += [*table(header, rows), ""]
        figure = f"{FIGURES_DIR}/latency_{device}.png"
        if (reports.root / figure).is_file():
            lines += [f"![latency on {device}]({figure})", ""]
    return lines


def budget_failures(source: Source[LatencyRecord], runtime: str, cite: Citations) -> str:
    """A runtime's latency-budget failures, each cited, in one line."""
    failures = source.record.runtimes[runtime].budget_failures
    return "; ".join(
        cite.num(source, lambda r: r.runtimes[runtime].budget_failures[i], "s", f"{runtime} budget failure")
        for i in range(len(failures))
    )


def _platform(mine: list[Source[LatencyRecord]], device: str, cite: Citations) -> list[str]:
    """Where and how the rows were timed, and what their statistics are."""
    first = mine[0]

    def text(get: Callable[[LatencyRecord], object], what: str) -> str:
        return cite.num(first, get, "s", what)

    def count(get: Callable[[LatencyRecord], object], what: str) -> str:
        return cite.num(first, get, "d", what)

    gpu = first.record.platform.gpu
    hardware = f"{text(lambda r: r.platform.cpu, 'CPU')} ({text(lambda r: r.platform.isa, 'ISA')}), "
    hardware += f"{count(lambda r: r.platform.logical_cores, 'logical cores')} logical cores"
    if gpu is not None:
        name = text(lambda r: r.platform.gpu.name, "GPU")  # type: ignore[union-attr]
        driver = text(lambda r: r.platform.gpu.driver, "GPU driver")  # type: ignore[union-attr]
        memory = count(lambda r: r.platform.gpu.memory_mib, "GPU memory MiB")  # type: ignore[union-attr]
        hardware += f"; {name}, driver {driver}, {memory} MiB"
    versions = ", ".join(
        f"{name} {text(lambda r: getattr(r.platform, key), f'{name} version')}"
        for key, name in (
            ("python", "Python"),
            ("torch", "torch"),
            ("anomalib", "anomalib"),
            ("onnxruntime", "onnxruntime"),
            ("openvino", "OpenVINO"),
        )
    )
    runtime = min(first.record.runtimes)
    stats = first.record.runtimes[runtime].stats
    n = count(lambda r: r.runtimes[runtime].stats.n, "timed calls per row")
    ranks = [
        cite.derived([first], math.ceil(q * stats.n - 1e-9), "d", f"p{p} rank", f"ceil({q} x stats.n)")
        for q, p in ((0.95, 95), (0.99, 99))
    ]
    return [
        f"{hardware}. {text(lambda r: r.platform.os, 'OS')}, {versions}.",
        f"Batch {count(lambda r: r.protocol.batch_size, 'batch size')}, "
        f"{count(lambda r: r.protocol.image_size, 'image size')} px, "
        f"{count(lambda r: r.protocol.runs, 'runs per runtime')} runs per runtime spread over "
        f"the session, each {count(lambda r: r.protocol.warmup_calls, 'warm-up calls')} warm-up "
        f"and {count(lambda r: r.protocol.timed_calls, 'timed calls')} timed calls; milliseconds. "
        f"Each row pools its runs' timed calls (n = {n}); a percentile is the nearest-rank call (p95 the "
        f"{ranks[0]}th smallest, p99 the {ranks[1]}th: at this n, p99 is the slowest call); std is the population "
        "standard deviation. "
        f"Compute floor {cite.num(first, lambda r: r.compute_floor_ms, '.1f', f'{device} compute floor ms')} ms = "
        f"{cite.num(first, lambda r: r.flops.total, ',d', 'FLOPs per image')} FLOPs / "
        f"{cite.num(first, lambda r: r.peak_gflops_per_s, '.1f', f'{device} peak GFLOP/s')} GFLOP/s, the "
        "device's peak float32 rate (the best of several convolution and matrix shapes in each runtime, "
        "calibrated before and after every run); peak efficiency = floor / median (machine-dependent, "
        "shown for comparison). Layer efficiency = the runtime's own time for the model's convolutions and "
        "matrix products, each timed alone after every run, over the median: the portable floor judges it. "
        f"Machine class {text(lambda r: r.platform.machine_class, 'machine class')}: {_class_verdict(mine, cite)}",
    ]


def _class_verdict(sources: list[Source[LatencyRecord]], cite: Citations) -> str:
    """Which absolute budget the rows were judged against, or why none was."""
    judged: dict[str, str] = {}
    for s in sources:
        for runtime, entry in sorted(s.record.runtimes.items()):
            if entry.budget.class_budget is not None and entry.budget.class_budget not in judged:
                judged[entry.budget.class_budget] = cite.num(
                    s, lambda r: r.runtimes[runtime].budget.class_budget, "s", "class budget"
                )
    floor = "the portable floor (layer efficiency) was judged on every row"
    if judged:
        budgets = ", ".join(f"'{text}'" for _, text in sorted(judged.items()))
        return f"{floor}, and the class budget {budgets} (median / p95 ms)."
    reason = next((e.budget.not_judged for s in sources for e in s.record.runtimes.values() if e.budget.not_judged), "")
    return f"{floor}; milliseconds were not judged: {reason}."


def parity(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "parity"
    records = sorted(reports.of(ParityRecord), key=lambda s: (s.record.category, s.record.runtime, s.record.device))
    if not records:
        return ["## ONNX / OpenVINO parity", "", NOT_MEASURED, ""]
    first = records[0]
    lines = [
        "## ONNX / OpenVINO parity",
        "",
        f"Exported models against the torch model on N = {cite.num(first, lambda r: r.n_images, 'd', 'parity images')} "
        "test images per category (half normal, half anomalous); clean = max abs error ≤ "
        f"{cite.num(first, lambda r: r.tolerance, '.0e', 'parity tolerance')} on the raw and normalised map and score, "
        "zero label flips, zero mask-pixel flips (flips within the torch model's own float32 error of the threshold "
        "are counted apart as ambiguous; on an image where one of PatchCore's discrete choices is a near-tie within "
        "that error, the score's error is the distance to the nearest score a tied choice gives, and the image is "
        "listed in the record's `ambiguous_scores`). Label flips count images, mask-pixel flips count pixels; "
        "the ambiguous column gives both. OpenVINO runs with INFERENCE_PRECISION_HINT=f32.",
        "",
    ]
    rows = []
    for s in records:
        p = s.record
        label = f"{p.category} {p.runtime} {p.device}"
        errors = [cite.num(s, lambda r: r.max_abs_error[k], ".3e", f"{label} {k}") for k in ERRORS]
        n = cite.num(s, lambda r: r.n_images, "d", f"{label} images")
        pixels = cite.num(s, lambda r: r.mask_pixels, ",d", f"{label} mask pixels")
        rows.append(
            [
                p.category,
                f"{p.runtime} ({p.device})",
                f"`{p.run_name}` ({seed_of(reports, p.run_name, cite)})",
                *errors,
                f"{cite.num(s, lambda r: r.label_flips, 'd', f'{label} label flips')}/{n}",
                f"{cite.num(s, lambda r: r.mask_pixel_flips, 'd', f'{label} mask flips')} of {pixels}",
                f"{cite.num(s, lambda r: r.ambiguous_flips.labels, 'd', f'{label} ambiguous label flips')} / "
                f"{cite.num(s, lambda r: r.ambiguous_flips.mask_pixels, 'd', f'{label} ambiguous pixel flips')}",
                p.status,
                f"`{s.name}`",
            ]
        )
    header = ["category", "runtime", "model (seed)", "map raw", "score raw", "map norm.", "score norm."]
    header += ["label flips", "mask-pixel flips", "ambiguous flips (labels / pixels)", "status", "record"]
    lines += table(header, rows)
    bf16 = first.record.runtime_settings.get("host_can_run_bf16")  # a runtime that reports it (OpenVINO)
    if bf16 is not None:
        lines += ["", f"Host could run bf16: {bf16}."]
    for margin in reports.of(ParityMarginRecord):
        what = "parity margin"
        threads = [
            cite.num(margin, lambda r: r.perturbations.torch_threads[i], "d", f"{what} torch threads")
            for i in range(len(margin.record.perturbations.torch_threads))
        ]
        noise = cite.num(margin, lambda r: r.perturbations.feature_noise_relative, ".0e", f"{what} feature noise")
        seeds = [
            cite.num(margin, lambda r: r.perturbations.noise_and_model_seeds[i], "d", f"{what} seed")
            for i in range(len(margin.record.perturbations.noise_and_model_seeds))
        ]
        worst = cite.num(margin, lambda r: r.worst_normalised_error, ".2e", f"{what} worst normalised error")
        tolerance = cite.num(margin, lambda r: r.tolerance, ".0e", f"{what} tolerance")
        lines += [
            "",
            f"Margin (the same checks with the reference's torch threads {' and '.join(threads)}, and models trained "
            f"on features with {noise} relative noise, seeds {', '.join(seeds)}): the largest normalised error is "
            f"{worst} against the tolerance {tolerance} (`{margin.name}`).",
        ]
    lines += stage_tables(records, cite)
    lines += deployment_paths(reports, cite)
    return [*lines, ""]


def tradeoff(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "trade-off"
    rows = []
    for category in categories(reports):
        fastest = _fastest_clean(reports, category, "cpu")
        row = [
            category,
            method_metric(reports, "patchcore", category, "image_auroc", cite),
            seeds_label(reports, "patchcore", category, cite),
            method_metric(reports, "padim", category, "image_auroc", cite),
            seeds_label(reports, "padim", category, cite),
        ]
        if fastest is None:
            row += [NOT_MEASURED, NOT_MEASURED, NOT_MEASURED]
        else:
            source, runtime = fastest
            what = f"{category} fastest clean"
            row += [
                runtime_label(runtime),
                cite.num(source, lambda r: r.runtimes[runtime].stats.median_ms, ".1f", f"{what} median"),
                cite.num(source, lambda r: r.runtimes[runtime].efficiency, ".2f", f"{what} efficiency"),
            ]
        rows.append(row)
    header = ["category", "PatchCore image AUROC", "PatchCore seeds", "PaDiM image AUROC", "PaDiM seeds"]
    header += ["fastest parity-clean CPU runtime"]
    return [
        "## Accuracy / cost",
        "",
        "PatchCore's latency on the CPU with the fastest runtime whose parity is clean (torch eager is the "
        "reference and always counts as clean); PaDiM's latency is not measured.",
        "",
        *table([*header, "median ms", "efficiency"], rows),
        "",
    ]


def _fastest_clean(reports: ReportSet, category: str, device: str) -> tuple[Source[LatencyRecord], str] | None:
    source = reports.one(LatencyRecord, lambda r: r.category == category and r.device == device)
    if source is None:
        return None
    clean = {REFERENCE.name} | {
        p.record.runtime
        for p in reports.of(ParityRecord)
        if p.record.category == category and p.record.device == device and p.record.status == "parity_clean"
    }
    timed = [(e.stats.median_ms, r) for r, e in source.record.runtimes.items() if r in clean]
    return (source, min(timed)[1]) if timed else None
