"""Deterministic float64 ``cos``, ``sin``, ``exp``, ``arctan2``, ``hypot`` and ``wrap_angle``.

numpy dispatches its transcendental functions (``np.cos``, ``np.exp``, ``np.arctan2``, ``np.hypot``, ...,
on arrays and on numpy scalars alike) to different SIMD code depending on the CPU, and the variants
differ in the last bit; Python's ``math`` functions go to libm, which picks FMA or non-FMA variants
at load time. A last-bit difference is enough to flip an 8-bit pixel now and then, so the synthetic
dataset drawn with them was not the same file on every machine.

The functions here are built only from IEEE-754 operations that are exactly rounded by definition and
so give the same bits on every SIMD path: ``+ - * /``, ``sqrt``, ``rint``, ``abs``, ``minimum`` /
``maximum``, ``ldexp``, ``copysign``, comparisons and ``where``. Each ufunc call is one rounding, so
there is no room for a compiler to fuse a multiply and an add. No reduction, ``dot`` or BLAS is used.

Accuracy is within a few units in the last place of the exact result (about 1e-15 relative, or
1e-15 absolute for ``sin``/``cos`` near their zeros) for ``|x| <= 1e5`` in ``sin``/``cos``; outside
that range the results are still deterministic, only less accurate. NaN and infinities give NaN
(``exp(-inf)`` is 0, ``exp(inf)`` is inf).

Every function accepts a Python or numpy scalar (returns a numpy ``float64``) or an array (returns a
``float64`` array of the broadcast shape).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
Scalar = float | np.floating[Any]

# 64 decimal places of pi and ln 2: far more than the three doubles we split each into.
_PI = Fraction("3.1415926535897932384626433832795028841971693993751058209749445923")
_LN2 = Fraction("0.6931471805599453094172321214581765680755001343602552541206800094")


def _truncate(value: float, bits: int) -> float:
    """``value`` with only its leading ``bits`` significant bits kept (towards zero; exact)."""
    mantissa, exponent = math.frexp(value)
    return math.ldexp(math.floor(mantissa * 2.0**bits) / 2.0**bits, exponent)


def _split(value: Fraction, bits: int) -> tuple[float, float, float]:
    """``value`` as ``hi + mid + lo``; hi and mid have ``bits`` significant bits so ``k * hi`` is exact."""
    hi = _truncate(float(value), bits)
    mid = _truncate(float(value - Fraction(hi)), bits)
    return hi, mid, float(value - Fraction(hi) - Fraction(mid))


# Cody-Waite constants: with 33-bit parts, k * part is exact for |k| < 2**20 (|x| up to ~1.6e6).
_PIO2_1, _PIO2_2, _PIO2_3 = _split(_PI / 2, 33)
_TWO_OVER_PI = float(2 / _PI)
# ln 2 in 40-bit parts: k * part is exact for the |k| <= 1100 that exp can need.
_LN2_1, _LN2_2, _LN2_3 = _split(_LN2, 40)
_INV_LN2 = float(1 / _LN2)
_PIO2_HI, _PIO2_LO = float(_PI / 2), float(_PI / 2 - Fraction(float(_PI / 2)))
_PI_HI, _PI_LO = float(_PI), float(_PI - Fraction(float(_PI)))
_TWO_PI = float(2 * _PI)

# Taylor coefficients, each the correctly rounded double of an exact rational.
# sin r = r + r^3 * S(r^2) on |r| <= pi/4: terms to r^17, the first omitted one is < 1e-19.
_SIN = tuple(float(Fraction((-1) ** n, math.factorial(2 * n + 1))) for n in range(1, 9))
# cos r = 1 - r^2 * C(r^2): terms to r^18, the first omitted one is < 1e-21.
_COS = tuple(float(Fraction((-1) ** n, math.factorial(2 * n + 2))) for n in range(0, 9))
# exp r = 1 + r * E(r) on |r| <= ln2 / 2: terms to r^14, the first omitted one is < 1e-19.
_EXP = tuple(float(Fraction(1, math.factorial(n + 1))) for n in range(0, 14))
# atan t = t + t^3 * A(t^2) on |t| <= tan(pi/8) ~ 0.414: terms to t^45, the first omitted one is < 1e-19.
_ATAN = tuple(float(Fraction((-1) ** n, 2 * n + 1)) for n in range(1, 23))


def _horner(z: F64, coefficients: tuple[float, ...]) -> F64:
    """``c0 + z * (c1 + z * (c2 + ...))``, one rounding per multiply and per add."""
    acc = np.full_like(z, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        np.multiply(acc, z, out=acc)  # in place: the same single roundings, no temporaries
        np.add(acc, c, out=acc)
    return acc


def _as_f64(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


def _out(value: F64) -> Any:
    """A 0-d result as a numpy ``float64`` scalar, anything else as it is."""
    return value[()] if value.ndim == 0 else value


def _reduce_pio2(x: F64) -> tuple[F64, NDArray[np.int64]]:
    """``r`` in [-pi/4, pi/4] and the quadrant ``q`` in 0..3 with ``x = r + (4m + q) * pi/2``."""
    k = np.rint(x * _TWO_OVER_PI)
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    return r, k.astype(np.int64) & 3


def _sin_cos(x: ArrayLike) -> tuple[F64, F64, NDArray[np.bool_]]:
    """``sin x``, ``cos x`` and where ``x`` is finite; computed from one shared reduction."""
    x = _as_f64(x)
    finite = np.isfinite(x)
    r, q = _reduce_pio2(np.where(finite, x, 0.0))
    z = r * r
    s = r + (r * z) * _horner(z, _SIN)
    c = 1.0 - z * _horner(z, _COS)
    odd = (q & 1) == 1  # quadrants 1 and 3 swap sine and cosine
    sin = np.where(odd, c, s)
    cos = np.where(odd, s, c)
    np.negative(sin, out=sin, where=q >= 2)  # sin < 0 in quadrants 2, 3; cos in 1, 2
    np.negative(cos, out=cos, where=(q == 1) | (q == 2))
    return sin, cos, finite


@overload
def sin(x: Scalar) -> np.float64: ...
@overload
def sin(x: NDArray[Any]) -> F64: ...
def sin(x: ArrayLike) -> np.float64 | F64:
    """Sine, deterministic to the bit; see the module docstring for accuracy."""
    s, _, finite = _sin_cos(x)
    return _out(np.where(finite, s, np.nan))


@overload
def cos(x: Scalar) -> np.float64: ...
@overload
def cos(x: NDArray[Any]) -> F64: ...
def cos(x: ArrayLike) -> np.float64 | F64:
    """Cosine, deterministic to the bit; see the module docstring for accuracy."""
    _, c, finite = _sin_cos(x)
    return _out(np.where(finite, c, np.nan))


@overload
def exp(x: Scalar) -> np.float64: ...
@overload
def exp(x: NDArray[Any]) -> F64: ...
def exp(x: ArrayLike) -> np.float64 | F64:
    """``e**x``: ``x = k ln2 + r`` with ``|r| <= ln2/2`` (three-part ln 2), a polynomial, then ``ldexp``.

    Results below the smallest normal double are flushed to 0 (exactly what every path does);
    above ~709.78 they are inf.
    """
    x = _as_f64(x)
    xc = np.clip(np.where(np.isnan(x), 0.0, x), -746.0, 710.0)
    k = np.rint(xc * _INV_LN2)
    r = ((xc - k * _LN2_1) - k * _LN2_2) - k * _LN2_3
    y = 1.0 + r * _horner(r, _EXP)
    with np.errstate(over="ignore"):
        out = np.ldexp(y, k.astype(np.int64))
    out = np.where(out < np.finfo(np.float64).tiny, 0.0, out)
    return _out(np.where(np.isnan(x), np.nan, out))


def _atan_unit(t: F64) -> F64:
    """``atan t`` for ``t`` in [0, 1]: one argument halving, ``atan t = 2 atan(t / (1 + sqrt(1 + t^2)))``,
    brings ``t`` to [0, tan(pi/8)], where the odd Taylor series converges fast enough."""
    t = t / (1.0 + np.sqrt(1.0 + t * t))
    z = t * t
    return 2.0 * (t + (t * z) * _horner(z, _ATAN))


@overload
def arctan2(y: Scalar, x: Scalar) -> np.float64: ...
@overload
def arctan2(y: NDArray[Any], x: ArrayLike) -> F64: ...
@overload
def arctan2(y: ArrayLike, x: NDArray[Any]) -> F64: ...
def arctan2(y: ArrayLike, x: ArrayLike) -> np.float64 | F64:
    """Angle of the point ``(x, y)`` in [-pi, pi], with numpy's conventions for signed zeros."""
    y, x = np.broadcast_arrays(_as_f64(y), _as_f64(x))
    ay, ax = np.abs(y), np.abs(x)
    big, small = np.maximum(ax, ay), np.minimum(ax, ay)
    a = _atan_unit(small / np.where(big == 0, 1.0, big))  # in [0, pi/4]
    a = np.where(ay > ax, (_PIO2_HI - a) + _PIO2_LO, a)  # in [0, pi/2]
    a = np.where(np.signbit(x), (_PI_HI - a) + _PI_LO, a)  # in [0, pi]
    return _out(np.where(np.isnan(x) | np.isnan(y), np.nan, np.copysign(a, y)))


@overload
def hypot(x: Scalar, y: Scalar) -> np.float64: ...
@overload
def hypot(x: NDArray[Any], y: ArrayLike) -> F64: ...
@overload
def hypot(x: ArrayLike, y: NDArray[Any]) -> F64: ...
def hypot(x: ArrayLike, y: ArrayLike) -> np.float64 | F64:
    """``sqrt(x*x + y*y)`` in float64 (no overflow guard: meant for pixel coordinates)."""
    x, y = _as_f64(x), _as_f64(y)
    return _out(np.sqrt(x * x + y * y))


@overload
def wrap_angle(x: Scalar) -> np.float64: ...
@overload
def wrap_angle(x: NDArray[Any]) -> F64: ...
def wrap_angle(x: ArrayLike) -> np.float64 | F64:
    """``x`` minus the nearest multiple of 2 pi: an angle in [-pi, pi] (``np.angle(np.exp(1j * x))``)."""
    x = _as_f64(x)
    return _out(x - _TWO_PI * np.rint(x / _TWO_PI))
