"""Synthetic data sets for experiments: :func:`xor`, :func:`two_spirals`, :func:`cubic`.

Each returns a :class:`Dataset` ``(x, y)`` of NumPy float32 inputs ``(m, n_0)``. The ones
that sample take an integer ``seed`` and draw from their own
``numpy.random.default_rng(seed)``; nothing reads global random state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxnn import _checks


class Dataset(NamedTuple):
    """Inputs and targets: ``x`` ``(m, n_0)``, ``y`` ``(m, ...)``. Unpacks as ``x, y``."""

    x: np.ndarray
    y: np.ndarray


# Bytes a sampler holds per point at once: float64 features, labels and temporaries.
BYTES_PER_POINT = 64


def _check_common(fn: str, n, noise, seed) -> tuple[int, float]:
    """The arguments every sampler shares: n ≥ 1 points, noise ≥ 0, seed ≥ 0; and n
    points that fit the memory limit (:func:`jaxnn.memory.limit`), checked before any
    array is made."""
    n = _checks.integer(f"n (the number of points) of {fn}", n, minimum=1)
    from jaxnn import memory

    allowed, how = memory.limit()
    if allowed is not None and n * BYTES_PER_POINT > allowed:
        raise _checks.value_error(
            f"n (the number of points) of {fn}", f"at most {allowed // BYTES_PER_POINT:,} "
            f"here ({BYTES_PER_POINT} bytes a point; the memory limit is "
            f"{memory.format_bytes(allowed)}, {how})",
            f"{n:,} (about {memory.format_bytes(n * BYTES_PER_POINT)})",
            f"fewer points, e.g. n=10_000; or, if it does fit, {memory.ENV}=64G (say)")
    noise = _checks.real(f"noise (a standard deviation) of {fn}", noise, minimum=0.0)
    _checks.integer(f"seed of {fn}", seed, minimum=0)
    return n, noise


def xor() -> Dataset:
    """The four XOR points, the classic problem a network without a hidden layer cannot fit.

    Returns:
      :class:`Dataset` with ``x`` ``(4, 2)`` float32 = (0,0), (0,1), (1,0), (1,1) and
      ``y`` ``(4, 1)`` float32 = 0, 1, 1, 0.
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return Dataset(x, y)


def two_spirals(n: int, noise: float = 0.0, seed: int = 0, turns: float = 1.5) -> Dataset:
    """Two interleaved spirals in the plane, a classification problem that needs depth.

    For point i with angle t_i = √u_i · 2π·turns (u_i uniform in [0, 1)) and radius
    r_i = t_i / (2π·turns): class 0 is ``r (cos t, sin t)``, class 1 the same rotated by π,
    ``−r (cos t, sin t)``; then Gaussian noise of standard deviation ``noise`` is added to
    each coordinate. Points lie in about [−1, 1]². The first ⌈n/2⌉ points drawn are class 0,
    the rest class 1, and rows are returned shuffled.

    Args:
      n: number of points.
      noise: standard deviation of the Gaussian noise.
      seed: seed of ``numpy.random.default_rng``.
      turns: how many times each spiral winds around the origin.

    Returns:
      :class:`Dataset` with ``x`` ``(n, 2)`` float32 and ``y`` ``(n,)`` int32 in {0, 1}.
    """
    n, noise = _check_common("two_spirals", n, noise, seed)
    turns = _checks.real("turns of two_spirals", turns, minimum=0.0, strict=True)
    rng = np.random.default_rng(seed)
    y = (np.arange(n) >= (n + 1) // 2).astype(np.int32)
    t = np.sqrt(rng.uniform(size=n)) * 2 * np.pi * turns
    r = t / (2 * np.pi * turns)
    sign = 1 - 2 * y  # class 0: +1, class 1: −1 (rotation by π)
    x = sign[:, None] * r[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    x = x + noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return Dataset(x[order].astype(np.float32), y[order])


def cubic(
    n: int,
    a: float,
    b: float,
    c: float,
    d: float,
    noise: float = 0.0,
    seed: int = 0,
    x_range: tuple[float, float] = (-1.0, 1.0),
) -> Dataset:
    """Points of the polynomial of the AI Okinawa course slides, y = ax³ + bx² + cx + d,
    plus Gaussian noise.

    x is drawn uniformly from ``x_range`` and returned sorted (handy for plotting the fit);
    y = ax³ + bx² + cx + d + noise · ε with ε ~ N(0, 1).

    Args:
      n: number of points.
      a, b, c, d: the coefficients.
      noise: standard deviation of the noise on y.
      seed: seed of ``numpy.random.default_rng``.
      x_range: ``(low, high)`` with low < high.

    Returns:
      :class:`Dataset` with ``x`` ``(n, 1)`` and ``y`` ``(n, 1)``, both float32.
    """
    n, noise = _check_common("cubic", n, noise, seed)
    a, b, c, d = (_checks.real(f"coefficient {name} of cubic", value)
                  for name, value in (("a", a), ("b", b), ("c", c), ("d", d)))
    if not isinstance(x_range, tuple | list):
        raise _checks.type_error("x_range of cubic", "a pair (low, high)", x_range)
    if len(x_range) != 2:
        raise _checks.value_error("x_range of cubic", "a pair (low, high)", repr(x_range))
    low, high = (_checks.real("x_range of cubic", v) for v in x_range)
    if not low < high:
        raise _checks.value_error("x_range of cubic", "(low, high) with low < high",
                                  repr(x_range))
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))
    y = a * x**3 + b * x**2 + c * x + d + noise * rng.standard_normal(n)
    return Dataset(x[:, None].astype(np.float32), y[:, None].astype(np.float32))
