"""inspectnet.data._exactmath: close to numpy's functions, and the same bits under every numpy SIMD dispatch level."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspectnet.data import _exactmath as em
from inspectnet.data._draw import gaussian_blur


def dispatch_features() -> list[str]:
    """numpy's dispatchable SIMD targets that this CPU enables, lowest first (empty: baseline code only)."""
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy < 2
        umath = importlib.import_module("numpy.core._multiarray_umath")
    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]


def dispatch_levels() -> list[list[str]]:
    """Feature lists for ``NPY_DISABLE_CPU_FEATURES``: baseline only first, then each higher level down from the top."""
    features = dispatch_features()
    suffixes = [features[i:] for i in range(len(features))]
    if len(suffixes) > 4:  # older numpy lists many fine-grained features: test a spread of them
        suffixes = [suffixes[round(i * (len(suffixes) - 1) / 3)] for i in range(4)]
    return suffixes


def restricted_env(disabled: list[str]) -> dict[str, str]:
    """This process's environment with numpy told to leave ``disabled`` unused (none: numpy's default)."""
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disabled)
    return env


def _grid() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(-50, 50, 200_001), rng.uniform(-1e4, 1e4, 100_000), rng.normal(0, 3, 100_000)])
    y = np.concatenate([np.linspace(-3, 3, 200_001)[::-1], rng.normal(0, 300, 100_000), rng.normal(0, 1e-3, 100_000)])
    return x, y


def test_sin_cos_match_numpy() -> None:
    x, _ = _grid()
    np.testing.assert_allclose(em.sin(x), np.sin(x), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(em.cos(x), np.cos(x), rtol=1e-15, atol=1e-15)


def test_exp_matches_numpy() -> None:
    x = np.concatenate([np.linspace(-700, 700, 400_001), np.linspace(-2, 2, 100_001)])
    np.testing.assert_allclose(em.exp(x), np.exp(x), rtol=1e-15, atol=0)
    assert em.exp(np.array([-np.inf, -800.0, 800.0, np.inf])).tolist() == [0.0, 0.0, np.inf, np.inf]
    assert np.isnan(em.exp(np.nan))


def test_arctan2_and_hypot_match_numpy() -> None:
    x, y = _grid()
    np.testing.assert_allclose(em.arctan2(y, x), np.arctan2(y, x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(em.hypot(x, y), np.hypot(x, y), rtol=1e-15, atol=0)
    t = np.linspace(0, 1, 100_001)
    np.testing.assert_allclose(em.arctan2(t, 1.0), np.arctan(t), rtol=1e-15, atol=0)


def test_arctan2_follows_numpy_on_signed_zeros_and_axes() -> None:
    special = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5]
    y, x = (a.ravel() for a in np.meshgrid(special, special))
    expected = np.arctan2(y, x)
    got = em.arctan2(y, x)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_wrap_angle_is_numpys_complex_angle() -> None:
    x = np.linspace(-20, 20, 10_001)
    np.testing.assert_allclose(em.wrap_angle(x), np.angle(np.exp(1j * x)), rtol=0, atol=1e-14)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-1e4, 1e4, allow_nan=False),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(-700, 700, allow_nan=False),
)
def test_scalars_agree_with_numpy_and_with_arrays(x: float, y: float, e: float) -> None:
    for got, ref in (
        (em.sin(x), np.sin(x)),
        (em.cos(x), np.cos(x)),
        (em.exp(e), np.exp(e)),
        (em.arctan2(y, x), np.arctan2(y, x)),
        (em.hypot(x, y), np.hypot(x, y)),
    ):
        assert type(got) is np.float64
        assert abs(got - ref) <= 1e-15 * max(abs(ref), 1.0)
    # a scalar takes the same path as an array element: the same bits
    assert em.sin(x) == em.sin(np.array([x]))[0]
    assert em.exp(e) == em.exp(np.array([e]))[0]
    assert em.arctan2(y, x) == em.arctan2(np.array([y]), x)[0]


def test_types_and_shapes() -> None:
    a32 = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    for f in (em.sin, em.cos, em.exp, em.wrap_angle):
        out = f(a32)
        assert out.dtype == np.float64 and out.shape == (3, 4)
        assert type(f(np.float32(0.5))) is np.float64
    assert em.arctan2(a32, 1.0).shape == (3, 4)
    assert em.hypot(a32[:, :1], a32[:1, :]).shape == (3, 4)


def test_gaussian_blur_matches_scipy() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    photo = rng.random((40, 56))
    np.testing.assert_allclose(
        gaussian_blur(photo, (1.2, 1.2), "wrap"), ndimage.gaussian_filter(photo, 1.2, mode="wrap"), atol=1e-14
    )
    img = rng.random((48, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(
        gaussian_blur(img, (4, 4, 0), "reflect"), ndimage.gaussian_filter(img.astype(np.float64), (4, 4, 0)), atol=1e-14
    )


_FINGERPRINT = """
import hashlib, numpy as np, sys
from inspectnet.data import _exactmath as em
from inspectnet.data._draw import gaussian_blur
try:
    from numpy._core import _multiarray_umath as umath
except ImportError:
    from numpy.core import _multiarray_umath as umath
still_on = [f for f in sys.argv[1:] if umath.__cpu_features__.get(f)]
assert not still_on, f"numpy did not disable {still_on}"
rng = np.random.default_rng(11)
x = np.concatenate([rng.uniform(-400, 400, 300_001), rng.normal(0, 2, 300_000)])
y = rng.normal(0, 100, x.size).astype(np.float32)
h = hashlib.sha256()
for out in (em.sin(x), em.cos(x), em.exp(x / 2), em.exp(-(x * x)), em.arctan2(y, x), em.hypot(x, y),
            em.wrap_angle(x), gaussian_blur(x[:90_000].reshape(300, 300), (1.2, 3.0), "wrap"),
            gaussian_blur(y[:90_000].reshape(300, 100, 3), (4, 4, 0), "reflect"),
            np.array([em.cos(1.3), em.sin(-7.0), em.exp(0.25), em.arctan2(-1.0, -3.0), em.hypot(3.0, 4.5)])):
    h.update(np.ascontiguousarray(out).tobytes())
print(h.hexdigest())
"""


def _fingerprint(disabled: list[str]) -> str:
    run = subprocess.run(
        [sys.executable, "-c", _FINGERPRINT, *disabled],
        capture_output=True,
        text=True,
        env=restricted_env(disabled),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_same_bits_under_every_numpy_dispatch_level() -> None:
    levels = dispatch_levels()
    if not levels:
        pytest.skip("numpy runs only its baseline code on this CPU: there is no other dispatch level to compare")
    reference = _fingerprint([])
    for disabled in levels:
        assert _fingerprint(disabled) == reference, f"NPY_DISABLE_CPU_FEATURES={' '.join(disabled)!r} changed the bits"
