"""The checks that point at a wrong hand-written derivative of a component.

An activation or a cost is a pair of pure functions: the function and its derivative,
written by hand (:func:`jaxnn.activations.custom`, :func:`jaxnn.costs.custom`; building,
naming and loading user components is :mod:`jaxnn.user_components`).

**The checks.** :func:`check_activation` and :func:`check_cost` (also reachable as
``jaxnn.gradcheck.check_activation`` / ``check_cost``) compare the hand-written derivative
with ``jax.grad`` of the function, point by point, in float64, over a grid that holds 0,
tiny magnitudes (1e−300 … 1e−8), ordinary ones, the saturation regions and huge ones
(up to 1e300), both signs; for a cost, targets 0, 1 and in between, outputs in (0, 1) and,
where the cost allows it, beyond; and :data:`RANDOM_POINTS` random points drawn with a
``seed`` that the report names, so that a derivative wrong only between the grid's points
fails too. At a kink (ReLU or |z| at 0) any value between autodiff's one-sided
derivatives is a valid subderivative and passes. The report names the component, the
worst points and their relative error
``|manual − autodiff| / max(|manual|, |autodiff|, s)``, where ``s`` is the largest
autodiff derivative at ordinary inputs (|z| ≤ 10, a ∈ [10⁻³, 1 − 10⁻³]): a derivative
that is zero up to round-off in a saturated tail is measured against the size the
derivative has where it matters, not against itself.

A component whose function or derivative returns the wrong shape, or NaN on finite input
(or ±Inf on ordinary input), raises :class:`ComponentError` (a ``ValueError``) naming it.
Where the *function* overflows to ±Inf at a huge input (z² at z = 1e300), or where
autodiff of the function is itself not finite, the point says nothing about the
derivative and is skipped (the report counts them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, activations, costs
from jaxnn.user_components import (  # noqa: F401  (the errors are re-exported)
    ComponentChanged,
    ComponentError,
    MissingComponent,
    check_shapes,
)

# The default tolerance on the relative error of a component's derivative (float64).
COMPONENT_RTOL = 1e-10

# Inputs whose magnitude is at most this are "ordinary": ±Inf from the function there is a
# bug (a naive e^z / (1 + e^z)), not an overflow of a value beyond float64's range.
_ORDINARY = 1e3
_TINY = (1e-300, 1e-200, 1e-100, 1e-30, 1e-16, 1e-8)
_MODERATE = (1e-4, 1e-2, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
_SATURATION = (15.0, 20.0, 30.0, 40.0, 50.0, 100.0, 300.0, 700.0, 1e3)
_HUGE = (1e5, 1e10, 1e30, 1e100, 1e200, 1e300)
# Random points added to the grid (seeded, reported): a derivative wrong only between the
# grid's points (say for 4.2 < |z| < 4.8) is caught there.
RANDOM_POINTS = 256
# A kink: where autodiff's one-sided derivatives, at z ± _KINK_STEP·max(1, |z|), differ
# by more than this (relative to the derivative's scale), the derivative jumps; any value
# between them is a valid (sub)derivative there (ReLU's 1[z > 0] or |z|'s sign(z) at 0).
_KINK_STEP = 1e-9
_KINK_JUMP = 1e-6


# ---------------------------------------------------------------------------------------
# The checks.


@dataclass(frozen=True)
class Point:
    """One grid point: where (``{"z": …}`` or ``{"a": …, "y": …}``), the hand-written
    value, autodiff's, and the relative error between them."""

    where: dict
    manual: float
    reference: float
    rel_error: float


@dataclass(frozen=True)
class ComponentReport:
    """The hand-written derivative of one component against autodiff of its function.

    ``ok`` is whether every point's relative error is at most ``rtol``; ``worst`` holds
    the worst points, worst first; ``str(report)`` is a printable table.
    """

    kind: str  # "activation" or "cost"
    name: str
    test: str  # e.g. "deriv(z, a)"
    reference: str  # e.g. "jax.grad(fn)"
    rtol: float
    num_points: int
    worst: tuple[Point, ...]
    skipped: tuple[str, ...] = field(default=())
    extra: tuple[tuple[str, float], ...] = field(default=())  # (what, rel error) checks
    notes: tuple[str, ...] = field(default=())  # random points and seed, kinks accepted

    @property
    def max_rel_error(self) -> float:
        values = [p.rel_error for p in self.worst[:1]] + [e for _, e in self.extra]
        return max(values, default=0.0)

    @property
    def ok(self) -> bool:
        return bool(self.max_rel_error <= self.rtol)

    def __str__(self) -> str:
        keys = list(self.worst[0].where) if self.worst else ["z"]
        head = (f"{self.kind} {self.name!r}: {self.test} vs {self.reference} (float64, "
                f"{self.num_points} points, rtol {self.rtol:.0e})")
        cols = "".join(f"{k:>12}" for k in keys)
        lines = [head]
        if self.worst:
            lines.append(f"{cols} {'manual':>12} {'autodiff':>12} {'rel error':>10}")
        for p in self.worst:
            where = "".join(f"{_num(p.where[k]):>12}" for k in keys)
            flag = "ok" if p.rel_error <= self.rtol else "FAIL"
            lines.append(f"{where} {_num(p.manual):>12} {_num(p.reference):>12} "
                         f"{p.rel_error:>10.2e}  {flag}")
        for what, err in self.extra:
            lines.append(f"{what}: rel error {err:.2e}  {'ok' if err <= self.rtol else 'FAIL'}")
        lines.extend(f"skipped: {s}" for s in self.skipped)
        lines.extend(f"note: {s}" for s in self.notes)
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        """One line: PASS, or FAIL with the component, the worst point and its error."""
        if self.ok:
            return f"PASS ({self.kind} {self.name!r}, max rel error {self.max_rel_error:.1e})"
        if self.worst and self.worst[0].rel_error > self.rtol:
            p = self.worst[0]
            where = ", ".join(f"{k} = {_num(v)}" for k, v in p.where.items())
            return (f"FAIL: {self.kind} {self.name!r}: the hand-written {self.test} disagrees "
                    f"with {self.reference} at {where} (manual {_num(p.manual)}, autodiff "
                    f"{_num(p.reference)}, relative error {p.rel_error:.1e} > {self.rtol:.0e})")
        what, err = max(self.extra, key=lambda e: e[1])
        return (f"FAIL: {self.kind} {self.name!r}: {what} disagrees with autodiff "
                f"(relative error {err:.1e} > {self.rtol:.0e})")


def _num(v: float) -> str:
    return f"{v:.4g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"


def _grid_z() -> np.ndarray:
    positive = _TINY + _MODERATE + _SATURATION + _HUGE
    return np.array((0.0,) + positive + tuple(-v for v in positive), np.float64)


def _random_z(seed: int, n: int) -> np.ndarray:
    """``n`` seeded random z: three quarters uniform in [−12, 12] (between the grid's
    ordinary points), the rest of log-uniform magnitude in [1e−3, 1e3], either sign."""
    rng = np.random.default_rng(seed)
    k = n * 3 // 4
    magnitudes = 10.0 ** rng.uniform(-3, 3, n - k)
    return np.concatenate([rng.uniform(-12, 12, k),
                           magnitudes * rng.choice((-1.0, 1.0), n - k)])


def _at_kinks(fn, z: np.ndarray, manual: np.ndarray, err: np.ndarray, scale: float,
              rtol: float) -> tuple[np.ndarray, list[float]]:
    """``err`` with 0 at the failing points that are kinks of ``fn`` where ``manual`` lies
    between autodiff's one-sided derivatives (a valid subderivative); and those z."""
    failing = np.flatnonzero(err > rtol)
    if failing.size == 0:
        return err, []
    at = jnp.asarray(z[failing])
    step = _KINK_STEP * jnp.maximum(1.0, jnp.abs(at))
    grad = jax.vmap(jax.grad(fn))
    left, right = np.asarray(grad(at - step)), np.asarray(grad(at + step))
    low, high = np.minimum(left, right), np.maximum(left, right)
    slack = rtol * np.maximum(np.maximum(np.abs(low), np.abs(high)), scale)
    kink = (high - low > _KINK_JUMP * np.maximum(np.abs(high), scale)) & np.isfinite(low) \
        & np.isfinite(high)
    inside = kink & (manual[failing] >= low - slack) & (manual[failing] <= high + slack)
    err = err.copy()
    err[failing[inside]] = 0.0
    return err, [float(v) for v in z[failing[inside]]]


def _points_note(n_random: int, seed: int, kinks: list[float], variable: str) -> list[str]:
    """The report's notes: the random points and their seed; the kinks accepted."""
    notes = [f"{n_random} of the points are random (seed {seed})"]
    if kinks:
        shown = ", ".join(f"{variable} = {_num(v)}" for v in kinks[:4])
        notes.append(f"at {shown}, a kink, the derivative lies between autodiff's one-sided "
                     "derivatives: accepted as a subderivative")
    return notes


def _rel_errors(manual: np.ndarray, ref: np.ndarray, scale: float) -> np.ndarray:
    denom = np.maximum(np.maximum(np.abs(manual), np.abs(ref)), scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(manual - ref) / denom
    return np.where(denom > 0, err, np.abs(manual - ref))


def _scale(ref: np.ndarray, ordinary: np.ndarray) -> float:
    values = np.abs(ref[ordinary & np.isfinite(ref)])
    return float(values.max()) if values.size and values.max() > 0 else np.finfo(np.float64).tiny


def _first_bad(values: np.ndarray, mask: np.ndarray):
    index = int(np.argmax(mask))
    return index, float(values.reshape(-1)[index])


def _region(v: float) -> tuple[int, int]:
    """(sign, magnitude class) of a grid value: 0, tiny, ordinary, saturated, huge."""
    m = abs(v)
    size = 0 if m == 0 else 1 if m < 1e-3 else 2 if m <= 10 else 3 if m <= _ORDINARY else 4
    return (int(np.sign(v)), size)


def _worst(points: list[Point], k: int = 5) -> tuple[Point, ...]:
    """The ``k`` worst points, at most one per region of the grid (sign and magnitude of
    each coordinate), so that the table shows where along the axis the error lives rather
    than five neighbours in one tail."""
    def key(p):
        return (-p.rel_error, sum(abs(v) for v in p.where.values()))

    best: dict[tuple, Point] = {}
    for p in sorted(points, key=key):
        best.setdefault(tuple(_region(v) for v in p.where.values()), p)
    return tuple(sorted(best.values(), key=key)[:k])


def _resolve(kind: str, component):
    return activations.get(component) if kind == "activation" else costs.get(component)


def check_activation(act, rtol: float = COMPONENT_RTOL, worst: int = 5,
                     seed: int = 0) -> ComponentReport:
    """The hand-written g'(z) of ``act`` (an activation or its name) against ``jax.grad``
    of g, over the grid of z described in the module docstring and :data:`RANDOM_POINTS`
    random z drawn with ``seed``, in float64; and its ``vjp`` against ``jax.vjp`` of g on
    rows of that grid (for softmax, whose derivative is a Jacobian, the vjp alone). At a
    kink (ReLU at 0) any value between autodiff's one-sided derivatives passes.

    Returns a :class:`ComponentReport`; raises :class:`ComponentError` naming the
    activation for a wrong shape, or NaN on finite z."""
    act = _resolve("activation", act)
    rtol = _checks.real("rtol", rtol, minimum=0.0, fix="e.g. rtol=1e-10")
    worst = _checks.integer("worst", worst, minimum=1, fix="e.g. worst=5")
    seed = _checks.integer("seed", seed, minimum=0, fix="e.g. seed=0")
    name = act.name
    with jax.enable_x64(True):
        z = jnp.asarray(np.concatenate([_grid_z(), _random_z(seed, RANDOM_POINTS)]))
        shape_z = jnp.zeros((2, 3), jnp.float64)
        calls = [("fn(z)", act.fn, (shape_z,), (2, 3)),
                 ("vjp(z, a, g)", act.vjp, (shape_z, shape_z, shape_z), (2, 3))]
        if act.deriv is not None:
            calls.append(("deriv(z, a)", act.deriv, (shape_z, shape_z), (2, 3)))
        check_shapes("activation", name, calls)

        zn = np.asarray(z)
        a = np.asarray(act.fn(z) if act.deriv is not None else act.fn(z[:, None])[:, 0])
        _require_finite("activation", name, "fn(z)", a, zn, {"z": zn})
        usable = np.isfinite(a)
        skipped = []
        if not usable.all():
            skipped.append(f"{int((~usable).sum())} point(s) where fn(z) overflows "
                           f"(from z = {_num(float(np.abs(zn[~usable]).min()))} in magnitude)")
        ordinary = np.abs(zn) <= 10

        rows = _activation_rows(zn, usable)
        vjp_err = _activation_vjp_error(act, rows)
        if act.deriv is None:
            return ComponentReport("activation", name, "vjp(z, a, g)", "jax.vjp(fn)", rtol,
                                   int(rows.size), (), tuple(skipped),
                                   (("vjp(z, a, g) vs jax.vjp(fn) on rows", vjp_err),))

        manual = np.asarray(act.deriv(z, jnp.asarray(a)), np.float64)
        manual = np.broadcast_to(manual, zn.shape)
        ref = _reference("activation", name, lambda: jax.vmap(jax.grad(act.fn))(z),
                         "fn must be elementwise: a function of each z on its own")
        _require_finite("activation", name, "deriv(z, a)", manual, zn, {"z": zn},
                        where=usable & np.isfinite(ref), ordinary_only=False)
        good = usable & np.isfinite(ref)
        if (usable & ~np.isfinite(ref)).any():
            skipped.append(f"{int((usable & ~np.isfinite(ref)).sum())} point(s) where "
                           "jax.grad(fn) itself is not finite")
        scale = _scale(ref, ordinary)
        err = np.where(good, _rel_errors(manual, ref, scale), 0.0)
        err, kinks = _at_kinks(act.fn, zn, manual, err, scale, rtol)
        points = [Point({"z": float(zn[i])}, float(manual[i]), float(ref[i]), float(err[i]))
                  for i in np.flatnonzero(good)]
    return ComponentReport("activation", name, "deriv(z, a)", "jax.grad(fn)", rtol,
                           int(good.sum()), _worst(points, worst), tuple(skipped),
                           (("vjp(z, a, g) vs jax.vjp(fn) on rows", vjp_err),),
                           tuple(_points_note(RANDOM_POINTS, seed, kinks, "z")))


def _reference(kind: str, name: str, compute, hint: str) -> np.ndarray:
    """Autodiff's derivative, as float64; ComponentError naming the component if jax.grad
    cannot differentiate its function."""
    try:
        return np.asarray(compute(), np.float64)
    except Exception as e:
        raise ComponentError(
            f"{kind} {name!r}: jax.grad cannot differentiate fn ({hint}): "
            f"{type(e).__name__}: {_checks.short(str(e), 200)}"
        ) from e


def _activation_rows(zn: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Rows of 5 ordinary-to-saturated z values, for the vjp check (softmax mixes a row)."""
    values = zn[usable & (np.abs(zn) <= 50)]
    rng = np.random.default_rng(0)
    return np.stack([rng.permutation(values)[:5] for _ in range(12)])


def _activation_vjp_error(act, rows: np.ndarray) -> float:
    z = jnp.asarray(rows)
    g = jnp.asarray(np.random.default_rng(1).normal(size=rows.shape))
    a, pullback = jax.vjp(act.fn, z)
    want = np.asarray(pullback(g)[0])
    got = np.asarray(act.vjp(z, a, g))
    if not np.isfinite(got).all():
        i, v = _first_bad(got, ~np.isfinite(got))
        raise ComponentError(
            f"activation {act.name!r}: vjp(z, a, g) is not finite on finite input (got {v} "
            f"in the row z = {np.array2string(rows[i // rows.shape[1]], precision=3)}). "
            "Fix: compute the derivative stably (e.g. σ(z) by jax.nn.sigmoid, not "
            "e^z / (1 + e^z))."
        )
    scale = max(np.abs(want).max(), np.abs(got).max())
    return float(np.abs(got - want).max() / scale) if scale > 0 else 0.0


def _require_finite(kind, name, role, values, inputs, where_inputs, where=None,
                    ordinary_only=True, fix=None):
    """ComponentError for NaN anywhere (or ±Inf at ordinary inputs, or anywhere when not
    ``ordinary_only``) among ``values`` at finite inputs."""
    values = np.broadcast_to(values, np.shape(inputs))
    mask = np.ones(values.shape, bool) if where is None else where
    bad = mask & (np.isnan(values) | (np.isinf(values) & (
        (np.abs(inputs) <= _ORDINARY) if ordinary_only else True)))
    if bad.any():
        i, v = _first_bad(values, bad)
        at = ", ".join(f"{k} = {_num(float(np.reshape(x, -1)[i]))}"
                       for k, x in where_inputs.items())
        fix = fix or ("compute it stably there (use jnp.where with a safe inner branch, "
                      "jax.nn.sigmoid, jnp.log1p, jnp.expm1 instead of naive formulas)")
        raise ComponentError(
            f"{kind} {name!r}: {role} must be finite on finite input; got {v} at {at}. "
            f"Fix: {fix}."
        )


def _cost_grid(probabilities: bool, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, y, ordinary) for the cost check: a in (0, 1) (and beyond unless the cost needs
    probabilities), y at 0, 1 and in between (and beyond); then :data:`RANDOM_POINTS`
    seeded random pairs, a in (0.001, 0.999) and y in [0, 1] (a in [−3, 3] and y in
    [−1, 2] for a cost defined beyond probabilities)."""
    inside = (1e-300, 1e-100, 1e-16, 1e-8, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 1 - 1e-3,
              1 - 1e-8, 1 - 2**-52)
    ys = (0.0, 1.0, 0.3, 0.5, 0.9)
    a_values = inside
    if not probabilities:
        a_values = inside + (0.0, 1.0, -1e-300, -1e-8, -0.5, -1.0, -2.0, 1.5, 2.0, 3.0, 10.0,
                             -10.0, 1e3, -1e3, 1e10, -1e10, 1e100, -1e100, 1e300, -1e300)
        ys = ys + (-1.0, 2.5, 1e-300, -1e3)
    a, y = np.meshgrid(np.array(a_values), np.array(ys), indexing="ij")
    rng = np.random.default_rng(seed)
    low, high = (1e-3, 1 - 1e-3) if probabilities else (-3.0, 3.0)
    a = np.concatenate([a.reshape(-1), rng.uniform(low, high, RANDOM_POINTS)])
    y = np.concatenate([y.reshape(-1), rng.uniform(0.0, 1.0, RANDOM_POINTS) if probabilities
                        else rng.uniform(-1.0, 2.0, RANDOM_POINTS)])
    ordinary = (np.abs(a) <= 10) & ((a >= 1e-3) & (a <= 1 - 1e-3) if probabilities else True)
    return a, y, ordinary


def check_cost(cost, rtol: float = COMPONENT_RTOL, worst: int = 5,
               seed: int = 0) -> ComponentReport:
    """The hand-written ∇_a C of ``cost`` (a cost or its name) against ``jax.grad`` of C,
    over a grid of (a, y) described in the module docstring and :data:`RANDOM_POINTS`
    random (a, y) drawn with ``seed``, in float64; and, for a cross entropy, its
    ``from_log`` form against C. Returns a :class:`ComponentReport`; raises
    :class:`ComponentError` naming the cost for a wrong shape, or NaN on finite input."""
    cost = _resolve("cost", cost)
    rtol = _checks.real("rtol", rtol, minimum=0.0, fix="e.g. rtol=1e-10")
    worst = _checks.integer("worst", worst, minimum=1, fix="e.g. worst=5")
    seed = _checks.integer("seed", seed, minimum=0, fix="e.g. seed=0")
    name = cost.name
    with jax.enable_x64(True):
        s = jnp.full((2, 3), 0.5, jnp.float64)
        check_shapes("cost", name, [("fn(a, y)", cost.fn, (s, s), (2,)),
                                    ("grad(a, y)", cost.grad, (s, s), (2, 3))])
        an, yn, ordinary = _cost_grid(cost.probabilities, seed)
        a, y = jnp.asarray(an)[:, None], jnp.asarray(yn)[:, None]  # one unit per example
        value = np.asarray(cost.fn(a, y), np.float64)
        inputs = np.maximum(np.abs(an), np.abs(yn))
        domain = None if cost.probabilities else (
            "if the cost is defined for probabilities only (a in (0, 1), y in [0, 1]), "
            f"build it with jaxnn.costs.custom({name!r}, fn, grad, probabilities=True); "
            "otherwise compute it stably there")
        _require_finite("cost", name, "fn(a, y)", value, inputs, {"a": an, "y": yn},
                        fix=domain)
        usable = np.isfinite(value)
        skipped = []
        if not usable.all():
            skipped.append(f"{int((~usable).sum())} point(s) where fn(a, y) overflows")
        manual = np.asarray(cost.grad(a, y), np.float64)[:, 0]
        ref = _reference("cost", name, lambda: jax.vmap(jax.grad(cost.fn))(a, y)[:, 0],
                         "fn(a, y) must give one real cost per example")
        _require_finite("cost", name, "grad(a, y)", manual, inputs, {"a": an, "y": yn},
                        where=usable & np.isfinite(ref), ordinary_only=False, fix=domain)
        good = usable & np.isfinite(ref)
        if (usable & ~np.isfinite(ref)).any():
            skipped.append(f"{int((usable & ~np.isfinite(ref)).sum())} point(s) where "
                           "jax.grad(fn) itself is not finite")
        err = _rel_errors(manual, ref, _scale(ref, ordinary))
        points = [Point({"a": float(an[i]), "y": float(yn[i])}, float(manual[i]),
                        float(ref[i]), float(err[i])) for i in np.flatnonzero(good)]
        extra = [("grad(a, y) vs jax.grad(fn) on rows of 3 units", _cost_rows_error(cost))]
        if cost.from_log is not None:
            extra.append(("from_log(log a, log(1 − a), y) vs fn(a, y)", _from_log_error(cost)))
    return ComponentReport("cost", name, "grad(a, y)", "jax.grad(fn)", rtol, int(good.sum()),
                           _worst(points, worst), tuple(skipped), tuple(extra),
                           tuple(_points_note(RANDOM_POINTS, seed, [], "a")))


def _cost_rows_error(cost) -> float:
    """Rows of 3 units (the sum over the last axis): grad against jax.grad, normwise."""
    rng = np.random.default_rng(2)
    a = jnp.asarray(rng.uniform(0.05, 0.95, (8, 3)))
    y = jnp.asarray(rng.uniform(0.0, 1.0, (8, 3)))
    want = np.asarray(jax.vmap(jax.grad(cost.fn))(a, y))
    got = np.asarray(cost.grad(a, y))
    scale = max(np.abs(want).max(), np.abs(got).max())
    return float(np.abs(got - want).max() / scale) if scale > 0 else 0.0


def _from_log_error(cost) -> float:
    rng = np.random.default_rng(3)
    a = jnp.asarray(rng.uniform(0.05, 0.95, (8, 3)))
    y = jnp.asarray(rng.uniform(0.0, 1.0, (8, 3)))
    log1m = jnp.log1p(-a) if cost.uses_log1m else None
    got = np.asarray(cost.from_log(jnp.log(a), log1m, y))
    want = np.asarray(cost.fn(a, y))
    return float(np.abs(got - want).max() / max(np.abs(want).max(), math.ulp(1.0)))
