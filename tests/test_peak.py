"""The peak float32 rate behind the compute floor: every runtime's kernels, a floor no kernel beats, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from inspectnet.measure.peak import METHOD, KernelRate, PeakCalibration, PeakMeter, floor_ms
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
def calibration(meter: PeakMeter) -> PeakCalibration:
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


def efficiency(flops: int, seconds: float, calibrations: list[PeakCalibration]) -> float:
    """The compute floor over a measured time: at most 1 when the floor is a floor."""
    return floor_ms(flops, calibrations) / (seconds * 1e3)


def by_hand(*rates: tuple[str, float]) -> PeakCalibration:
    """A calibration from (kernel, GF/s) pairs, each kernel the conv's FLOPs."""
    kernels = [KernelRate("torch", k, CONV_FLOPS, round(CONV_FLOPS / (g * 1e9), 7), g) for k, g in rates]
    top = max(kernels, key=lambda r: r.gflops_per_s)
    return PeakCalibration("cpu", round(top.gflops_per_s * 1e9), f"torch {top.kernel}", kernels, 0.0)


def test_cpu_calibration_runs_every_kernel_in_every_runtime(calibration: PeakCalibration) -> None:
    assert calibration.device == "cpu"
    ran = {(k.runtime, k.kernel) for k in calibration.kernels}
    assert ran == {(r, k) for r in ("torch", "onnxruntime", "openvino") for k in CPU_FLOPS}
    assert len(calibration.kernels) == len(ran)
    for k in calibration.kernels:
        assert k.flops == CPU_FLOPS[k.kernel], k
        assert type(k.flops) is int and type(k.best_s) is float and type(k.gflops_per_s) is float
        assert k.best_s > 0 and k.best_s == round(k.best_s, 7)
        assert k.gflops_per_s == pytest.approx(k.flops / k.best_s / 1e9, abs=0.006)
    top = max(calibration.kernels, key=lambda k: k.flops / k.best_s)
    assert type(calibration.flops_per_s) is int
    assert abs(calibration.flops_per_s - top.flops / top.best_s) <= 1
    assert calibration.flops_per_s == pytest.approx(max(k.gflops_per_s for k in calibration.kernels) * 1e9, abs=1e7)
    assert calibration.best == f"{top.runtime} {top.kernel}"
    assert 0 < calibration.seconds < 10


def test_floor_ms_divides_by_the_best_of_the_calibrations() -> None:
    slow, fast = by_hand(("slow", 100.0)), by_hand(("fast", 200.0))
    assert floor_ms(2 * 10**9, [slow, fast]) == pytest.approx(10.0)
    assert floor_ms(2 * 10**9, [fast, slow]) == pytest.approx(10.0)
    assert floor_ms(2 * 10**9, [slow]) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="no peak calibration"):
        floor_ms(1, [])


def test_the_floor_is_a_floor(meter: PeakMeter) -> None:
    calibration = meter.measure()
    seconds = torch_conv_s()
    assert efficiency(CONV_FLOPS, seconds, [calibration]) <= 1.02, (CONV_FLOPS / seconds, calibration)


def test_a_slow_calibration_is_beaten() -> None:
    """Planted defect: a 'peak' from a deliberately slow kernel is no floor, and the check above says so."""
    slow = by_hand(("conv3x3 c256 32x32 at 5 GF/s", 5.0))
    assert efficiency(CONV_FLOPS, torch_conv_s(), [slow]) > 1.02


def test_calibration_survives_json(calibration: PeakCalibration) -> None:
    text = json.dumps(encode(calibration))
    assert decode(PeakCalibration, json.loads(text)) == calibration
    assert json.dumps(encode(decode(PeakCalibration, json.loads(text)))) == text


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
    calibration = PeakMeter("cpu", repeats=1).measure()
    assert {k.runtime for k in calibration.kernels} == {"torch"}
    assert sorted(k.kernel for k in calibration.kernels) == sorted(CPU_FLOPS)
    for name in ("torch", "onnx"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(RuntimeError, match="no runtime could run a kernel"):
        PeakMeter("cpu")
