"""Activation functions g and their derivatives g', looked up by name.

Each activation is an :class:`Activation` of pure functions. The derivatives are written
the way the source documents write them, from the stored activation ``a = g(z)`` where
that is the classic form (the AI Okinawa course slides: σ'(z) = a(1 − a); tanh'(z) =
1 − a²; ReLU'(z) = 1[z > 0]):

========== ============================ =====================================
name       g(z)                         g'(z)
========== ============================ =====================================
sigmoid    1 / (1 + e^{−z})             a (1 − a)
tanh       tanh z                       1 − a²
relu       max(0, z)                    1[z > 0]
leaky_relu max(αz, z), α = 0.01         1[z > 0] + α 1[z ≤ 0]
identity   z                            1
softmax    e^{z_i} / Σ_j e^{z_j}        Jacobian a_i (δ_ij − a_j)
========== ============================ =====================================

The neural-network notes give "0 for z ≤ 0, 1 for z > 0" as ReLU; that is ReLU's
*derivative*. ReLU itself is max(0, z).

**The registry.** :data:`ACTIVATIONS` is the single source of names: the network's
checks, the error messages, the CLI's help, the docs and the BP test matrix all read it.
Adding an activation is adding one entry here (with ``hidden=False`` if it belongs on the
output layer only, ``log_fn``/``log1m_fn`` if a cross entropy may follow it, and the
``threshold`` that turns a single output unit into a 0/1 prediction).

Every activation also offers ``vjp(z, a, g)``, the vector–Jacobian product
``g · ∂a/∂z`` that BP1 and BP2 need: for the elementwise activations it is
``g ⊙ g'(z)``; for softmax, whose Jacobian is not diagonal, it is
``a ⊙ (g − Σ_j g_j a_j)`` row by row, i.e. Σ_i g_i a_i (δ_ij − a_j), without ever
forming the (n × n) Jacobian.

Softmax and sigmoid also carry ``log_fn`` (log a, computed stably from z by
log-sum-exp / log-sigmoid) and sigmoid ``log1m_fn`` (log(1 − a) = −softplus(z)), so the
cross-entropy costs never take log(0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks

Array = jax.Array

LEAKY_RELU_SLOPE = 0.01


class Activation(NamedTuple):
    """A pair (g, g') of pure functions, plus the helpers backprop needs.

    Attributes:
      name: the lookup name.
      fn: ``g(z)``, any shape; softmax acts on the last axis.
      deriv: ``g'(z)`` elementwise as a function of ``(z, a)`` with ``a = g(z)``; ``None``
        for softmax, whose derivative is a Jacobian (use ``vjp``).
      vjp: ``vjp(z, a, g) = g · ∂a/∂z``: ``g ⊙ g'(z)`` for elementwise activations, the
        softmax Jacobian product for softmax. Shapes: all three ``(..., n)``.
      log_fn: ``log g(z)`` computed stably from ``z``, or ``None``.
      log1m_fn: ``log(1 − g(z))`` computed stably from ``z``, or ``None``.
      hidden: whether the activation may be used on a hidden layer (softmax may not).
      threshold: the value above which a single output unit predicts class 1.
    """

    name: str
    fn: Callable[[Array], Array]
    deriv: Callable[[Array, Array], Array] | None
    vjp: Callable[[Array, Array, Array], Array]
    log_fn: Callable[[Array], Array] | None = None
    log1m_fn: Callable[[Array], Array] | None = None
    hidden: bool = True
    threshold: float = 0.0


def _elementwise(name, fn, deriv, log_fn=None, log1m_fn=None, threshold=0.0) -> Activation:
    """An activation whose Jacobian is diagonal: vjp(z, a, g) = g ⊙ g'(z)."""
    return Activation(
        name=name,
        fn=fn,
        deriv=deriv,
        vjp=lambda z, a, g: g * deriv(z, a),
        log_fn=log_fn,
        log1m_fn=log1m_fn,
        threshold=threshold,
    )


def _sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^{−z}) (XLA's logistic: stable for large |z|)."""
    return jax.nn.sigmoid(z)


def _sigmoid_deriv(z: Array, a: Array) -> Array:
    """σ'(z) = a(1 − a) (the AI Okinawa course slides)."""
    del z
    return a * (1 - a)


def _tanh_deriv(z: Array, a: Array) -> Array:
    """tanh'(z) = 1 − a²."""
    del z
    return 1 - a * a


def _relu(z: Array) -> Array:
    """ReLU(z) = max(0, z) (the neural-network notes print its derivative as ReLU).

    Written as a select so that autodiff's derivative at z = 0 is 0, like ``relu'`` here
    (``jnp.maximum`` would split the tie and give ½)."""
    return jnp.where(z > 0, z, jnp.zeros_like(z))


def _relu_deriv(z: Array, a: Array) -> Array:
    """ReLU'(z) = 1 if z > 0 else 0 (at z = 0 we take 0, as jax.grad does)."""
    del a
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array) -> Array:
    """max(αz, z) with α = 0.01."""
    return jnp.where(z > 0, z, LEAKY_RELU_SLOPE * z)


def _leaky_relu_deriv(z: Array, a: Array) -> Array:
    """1 for z > 0, α otherwise."""
    del a
    return jnp.where(z > 0, jnp.ones_like(z), jnp.full_like(z, LEAKY_RELU_SLOPE))


def _identity_deriv(z: Array, a: Array) -> Array:
    del a
    return jnp.ones_like(z)


def _softmax(z: Array) -> Array:
    """softmax(z)_i = e^{z_i − max z} / Σ_j e^{z_j − max z} over the last axis."""
    return jax.nn.softmax(z, axis=-1)


def _softmax_vjp(z: Array, a: Array, g: Array) -> Array:
    """Σ_i g_i ∂a_i/∂z_j = Σ_i g_i a_i (δ_ij − a_j) = a_j (g_j − Σ_i g_i a_i).

    Shapes: ``z, a, g: (..., n)`` → ``(..., n)``. The (n × n) Jacobian is never formed.
    """
    del z
    return a * (g - jnp.sum(g * a, axis=-1, keepdims=True))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": _elementwise(
        "sigmoid",
        _sigmoid,
        _sigmoid_deriv,
        log_fn=jax.nn.log_sigmoid,  # log σ(z) = −softplus(−z)
        log1m_fn=lambda z: -jax.nn.softplus(z),  # log(1 − σ(z)) = −softplus(z)
        threshold=0.5,
    ),
    "tanh": _elementwise("tanh", jnp.tanh, _tanh_deriv),
    "relu": _elementwise("relu", _relu, _relu_deriv, threshold=0.5),
    "leaky_relu": _elementwise("leaky_relu", _leaky_relu, _leaky_relu_deriv),
    "identity": _elementwise("identity", lambda z: z, _identity_deriv),
    "softmax": Activation(
        name="softmax",
        fn=_softmax,
        deriv=None,
        vjp=_softmax_vjp,
        log_fn=lambda z: jax.nn.log_softmax(z, axis=-1),  # z − logsumexp(z)
        hidden=False,  # normalises a whole layer: an output activation
        threshold=0.5,
    ),
}

NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The activation called ``name``; ValueError listing the valid names otherwise."""
    return _checks.lookup("activation", name, ACTIVATIONS)


def hidden_names() -> tuple[str, ...]:
    """The activations allowed on hidden layers (every one with ``hidden=True``)."""
    return tuple(name for name, act in ACTIVATIONS.items() if act.hidden)
