"""The regression gate: current records against a baseline's, per accuracy metric, parity and latency.

- accuracy: a drop beyond the profile's tolerance for that metric is a regression when its paired 95% interval
  (both models on the same test images) excludes zero and, where the baseline measured the model over
  several seeds, it exceeds what retraining with another seed moves the metric; "unresolved" when the split
  cannot resolve it (the profile's ``on_unresolved`` decides: fail, warn or pass); a gain beyond it, an
  improvement;
- parity: clean -> broken is a regression (broken -> clean, an improvement);
- latency: decided on units that a shared machine's drift does not bias (``inspectnet.measure.ab``). Where
  both models can be run here (an A/B measurer finds them by the sha256 in their records), they are timed
  alternately in ABBA blocks in this process and decided on the median block ratio (mode ``ab``). Otherwise
  the decision falls back on the records alone: each holds R >= 3 runs spread over its session, and their
  run medians, each at the reference speed measured in its own run, decide (mode ``records``). Records of
  other machine classes, or whose reference speed moved by more than the records' minimum effect, are
  ``undecided``: printed with the reason, not a regression (re-run A/B on one machine). A regression needs
  the ratio's whole interval above 1 and the ratio at least the mode's minimum effect above 1. Each latency
  finding names its mode, ratio and interval.

Plain Python: the ``inspectnet gate`` command and the pytest option ``--baseline`` both call ``compare``;
they inject the A/B measurer (``inspectnet.harness.ab``), which needs the runtimes and the model files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from inspectnet.criteria import GateCriteria
from inspectnet.measure.ab import VERDICTS, ABTiming, RatioDecision, RunSeries, decide_ab
from inspectnet.measure.ab import decide_records as decide_series
from inspectnet.measure.intervals import LEVEL, normal_quantile
from inspectnet.names import METHODS
from inspectnet.records import AblationRecord, CandidateRecord, EvalRecord, LatencyRecord, ParityRecord, RecordError
from inspectnet.report import RECORDS_DIR
from inspectnet.report.load import ReportSet, load_reports
from inspectnet.report.paired import difference

R = TypeVar("R", ParityRecord, CandidateRecord)
# an unresolved accuracy drop's verdict, by the profile's on_unresolved: "unresolved" fails the gate
UNRESOLVED_VERDICT = {"fail": "unresolved", "warn": "unresolved-warn", "pass": "same"}
UNRESOLVED_KINDS = ("unresolved", "unresolved-warn")


@dataclass(frozen=True)
class Finding:
    kind: str  # accuracy | parity | candidate | latency
    subject: str  # e.g. patchcore_cable image_auroc; bottle cpu openvino
    verdict: str  # regressed | improved | same | undecided (latency, records only) | missing
    baseline: str
    current: str
    threshold: str
    note: str = ""
    mode: str = ""  # latency: "ab" | "records" (empty where no decision was made)


@dataclass
class GateResult:
    findings: list[Finding]
    settings: GateCriteria

    @property
    def regressed(self) -> list[Finding]:
        """What fails the gate: regressions, and drops the split cannot resolve where the profile says fail."""
        return [f for f in self.findings if f.verdict in ("regressed", "unresolved")]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def as_json(self) -> dict[str, Any]:
        counts = {v: sum(f.verdict == v for f in self.findings) for v in (*VERDICTS, *UNRESOLVED_KINDS, "missing")}
        return {
            "kind": "gate_verdict",
            "passed": not self.regressed,
            "exit_code": self.exit_code,
            "counts": counts,
            "settings": asdict(self.settings),
            "findings": [asdict(f) for f in self.findings],
        }

    def table(self) -> str:
        order = {"regressed": 0, "unresolved": 0, "unresolved-warn": 1, "improved": 1, "undecided": 2, "missing": 3}
        order["same"] = 4
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


# Times the baseline's and the current record's model of one runtime alternately here; a string says why
# it cannot (no file, another runtime version, no such device), and the row falls back on the records.
ABMeasure = Callable[[LatencyRecord, LatencyRecord, str], "ABTiming | str"]


def compare(
    baseline: Path, current: Path, settings: GateCriteria | None = None, ab: ABMeasure | None = None
) -> GateResult:
    """The verdict of ``current``'s records against ``baseline``'s; latency in A/B mode where ``ab`` can
    time both models, on the records alone otherwise."""
    settings = settings or GateCriteria()
    base = load_reports(baseline, records_dir(baseline))
    cur = load_reports(current, records_dir(current))
    findings = _accuracy(base, cur, settings) + _parity(base, cur) + _candidates(base, cur)
    findings += _latency(base, cur, settings, ab)
    return GateResult(findings, settings)


def _accuracy(base: ReportSet, cur: ReportSet, settings: GateCriteria) -> list[Finding]:
    """A drop beyond the metric's tolerance is a regression when the split resolves it (its paired 95% interval,
    both models on the same test images, excludes zero) and retraining alone does not explain it (where the
    baseline measured the model over several seeds, the drop exceeds what two retrains differ by: 1.96 x
    sqrt(2) x the seeds' standard deviation). A drop the split cannot resolve is "unresolved", which the
    profile's ``on_unresolved`` makes a failure, a warning or a pass; one within retrain variability is "same",
    and says so. Records without samples (made before intervals) are judged on the point values alone."""
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
            noise = retrain_noise(base, b, metric)
            verdict, note = _accuracy_verdict(b, c, metric, tolerance, settings.on_unresolved, noise)
            findings.append(
                Finding("accuracy", subject, verdict, f"{before:.4f}", f"{after:.4f}", f"tolerance {tolerance}", note)
            )
    return findings


def retrain_noise(base: ReportSet, record: EvalRecord, metric: str) -> tuple[float, int] | None:
    """How far two retrains of ``record``'s model with other seeds differ on ``metric`` (1.96 x sqrt(2) x the
    sample standard deviation over the baseline's seeds, from its ablation record), and over how many seeds;
    None where the baseline has fewer than two seeds of it."""
    ablation = base.one(AblationRecord, lambda r: r.category == record.category)
    if ablation is None or record.method not in METHODS:
        return None
    over = getattr(ablation.record, record.method).get(metric)
    if over is None or over.n < 2 or record.run_name not in _aggregated(ablation.record, record.method):
        return None
    return normal_quantile(LEVEL) * math.sqrt(2) * statistics.stdev(over.values), over.n


def _aggregated(ablation: AblationRecord, method: str) -> set[str]:
    return {name.removesuffix(".json") for name in ablation.records.get(method, [])}


def _accuracy_verdict(
    base: EvalRecord,
    cur: EvalRecord,
    metric: str,
    tolerance: float,
    on_unresolved: str,
    noise: tuple[float, int] | None,
) -> tuple[str, str]:
    drop = float(base.metrics[metric]) - float(cur.metrics[metric])
    paired = difference([base], [cur], metric)
    n = len(cur.sample.anomalous) if cur.sample is not None else 0
    shown = f"delta {-drop:+.4f}"
    if paired is not None:
        shown += f", n = {n}, paired 95% interval [{paired.low:+.4f}, {paired.high:+.4f}] ({paired.method})"
    else:
        shown += ", point values only (no paired sample in both records)"
    if noise is not None:
        shown += f", retrains differ by up to {noise[0]:.4f} (the baseline's {noise[1]} seeds)"
    if drop > tolerance:
        if paired is not None and paired.low <= 0:
            unresolved = UNRESOLVED_VERDICT[on_unresolved]
            return unresolved, f"{shown}: the split cannot resolve this drop (on_unresolved = {on_unresolved})"
        if noise is not None and drop <= noise[0]:
            return "same", f"{shown}: within what retraining with another seed moves it"
        return "regressed", shown
    if -drop > tolerance:
        return "improved", shown
    return "same", shown


def _stays_good(
    area: str,
    base: list[R],
    cur: list[R],
    key: Callable[[R], tuple[str, str, str]],
    status: Callable[[R], str],
    good: str,
    rule: str,
    why: Callable[[R], list[str]],
) -> list[Finding]:
    """A pass/fail status that must stay ``good``: good -> anything else is a regression (the note says why,
    from the current record), the reverse an improvement; a baseline record with no current one is missing."""
    current = {key(r): r for r in cur}
    findings = []
    for k, b in sorted(((key(r), r) for r in base), key=lambda pair: pair[0]):
        c = current.get(k)
        subject = " ".join(k)
        if c is None:
            findings.append(Finding(area, subject, "missing", status(b), "-", rule))
            continue
        was, now = status(b) == good, status(c) == good
        verdict = "regressed" if was and not now else "improved" if now and not was else "same"
        note = "; ".join(why(c)) if verdict == "regressed" else ""
        findings.append(Finding(area, subject, verdict, status(b), status(c), rule, note))
    return findings


def _parity(base: ReportSet, cur: ReportSet) -> list[Finding]:
    return _stays_good(
        "parity",
        [s.record for s in base.of(ParityRecord)],
        [s.record for s in cur.of(ParityRecord)],
        lambda r: (r.category, r.runtime, r.device),
        lambda r: r.status,
        "parity_clean",
        "clean stays clean",
        lambda r: r.where[:2],
    )


def _candidates(base: ReportSet, cur: ReportSet) -> list[Finding]:
    """A deployment candidate that was accepted and is now rejected is a regression (and the reverse an
    improvement); the note names the criteria it now misses."""
    return _stays_good(
        "candidate",
        [s.record for s in base.of(CandidateRecord)],
        [s.record for s in cur.of(CandidateRecord)],
        lambda r: (r.run_name, r.runtime, r.candidate),
        lambda r: r.status,
        "accepted",
        "accepted stays accepted",
        lambda r: list(r.failures),
    )


def run_series(record: LatencyRecord, runtime: str) -> RunSeries:
    """What the records-only decision reads of ``runtime``'s entry: run medians, peak measurements (the
    JSON field ``calibrations``), machine class."""
    entry = record.runtimes[runtime]
    return RunSeries(entry.run_medians_ms, entry.calibrations, record.platform.machine_class)


def decide_records(base: LatencyRecord, cur: LatencyRecord, runtime: str, settings: GateCriteria) -> RatioDecision:
    """Records-only (``inspectnet.measure.ab.decide_records``): run medians at each run's reference speed;
    undecided across machine classes and when the reference speed moved beyond ``records_min_effect``."""
    return decide_series(
        run_series(base, runtime), run_series(cur, runtime), settings.records_alpha, settings.records_min_effect
    )


def _latency_threshold(alpha: float, effect: float) -> str:
    return f"{1 - alpha:.0%} interval > 1, ratio >= {1 + effect:g}"


def _latency(base: ReportSet, cur: ReportSet, settings: GateCriteria, ab: ABMeasure | None) -> list[Finding]:
    findings = []
    current = {(s.record.category, s.record.device): s.record for s in cur.of(LatencyRecord)}
    for key, b in sorted(((s.record.category, s.record.device), s.record) for s in base.of(LatencyRecord)):
        c = current.get(key)
        for runtime, entry in sorted(b.runtimes.items()):
            subject = f"{key[0]} {key[1]} {runtime}"
            before = f"{entry.stats.median_ms:.2f} ms"
            threshold = _latency_threshold(settings.alpha, settings.min_effect)
            if c is None or runtime not in c.runtimes:
                findings.append(Finding("latency", subject, "missing", before, "-", threshold))
                continue
            after = f"{c.runtimes[runtime].stats.median_ms:.2f} ms"
            timing = ab(b, c, runtime) if ab is not None else "records mode asked for (--mode records)"
            if isinstance(timing, ABTiming):
                d = decide_ab(timing.ratios, settings.alpha, settings.min_effect)
                note = f"{d.describe()}; {timing.seconds:.1f} s, both models timed here"
            else:
                threshold = _latency_threshold(settings.records_alpha, settings.records_min_effect)
                try:
                    d = decide_records(b, c, runtime, settings)
                except ValueError as exc:
                    findings.append(Finding("latency", subject, "missing", before, after, threshold, str(exc)))
                    continue
                same = b.platform.machine_class == c.platform.machine_class
                basis = "; same machine class, run medians at each run's reference speed" if same else ""
                note = f"{d.describe()}{basis}; no A/B: {timing}"
            findings.append(Finding("latency", subject, d.verdict, before, after, threshold, note, d.mode))
    return findings
