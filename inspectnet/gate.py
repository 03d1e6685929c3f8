"""The regression gate: current records against a baseline's, per accuracy metric, parity and latency.

- accuracy: a drop beyond the profile's tolerance for that metric is a regression (a gain beyond it, an
  improvement);
- parity: clean -> broken is a regression (broken -> clean, an improvement);
- latency: decided with noise in mind. The per-call samples of both runs are compared by a one-sided
  Mann-Whitney U test *and* a minimum effect on the median: a regression needs both p < alpha and
  median(current) / median(baseline) - 1 >= min_effect. Runs on different machines are compared only after
  dividing each run's samples by its own compute floor (FLOPs over the GEMM measured in that run), and the
  verdict says so.

Plain Python: the ``inspectnet gate`` command and the pytest option ``--baseline`` both call ``compare``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspectnet.criteria import GateCriteria
from inspectnet.records import EvalRecord, LatencyRecord, ParityRecord, RecordError
from inspectnet.report import RECORDS_DIR
from inspectnet.report.load import ReportSet, load_reports


@dataclass(frozen=True)
class Finding:
    kind: str  # accuracy | parity | latency
    subject: str  # e.g. patchcore_cable image_auroc; bottle cpu openvino
    verdict: str  # regressed | improved | same | missing
    baseline: str
    current: str
    threshold: str
    note: str = ""


@dataclass
class GateResult:
    findings: list[Finding]
    settings: GateCriteria

    @property
    def regressed(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "regressed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def as_json(self) -> dict[str, Any]:
        counts = {v: sum(f.verdict == v for f in self.findings) for v in ("regressed", "improved", "same", "missing")}
        return {
            "kind": "gate_verdict",
            "passed": not self.regressed,
            "exit_code": self.exit_code,
            "counts": counts,
            "settings": asdict(self.settings),
            "findings": [asdict(f) for f in self.findings],
        }

    def table(self) -> str:
        order = {"regressed": 0, "improved": 1, "missing": 2, "same": 3}
        rows = sorted(self.findings, key=lambda f: (order[f.verdict], f.kind, f.subject))
        widths = [9, 8, max([len(f.subject) for f in rows] + [7]), 12, 12]
        head = ["verdict", "kind", "subject", "baseline", "current"]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  threshold / note"]
        for f in rows:
            cells = [f.verdict, f.kind, f.subject, f.baseline, f.current]
            note = f.threshold + (f"; {f.note}" if f.note else "")
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + note)
        counts = self.as_json()["counts"]
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        verdict = "REGRESSION" if self.regressed else "no regression"
        return "\n".join([*lines, f"inspectnet gate: {verdict} ({summary})"])


def records_dir(directory: Path) -> Path:
    """The records of ``directory``: a reports root (its eval_harness/) or a directory of records itself."""
    if (directory / RECORDS_DIR).is_dir():
        return directory / RECORDS_DIR
    if directory.is_dir() and any(directory.glob("*.json")):
        return directory
    raise RecordError(f"{directory}: no records here (expected {directory}/{RECORDS_DIR}/*.json or {directory}/*.json)")


def compare(baseline: Path, current: Path, settings: GateCriteria | None = None) -> GateResult:
    settings = settings or GateCriteria()
    base = load_reports(baseline, records_dir(baseline))
    cur = load_reports(current, records_dir(current))
    findings = _accuracy(base, cur, settings) + _parity(base, cur) + _latency(base, cur, settings)
    return GateResult(findings, settings)


def _accuracy(base: ReportSet, cur: ReportSet, settings: GateCriteria) -> list[Finding]:
    findings = []
    current = {s.record.run_name: s.record for s in cur.of(EvalRecord)}
    for name, b in sorted((s.record.run_name, s.record) for s in base.of(EvalRecord)):
        c = current.get(name)
        for metric, tolerance in settings.accuracy_tolerance.items():
            subject = f"{name} {metric}"
            before = float(b.metrics[metric])
            if c is None:
                findings.append(Finding("accuracy", subject, "missing", f"{before:.4f}", "-", f"tolerance {tolerance}"))
                continue
            after = float(c.metrics[metric])
            delta = after - before
            verdict = "regressed" if delta < -tolerance else "improved" if delta > tolerance else "same"
            findings.append(
                Finding(
                    "accuracy",
                    subject,
                    verdict,
                    f"{before:.4f}",
                    f"{after:.4f}",
                    f"tolerance {tolerance}",
                    f"delta {delta:+.4f}",
                )
            )
    return findings


def _parity(base: ReportSet, cur: ReportSet) -> list[Finding]:
    findings = []

    def key(r: ParityRecord) -> tuple[str, str, str]:
        return (r.category, r.runtime, r.device)

    current = {key(s.record): s.record for s in cur.of(ParityRecord)}
    for k, b in sorted((key(s.record), s.record) for s in base.of(ParityRecord)):
        c = current.get(k)
        subject = " ".join(k)
        before = b.status
        if c is None:
            findings.append(Finding("parity", subject, "missing", before, "-", "clean stays clean"))
            continue
        after = c.status
        clean_before, clean_after = before == "parity_clean", after == "parity_clean"
        verdict = (
            "regressed"
            if clean_before and not clean_after
            else "improved"
            if clean_after and not clean_before
            else "same"
        )
        note = "; ".join(c.where[:2]) if verdict == "regressed" else ""
        findings.append(Finding("parity", subject, verdict, before, after, "clean stays clean", note))
    return findings


def _platform_key(record: LatencyRecord) -> tuple[str, int | None, str | None, str]:
    p = record.platform
    return (p.cpu, p.logical_cores, p.gpu.name if p.gpu else None, record.device)


@dataclass(frozen=True)
class LatencyDecision:
    ratio: float  # median(current) / median(baseline), after normalisation when normalised
    p_value: float
    normalised: bool
    verdict: str


def decide_latency(
    base_ms: np.ndarray,
    cur_ms: np.ndarray,
    settings: GateCriteria,
    base_floor: float = 1.0,
    cur_floor: float = 1.0,
    normalised: bool = False,
) -> LatencyDecision:
    """Slower (one-sided Mann-Whitney U, p < alpha) *and* by at least ``min_effect`` on the median."""
    from scipy.stats import mannwhitneyu

    b = np.asarray(base_ms, dtype=np.float64) / (base_floor if normalised else 1.0)
    c = np.asarray(cur_ms, dtype=np.float64) / (cur_floor if normalised else 1.0)
    ratio = float(np.median(c) / np.median(b))
    slower = float(mannwhitneyu(c, b, alternative="greater").pvalue)
    faster = float(mannwhitneyu(c, b, alternative="less").pvalue)
    if slower < settings.alpha and ratio - 1 >= settings.min_effect:
        verdict = "regressed"
    elif faster < settings.alpha and 1 - ratio >= settings.min_effect:
        verdict = "improved"
    else:
        verdict = "same"
    return LatencyDecision(ratio, min(slower, faster), normalised, verdict)


def _latency(base: ReportSet, cur: ReportSet, settings: GateCriteria) -> list[Finding]:
    findings = []
    current = {(s.record.category, s.record.device): s.record for s in cur.of(LatencyRecord)}
    for key, b in sorted(((s.record.category, s.record.device), s.record) for s in base.of(LatencyRecord)):
        c = current.get(key)
        for runtime, entry in sorted(b.runtimes.items()):
            subject = f"{key[0]} {key[1]} {runtime}"
            before = f"{entry.stats.median_ms:.2f} ms"
            threshold = f"p < {settings.alpha} and median +{settings.min_effect:.0%}"
            if c is None or runtime not in c.runtimes:
                findings.append(Finding("latency", subject, "missing", before, "-", threshold))
                continue
            other = c.runtimes[runtime]
            normalised = _platform_key(b) != _platform_key(c)
            d = decide_latency(
                np.array(entry.samples_ms),
                np.array(other.samples_ms),
                settings,
                float(b.compute_floor_ms),
                float(c.compute_floor_ms),
                normalised,
            )
            how = "different machines: normalised by each run's GEMM floor" if normalised else "same machine"
            note = f"median x{d.ratio:.3f}, p {d.p_value:.2g}; {how}"
            findings.append(
                Finding("latency", subject, d.verdict, before, f"{other.stats.median_ms:.2f} ms", threshold, note)
            )
    return findings
