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
===================== ===================================== ===============================

The maths.md cheat sheet writes binary cross entropy as ``y log a + (1 − y) log(1 − a)``,
without its minus sign; its gradient ``−y/a + (1 − y)/(1 − a)`` is right for the negated form used
here (the tests check every ∇_a C against ``jax.grad`` of C, which is how a missing minus
sign gets caught).

The cross entropies also carry ``from_log(log_a, log1m_a, y)``: the same cost written in
terms of log a and log(1 − a), which the network computes stably from the logits z
(log-sigmoid, log-softmax). The network cost uses that form, so it never takes log(0)
and never needs ``nan_to_num`` (Nielsen's network2 does).

**The registry.** :data:`COSTS` is the single source of cost names. Which output
activations a cost accepts is derived, not listed: a cost computed from logs (``needs``
names the :class:`~jaxnn.activations.Activation` fields it uses, ``log_fn`` and perhaps
``log1m_fn``) accepts every activation that provides them; the other costs accept any
output (:func:`valid_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks, activations

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


COSTS: dict[str, Cost] = {
    "quadratic": Cost("quadratic", _quadratic, _quadratic_grad),
    "absolute": Cost("absolute", _absolute, _absolute_grad),
    "binary_cross_entropy": Cost(
        "binary_cross_entropy", _bce, _bce_grad, _bce_from_log, uses_log1m=True,
        probabilities=True,
    ),
    "cross_entropy": Cost("cross_entropy", _ce, _ce_grad, _ce_from_log, probabilities=True),
}

NAMES: tuple[str, ...] = tuple(COSTS)


def valid_outputs(cost: str) -> tuple[str, ...]:
    """The output activations ``cost`` accepts: those providing every field in its
    :attr:`Cost.needs` (the stable log forms a cross entropy is computed from)."""
    needs = get(cost).needs
    return tuple(name for name, act in activations.ACTIVATIONS.items()
                 if all(getattr(act, field) is not None for field in needs))


def get(name: str) -> Cost:
    """The cost called ``name``; ValueError listing the valid names otherwise."""
    return _checks.lookup("cost", name, COSTS)
