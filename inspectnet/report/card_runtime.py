"""The card's runtime sections: latency per device with the platform, parity, and accuracy against cost."""

from __future__ import annotations

from inspectnet.names import DEVICES
from inspectnet.records import LatencyRecord, ParityMarginRecord, ParityRecord
from inspectnet.report import FIGURES_DIR
from inspectnet.report.card_stages import deployment_paths, stage_tables
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import base, categories, table

RUNTIME_NAMES = {"torch": "torch eager", "onnxruntime": "onnxruntime", "openvino": "OpenVINO f32"}
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
        first = mine[0]
        platform = first.record.platform
        gpu = platform.gpu
        hardware = f"{platform.cpu} ({platform.isa}), {platform.logical_cores} logical cores" + (
            f"; {gpu.name}, driver {gpu.driver}, {gpu.memory_mib} MiB" if gpu else ""
        )
        lines += [
            f"{hardware}. {platform.os}, Python {platform.python}, torch {platform.torch}, anomalib "
            f"{platform.anomalib}, onnxruntime {platform.onnxruntime}, OpenVINO {platform.openvino}.",
            f"Batch 1, {cite.num(first, lambda r: r.protocol.image_size, 'd', 'image size')} px, "
            f"{cite.num(first, lambda r: r.protocol.runs, 'd', 'runs per runtime')} runs per runtime spread over "
            f"the session, each {cite.num(first, lambda r: r.protocol.warmup_calls, 'd', 'warm-up calls')} warm-up "
            f"and {cite.num(first, lambda r: r.protocol.timed_calls, 'd', 'timed calls')} timed calls; milliseconds. "
            f"Compute floor {cite.num(first, lambda r: r.compute_floor_ms, '.1f', f'{device} compute floor ms')} ms = "
            f"{cite.num(first, lambda r: r.flops.total, ',d', 'FLOPs per image')} FLOPs / "
            f"{cite.num(first, lambda r: r.peak_gflops_per_s, '.1f', f'{device} peak GFLOP/s')} GFLOP/s, the "
            "device's peak float32 rate (the best of several convolution and matrix shapes in each runtime, "
            "calibrated before and after every run); peak efficiency = floor / median (machine-dependent, "
            "shown for comparison). Layer efficiency = the runtime's own time for the model's convolutions and "
            "matrix products, each timed alone after every run, over the median: the portable floor judges it. "
            f"Machine class {first.record.platform.machine_class}: {_class_verdict(mine)}",
            "",
        ]
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
                        RUNTIME_NAMES.get(runtime, runtime),
                        *stats,
                        cite.num(source, lambda r: r.runtimes[runtime].stats.warmup, "d", f"{label} warm-up"),
                        cite.num(source, lambda r: r.runtimes[runtime].efficiency, ".3f", f"{label} efficiency"),
                        cite.num(
                            source, lambda r: r.runtimes[runtime].layer_efficiency, ".3f", f"{label} layer efficiency"
                        ),
                        "yes" if entry.warmup_tail.detected else "no",
                        "**failed**: " + "; ".join(entry.budget_failures) if entry.budget_failures else "met",
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


def _class_verdict(sources: list[Source[LatencyRecord]]) -> str:
    """Which absolute budget the rows were judged against, or why none was."""
    budgets = [e.budget for s in sources for e in s.record.runtimes.values()]
    judged = sorted({b.class_budget for b in budgets if b.class_budget is not None})
    floor = "the portable floor (layer efficiency) was judged on every row"
    if judged:
        return f"{floor}, and the class budget {', '.join(repr(j) for j in judged)} (median / p95 ms)."
    reason = next((b.not_judged for b in budgets if b.not_judged is not None), "")
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
        "listed in the record's `ambiguous_scores`). OpenVINO runs with INFERENCE_PRECISION_HINT=f32.",
        "",
    ]
    rows = []
    for s in records:
        p = s.record
        label = f"{p.category} {p.runtime} {p.device}"
        errors = [cite.num(s, lambda r: r.max_abs_error[k], ".3e", f"{label} {k}") for k in ERRORS]
        rows.append(
            [
                p.category,
                f"{p.runtime} ({p.device})",
                *errors,
                f"{cite.num(s, lambda r: r.label_flips, 'd', f'{label} label flips')}/{p.n_images}",
                f"{cite.num(s, lambda r: r.mask_pixel_flips, 'd', f'{label} mask flips')} of {p.mask_pixels:,}",
                cite.num(s, lambda r: r.ambiguous_flips.mask_pixels, "d", f"{label} ambiguous pixel flips"),
                p.status,
                f"`{s.name}`",
            ]
        )
    header = ["category", "runtime", "map raw", "score raw", "map norm.", "score norm.", "label flips", "mask flips"]
    lines += table([*header, "ambiguous", "status", "record"], rows)
    if first.record.runtime == "openvino":
        lines += ["", f"Host could run bf16: {first.record.runtime_settings.get('host_can_run_bf16')}."]
    for margin in reports.of(ParityMarginRecord):
        perturbed = margin.record.perturbations
        worst = cite.num(margin, lambda r: r.worst_normalised_error, ".2e", "parity margin worst normalised error")
        lines += [
            "",
            "Margin (the same checks with the reference's torch threads "
            f"{' and '.join(map(str, perturbed.torch_threads))}, and models trained on features with "
            f"{perturbed.feature_noise_relative:.0e} relative noise, seeds "
            f"{', '.join(map(str, perturbed.noise_and_model_seeds))}): the largest normalised error is "
            f"{worst} against the tolerance {margin.record.tolerance:.0e} (`{margin.name}`).",
        ]
    lines += stage_tables(records, cite)
    lines += deployment_paths(reports, cite)
    return [*lines, ""]


def tradeoff(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "trade-off"
    rows = []
    for category in categories(reports):
        pc, pd = base(reports, "patchcore", category), base(reports, "padim", category)
        fastest = _fastest_clean(reports, category, "cpu")
        row = [
            category,
            cite.num(pc, lambda r: r.metrics["image_auroc"], ".4f", f"PatchCore {category} image AUROC"),
            cite.num(pd, lambda r: r.metrics["image_auroc"], ".4f", f"PaDiM {category} image AUROC"),
        ]
        if fastest is None:
            row += [NOT_MEASURED, NOT_MEASURED, NOT_MEASURED]
        else:
            source, runtime = fastest
            what = f"{category} fastest clean"
            row += [
                RUNTIME_NAMES.get(runtime, runtime),
                cite.num(source, lambda r: r.runtimes[runtime].stats.median_ms, ".1f", f"{what} median"),
                cite.num(source, lambda r: r.runtimes[runtime].efficiency, ".2f", f"{what} efficiency"),
            ]
        rows.append(row)
    header = ["category", "PatchCore image AUROC", "PaDiM image AUROC", "fastest parity-clean CPU runtime"]
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
    clean = {"torch"} | {
        p.record.runtime
        for p in reports.of(ParityRecord)
        if p.record.category == category and p.record.device == device and p.record.status == "parity_clean"
    }
    timed = [(e.stats.median_ms, r) for r, e in source.record.runtimes.items() if r in clean]
    return (source, min(timed)[1]) if timed else None
