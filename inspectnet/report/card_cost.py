"""The card's "Cost of the card" section: how long the whole card took to produce, by step and by phase, and
the memory it held per category (``whole_card`` records, ``python -m inspectnet.harness.wholecard``)."""

from __future__ import annotations

from inspectnet.records import WholeCardRecord
from inspectnet.report.cite import Citations
from inspectnet.report.load import ReportSet, Source
from inspectnet.report.tables import table

TOP_PHASES = 8  # the largest phases shown per run; the record holds them all


def _run_rows(s: Source[WholeCardRecord], index: int, cite: Citations) -> list[list[str]]:
    run = s.record.runs[index]
    revision = cite.num(s, lambda r: r.runs[index].revision, ".10", f"run {index + 1} revision")
    label = f"{s.record.sizes} sizes, {revision}"
    rows = []
    for j, step in enumerate(run.steps):
        seconds = cite.num(s, lambda r: r.runs[index].steps[j].wall_s, ".0f", f"run {index + 1} step {j + 1} wall")
        rows.append([label, f"`{step.command}`", seconds])
    total = cite.num(s, lambda r: r.runs[index].wall_s, ".0f", f"run {index + 1} wall")
    peak = "not measured (a revision without the ledger)"
    if run.segments:
        peak = f"{cite.num(s, lambda r: r.runs[index].peak_rss_mib, 'd', f'run {index + 1} peak RSS')} MiB"
    status = cite.num(s, lambda r: r.runs[index].exit_status, "d", f"run {index + 1} exit status")
    rows.append([label, f"**whole card** (exit {status}; peak RSS {peak})", f"**{total}**"])
    return rows


def _phase_rows(s: Source[WholeCardRecord], index: int, cite: Citations) -> list[list[str]]:
    run = s.record.runs[index]
    found = [(j, k, p.seconds) for j, step in enumerate(run.steps) for k, p in enumerate(step.phases)]
    rows = []
    for j, k, _ in sorted(found, key=lambda t: -t[2])[:TOP_PHASES]:
        phase = run.steps[j].phases[k]
        seconds = cite.num(s, lambda r: r.runs[index].steps[j].phases[k].seconds, ".0f", f"{phase.phase} seconds")
        rows.append([phase.phase, seconds])
    return rows


def cost(reports: ReportSet, cite: Citations) -> list[str]:
    sources = reports.of(WholeCardRecord)
    if not sources:
        return []
    lines = [
        "## Cost of the card",
        "",
        "`make run`'s steps on a clean checkout with an empty store, timed by the whole-card benchmark; every "
        "second of a pytest step is booked to a phase in the record.",
        "",
    ]
    for s in sources:
        rows = [row for i in range(len(s.record.runs)) for row in _run_rows(s, i, cite)]
        machine = cite.num(s, lambda r: r.environment.cpu, "s", "whole card's CPU")
        if s.record.environment.cpu_count is not None:
            cores = cite.num(s, lambda r: r.environment.cpu_count, "d", "whole card's cores")
            machine += f", {cores} cores"
        lines += [f"From `{s.name}` ({machine}):", "", *table(["run", "step", "seconds"], rows), ""]
        if s.record.speedup is not None:
            speedup = cite.num(s, lambda r: r.speedup, ".2f", f"{s.record.sizes} speed-up")
            compared = cite.num(s, lambda r: r.compared_records, "d", "records compared")
            same = "all their numbers equal" if not s.record.differences else "numbers differ: see the record"
            lines += [
                f"Speed-up of the last revision over the first: {speedup}x; {compared} records compared, {same}.",
                "",
            ]
        last = len(s.record.runs) - 1
        per_category = ", ".join(
            f"{c} {cite.num(s, lambda r: r.runs[last].peak_rss_per_category_mib[c], 'd', f'{c} peak RSS')} MiB"
            for c in s.record.runs[last].peak_rss_per_category_mib
        )
        lines += [
            f"Peak resident memory per category (last run): {per_category}. Largest phases (last run):",
            "",
            *table(["phase (suite / phase, exclusive)", "seconds"], _phase_rows(s, last, cite)),
            "",
        ]
    return lines
