"""Deployment candidates of a session's models, judged by the same criteria as the FP32 model.

For one category's measured model: build the candidate from its FP32 OpenVINO IR (``deploy.candidates``,
cached in the store), run it and the FP32 IR over the whole test split at batch 1, compute both models'
exact metrics by the same code, label agreement and mask IoU with FP32, time both alternately in this process
(``measure.ab``: FP32 as A, the candidate as B) and compare sizes; the profile's ``[candidates]`` limits give
the verdict. A candidate whose verdict cannot rest on its speed-up (another criterion already rejects it, or
its criteria set no ``min_speedup``) is timed on a short screening protocol (``SCREENING``) and its speed-up
is recorded, not judged. Plain Python;
``candidates/test_candidates.py`` and its mutation tests call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspectnet import ledger
from inspectnet.builders import candidate_record, export_info
from inspectnet.deploy.candidates import BASE_RUNTIME
from inspectnet.harness.parity import run_outputs
from inspectnet.measure.ab import ABProtocol, time_ab
from inspectnet.measure.candidates import SpeedUp, agreement, failures, speedup
from inspectnet.measure.evaluate import AccuracyMetrics, Predictions, contrast, score, with_intervals
from inspectnet.measure.intervals import Interval
from inspectnet.names import METRICS, candidate_record_name
from inspectnet.records import SCREENED

if TYPE_CHECKING:
    from inspectnet.criteria.candidates import CandidateCriteria, CandidatesProfile
    from inspectnet.deploy.candidates import Built
    from inspectnet.deploy.runtimes import Runner
    from inspectnet.harness.session import Session
    from inspectnet.names import RunKey
    from inspectnet.records import CandidateRecord

IR_FILES = ("model.xml", "model.bin")
# A/B for a candidate whose verdict does not rest on its speed-up: shown, with the wide interval 4 quads give
SCREENING = ABProtocol(quads=4, max_quads=4, block_calls=1, warmup=2)


def metrics_of(outputs: dict[str, np.ndarray], labels: np.ndarray, masks: np.ndarray) -> AccuracyMetrics:
    """Exact metrics of a deployed model's raw outputs (``pred_score_raw``, ``anomaly_map_raw``), with the sample
    that pairs them with another model's on the same images."""
    maps = outputs["anomaly_map_raw"]
    predictions = Predictions(outputs["pred_score_raw"].reshape(-1), maps.reshape(maps.shape[0], *maps.shape[-2:]))
    return with_intervals(score(predictions, labels, masks), predictions, labels, masks)


def paired_drops(fp32: AccuracyMetrics, candidate: AccuracyMetrics) -> dict[str, Interval]:
    """Each metric's drop (FP32 minus candidate) with its paired 95% interval on the same test images."""
    if fp32.sample is None or candidate.sample is None:
        return {}
    samples, values = [fp32.sample, candidate.sample], (fp32.as_dict(), candidate.as_dict())
    return {m: contrast(samples, [v[m] for v in values], [1.0, -1.0], m) for m in METRICS}


def quantisation_indices(available: int, wanted: int) -> list[int]:
    """``wanted`` train images spread evenly over the ``available`` ones (all of them when fewer)."""
    if wanted >= available:
        return list(range(available))
    return sorted({int(i) for i in np.linspace(0, available - 1, wanted).round()})


@dataclass
class CandidateJudge:
    session: Session
    _reference: dict[RunKey, dict[str, np.ndarray]] = field(default_factory=dict)
    _fp32: dict[RunKey, Runner] = field(
        default_factory=dict
    )  # loaded once per run: every candidate is timed against it
    _fp32_metrics: dict[RunKey, AccuracyMetrics] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.on_switch(self._drop)

    def _drop(self, category: str) -> None:
        self._fp32 = {k: v for k, v in self._fp32.items() if k.category == category}
        self._reference = {k: v for k, v in self._reference.items() if k.category == category}
        self._fp32_metrics = {k: v for k, v in self._fp32_metrics.items() if k.category == category}

    @property
    def profile(self) -> CandidatesProfile:
        return self.session.options.profile.candidates

    @property
    def protocol(self) -> ABProtocol:
        gate = self.session.options.profile.gate
        return ABProtocol(quads=gate.ab_quads, max_quads=gate.ab_quads, block_calls=gate.ab_block_calls)

    def quantisation_images(self, run: RunKey, images: int | None = None) -> np.ndarray:
        """Preprocessed train/good images NNCF quantises from (never the test split); how many: the profile's
        ``calibration_images`` unless ``images``."""
        train = self.session.evaluate(run).inputs.train
        chosen = quantisation_indices(train.shape[0], images or self.profile.calibration_images)
        return np.ascontiguousarray(train[chosen].numpy(), dtype=np.float32)

    def build(
        self, run: RunKey, name: str, quantisation_images: np.ndarray | None = None, whole: bool | None = None
    ) -> Built:
        """Candidate ``name`` of ``run``'s FP32 IR (``quantisation_images`` and ``whole`` plant a bad one in
        tests)."""
        from inspectnet.deploy.candidates import build

        exported = self.session.exported(run)
        files = {n: exported.files[n] for n in IR_FILES}
        images = self.quantisation_images(run) if quantisation_images is None else quantisation_images
        with ledger.phase("build"):
            return build(name, exported.openvino, files, images, self.session.options.store_dir, whole)

    def fp32(self, run: RunKey) -> Runner:
        """``run``'s FP32 OpenVINO model, loaded once (one category's at a time)."""
        if run not in self._fp32:
            self._drop(run.category)
            self._fp32[run] = self.session.runner(run, BASE_RUNTIME)
        return self._fp32[run]

    def reference(self, run: RunKey) -> dict[str, np.ndarray]:
        """The FP32 OpenVINO model's outputs on the whole test split at batch 1 (memoised per run)."""
        if run not in self._reference:
            self._drop(run.category)
            with ledger.phase("FP32 pass"):
                self._reference[run] = run_outputs(self.fp32(run), self.session.test_images(run))
        return self._reference[run]

    def fp32_metrics(self, run: RunKey) -> AccuracyMetrics:
        """The FP32 OpenVINO model's metrics on the whole test split, with their sample (memoised per run)."""
        if run not in self._fp32_metrics:
            self._drop(run.category)
            inputs = self.session.evaluate(run).inputs
            self._fp32_metrics[run] = metrics_of(self.reference(run), inputs.labels, inputs.masks)
        return self._fp32_metrics[run]

    def judge(
        self, run: RunKey, built: Built, limits: CandidateCriteria, protocol: ABProtocol | None = None
    ) -> CandidateRecord:
        """``built`` against ``run``'s FP32 IR under ``limits``; timed A/B by the profile's protocol, or by
        ``SCREENING`` when no verdict rests on its speed-up, unless ``protocol`` (the self-checks, whose
        verdicts do not rest on the speed-up, time a short one)."""
        from inspectnet.deploy.candidates import size_of
        from inspectnet.deploy.runtimes import openvino_runner
        from inspectnet.harness.ab import inputs_for
        from inspectnet.measure.latency import Timer

        session = self.session
        evaluation = session.evaluate(run)
        size = session.spec(run).image_size
        runner = openvino_runner(built.path, size, precision=built.precision_hint)
        with ledger.phase("candidate pass"):
            outputs = run_outputs(runner, session.test_images(run))
        reference = self.reference(run)
        labels, masks = evaluation.inputs.labels, evaluation.inputs.masks
        fp32_measured, measured_metrics = self.fp32_metrics(run), metrics_of(outputs, labels, masks)
        fp32_metrics, metrics = fp32_measured.as_dict(), measured_metrics.as_dict()
        measured = agreement(reference, outputs)
        exported = session.exported(run)
        fp32_size = size_of(exported.openvino)
        drops = {m: fp32_metrics[m] - metrics[m] for m in metrics}

        ratio = built.size_bytes / fp32_size

        def missed_with(fast: SpeedUp | None, min_speedup: float | None) -> list[str]:
            return failures(
                drops,
                limits.max_drop,
                measured,
                limits.min_label_agreement,
                limits.min_mask_iou,
                fast,
                min_speedup,
                ratio,
                limits.max_size_ratio,
            )

        judged = limits.min_speedup is not None and not missed_with(None, None)  # else decided whatever its speed
        screened = protocol is None and not judged
        protocol = protocol or (SCREENING if screened else self.protocol)
        fp32 = self.fp32(run)
        placed = [[r.place(x) for x in inputs_for(size)] for r in (fp32, runner)]
        with ledger.phase("A/B timing"):
            timing = time_ab(fp32.call, runner.call, placed[0], placed[1], protocol, Timer())
        fast = speedup(timing.ratios, timing.a_block_ms, timing.b_block_ms, session.options.profile.gate.alpha)
        missed = missed_with(fast, None if screened else limits.min_speedup)
        how = f"{SCREENED if screened else ''}FP32 OpenVINO (A) against the candidate (B): {protocol.describe()}"
        return candidate_record(
            evaluation=evaluation.record,
            built=built,
            limits=limits,
            fp32_metrics=fp32_metrics,
            metrics=metrics,
            measured=measured,
            fast=fast,
            latency_protocol=how,
            fp32_size_bytes=fp32_size,
            failures=missed,
            export=export_info(exported),
            runtime_settings=runner.settings,
            calibration=session.deployment(run).calibration,
            environment_device=session.options.device,
            drop_intervals=paired_drops(fp32_measured, measured_metrics),
        )

    def emit(self, record: CandidateRecord) -> Path:
        return self.session.emit(candidate_record_name(record.method, record.category, record.candidate), record)


def outcome(record: CandidateRecord, path: Path, fail_on_reject: bool) -> tuple[str, str]:
    """What the candidate's test does: ("pass" | "fail" | "xfail", one message naming the verdict and why)."""
    subject = f"{record.category}-openvino-{record.candidate}"
    facts = (
        f"speed-up {record.speedup.describe()}, label agreement {record.label_agreement:.1%}, "
        f"size {record.size_ratio:.2f} of FP32"
    )
    if record.status == "accepted":
        return "pass", f"{subject} accepted: {facts}; record: {path}"
    why = "; ".join(record.failures)
    if fail_on_reject:
        return "fail", f"{subject} rejected: {why} ({facts}); record: {path}"
    return "xfail", f"{subject} rejected (reported, [candidates] fail_on_reject = false): {why}; record: {path}"
