"""Memory estimates, checked before anything large is allocated.

A network's arrays are easy to size in advance: its parameters, a batch's activations,
a finite-difference sweep. An allocation XLA cannot satisfy aborts the process
(``mlp((2**31 - 1,) * 2)``) or ends in a raw out-of-memory traceback; these estimates let
jaxnn refuse such a call first, in Python, with one ValueError naming the estimate and the
limit::

    init_params: the parameters of a 2147483647-2147483647 network (4.61e+18 float32
    numbers) would take about 16.0 EiB; the memory limit is 18.8 GiB (80% of this
    machine's 23.5 GiB). Fix: a smaller network (check the sizes for a typo); …

**The limit**, in bytes, is the first of: the ``limit`` argument of a call (or of
:func:`check`); the environment variable ``JAXNN_MEMORY_LIMIT`` (bytes, or with a unit:
``512M``, ``8G``, ``1.5T``; ``none`` turns the checks off); :data:`FRACTION` of the
memory of the default device (its ``bytes_limit`` on an accelerator, the machine's
physical memory from ``os.sysconf`` on the CPU). The estimates count what a call
allocates at once, not what else the process holds, so they refuse only what could never
fit; the largest arrays XLA allocates are of the same order (it may need a few more
temporaries).

Every function here works on static shapes only (Python integers), so the checks cost
nothing and run at trace time inside ``jit`` too.
"""

from __future__ import annotations

import functools
import os
import re

import jax
import numpy as np

from jaxnn import _checks
from jaxnn.architecture import Network, check_net

ENV = "JAXNN_MEMORY_LIMIT"

# The share of the device's memory one call may allocate when no limit is given.
FRACTION = 0.8

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
_LIMIT_TEXT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGTP]?)(?:i?B)?\s*$",
                         re.IGNORECASE)


def format_bytes(n: float) -> str:
    """``n`` bytes for a message: ``512 B``, ``3.2 MiB``, ``16.0 EiB``."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"):
        n /= 1024
        if n < 1024 or unit == "ZiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def parse_limit(text: str) -> int | None:
    """A limit as ``JAXNN_MEMORY_LIMIT`` writes it: bytes (``1e9``) or with a unit
    (``512M``, ``8G``, ``8GiB``); ``none`` or ``off`` means no limit (``None``)."""
    if text.strip().lower() in ("none", "off", "inf"):
        return None
    match = _LIMIT_TEXT.match(text)
    value = float(match.group(1)) * _UNITS[match.group(2).upper()] if match else 0.0
    if not match or value < 1:
        raise ValueError(_checks.message(
            f"the environment variable {ENV}", "a number of bytes ≥ 1, optionally with a "
            "unit K, M, G or T (e.g. 8G), or none", repr(text), f"e.g. {ENV}=8G"))
    return int(value)


@functools.lru_cache(maxsize=1)
def device_memory() -> tuple[int | None, str]:
    """``(bytes, what)``: the memory of JAX's default device: an accelerator's
    ``bytes_limit``, else the machine's physical memory (``os.sysconf``); ``None`` when
    neither can be read."""
    try:
        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
    except Exception:  # noqa: BLE001 (a backend without memory_stats: use the machine's)
        device, stats = None, None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"the {device.platform.upper()} device's"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's"
    except (ValueError, OSError, AttributeError):
        return None, "this machine's"


def limit(value=None) -> tuple[int | None, str]:
    """``(bytes, how it was set)``: ``value`` when given (a positive number of bytes),
    else ``JAXNN_MEMORY_LIMIT``, else :data:`FRACTION` of :func:`device_memory`. ``None``
    bytes: no limit."""
    if value is not None:
        value = _checks.real("memory_limit", value, minimum=0.0, strict=True,
                             fix="a number of bytes, e.g. memory_limit=8 * 2**30, or None")
        return int(value), "memory_limit"
    text = os.environ.get(ENV)
    if text is not None and text.strip():
        return parse_limit(text), ENV
    total, what = device_memory()
    if total is None:
        return None, "unknown"
    return int(FRACTION * total), f"{FRACTION:.0%} of {what} {format_bytes(total)}"


def itemsize(dtype) -> int:
    """Bytes per number of ``dtype`` as JAX stores it (float64 is float32 without x64)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype)).itemsize


def _widths(net: Network) -> tuple[int, int]:
    """``(n_0, Σ_{l≥1} n_l)``."""
    return net.sizes[0], sum(net.sizes[1:])


def num_params(net: Network) -> int:
    """Σ_l (n_l n_{l−1} + n_l)."""
    return sum(n * n_prev + n for n_prev, n in zip(net.sizes[:-1], net.sizes[1:]))


def param_bytes(net: Network, dtype) -> int:
    """The parameters: every W^l and b^l."""
    return num_params(check_net(net)) * itemsize(dtype)


def activation_bytes(net: Network, m: int, dtype) -> int:
    """One forward pass of ``m`` rows that keeps what backprop needs: X, every Z^l and
    A^l, and the backward pass's Δ^l: m (n_0 + 3 Σ_{l≥1} n_l) numbers."""
    n0, rest = _widths(check_net(net))
    return int(m) * (n0 + 3 * rest) * itemsize(dtype)


def gradient_bytes(net: Network, m: int, dtype) -> int:
    """A gradient of ``m`` rows: the activations and one gradient per parameter."""
    return activation_bytes(net, m, dtype) + param_bytes(net, dtype)


def per_example_bytes(net: Network, m: int, dtype) -> int:
    """Per-example gradients (``vmap`` over the rows): one gradient per row."""
    return activation_bytes(net, m, dtype) + int(m) * param_bytes(net, dtype)


def evaluation_bytes(net: Network, m: int, dtype) -> int:
    """One evaluation of J at a perturbed θ: a copy of θ and the forward pass of m rows."""
    n0, rest = _widths(check_net(net))
    return param_bytes(net, dtype) + int(m) * (n0 + 2 * rest) * itemsize(dtype)


def finite_difference_bytes(net: Network, m: int, dtype, batch: int) -> int:
    """A finite-difference sweep that evaluates J at ``batch`` perturbed θ at once: those
    evaluations, the gradient and the two vectors of 2·P costs."""
    return (int(batch) * evaluation_bytes(net, m, dtype) + gradient_bytes(net, m, dtype)
            + 2 * param_bytes(net, dtype))


def check(what, needed: int, limit_bytes=None, fix: str | None = None,
          keyword: bool = True) -> None:
    """Raise ValueError when ``needed`` bytes exceed the limit (:func:`limit`).

    Args:
      what: the call and the arrays, e.g. ``"init_params … for the parameters (… numbers)"``;
        or a function returning it, called only to write the message (the common case, a
        call that fits, then costs a few integer operations).
      needed: the estimate, in bytes.
      limit_bytes: the ``memory_limit`` argument of the call, or ``None``.
      fix: what to do instead (the limit's override is always added).
      keyword: whether the call takes ``memory_limit=`` (the override names it only then;
        ``fit`` and ``fit_many`` read the environment's limit alone).
    """
    if needed <= 0:
        return
    allowed, how = limit(limit_bytes)
    if allowed is None or needed <= allowed:
        return
    what = what() if callable(what) else what
    override = ("pass a larger memory_limit" if how == "memory_limit" else
                f"if it does fit, raise the limit: {ENV}=64G (say)"
                + (" or memory_limit=<bytes>" if keyword else ""))
    fix = f"{fix.rstrip('.')}; or, {override}" if fix else override
    raise ValueError(f"{what} would take about {format_bytes(needed)}; the memory limit is "
                     f"{format_bytes(allowed)} ({how}). Fix: {fix}.")


def check_params(sizes: tuple[int, ...], count: int, dtype, limit_bytes=None,
                 who: str = "init_params") -> None:
    """``count`` parameters (:func:`num_params`) of a network of ``sizes`` in ``dtype`` fit
    (called by ``init_params``, whose door has checked the network)."""
    check(f"{who}: the parameters of a {'-'.join(map(str, sizes))} network ({count:.3g} "
          f"{np.dtype(jax.dtypes.canonicalize_dtype(dtype)).name} numbers)",
          count * itemsize(dtype), limit_bytes,
          "a smaller network (check the sizes for a typo)")


def check_batch(net: Network, m: int, dtype, limit_bytes=None,
                what: str = "a forward and backward pass") -> None:
    """The activations and gradient of one batch of ``m`` rows fit."""
    check(lambda: f"{what} of {m} rows through a {'-'.join(map(str, net.sizes))} network",
          gradient_bytes(net, m, dtype), limit_bytes,
          "fewer rows at once (a smaller batch), or a smaller network")


def check_forward(net: Network, m: int, dtype, limit_bytes=None,
                  what: str = "a forward pass") -> None:
    """The activations of one forward pass of ``m`` rows fit (``forward``, ``predict``,
    ``accuracy``, ``backprop.forward_pass``)."""
    check(lambda: f"{what} of {m} rows through a {'-'.join(map(str, net.sizes))} network",
          activation_bytes(net, m, dtype), limit_bytes,
          "fewer rows at once (e.g. in chunks), or a smaller network")


def check_per_example(net: Network, m: int, dtype, limit_bytes=None,
                      what: str = "per-example gradients") -> None:
    """``m`` per-example gradients (one copy of the parameters' size per row) fit
    (``backprop.per_example_grads``)."""
    check(lambda: f"{what} of {m} rows through a {'-'.join(map(str, net.sizes))} network "
          f"({m} × {num_params(net):.3g} numbers)", per_example_bytes(net, m, dtype),
          limit_bytes, "fewer rows at once (a smaller batch), or a smaller network")


def largest_batch(net: Network, m: int, dtype, wanted: int, limit_bytes=None) -> int:
    """The number of perturbed θ (≤ ``wanted``, ≥ 1) a finite-difference sweep can evaluate
    at once within the limit; at least 1 (:func:`check` then refuses what cannot fit)."""
    allowed, _ = limit(limit_bytes)
    if allowed is None:
        return wanted
    fixed = gradient_bytes(net, m, dtype) + 2 * param_bytes(net, dtype)
    each = max(1, evaluation_bytes(net, m, dtype))
    return max(1, min(wanted, (allowed - fixed) // each))


__all__ = [
    "ENV", "FRACTION", "activation_bytes", "check", "check_batch", "check_forward",
    "check_params", "check_per_example",
    "device_memory", "evaluation_bytes", "finite_difference_bytes", "format_bytes",
    "gradient_bytes", "itemsize", "largest_batch", "limit", "num_params", "param_bytes",
    "parse_limit", "per_example_bytes",
]
