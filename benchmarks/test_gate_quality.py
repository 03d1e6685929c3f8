"""Quality of the latency gate on this machine, per decision mode (``inspectnet.harness.gate_quality``).

A/B mode (the default wherever both models can be run): 10 unchanged trials and 10 with a real 5%
slowdown (extra convolution work in the exported graph, sized by A/B measurement to 5% +- 0.5% here), each
decided against the baseline by an ABBA run. Goal: 0 of 10 false alarms and at least 9 of 10 detections.
Records-only fallback: the same with a 10% slowdown, decided by the gate's records decision (run medians at
each run's reference speed, peak measurements around every run; undecided when the machine's speed moved
too much); reported: the fallback is for when A/B cannot run.
`pytest benchmarks/test_gate_quality.py --run-slow` (about 15 min on 2 cores, OpenVINO, the subject
category); publishes ``<report-dir>/gate_quality_<UTC start time>.json``: each run adds a record, so runs made
at different times can be compared and cited.
"""

from __future__ import annotations

import pytest

from inspectnet.harness.latency import LatencyRecorder
from inspectnet.harness.session import Session
from inspectnet.names import RunKey

pytestmark = [pytest.mark.latency, pytest.mark.slow]
AB_SLOWDOWN = 0.05
RECORDS_SLOWDOWN = 0.10


def test_gate_quality(inspectnet: Session, inspectnet_latency: LatencyRecorder, inspectnet_subject: RunKey) -> None:
    from inspectnet.builders import gate_quality_record
    from inspectnet.harness.gate_quality import RUNTIME, GateQuality
    from inspectnet.hostinfo import cpu_model
    from inspectnet.records import now

    started = now()
    settings = inspectnet.options.profile.gate
    quality = GateQuality(inspectnet, inspectnet_subject, settings, inspectnet_latency.protocol)
    ab = quality.ab_table(AB_SLOWDOWN)
    records = quality.records_table(RECORDS_SLOWDOWN)
    protocol = inspectnet_latency.protocol
    path = inspectnet.emit(
        f"gate_quality_{started.replace('-', '').replace(':', '')}.json",
        gate_quality_record(
            subject=f"patchcore {inspectnet_subject.category} cpu {RUNTIME}, each candidate against one baseline",
            host=cpu_model(),
            settings=quality.gate_settings,
            ab_protocol=quality.ab_protocol.describe(),
            records_protocol=f"{protocol.runs} runs per record, each {protocol.warmup} warm-up and "
            f"{protocol.rounds} timed calls, a peak calibration before the first run and after every run; "
            "baseline first, candidates' runs round-robin",
            baseline_median_ms=quality.run_median_ms(quality.baseline),
            tables=[ab, records],
        ),
    )
    assert ab.false_alarms == 0 and ab.detections >= 9, (
        f"A/B at {AB_SLOWDOWN:.0%}: false alarms {ab.false_alarms}/10, detections {ab.detections}/10 (slowed "
        f"trials measured {ab.measured_slowdown:+.2%}; planted: {ab.planted}); {path}"
    )
