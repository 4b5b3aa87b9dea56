"""Per-example costs C(a, y) and their gradients ∇_a C, looked up by name.

Each cost is a :class:`Cost`: ``fn(a, y)`` is C for one example (summed over the output
units, the last axis) and ``grad(a, y)`` is ∇_a C, the factor BP1 multiplies by g'(z^L):

===================== ===================================== ===============================
name                  C(a, y)                               ∇_a C
===================== ===================================== ===============================
quadratic             ½ ‖a − y‖²                            a − y
absolute              ‖a − y‖₁ (L1)                         sign(a − y)
binary_cross_entropy  −Σ [y log a + (1 − y) log(1 − a)]     (a − y) / (a (1 − a))
cross_entropy         −Σ y log a                            −y / a
huber                 Σ h(a − y)                            clip(a − y, −δ, δ)
===================== ===================================== ===============================

with h(r) = ½ r² for |r| ≤ δ and δ (|r| − ½ δ) beyond, δ = 1. Huber's loss is quadratic
near the target and linear (slope ±δ) beyond δ = 1, so one outlier's gradient is at most
1 in size; ½ r² would be ∞ at r = 1e300, so the quadratic branch sees r only where |r| ≤
δ (the branch ``where`` discards stays finite, and so does autodiff through it).

The maths.md cheat sheet writes binary cross entropy as ``y log a + (1 − y) log(1 − a)``,
without its minus sign; its gradient ``−y/a + (1 − y)/(1 − a)`` is right for the negated form used
here (the tests check every ∇_a C against ``jax.grad`` of C, which is how a missing minus
sign gets caught).

The cross entropies also carry ``from_log(log_a, log1m_a, y)``: the same cost written in
terms of log a and log(1 − a), which the network computes stably from the logits z
(log-sigmoid, log-softmax). The network cost uses that form, so it never takes log(0)
and never needs ``nan_to_num`` (Nielsen's network2 does).

**User costs.** :func:`custom` builds a :class:`Cost` from a per-example ``fn(a, y)``
(summed over the last axis) and its hand-written ``grad(a, y) = ∇_a C``; the object is
accepted wherever a cost name is, and :func:`get` returns it for the object or its name
(:data:`USER`, apart from the registry). :func:`jaxnn.gradcheck.check_cost` compares
``grad`` with ``jax.grad(fn)``.

**The registry.** :data:`COSTS` is the single source of cost names. Which output
activations a cost accepts is derived, not listed: a cost computed from logs (``needs``
names the :class:`~jaxnn.activations.Activation` fields it uses, ``log_fn`` and perhaps
``log1m_fn``) accepts every activation that provides them; the other costs accept any
output (:func:`valid_outputs`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks, activations, user_components

Array = jax.Array


class Cost(NamedTuple):
    """A pair (C, ∇_a C) of pure functions.

    Attributes:
      name: the lookup name.
      fn: ``C(a, y)``; ``a, y: (..., n)`` → ``(...)``, summed over the last axis.
      grad: ``∇_a C(a, y)``; ``(..., n)`` → ``(..., n)``.
      from_log: for cross entropies, ``C`` from ``(log_a, log1m_a, y)``, each ``(..., n)``
        (``log1m_a`` may be ``None`` when the cost does not use it); ``None`` otherwise.
      uses_log1m: whether ``from_log`` needs log(1 − a).
      probabilities: whether the targets must lie in [0, 1] (a negative target would make
        a cross entropy unbounded below).
    """

    name: str
    fn: Callable[[Array, Array], Array]
    grad: Callable[[Array, Array], Array]
    from_log: Callable[[Array, Array | None, Array], Array] | None = None
    uses_log1m: bool = False
    probabilities: bool = False

    @property
    def needs(self) -> tuple[str, ...]:
        """The output activation's fields :attr:`from_log` uses (none for other costs)."""
        if self.from_log is None:
            return ()
        return ("log_fn", "log1m_fn") if self.uses_log1m else ("log_fn",)

    def __repr__(self) -> str:
        # Short, for the messages that name a network's cost.
        return f"<cost {self.name!r}>"


def _quadratic(a: Array, y: Array) -> Array:
    """C = ½ ‖a − y‖² (the AI Okinawa course slides: C = ½ (y − a)²)."""
    return 0.5 * jnp.sum((a - y) ** 2, axis=-1)


def _quadratic_grad(a: Array, y: Array) -> Array:
    """∇_a C = a − y."""
    return a - y


def _absolute(a: Array, y: Array) -> Array:
    """C = ‖a − y‖₁ (the L1 loss of the neural-network notes)."""
    return jnp.sum(jnp.abs(a - y), axis=-1)


def _absolute_grad(a: Array, y: Array) -> Array:
    """∇_a C = sign(a − y), taking the subgradient +1 at a = y as jax.grad of |·| does."""
    return jnp.where(a - y >= 0, jnp.ones_like(a), -jnp.ones_like(a))


# The cross entropies take 0 · log 0 = 0 and 0 / 0 = 0 where a target is 0 (the limit of
# y log a as y → 0): a saturated output (a = 0 or 1 in floating point, log a = −inf once a
# logit difference overflows float16) would otherwise make the cost or its gradient NaN
# through 0 · inf. ``jnp.where`` picks the 0; the inner ``where`` keeps the unused branch
# finite too, so that autodiff through these functions stays NaN-free as well.


def _xlog(y: Array, a: Array) -> Array:
    """y log a, with 0 where y = 0 (even for a = 0)."""
    return jnp.where(y == 0, jnp.zeros_like(y * a), y * jnp.log(jnp.where(y == 0, 1, a)))


def _xlog1m(y: Array, a: Array) -> Array:
    """(1 − y) log(1 − a), with 0 where y = 1 (even for a = 1)."""
    return jnp.where(
        y == 1, jnp.zeros_like(y * a), (1 - y) * jnp.log1p(-jnp.where(y == 1, 0, a))
    )


def _xdiv(y: Array, a: Array) -> Array:
    """y / a, with 0 where y = 0 (even for a = 0)."""
    return jnp.where(y == 0, jnp.zeros_like(y * a), y / jnp.where(y == 0, 1, a))


def _xmul(y: Array, log_a: Array) -> Array:
    """y · log a for a log a computed from logits, with 0 where y = 0 (even for −inf)."""
    return jnp.where(y == 0, jnp.zeros_like(y * log_a), y * jnp.where(y == 0, 0, log_a))


def _bce(a: Array, y: Array) -> Array:
    """C = −Σ [y log a + (1 − y) log(1 − a)] (the maths.md cheat sheet's form, with its
    minus sign restored)."""
    return -jnp.sum(_xlog(y, a) + _xlog1m(y, a), axis=-1)


def _bce_grad(a: Array, y: Array) -> Array:
    """∇_a C = −y/a + (1 − y)/(1 − a) = (a − y) / (a(1 − a))."""
    return -_xdiv(y, a) + _xdiv(1 - y, 1 - a)


def _bce_from_log(log_a: Array, log1m_a: Array | None, y: Array) -> Array:
    """C = −Σ [y log a + (1 − y) log(1 − a)] from log a and log(1 − a)."""
    return -jnp.sum(_xmul(y, log_a) + _xmul(1 - y, log1m_a), axis=-1)


def _ce(a: Array, y: Array) -> Array:
    """C = −Σ y log a (the maths.md cheat sheet's cross entropy)."""
    return -jnp.sum(_xlog(y, a), axis=-1)


def _ce_grad(a: Array, y: Array) -> Array:
    """∇_a C = −y / a."""
    return -_xdiv(y, a)


def _ce_from_log(log_a: Array, log1m_a: Array | None, y: Array) -> Array:
    """C = −Σ y log a from log a."""
    del log1m_a
    return -jnp.sum(_xmul(y, log_a), axis=-1)


HUBER_DELTA = 1.0


def _huber(a: Array, y: Array) -> Array:
    """C = Σ h(a − y): h(r) = ½ r² for |r| ≤ δ, δ(|r| − ½δ) beyond (δ = 1)."""
    r = a - y
    small = jnp.abs(r) <= HUBER_DELTA
    r_small = jnp.where(small, r, jnp.zeros_like(r))  # ½ r² never overflows
    h = jnp.where(small, 0.5 * r_small * r_small, HUBER_DELTA * (jnp.abs(r) - 0.5 * HUBER_DELTA))
    return jnp.sum(h, axis=-1)


def _huber_grad(a: Array, y: Array) -> Array:
    """∇_a C = h'(a − y) = r for |r| ≤ δ, δ sign(r) beyond: clip(a − y, −δ, δ)."""
    return jnp.clip(a - y, -HUBER_DELTA, HUBER_DELTA)


COSTS: dict[str, Cost] = {
    "quadratic": Cost("quadratic", _quadratic, _quadratic_grad),
    "absolute": Cost("absolute", _absolute, _absolute_grad),
    "binary_cross_entropy": Cost(
        "binary_cross_entropy", _bce, _bce_grad, _bce_from_log, uses_log1m=True,
        probabilities=True,
    ),
    "cross_entropy": Cost("cross_entropy", _ce, _ce_grad, _ce_from_log, probabilities=True),
    "huber": Cost("huber", _huber, _huber_grad),
}

NAMES: tuple[str, ...] = tuple(COSTS)


# User costs, by name: what custom() and register() made in this process (never a
# built-in's name). A network holds the object itself.
USER: dict[str, Cost] = {}


def custom(name: str, fn, grad, *, probabilities: bool = False) -> Cost:
    """A user cost from a per-example ``fn(a, y)`` and its hand-written gradient.

    Args:
      name: a new name (a built-in's name is a ValueError).
      fn: ``C(a, y)``, a JAX function: ``a, y: (..., n) → (...)``, summed over the last
        axis (one cost per example).
      grad: ``∇_a C(a, y)``: ``(..., n) → (..., n)``. BP1 uses it (``grad="autodiff"``
        uses ``fn``; :func:`jaxnn.gradcheck.check_cost` compares the two).
      probabilities: whether C is defined for probabilities only (a in (0, 1), targets in
        [0, 1], like a cross entropy): targets outside [0, 1] are then refused, and
        ``check_cost`` checks it there only.
    Returns:
      the :class:`Cost`, also registered under ``name`` (:data:`USER`).
    """
    name = user_components.check_name("cost", name)
    user_components.check_function("cost", name, "fn", fn, "fn(a, y) → C per example")
    user_components.check_function("cost", name, "grad", grad, "grad(a, y) → ∇_a C")
    if not isinstance(probabilities, bool):
        raise _checks.type_error("probabilities", "True or False", probabilities)
    return register(Cost(name, fn, grad, probabilities=probabilities))


def register(cost: Cost) -> Cost:
    """Enter a user :class:`Cost` in :data:`USER` under its name (replacing an earlier one
    of that name) and return it. :func:`custom` calls this."""
    if not isinstance(cost, Cost):
        raise _checks.type_error("register's argument", "a jaxnn.costs.Cost", cost,
                                 "build one with jaxnn.costs.custom(name, fn, grad)")
    if COSTS.get(cost.name) is cost:
        return cost
    user_components.check_name("cost", cost.name)
    a = jnp.full((2, 3), 0.5, jnp.float32)
    user_components.check_shapes("cost", cost.name, [("fn(a, y)", cost.fn, (a, a), (2,)),
                                                ("grad(a, y)", cost.grad, (a, a), (2, 3))])
    user_components.enter(cost, USER)
    return cost


def accepts(cost, output) -> bool:
    """Whether ``cost`` (a name or a Cost) can follow the output activation ``output`` (a
    name or an Activation): it provides every field in :attr:`Cost.needs`; and, for a user
    cost of probabilities, its outputs stay in [0, 1] (:func:`in_unit_interval`), or the
    cost's logarithms would turn the first step's loss into NaN."""
    act, cost = activations.get(output), get(cost)
    if not all(getattr(act, field) is not None for field in cost.needs):
        return False
    if cost.probabilities and COSTS.get(cost.name) is not cost:
        return in_unit_interval(act)
    return True


@functools.lru_cache(maxsize=256)
def in_unit_interval(act) -> bool:
    """Whether the activation's outputs lie in [0, 1] on z from −30 to 30 (float32)."""
    with jax.ensure_compile_time_eval():  # eager, even inside a trace
        z = jnp.linspace(-30.0, 30.0, 61, dtype=jnp.float32).reshape(1, -1)
        a = act.fn(z)
        return bool(jnp.all((a >= 0) & (a <= 1)))


def valid_outputs(cost) -> tuple[str, ...]:
    """The built-in output activations ``cost`` (a name or a Cost) accepts: those
    providing every field in its :attr:`Cost.needs` (the stable log forms a cross entropy
    is computed from)."""
    return tuple(name for name in activations.ACTIVATIONS if accepts(cost, name))


def get(name) -> Cost:
    """The cost ``name`` names (a built-in, or a user one from :func:`custom`), or ``name``
    itself when it is a :class:`Cost`; ValueError listing the valid names for an unknown
    one, TypeError for anything else."""
    if isinstance(name, Cost):
        return name
    if isinstance(name, str):
        if name in COSTS:
            return COSTS[name]
        found = user_components.lookup("cost", name, USER)
        if found is not None:
            return found
        raise ValueError(f"unknown cost {name!r}; expected one of: {', '.join(COSTS)}"
                         f"{user_components.user_table_name('cost', USER)}.")
    raise TypeError(_checks.message(
        "a cost name", "a string such as 'quadratic' (or a Cost from jaxnn.costs.custom)",
        _checks.describe(name), f"one of: {', '.join(COSTS)}"))


def canonical(cost) -> str | Cost:
    """What a :class:`~jaxnn.Network` stores for ``cost``: a built-in's name, or the user
    :class:`Cost` object itself."""
    cost = get(cost)
    return cost.name if COSTS.get(cost.name) is cost else cost


def name_of(cost) -> str:
    """The name of a cost given by name or as an object."""
    return get(cost).name


def describe(cost):
    """The JSON record of ``cost`` in a network description: a built-in's name, or
    ``{"name": …, "import": "module:attribute" or None, "fingerprint": …}`` for a user
    cost."""
    return user_components.describe("cost", canonical(cost), COSTS)


def resolve(entry):
    """The inverse of :func:`describe`; :class:`jaxnn.user_components.MissingComponent` for a
    user cost this process does not have."""
    return user_components.resolve("cost", entry, COSTS, USER, Cost)
