"""The layer floor's parts as plain Python: the dense ops a model runs, and each runtime timing them alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspectnet.deploy.dense import DenseOp, onnx_bytes, square_conv
from inspectnet.deploy.runtimes.torch_eager import torch_threads
from inspectnet.measure.layers import LayerMeter, dense_ops


class Tiny(torch.nn.Module):
    """A stem with stride and padding, a repeated block, a grouped conv and a nearest-neighbour product."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 7, stride=2, padding=3)
        self.block = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.grouped = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.register_buffer("bank", torch.randn(40, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.block(self.block(x))
        x = self.grouped(x)
        flat = x.flatten(2).transpose(1, 2)[0]  # patches x channels
        return flat @ self.bank.T


def test_dense_ops_are_every_convolution_and_product_with_its_count() -> None:
    ops = dense_ops(Tiny().eval(), 32)
    by_name = {op.name: n for op, n in ops.items()}
    assert by_name == {
        "conv7x7 c3->8 32x32 s2 p3": 1,
        "conv3x3 c8 16x16": 2,  # the repeated block: one op, run twice
        "conv3x3 c8 16x16 d2 p2 g2": 1,
        "matmul 256x8x40": 1,
    }
    stem = next(op for op in ops if op.name.startswith("conv7x7"))
    assert stem.output_shape == (1, 8, 16, 16)
    assert stem.flops == 2 * 8 * 16 * 16 * 3 * 7 * 7


def test_onnx_op_computes_what_torch_computes() -> None:
    """The one-op graph is the op the model runs (strides, padding, dilation, groups), not a lookalike."""
    import onnxruntime as ort

    op = DenseOp("conv", (1, 8, 16, 16), (8, 4, 3, 3), stride=(2, 2), padding=(2, 2), dilation=(2, 2), groups=2)
    x, w = op.arrays()
    session = ort.InferenceSession(onnx_bytes(op), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 2, 2, 2, 2).numpy()
    assert got.shape == op.output_shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "openvino"])
def test_a_runtime_times_the_model_s_ops_and_sums_them_by_count(runtime: str) -> None:
    ops = dense_ops(Tiny().eval(), 32)
    timing = LayerMeter(runtime, "cpu", ops, threads=1, repeats=2).measure()
    assert timing.runtime == runtime and timing.threads == 1
    assert sorted(o.count for o in timing.ops) == [1, 1, 1, 2]
    total = sum(o.count * o.best_s for o in timing.ops) * 1e3
    assert timing.floor_ms == pytest.approx(total, abs=1e-4) and timing.floor_ms > 0


def test_torch_threads_are_pinned_for_the_ops_and_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_bad_meters_are_refused() -> None:
    ops = dense_ops(Tiny().eval(), 32)
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        LayerMeter("tensorrt", "cpu", ops, threads=1)
    with pytest.raises(ValueError, match="ran no convolution or matrix product"):
        LayerMeter("torch", "cpu", dense_ops(torch.nn.ReLU(), 8), threads=1)
    with pytest.raises(ValueError, match="at least 1"):
        LayerMeter("torch", "cpu", ops, threads=0)


def test_peak_shapes_keep_their_record_names() -> None:
    """The peak measurement's kernels are named in committed records: the shared op type keeps the names."""
    assert square_conv(32, 256, 3).name == "conv3x3 c256 32x32"
    assert square_conv(16, 1024, 1).name == "conv1x1 c1024 16x16"
    assert DenseOp("matmul", (1024, 1024), (1024, 1024)).name == "matmul 1024"
