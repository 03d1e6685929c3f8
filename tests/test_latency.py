"""Latency measurement as plain Python: timer (with a fake device clock), statistics, warm-up tail, budgets."""

from __future__ import annotations

import math
import statistics as pystats
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspectnet.criteria import CriteriaError, load_profile, packaged
from inspectnet.criteria.latency import parse_budgets
from inspectnet.harness.latency import Sampler, drive
from inspectnet.measure.latency import Floor, Timer, nearest_rank, statistics, warmup_tail

samples = st.lists(st.floats(min_value=1e-4, max_value=10.0, allow_nan=False), min_size=1, max_size=80)


class FakeDevice:
    """A device whose work is asynchronous: a call only queues work; the clock moves when it is synchronised."""

    def __init__(self) -> None:
        self.now_ns = 0
        self.queued_ns = 0
        self.events: list[str] = []

    def clock(self) -> int:
        self.events.append("clock")
        return self.now_ns

    def sync(self) -> None:
        self.events.append("sync")
        self.now_ns += self.queued_ns
        self.queued_ns = 0

    def launch(self, work_ns: int) -> None:
        self.events.append("call")
        self.now_ns += 1_000  # the launch itself: 1 us on the host
        self.queued_ns += work_ns


def test_timer_counts_asynchronous_device_work_and_not_earlier_work() -> None:
    device = FakeDevice()
    device.queued_ns = 7_000_000  # earlier work still queued when timing starts: drained before the clock starts
    timer = Timer(clock_ns=device.clock, sync=device.sync)
    seconds = timer.time(device.launch, 5_000_000)
    assert seconds == pytest.approx(0.005001)
    assert device.events == ["sync", "clock", "call", "sync", "clock"]


def test_a_timer_without_sync_would_miss_the_device_work() -> None:
    """The planted defect the sync guards against: without it, an async call looks 5000x faster."""
    device = FakeDevice()
    seconds = Timer(clock_ns=device.clock).time(device.launch, 5_000_000)
    assert seconds == pytest.approx(1e-6)


@given(samples, st.floats(min_value=0.01, max_value=1.0))
def test_nearest_rank_is_the_definition(values: list[float], q: float) -> None:
    ordered = sorted(values)
    value = nearest_rank(ordered, q)
    below = sum(v < value for v in ordered)
    at_most = sum(v <= value for v in ordered)
    assert below < math.ceil(q * len(ordered) - 1e-9) or below == 0
    assert at_most >= q * len(ordered) - 1e-9


@given(samples)
def test_statistics_match_python_statistics(values: list[float]) -> None:
    stats = statistics(values, warmup=3)
    ms = [v * 1e3 for v in values]
    assert stats.n == len(values) and stats.warmup == 3
    assert stats.min_ms == pytest.approx(min(ms))
    assert stats.median_ms == pytest.approx(pystats.median(ms))
    assert stats.mean_ms == pytest.approx(pystats.fmean(ms))
    assert stats.std_ms == pytest.approx(pystats.pstdev(ms), abs=1e-9, rel=1e-6)  # population, not sample
    assert stats.min_ms <= stats.median_ms <= stats.p95_ms <= stats.p99_ms <= max(ms) + 1e-9


def test_percentiles_are_nearest_rank_not_interpolated() -> None:
    stats = statistics([i / 1e3 for i in range(1, 51)], warmup=0)  # 1..50 ms
    assert (stats.p95_ms, stats.p99_ms) == (48.0, 50.0)  # ceil(47.5) = 48th, ceil(49.5) = 50th
    assert stats.std_ms == pytest.approx(float(np.std(np.arange(1, 51))))


def test_a_slow_first_decile_is_a_warmup_tail() -> None:
    steady = [0.030] * 45
    tail = warmup_tail([0.060] * 5 + steady)
    assert tail.detected and tail.ratio == pytest.approx(2.0)
    assert not warmup_tail([0.031] * 5 + steady).detected
    with pytest.raises(ValueError, match="too few"):
        warmup_tail([0.03])


def test_floor_and_efficiency() -> None:
    floor = Floor(flops=24_000_000_000, peak_flops_per_s=120e9)
    assert floor.ms == pytest.approx(200.0)
    assert floor.efficiency(250.0) == pytest.approx(0.8)


def test_sampler_keeps_warmup_apart_and_cycles_inputs() -> None:
    seen: list[int] = []
    ticks = iter(range(0, 10**9, 1000))
    sampler = Sampler(seen.append, [0, 1, 2], Timer(clock_ns=lambda: next(ticks)), warmup=4)
    drive(sampler, rounds=6)
    assert seen == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert len(sampler.warmup_s) == 4 and len(sampler.timed_s) == 6


AMD = "AMD EPYC/avx512/2"
INTEL = "Intel(R) Xeon(R) Platinum 8488C/avx512-amx/2"
PROFILE = {
    "cpu": {
        "min_layer_efficiency": 0.4,
        "openvino": {"min_layer_efficiency": 0.6},
        "machine": [
            {"class": "AMD EPYC/avx512/*", "median_ms": 300, "openvino": {"median_ms": 150, "p95_ms": 170}},
            {"class": "*/avx512*/*", "p95_ms": 999},
        ],
    }
}


def test_a_class_budget_is_judged_on_its_class_and_names_it(tmp_path: Path) -> None:
    budget = parse_budgets(tmp_path / "p.toml", PROFILE)["cpu"].budget("cpu", "openvino", AMD)
    assert budget.machine is not None and budget.machine.pattern == "AMD EPYC/avx512/*"
    assert budget.failures(140.0, 160.0, 0.7) == []
    assert budget.failures(160.0, 180.0, 0.5) == [
        "layer efficiency 0.500 < portable floor 0.600",
        "median 160.000 ms > 150.000 ms, budget of class 'AMD EPYC/avx512/*'",
        "p95 180.000 ms > 170.000 ms, budget of class 'AMD EPYC/avx512/*'",
    ]
    assert budget.not_judged("reports/eval_harness") is None
    assert "class 'AMD EPYC/avx512/*': median_ms 150.0, p95_ms 170.0" in budget.describe()


def test_shared_class_limits_apply_to_every_runtime_and_the_first_match_wins(tmp_path: Path) -> None:
    budgets = parse_budgets(tmp_path / "p.toml", PROFILE)["cpu"]
    torch_amd = budgets.budget("cpu", "torch", AMD)
    assert torch_amd.machine is not None and (torch_amd.machine.median_ms, torch_amd.machine.p95_ms) == (300.0, None)
    assert torch_amd.min_layer_efficiency == 0.4
    intel = budgets.budget("cpu", "torch", INTEL)  # only the wildcard entry matches
    assert intel.machine is not None and intel.machine.pattern == "*/avx512*/*"


def test_another_class_is_not_judged_and_says_how_to_write_a_budget(tmp_path: Path) -> None:
    budget = parse_budgets(tmp_path / "p.toml", PROFILE)["cpu"].budget("cpu", "openvino", "AMD EPYC/avx2/16")
    assert budget.machine is None
    assert budget.failures(10_000.0, 10_000.0, 0.9) == []  # milliseconds are not judged on another class
    assert budget.failures(10_000.0, 10_000.0, 0.1) == ["layer efficiency 0.100 < portable floor 0.600"]
    message = budget.not_judged("reports/eval_harness")
    assert message is not None
    assert "no latency budget for this machine class (AMD EPYC/avx2/16;" in message
    assert "AMD EPYC/avx512/*" in message and "`inspectnet budget --from reports/eval_harness`" in message


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"tpu": {"min_layer_efficiency": 1}}, "unknown key latency.tpu"),
        ({"cpu": {"mean_ms": 1}}, "unknown key latency.cpu.mean_ms"),
        ({"cpu": {"min_layer_efficiency": -1}}, "latency.cpu.min_layer_efficiency must be a positive number"),
        ({"cpu": {"openvino": {"p99_ms": 3}}}, "unknown key latency.cpu.openvino.p99_ms"),
        ({"cpu": 3}, "latency.cpu must be a table"),
        ({"cpu": {"min_efficiency": 0.5}}, "did not carry across CPUs; use min_layer_efficiency"),
        ({"cpu": {"median_ms": 100}}, r"milliseconds hold on one kind of machine; put it in a \[\[latency.cpu.machine"),
        ({"cpu": {"machine": [{"median_ms": 100}]}}, r"latency.cpu.machine\[0\] needs class ="),
        ({"cpu": {"machine": [{"class": "x", "median_ms": "fast"}]}}, r"machine\[0\].median_ms must be a positive"),
        ({"cpu": {"machine": [{"class": "x", "torch": {"min_layer_efficiency": 1}}]}}, "unknown key"),
        ({"cpu": {"machine": {"class": "x"}}}, r"must be tables: \[\[latency.cpu.machine\]\]"),
    ],
)
def test_bad_budgets_are_named(tmp_path: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_budgets(tmp_path / "p.toml", table)


def test_packaged_profiles_have_a_floor_for_every_device_and_runtime() -> None:
    for dataset in ("synthetic", "mvtec_ad"):
        profile = load_profile(packaged(dataset))
        for device, runtimes in (("cpu", ("torch", "onnxruntime", "openvino")), ("cuda", ("torch", "onnxruntime"))):
            for runtime in runtimes:
                budget = profile.budget(device, runtime, "any/avx2/4")
                assert budget.min_layer_efficiency is not None, budget.describe()


def test_a_missing_floor_says_what_to_add(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('schema = 1\n[plan]\ncategories = ["bottle"]\n')
    with pytest.raises(CriteriaError, match=r"no portable latency floor for openvino on cpu; add \[latency.cpu\]"):
        load_profile(path).budget("cpu", "openvino", AMD)


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ({"avx", "avx2", "fma", "avx512f", "amx_tile"}, "avx512-amx"),
        ({"avx", "avx2", "fma", "avx512f", "avx512_bf16"}, "avx512"),
        ({"avx", "avx2", "fma"}, "avx2"),
        ({"avx"}, "avx"),
        ({"asimd", "sve"}, "sve"),
        ({"asimd"}, "neon"),
        (set(), "baseline"),
    ],
)
def test_isa_level_is_the_widest_vector_level(flags: set[str], level: str) -> None:
    from inspectnet.hostinfo import isa_level

    assert isa_level(frozenset(flags)) == level


def test_this_machine_s_class_names_cpu_isa_and_cores() -> None:
    from inspectnet.hostinfo import cpu_model, isa_level, machine_class, usable_cores

    cpu, isa, cores = machine_class("cpu").rsplit("/", 2)
    assert cpu.startswith(cpu_model()) and isa == isa_level() and cores == str(usable_cores())
