"""The card's runtime sections: latency per device with the platform, parity, and accuracy against cost."""

from __future__ import annotations

from inspectnet.report import FIGURES_DIR
from inspectnet.report.cite import NOT_MEASURED, Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import base, categories, table

RUNTIME_NAMES = {"torch": "torch eager", "onnxruntime": "onnxruntime", "openvino": "OpenVINO f32"}


def latency(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "latency"
    lines = ["## Latency", ""]
    records = reports.of("latency")
    for device in ("cpu", "cuda"):
        mine = sorted((s for s in records if s.data["device"] == device), key=lambda s: s.data["category"])
        lines += [f"### {device.upper()}", ""]
        if not mine:
            lines += [f"{NOT_MEASURED} on {device}.", ""]
            continue
        first = mine[0]
        platform = first.data["platform"]
        gpu = platform.get("gpu") or {}
        hardware = f"{platform['cpu']}, {platform['logical_cores']} logical cores" + (
            f"; {gpu.get('name')}, driver {gpu.get('driver')}, {gpu.get('memory_mib')} MiB" if gpu else ""
        )
        lines += [
            f"{hardware}. {platform['os']}, Python {platform['python']}, torch {platform['torch']}, anomalib "
            f"{platform['anomalib']}, onnxruntime {platform['onnxruntime']}, OpenVINO {platform['openvino']}.",
            f"Batch 1, {cite.num(first, 'protocol.image_size', 'd', 'image size')} px, "
            f"{cite.num(first, 'protocol.warmup_calls', 'd', 'warm-up calls')} warm-up and "
            f"{cite.num(first, 'protocol.timed_calls', 'd', 'timed calls')} timed calls; milliseconds. Compute floor "
            f"{cite.num(first, 'compute_floor_ms', '.1f', f'{device} compute floor ms')} ms = "
            f"{cite.num(first, 'flops.total', ',d', 'FLOPs per image')} FLOPs / "
            f"{cite.num(first, 'gemm.gflops_per_s', '.1f', f'{device} GEMM GFLOP/s')} GFLOP/s (float32 GEMM).",
            "",
        ]
        rows = []
        for source in mine:
            for runtime in sorted(source.data["runtimes"]):
                base_path = f"runtimes.{runtime}"
                label = f"{source.data['category']} {device} {runtime}"
                stats = [
                    cite.num(source, f"{base_path}.stats.{k}", ".3f", f"{label} {k}")
                    for k in ("min_ms", "median_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms")
                ]
                tail = source.get(f"{base_path}.warmup_tail.detected")
                rows.append(
                    [
                        source.data["category"],
                        RUNTIME_NAMES.get(runtime, runtime),
                        *stats,
                        cite.num(source, f"{base_path}.stats.warmup", "d", f"{label} warm-up"),
                        cite.num(source, f"{base_path}.efficiency", ".3f", f"{label} efficiency"),
                        "yes" if tail else "no",
                    ]
                )
        header = ["category", "runtime", "min", "median", "p95", "p99", "mean", "std", "warm-up", "efficiency", "tail"]
        lines += [*table(header, rows), ""]
        figure = f"{FIGURES_DIR}/latency_{device}.png"
        if (reports.root / figure).is_file():
            lines += [f"![latency on {device}]({figure})", ""]
    return lines


def parity(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "parity"
    records = sorted(reports.of("parity"), key=lambda s: (s.data["category"], s.data["runtime"], s.data["device"]))
    if not records:
        return ["## ONNX / OpenVINO parity", "", NOT_MEASURED, ""]
    first = records[0]
    lines = [
        "## ONNX / OpenVINO parity",
        "",
        f"Exported models against the torch model on N = {cite.num(first, 'n_images', 'd', 'parity images')} test "
        "images per category (half normal, half anomalous); clean = max abs error ≤ "
        f"{cite.num(first, 'tolerance', '.0e', 'parity tolerance')} on the raw and normalised map and score, zero "
        "label flips, zero mask-pixel flips (flips within the torch model's own float32 error of the threshold are "
        "counted apart as ambiguous; on an image where one of PatchCore's discrete choices is a near-tie within that "
        "error, the score's error is the distance to the nearest score a tied choice gives, and the image is listed "
        "in the record's `ambiguous_scores`). OpenVINO runs with INFERENCE_PRECISION_HINT=f32.",
        "",
    ]
    rows = []
    for s in records:
        label = f"{s.data['category']} {s.data['runtime']} {s.data['device']}"
        errors = [
            cite.num(s, f"max_abs_error.{k}", ".3e", f"{label} {k}")
            for k in ("anomaly_map_raw", "pred_score_raw", "anomaly_map", "pred_score")
        ]
        rows.append(
            [
                s.data["category"],
                f"{s.data['runtime']} ({s.data['device']})",
                *errors,
                f"{cite.num(s, 'label_flips', 'd', f'{label} label flips')}/{s.data['n_images']}",
                f"{cite.num(s, 'mask_pixel_flips', 'd', f'{label} mask flips')} of {s.data['mask_pixels']:,}",
                cite.num(s, "ambiguous_flips.mask_pixels", "d", f"{label} ambiguous pixel flips"),
                s.data["status"],
                f"`{s.name}`",
            ]
        )
    header = ["category", "runtime", "map raw", "score raw", "map norm.", "score norm.", "label flips", "mask flips"]
    lines += table([*header, "ambiguous", "status", "record"], rows)
    settings = first.data["runtime_settings"]
    if first.data["runtime"] == "openvino":
        lines += ["", f"Host could run bf16: {settings.get('host_can_run_bf16')}."]
    for margin in reports.of("parity_margin"):
        perturbed = margin.data["perturbations"]
        lines += [
            "",
            "Margin (the same checks with the reference's torch threads "
            f"{' and '.join(map(str, perturbed['torch_threads']))}, and models trained on features with "
            f"{perturbed['feature_noise_relative']:.0e} relative noise, seeds "
            f"{', '.join(map(str, perturbed['noise_and_model_seeds']))}): the largest normalised error is "
            f"{cite.num(margin, 'worst_normalised_error', '.2e', 'parity margin worst normalised error')} "
            f"against the tolerance {margin.data['tolerance']:.0e} (`{margin.name}`).",
        ]
    return [*lines, ""]


def tradeoff(reports: ReportSet, cite: Citations) -> list[str]:
    cite.section = "trade-off"
    rows = []
    for category in categories(reports):
        pc, pd = base(reports, "patchcore", category), base(reports, "padim", category)
        fastest = _fastest_clean(reports, category, "cpu")
        row = [
            category,
            cite.num(pc, "metrics.image_auroc", ".4f", f"PatchCore {category} image AUROC"),
            cite.num(pd, "metrics.image_auroc", ".4f", f"PaDiM {category} image AUROC"),
        ]
        if fastest is None:
            row += [NOT_MEASURED, NOT_MEASURED, NOT_MEASURED]
        else:
            source, runtime = fastest
            row += [
                RUNTIME_NAMES.get(runtime, runtime),
                cite.num(source, f"runtimes.{runtime}.stats.median_ms", ".1f", f"{category} fastest clean median"),
                cite.num(source, f"runtimes.{runtime}.efficiency", ".2f", f"{category} fastest clean efficiency"),
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


def _fastest_clean(reports: ReportSet, category: str, device: str) -> tuple[Source, str] | None:
    source = reports.one("latency", category=category, device=device)
    if source is None:
        return None
    clean = {"torch"} | {
        p.data["runtime"]
        for p in reports.of("parity")
        if p.data["category"] == category and p.data["device"] == device and p.data["status"] == "parity_clean"
    }
    timed = [(source.data["runtimes"][r]["stats"]["median_ms"], r) for r in source.data["runtimes"] if r in clean]
    return (source, min(timed)[1]) if timed else None
