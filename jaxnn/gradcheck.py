"""Gradient verification: hand-written backprop against autodiff and finite differences.

Three references for ∂J/∂θ:

* autodiff, ``jax.grad(jaxnn.cost, argnums=1)``;
* centred finite differences, every entry: ∂J/∂θ_k ≈ (J(θ + ε e_k) − J(θ − ε e_k)) / 2ε.
  The neural-network notes write (J(θ − ε) − J(θ + ε)) / 2ε; that sign is reversed, and
  this module uses the correct centred difference. Truncation error is O(ε²), rounding error
  O(u/ε) (u the unit round-off), so use float64 (``jax_enable_x64``) and ε ≈ 1e−6;
* random directional derivatives for large networks, as ``jax.test_util.check_grads``
  does: for random unit directions v, (J(θ + εv) − J(θ − εv)) / 2ε ≈ ⟨∇J, v⟩.

Differences are reported per layer and per W/b as the largest absolute difference and
the normwise relative difference ``‖a − b‖_∞ / max(‖a‖_∞, ‖b‖_∞)`` (elementwise relative
errors are meaningless for entries that are zero up to round-off).

One component at a time: :func:`check_activation` and :func:`check_cost` (from
:mod:`jaxnn.components`) compare one activation's g' or one cost's ∇_a C with ``jax.grad``
of its function over a grid of inputs from 0 and 1e−300 to 1e300, and name the worst
point, so a wrong derivative is found before it is averaged into a network's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import _checks, backprop, inputs, memory
from jaxnn.components import (  # noqa: F401  (re-exported: gradcheck.check_activation)
    RANDOM_POINTS,
    ComponentError,
    ComponentReport,
    check_activation,
    check_cost,
)
from jaxnn.network import Network, Params, raw_cost

# Default tolerances on the normwise relative difference, by parameter dtype.
MANUAL_VS_AUTODIFF_RTOL = {"float64": 1e-10, "float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}
FINITE_DIFFERENCE_RTOL = {"float64": 1e-6, "float32": 1e-2, "float16": 5e-2, "bfloat16": 1e-1}

# Perturbed θ evaluated at once by the finite-difference sweep (fewer when memory is short).
FD_BATCH = 256


def default_eps(dtype) -> float:
    """The centred difference's default step for ``dtype``: ε = ∛u / 5 to one digit (u the
    machine epsilon): 1e−6 in float64, 1e−3 in float32. ∛u balances the truncation error
    O(ε²) with the rounding error O(u/ε); a fifth of it makes a step across a ReLU's kink
    (a wrong difference) 5× rarer, for a rounding error still far below the tolerances.
    Half precision is differenced in float32 (:func:`finite_difference_grad`)."""
    dtype = jnp.promote_types(jax.dtypes.canonicalize_dtype(dtype), jnp.float32)
    return float(f"{float(jnp.finfo(dtype).eps) ** (1 / 3) / 5:.0e}")


def _fd_inputs(params, x, y):
    """Half-precision params, x, y in float32: a difference of float16 costs rounds away
    the gradient (u = 1e−3), while the hand-written gradient it checks is good to ~1e−3."""
    dtype = jnp.promote_types(params[0].W.dtype, jnp.float32)
    if dtype == params[0].W.dtype:
        return params, x, y
    return jax.tree.map(lambda a: a.astype(dtype), (params, x, y))


@dataclass(frozen=True)
class Row:
    """One parameter array's comparison: ``layer`` is l (1..L), ``name`` 'W' or 'b' (γ, β,
    mean, var under norm). ``floor``: an absolute difference below which the array agrees
    whatever its relative difference, the rounding of the comparison: 10·u·max(1, |J|)
    against autodiff, 10·u·max(1, |J|)/ε against centred differences. So an exactly-zero
    gradient (b under batch norm, whose mean subtraction cancels it) passes against a
    reference of rounding noise."""

    layer: int
    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    rel_diff: float
    tolerance: float
    floor: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.rel_diff <= self.tolerance or self.max_abs_diff <= self.floor)


@dataclass(frozen=True)
class Report:
    """A per-array comparison of ``test`` (the hand-written gradient) with ``reference``."""

    test: str
    reference: str
    dtype: str
    rows: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def max_rel_diff(self) -> float:
        return max(r.rel_diff for r in self.rows)

    @property
    def max_abs_diff(self) -> float:
        return max(r.max_abs_diff for r in self.rows)

    def table(self) -> str:
        """A plain-text table, one line per parameter array, then the verdict."""
        head = (
            f"{self.test} vs {self.reference} ({self.dtype})\n"
            f"{'layer':>5} {'param':>5} {'shape':>12} {'max |a−b|':>12} "
            f"{'rel diff':>12} {'tol':>9}  result"
        )
        lines = [head]
        for r in self.rows:
            lines.append(
                f"{r.layer:>5} {r.name:>5} {str(r.shape):>12} {r.max_abs_diff:>12.3e} "
                f"{r.rel_diff:>12.3e} {r.tolerance:>9.1e}  {'ok' if r.passed else 'FAIL'}"
            )
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def rel_diff(a, b) -> float:
    """‖a − b‖_∞ / max(‖a‖_∞, ‖b‖_∞); 0 when both are zero."""
    a, b = _f64(a), _f64(b)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    diff = np.max(np.abs(a - b), initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


def _f64(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def _report(test: str, reference: str, got: Params, want: Params, tol: float,
            floor: float = 0.0) -> Report:
    rows = []
    for l, (g, w) in enumerate(zip(got, want), start=1):
        for name, ga, wa in zip(g._fields, g, w):  # W, b (γ, β, mean, var with norm)
            rows.append(
                Row(
                    layer=l,
                    name=name,
                    shape=tuple(ga.shape),
                    max_abs_diff=float(np.max(np.abs(_f64(ga) - _f64(wa)))),
                    rel_diff=rel_diff(ga, wa),
                    tolerance=tol,
                    floor=floor,
                )
            )
    dtype = str(got[0].W.dtype)
    return Report(test, reference, dtype, tuple(rows))


def _check_eps(eps, dtype=None) -> float:
    """``eps`` checked, or when ``None`` the step :func:`default_eps` gives ``dtype``."""
    if eps is None and dtype is not None:
        return default_eps(dtype)
    return _checks.real("eps", eps, minimum=0.0, strict=True,
                        fix="e.g. eps=1e-6 in float64, or None for the dtype's default")


def _check_rtol(rtol):
    if rtol is None:
        return None
    return _checks.real("rtol", rtol, minimum=0.0, fix="e.g. rtol=1e-6, or None")


def _tolerance(table: dict[str, float], dtype, rtol: float | None) -> float:
    if rtol is not None:
        return float(rtol)
    return table.get(str(jnp.dtype(dtype)), max(table.values()))


def manual_vs_autodiff(net: Network, params: Params, x, y, rtol: float | None = None) -> Report:
    """Compare :func:`jaxnn.backprop.value_and_grad` with ``jax.grad(jaxnn.cost)``.

    Args:
      x: ``(m, n_0)``; y: targets ``(m, n_L)`` or labels ``(m,)``.
      rtol: tolerance on the normwise relative difference; by default chosen from the
        parameters' dtype (:data:`MANUAL_VS_AUTODIFF_RTOL`).
    Returns:
      a :class:`Report` with one row per W^l and b^l.
    """
    rtol = _check_rtol(rtol)
    params, x, y = inputs.check_call(net, params, x, y)
    J, manual, _ = jax.jit(backprop.value_grad_and_output, static_argnums=0)(
        net, params, x, y)
    auto = jax.jit(jax.grad(raw_cost, argnums=1), static_argnums=0)(net, params, x, y)
    tol = _tolerance(MANUAL_VS_AUTODIFF_RTOL, params[0].W.dtype, rtol)
    # Two roundings of one exact value (b under batch norm: 0) differ by about u·max(1, |J|).
    u = float(jnp.finfo(params[0].W.dtype).eps) / 2
    return _report("manual (BP1–BP4)", "autodiff (jax.grad)", manual, auto, tol,
                   10 * u * max(1.0, abs(float(J))))


def finite_difference_grad(net: Network, params: Params, x, y, eps: float | None = None, *,
                           memory_limit=None) -> Params:
    """Every entry of ∂J/∂θ by the centred difference (J(θ + ε e_k) − J(θ − ε e_k)) / 2ε.

    Costs 2·(number of parameters) evaluations of J (up to :data:`FD_BATCH` at once, under
    ``vmap``), so meant for small networks; run it in float64. ``eps``: the step, by
    default :func:`default_eps` of the parameters' dtype. Half-precision parameters are
    differenced in float32. ``memory_limit``: bytes (:mod:`jaxnn.memory`); a sweep that
    cannot fit is refused before it starts. Returns the same pytree as ``params`` (float32
    leaves for half-precision parameters).
    """
    eps = _check_eps(eps) if eps is not None else None
    params, x, y = _fd_inputs(*inputs.check_call(net, params, x, y))
    eps = _check_eps(eps, params[0].W.dtype)
    flat, unravel = ravel_pytree(params)
    m, dtype = x.shape[0], flat.dtype
    batch = memory.largest_batch(net, m, dtype, FD_BATCH, memory_limit)
    memory.check(
        f"finite_difference_grad: a sweep over {flat.size} parameters (J on {m} rows at "
        f"{batch} perturbed θ at once)",
        memory.finite_difference_bytes(net, m, dtype, batch), memory_limit,
        "a smaller network or batch, or gradcheck.directional_check for large networks")

    @jax.jit
    def fd(flat):
        def J(theta):
            return raw_cost(net, unravel(theta), x, y)

        # θ ± ε e_k built one k at a time: an identity matrix of P² entries never exists.
        ks = jnp.arange(flat.size)
        plus = jax.lax.map(lambda k: J(flat.at[k].add(eps)), ks, batch_size=batch)
        minus = jax.lax.map(lambda k: J(flat.at[k].add(-eps)), ks, batch_size=batch)
        return (plus - minus) / (2 * eps)  # centred (the notes print the sign reversed)

    return unravel(fd(flat))


def manual_vs_finite_differences(
    net: Network, params: Params, x, y, eps: float | None = None, rtol: float | None = None,
    *, memory_limit=None,
) -> Report:
    """Compare the hand-written gradient with centred finite differences, every entry.

    ``eps``: by default :func:`default_eps` of the parameters' dtype; ``rtol``: by default
    :data:`FINITE_DIFFERENCE_RTOL` of it; ``memory_limit``: see
    :func:`finite_difference_grad`."""
    rtol = _check_rtol(rtol)
    eps = _check_eps(eps) if eps is not None else None
    params, x, y = inputs.check_call(net, params, x, y)
    eps = _check_eps(eps, params[0].W.dtype)
    J, manual, _ = backprop.value_grad_and_output(net, params, x, y)
    fd = finite_difference_grad(net, params, x, y, eps, memory_limit=memory_limit)
    tol = _tolerance(FINITE_DIFFERENCE_RTOL, params[0].W.dtype, rtol)
    # What rounding leaves of (J(θ + ε) − J(θ − ε)) / 2ε: u·max(1, |J|)/ε, times a margin
    # of 10 (the cost's own rounding over the batch).
    u = float(jnp.finfo(jax.tree.leaves(fd)[0].dtype).eps) / 2
    floor = 10 * u * max(1.0, abs(float(J))) / eps
    return _report("manual (BP1–BP4)", f"centred differences (ε={eps:g})", manual, fd, tol,
                   floor)


def directional_check(
    net: Network,
    params: Params,
    x,
    y,
    key,
    num_directions: int = 8,
    eps: float | None = None,
    *,
    memory_limit=None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Random directional derivatives: for unit directions v_k, compare
    (J(θ + εv) − J(θ − εv)) / 2ε with ⟨∇J, v⟩ from the hand-written gradient.

    The difference is measured against ‖∇J‖₂, the largest directional derivative any unit
    direction can have (a random direction in many dimensions has ⟨∇J, v⟩ ≈ ‖∇J‖/√n, so a
    per-direction relative error would be dominated by the rounding of J).

    ``eps``: by default :func:`default_eps` of the parameters' dtype; ``memory_limit``:
    bytes (:mod:`jaxnn.memory`), the directions are evaluated at once.

    Returns:
      ``(max_rel_diff, numeric, analytic)``: the two ``(num_directions,)`` arrays and
      max_k |numeric_k − analytic_k| / ‖∇J‖₂.
    """
    eps = _check_eps(eps) if eps is not None else None
    num_directions = _checks.integer("num_directions", num_directions, minimum=1, fix="e.g. 8")
    key = inputs.check_key(key)
    params, x, y = inputs.check_call(net, params, x, y)
    eps = _check_eps(eps, params[0].W.dtype)
    memory.check(
        f"directional_check: {num_directions} directions × 2 evaluations of J on "
        f"{x.shape[0]} rows at once", memory.finite_difference_bytes(
            net, x.shape[0], x.dtype, 3 * num_directions), memory_limit,
        "fewer directions (num_directions), a smaller batch or network")
    flat, unravel = ravel_pytree(params)
    grads = backprop.value_grad_and_output(net, params, x, y)[1]
    g_flat, _ = ravel_pytree(grads)
    v = jax.random.normal(key, (num_directions, flat.size), flat.dtype)
    v = v / jnp.linalg.norm(v, axis=1, keepdims=True)

    def J(theta):
        return raw_cost(net, unravel(theta), x, y)

    numeric = jax.vmap(lambda d: (J(flat + eps * d) - J(flat - eps * d)) / (2 * eps))(v)
    analytic = v @ g_flat
    numeric, analytic = np.asarray(numeric, np.float64), np.asarray(analytic, np.float64)
    scale = max(float(np.linalg.norm(_f64(g_flat))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(numeric - analytic)) / scale), numeric, analytic
