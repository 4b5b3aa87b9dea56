"""Activation functions g and their derivatives g', looked up by name.

Each activation is an :class:`Activation` of pure functions. The derivatives are written
the way the source documents write them, from the stored activation ``a = g(z)`` where
that is the classic form (the AI Okinawa course slides: σ'(z) = a(1 − a); tanh'(z) =
1 − a²; ReLU'(z) = 1[z > 0]):

========== ============================== ==============================================
name       g(z)                           g'(z)
========== ============================== ==============================================
sigmoid    1 / (1 + e^{−z})               a (1 − a)
tanh       tanh z                         1 − a²
relu       max(0, z)                      1[z > 0]
leaky_relu max(αz, z), α = 0.01           1[z > 0] + α 1[z ≤ 0]
identity   z                              1
softmax    e^{z_i} / Σ_j e^{z_j}          Jacobian a_i (δ_ij − a_j)
softplus   log(1 + e^z)                   σ(z)
elu        z (z > 0); e^z − 1 (z ≤ 0)     1 (z > 0); e^z = a + 1 (z ≤ 0)   (α = 1)
silu       z σ(z)                         σ(z) (1 + z (1 − σ(z))) = σ(z) + a (1 − σ(z))
gelu       z Φ(z)                         Φ(z) + z φ(z)
gelu_tanh  ½ z (1 + tanh u)               ½ (1 + tanh u) + ½ z sech²(u) u'(z)
========== ============================== ==============================================

with Φ(z) = ½ erfc(−z/√2) and φ(z) = e^{−z²/2} / √(2π) the standard normal CDF and
density, u = √(2/π) (z + 0.044715 z³) and u'(z) = √(2/π) (1 + 3 · 0.044715 z²).

The modern activations are derived by hand (the formulas above) and written so that the
tails cannot overflow: softplus' derivative is σ(z) by XLA's logistic, never e^z / (1 +
e^z) (inf / inf at z = 1000); ELU's e^z − 1 is ``expm1(min(z, 0))`` (so that e^z of a
large positive z is never formed, not even in the branch ``where`` discards, whose
gradient would be 0 · ∞) and its derivative e^z itself, not a + 1 (which cancels); SiLU's
1 − σ(z) is σ(−z); GELU's Φ is ``erfc`` (no cancellation in 1 + erf z for negative z);
GELU-tanh uses ½ (1 + tanh u) = σ(2u) and ½ sech²(u) = 2 σ(2u) σ(−2u), with z clipped to
[−30, 30] inside u (u(30) ≈ 987: σ(2u) is exactly 1 there, and z³ stays finite even in
float16), and multiplies z in last, so that z = 1e300 gives 1, not 0 · ∞ = NaN.

GELU-tanh is the approximation of Hendrycks and Gimpel (``jax.nn.gelu(approximate=True)``);
GELU is the exact z Φ(z) (``approximate=False``).

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

**User components.** :func:`custom` builds an :class:`Activation` from an elementwise
``fn(z)`` and its hand-written ``deriv(z, a)``; the object is accepted wherever a name is
(``jaxnn.mlp(..., hidden=act)``, ``jaxnn.Network(sizes, (act, ...), cost)``), and
:func:`get` returns it for the object or its name. User components are kept apart from
:data:`ACTIVATIONS` (in :data:`USER`), so the registry stays the list of built-ins. User
names are a namespace of their own: a user component may share a built-in's name (a name
given as a string means the built-in), and a checkpoint records a user component as one,
with its import path and fingerprint (:mod:`jaxnn.user_components`).
:func:`jaxnn.gradcheck.check_activation` compares ``deriv`` with ``jax.grad(fn)``; see
:mod:`jaxnn.components` (the checks).

Softmax and sigmoid also carry ``log_fn`` (log a, computed stably from z by
log-sum-exp / log-sigmoid) and sigmoid ``log1m_fn`` (log(1 − a) = −softplus(z)), so the
cross-entropy costs never take log(0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks, user_components

Array = jax.Array

LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0
GELU_TANH_C = 0.044715
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_CLIP = 30.0  # |z| beyond which σ(2u) is exactly 0 or 1, in every dtype


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

    def __repr__(self) -> str:
        # Short, for the messages that name a network's activations (the functions' reprs
        # say nothing); the fields are still there, e.g. act.fn.
        return f"<activation {self.name!r}>"


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


def _softplus_deriv(z: Array, a: Array) -> Array:
    """softplus'(z) = e^z / (1 + e^z) = σ(z), by XLA's logistic (no overflow at z = 1000)."""
    del a
    return jax.nn.sigmoid(z)


def _elu(z: Array) -> Array:
    """ELU(z) = z for z > 0, α(e^z − 1) for z ≤ 0 (α = 1). The inner ``where`` keeps the
    discarded branch finite, so that autodiff through it never meets 0 · e^{1000}."""
    negative = jnp.where(z > 0, jnp.zeros_like(z), z)
    return jnp.where(z > 0, z, ELU_ALPHA * jnp.expm1(negative))


def _elu_deriv(z: Array, a: Array) -> Array:
    """ELU'(z) = 1 for z > 0, α e^z = a + α for z ≤ 0 (e^z from z: a + 1 cancels as
    z → −∞). Both sides give 1 at z = 0, where jax.grad takes the z ≤ 0 branch."""
    del a
    negative = jnp.where(z > 0, jnp.zeros_like(z), z)
    return jnp.where(z > 0, jnp.ones_like(z), ELU_ALPHA * jnp.exp(negative))


def _silu(z: Array) -> Array:
    """SiLU(z) = swish(z) = z σ(z)."""
    return z * jax.nn.sigmoid(z)


def _silu_deriv(z: Array, a: Array) -> Array:
    """SiLU'(z) = σ(z) + z σ(z)(1 − σ(z)) = σ(z) (1 + z σ(−z)), with 1 − σ(z) = σ(−z)
    (accurate where σ(z) rounds to 1; at z = ±1e300 one factor is exactly 0, the other
    finite)."""
    del a
    return jax.nn.sigmoid(z) * (1 + z * jax.nn.sigmoid(-z))


def _gelu(z: Array) -> Array:
    """GELU(z) = z Φ(z), Φ(z) = ½ erfc(−z/√2) (the standard normal CDF)."""
    return z * (0.5 * jax.lax.erfc(-z / math.sqrt(2.0)))


def _gelu_deriv(z: Array, a: Array) -> Array:
    """GELU'(z) = Φ(z) + z φ(z), φ(z) = e^{−z²/2} / √(2π) (at |z| ≥ 1e155, z² = ∞ and
    φ = 0 exactly: z · 0 = 0)."""
    del a
    phi = jnp.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return 0.5 * jax.lax.erfc(-z / math.sqrt(2.0)) + z * phi


def _gelu_tanh_u(z: Array) -> tuple[Array, Array]:
    """u(z) = √(2/π)(z + 0.044715 z³) and u'(z) = √(2/π)(1 + 3 · 0.044715 z²), at z
    clipped to [−30, 30] (beyond, σ(±2u) is exactly 0 or 1 and z³ would overflow)."""
    zc = jnp.clip(z, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
    u = _SQRT_2_OVER_PI * (zc + GELU_TANH_C * zc * zc * zc)
    du = _SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * zc * zc)
    return u, du


def _gelu_tanh(z: Array) -> Array:
    """GELU_tanh(z) = ½ z (1 + tanh u) = z σ(2u) (the same number, without the cancellation
    of 1 + tanh u for negative u)."""
    u, _ = _gelu_tanh_u(z)
    return z * jax.nn.sigmoid(2 * u)


def _gelu_tanh_deriv(z: Array, a: Array) -> Array:
    """GELU_tanh'(z) = ½ (1 + tanh u) + ½ z sech²(u) u'(z), in full (not Φ + z φ), with
    ½ (1 + tanh u) = σ(2u) and ½ sech²(u) = 2 σ(2u) σ(−2u); z is multiplied in last, so
    that σ(−2u) = 0 gives 0 at any finite z (never 0 · ∞)."""
    del a
    u, du = _gelu_tanh_u(z)
    s, s_minus = jax.nn.sigmoid(2 * u), jax.nn.sigmoid(-2 * u)
    return s + z * (2 * s * s_minus * du)


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
    "softplus": _elementwise("softplus", jax.nn.softplus, _softplus_deriv, threshold=0.5),
    "elu": _elementwise("elu", _elu, _elu_deriv, threshold=0.5),
    "silu": _elementwise("silu", _silu, _silu_deriv, threshold=0.5),
    "gelu": _elementwise("gelu", _gelu, _gelu_deriv, threshold=0.5),
    "gelu_tanh": _elementwise("gelu_tanh", _gelu_tanh, _gelu_tanh_deriv, threshold=0.5),
}

NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


# User components, by name: what custom() and register() made in this process (never a
# built-in's name). A network holds the object itself; the table lets a saved network's
# record of a user activation find it again.
USER: dict[str, Activation] = {}


def custom(name: str, fn, deriv, *, threshold: float = 0.0, hidden: bool = True) -> Activation:
    """A user activation from an elementwise ``fn(z)`` and its hand-written derivative.

    Args:
      name: a new name (a built-in's name is a ValueError).
      fn: ``g(z)``, elementwise, a JAX function: ``(...) → (...)``.
      deriv: ``g'(z)`` as a function of ``(z, a)`` with ``a = g(z)``, elementwise; BP1 and
        BP2 use it (``grad="autodiff"`` uses ``fn``: comparing the two is the check,
        :func:`jaxnn.gradcheck.check_activation`).
      threshold: the value above which a single output unit predicts class 1.
      hidden: whether it may be used on a hidden layer.
    Returns:
      the :class:`Activation`, also registered under ``name`` (:data:`USER`), so that
      ``get(name)`` and a saved network naming it find it.
    """
    name = user_components.check_name("activation", name)
    user_components.check_function("activation", name, "fn", fn, "fn(z) → g(z)")
    user_components.check_function("activation", name, "deriv", deriv, "deriv(z, a) → g'(z)")
    threshold = _checks.real("threshold", threshold, fix="e.g. threshold=0.5")
    if not isinstance(hidden, bool):
        raise _checks.type_error("hidden", "True or False", hidden)
    act = _elementwise(name, fn, deriv, threshold=threshold)._replace(hidden=hidden)
    return register(act)


def register(act: Activation) -> Activation:
    """Enter a user :class:`Activation` in :data:`USER` under its name (replacing an
    earlier one of that name: a network built with the earlier object keeps it) and
    return it. :func:`custom` calls this; call it for an Activation built by hand."""
    if not isinstance(act, Activation):
        raise _checks.type_error("register's argument", "a jaxnn.activations.Activation",
                                 act, "build one with jaxnn.activations.custom(name, fn, deriv)")
    if ACTIVATIONS.get(act.name) is act:
        return act
    user_components.check_name("activation", act.name)
    z = jnp.zeros((2, 3), jnp.float32)
    calls = [("fn(z)", act.fn, (z,), (2, 3)), ("vjp(z, a, g)", act.vjp, (z, z, z), (2, 3))]
    if act.deriv is not None:
        calls.append(("deriv(z, a)", act.deriv, (z, z), (2, 3)))
    user_components.check_shapes("activation", act.name, calls)
    user_components.enter(act, USER)
    return act


def get(name) -> Activation:
    """The activation ``name`` names (a built-in, or a user one from :func:`custom`), or
    ``name`` itself when it is an :class:`Activation`; ValueError listing the valid names
    for an unknown one, TypeError for anything else."""
    if isinstance(name, Activation):
        return name
    if isinstance(name, str):
        if name in ACTIVATIONS:
            return ACTIVATIONS[name]
        found = user_components.lookup("activation", name, USER)
        if found is not None:
            return found
        raise ValueError(f"unknown activation {name!r}; expected one of: {', '.join(ACTIVATIONS)}"
                         f"{user_components.user_table_name('activation', USER)}.")
    raise TypeError(_checks.message(
        "an activation name", "a string such as 'sigmoid' (or an Activation from "
        "jaxnn.activations.custom)", _checks.describe(name), f"one of: {', '.join(ACTIVATIONS)}"))


def canonical(act) -> str | Activation:
    """What a :class:`~jaxnn.Network` stores for ``act`` (a name or an object): a built-in's
    name, or the user :class:`Activation` object itself."""
    act = get(act)
    return act.name if ACTIVATIONS.get(act.name) is act else act


def name_of(act) -> str:
    """The name of an activation given by name or as an object."""
    return get(act).name


def describe(act):
    """The JSON record of ``act`` in a network description: a built-in's name, or
    ``{"name": …, "import": "module:attribute" or None, "fingerprint": …}`` for a user
    activation."""
    return user_components.describe("activation", canonical(act), ACTIVATIONS)


def resolve(entry):
    """The inverse of :func:`describe` (a name is returned as it is, for the network's
    checks); :class:`jaxnn.user_components.MissingComponent` for a user activation this
    process does not have."""
    return user_components.resolve("activation", entry, ACTIVATIONS, USER, Activation)


def hidden_names() -> tuple[str, ...]:
    """The built-in activations allowed on hidden layers (every one with ``hidden=True``)."""
    return tuple(name for name, act in ACTIVATIONS.items() if act.hidden)
