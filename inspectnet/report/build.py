"""Render a reports root: figures from the records, MODEL_CARD.md, PROVENANCE.md, CHECKSUMS.sha256; and merge
report sets from several machines or shards into one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from inspectnet._io import atomic_directory, atomic_write_text, sha256_file
from inspectnet.records import CandidateRecord, CriteriaRecord, LatencyRecord, RecordError, read_as, write_record
from inspectnet.report import FIGURES_DIR, RECORDS_DIR
from inspectnet.report.card import card_path, render
from inspectnet.report.load import ReportSet, Source, load_reports
from inspectnet.report.outcomes import CRITERIA_FILE, join
from inspectnet.report.tables import base, categories

if TYPE_CHECKING:
    from inspectnet.report.figures import Point

CHECKSUMS = "CHECKSUMS.sha256"


def render_figures(reports: ReportSet) -> list[Path]:
    """The figures the records alone determine: ROC / PRO curves per category, latency per device."""
    from inspectnet.report.figures import curves_figure, latency_figure, tradeoff_figure

    written = []
    for category in categories(reports):
        curves = {}
        for method, label in (("patchcore", "PatchCore"), ("padim", "PaDiM")):
            source = base(reports, method, category)
            if source is not None and source.record.curves:
                curves[label] = source.record.curves
        if curves:
            path = reports.root / FIGURES_DIR / f"curves_{category}.png"
            curves_figure(category, curves, path)
            written.append(path)
    latency = sorted(reports.of(LatencyRecord), key=lambda s: s.record.category)
    for device in sorted({s.record.device for s in latency}):
        samples = {
            s.record.category: {r: e.samples_ms for r, e in sorted(s.record.runtimes.items())}
            for s in latency
            if s.record.device == device
        }
        path = reports.root / FIGURES_DIR / f"latency_{device}.png"
        latency_figure(device, samples, path)
        written.append(path)
    points = tradeoff_points(reports)
    if points:
        path = reports.root / FIGURES_DIR / "candidates.png"
        tradeoff_figure(points, path)
        written.append(path)
    return written


def _cpu_latency(reports: ReportSet, category: str) -> Source[LatencyRecord] | None:
    return reports.one(LatencyRecord, lambda r: r.category == category and r.device == "cpu")


def tradeoff_points(reports: ReportSet) -> dict[str, list[Point]]:
    """Per category with candidates: the FP32 runtimes at their CPU latency record's medians, with the FP32
    model's image AUROC; each candidate at FP32 OpenVINO's median divided by its measured speed-up (an A/B
    ratio, so the candidates sit on the same time scale as the latency record), with its own image AUROC.
    Without a latency record, the candidates' own A/B medians."""
    from inspectnet.deploy.candidates import BASE_RUNTIME
    from inspectnet.deploy.runtimes import label
    from inspectnet.report.figures import Point

    out: dict[str, list[Point]] = {}
    scale: dict[str, float | None] = {}
    for s in sorted(reports.of(CandidateRecord), key=lambda s: (s.record.category, s.record.candidate)):
        r = s.record
        if r.category not in out:
            out[r.category] = []
            timed = _cpu_latency(reports, r.category)
            runtimes = timed.record.runtimes if timed is not None else {}
            for runtime, entry in sorted(runtimes.items()):
                auroc = r.fp32_metrics["image_auroc"]
                out[r.category].append(Point(label(runtime), entry.stats.median_ms, auroc, True))
            scale[r.category] = runtimes[BASE_RUNTIME].stats.median_ms if BASE_RUNTIME in runtimes else None
        base_ms = scale[r.category]
        ms = base_ms / r.speedup.ratio if base_ms is not None else r.speedup.candidate_median_ms
        out[r.category].append(Point(r.candidate, ms, r.metrics["image_auroc"], False))
    return out


def checksums(root: Path) -> str:
    """``sha256sum -c`` lines for every file under ``root`` except READMEs and the checksum file itself."""
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative == CHECKSUMS or path.name.upper().startswith("README") or "/." in f"/{relative}":
            continue
        lines.append(f"{sha256_file(path)}  {relative}")
    return "\n".join(lines) + "\n"


def render_card(root: Path) -> Path:
    """Figures, card, provenance and checksums of the reports root ``root``; returns the card's path."""
    reports = load_reports(root)
    render_figures(reports)
    card, citations = render(reports)
    atomic_write_text(card_path(root), card)
    atomic_write_text(root / "PROVENANCE.md", citations.markdown())
    atomic_write_text(root / CHECKSUMS, checksums(root))
    return card_path(root)


def merge(out: Path, sources: list[Path]) -> int:
    """Copy the records and figures of several reports roots into ``out`` (created or replaced whole).

    A name present in two sources with different bytes is a conflict: refused naming both files, nothing
    written. The criteria records are the exception: each shard has its own, and they are joined (a test in two
    of them must have the same outcome and message). Every record is validated first. Returns the number of
    files merged.
    """
    chosen: dict[str, Path] = {}
    criteria: list[Path] = []
    for source in sources:
        load_reports(source)  # every record valid, or a RecordError naming it
        for sub in (RECORDS_DIR, FIGURES_DIR):
            for path in sorted((source / sub).glob("*")) if (source / sub).is_dir() else []:
                name = f"{sub}/{path.name}"
                if name == f"{RECORDS_DIR}/{CRITERIA_FILE}":
                    criteria.append(path)
                    continue
                if name in chosen and chosen[name].read_bytes() != path.read_bytes():
                    raise RecordError(
                        f"{path} conflicts with {chosen[name]}: the same record with different content; "
                        "keep one of them (remove the other) and merge again"
                    )
                chosen.setdefault(name, path)
    joined = join([(path, read_as(CriteriaRecord, path)) for path in criteria]) if len(criteria) > 1 else None
    if len(criteria) == 1:
        chosen[f"{RECORDS_DIR}/{CRITERIA_FILE}"] = criteria[0]
    with atomic_directory(out) as staging:
        for name, path in chosen.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
        if joined is not None:
            write_record(staging / RECORDS_DIR / CRITERIA_FILE, joined)
    return len(chosen) + (joined is not None)
