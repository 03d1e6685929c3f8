"""The peak float32 rate behind the compute floor: every runtime's kernels, a floor no kernel beats, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from inspectnet.measure.peak import METHOD, KernelRate, PeakMeasurement, PeakMeter, floor_ms
from inspectnet.typed_json import decode, encode

# the CPU kernels and their FLOPs, written out (2 x multiply-accumulates; conv: same padding, c_in = c_out)
CPU_FLOPS = {
    "conv3x3 c128 64x64": 2 * 128 * 128 * 3 * 3 * 64 * 64,
    "conv3x3 c256 32x32": 2 * 256 * 256 * 3 * 3 * 32 * 32,
    "conv3x3 c512 16x16": 2 * 512 * 512 * 3 * 3 * 16 * 16,
    "conv1x1 c1024 16x16": 2 * 1024 * 1024 * 1 * 1 * 16 * 16,
    "matmul 1024": 2 * 1024**3,
}
CONV_FLOPS = CPU_FLOPS["conv3x3 c256 32x32"]


@pytest.fixture(scope="module")
def meter() -> PeakMeter:
    return PeakMeter("cpu")


@pytest.fixture(scope="module")
def peak(meter: PeakMeter) -> PeakMeasurement:
    return meter.measure()


def torch_conv_s(repeats: int = 5) -> float:
    """Best of ``repeats`` torch conv3x3 c256 32x32 calls after a warm-up, timed here, not by the meter."""
    import torch

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 256, 32, 32, generator=gen) * 0.01
    w = torch.randn(256, 256, 3, 3, generator=gen) * 0.01
    best = float("inf")
    with torch.inference_mode():
        torch.nn.functional.conv2d(x, w, padding=1)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            best = min(best, time.perf_counter() - start)
    return best


def efficiency(flops: int, seconds: float, peaks: list[PeakMeasurement]) -> float:
    """The compute floor over a measured time: at most 1 when the floor is a floor."""
    return floor_ms(flops, peaks) / (seconds * 1e3)


def by_hand(*rates: tuple[str, float]) -> PeakMeasurement:
    """A peak measurement from (kernel, GF/s) pairs, each kernel the conv's FLOPs."""
    kernels = [KernelRate("torch", k, CONV_FLOPS, round(CONV_FLOPS / (g * 1e9), 7), g) for k, g in rates]
    top = max(kernels, key=lambda r: r.gflops_per_s)
    return PeakMeasurement("cpu", round(top.gflops_per_s * 1e9), f"torch {top.kernel}", kernels, 0.0)


def test_cpu_peak_measurement_runs_every_kernel_in_every_runtime(peak: PeakMeasurement) -> None:
    assert peak.device == "cpu"
    ran = {(k.runtime, k.kernel) for k in peak.kernels}
    assert ran == {(r, k) for r in ("torch", "onnxruntime", "openvino") for k in CPU_FLOPS}
    assert len(peak.kernels) == len(ran)
    for k in peak.kernels:
        assert k.flops == CPU_FLOPS[k.kernel], k
        assert type(k.flops) is int and type(k.best_s) is float and type(k.gflops_per_s) is float
        assert k.best_s > 0 and k.best_s == round(k.best_s, 7)
        assert k.gflops_per_s == pytest.approx(k.flops / k.best_s / 1e9, abs=0.006)
    top = max(peak.kernels, key=lambda k: k.flops / k.best_s)
    assert type(peak.flops_per_s) is int
    assert abs(peak.flops_per_s - top.flops / top.best_s) <= 1
    assert peak.flops_per_s == pytest.approx(max(k.gflops_per_s for k in peak.kernels) * 1e9, abs=1e7)
    assert peak.best == f"{top.runtime} {top.kernel}"
    assert 0 < peak.seconds < 10


def test_floor_ms_divides_by_the_best_of_the_peak_measurements() -> None:
    slow, fast = by_hand(("slow", 100.0)), by_hand(("fast", 200.0))
    assert floor_ms(2 * 10**9, [slow, fast]) == pytest.approx(10.0)
    assert floor_ms(2 * 10**9, [fast, slow]) == pytest.approx(10.0)
    assert floor_ms(2 * 10**9, [slow]) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="no peak measurement"):
        floor_ms(1, [])


def test_the_floor_is_a_floor(meter: PeakMeter) -> None:
    peak = meter.measure()
    seconds = torch_conv_s()
    assert efficiency(CONV_FLOPS, seconds, [peak]) <= 1.02, (CONV_FLOPS / seconds, peak)


def test_a_slow_peak_measurement_is_beaten() -> None:
    """Planted defect: a 'peak' from a deliberately slow kernel is no floor, and the check above says so."""
    slow = by_hand(("conv3x3 c256 32x32 at 5 GF/s", 5.0))
    assert efficiency(CONV_FLOPS, torch_conv_s(), [slow]) > 1.02


def test_a_peak_measurement_survives_json(peak: PeakMeasurement) -> None:
    text = json.dumps(encode(peak))
    assert decode(PeakMeasurement, json.loads(text)) == peak
    assert json.dumps(encode(decode(PeakMeasurement, json.loads(text)))) == text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="device 'tpu'"):
        PeakMeter("tpu")
    with pytest.raises(ValueError, match="repeats"):
        PeakMeter("cpu", repeats=0)


def test_method_names_the_kernels_and_runtimes() -> None:
    assert METHOD.count(".") <= 1 and "\n" not in METHOD
    for word in ("torch", "ONNX Runtime", "OpenVINO", "best of 5", "warm-up", "convolutions", "matrix product"):
        assert word in METHOD


def test_import_is_cheap() -> None:
    heavy = "{'torch', 'onnx', 'onnxruntime', 'openvino'}"
    code = f"import sys, inspectnet.measure.peak; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_runtime_that_is_not_installed_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("onnxruntime", "openvino"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    peak = PeakMeter("cpu", repeats=1).measure()
    assert {k.runtime for k in peak.kernels} == {"torch"}
    assert sorted(k.kernel for k in peak.kernels) == sorted(CPU_FLOPS)
    for name in ("torch", "onnx"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(RuntimeError, match="no runtime could run a kernel"):
        PeakMeter("cpu")
