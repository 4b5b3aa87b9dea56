"""DP-SGD: per-example clipping plus Gaussian noise (Abadi et al. 2016, arXiv:1607.00133).

For a minibatch of m examples with per-example gradients g_i = ∂C(a_i, y_i)/∂θ (from
:func:`jaxnn.backprop.per_example_grads`, the hand-written pass under ``vmap``)::

    ḡ_i = g_i · min(1, C / ‖g_i‖)                  clip each example to norm ≤ C
    g̃   = (Σ_i ḡ_i + N(0, σ² C² I)) / m            add noise, average
    g̃  += (λ/m) W                                  the L2 term, data-independent

``‖g_i‖`` is the global L2 norm over every layer's parameters (W, b, and γ, β under layer
norm). A network with batch norm is refused (:func:`check_network`): its examples are
coupled through the batch's statistics, so there is no per-example gradient to clip and
the privacy argument fails; use ``norm="layer"`` instead. Layer norm and skip connections
keep examples independent and work. Use it through
``jaxnn.train.fit(..., dp=jaxnn.privacy.dp_sgd(clip_norm, noise_multiplier))``. The privacy
accounting (ε, δ) is not computed here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks, backprop
from jaxnn.network import Network, Params, cost_from_pass, forward_layers


class _Settings(NamedTuple):
    clip_norm: float
    noise_multiplier: float


class DPSGD(_Settings):
    """Settings: ``clip_norm`` C > 0 and ``noise_multiplier`` σ ≥ 0 (σ = 0: clipping only).

    Checked when built, directly or by :func:`dp_sgd`: a C ≤ 0 or a NaN would silently
    zero or poison every gradient."""

    __slots__ = ()

    def __new__(cls, clip_norm: float, noise_multiplier: float):
        fix = "e.g. dp_sgd(clip_norm=1.0, noise_multiplier=1.1)"
        clip_norm = _checks.real("clip_norm", clip_norm, minimum=0.0, strict=True, fix=fix)
        noise_multiplier = _checks.real("noise_multiplier", noise_multiplier, minimum=0.0,
                                        fix=fix)
        return super().__new__(cls, clip_norm, noise_multiplier)

    @classmethod
    def _make(cls, iterable):  # _replace builds through here: check it too
        return cls(*iterable)


def dp_sgd(clip_norm: float, noise_multiplier: float) -> DPSGD:
    """Validated :class:`DPSGD` settings."""
    return DPSGD(clip_norm, noise_multiplier)


def check_network(net: Network) -> Network:
    """``net`` when DP-SGD can train it; ValueError for ``norm="batch"`` (each example's
    output depends on the whole batch, so no example has a gradient of its own to clip).
    ``jaxnn.train.fit(..., dp=...)`` calls it before anything runs."""
    backprop.check_per_example(net, "DP-SGD's per-example gradients")
    return net


def clip_per_example(per_example: Params, clip_norm: float) -> tuple[Params, jax.Array]:
    """ḡ_i = g_i · min(1, C / ‖g_i‖). Returns the clipped pytree (leading axis m) and the
    norms ‖g_i‖, shape ``(m,)``.

    ``per_example``: a pytree of arrays, each with the leading axis of the m examples
    (:func:`jaxnn.backprop.per_example_grads`); TypeError or ValueError saying so for
    anything else (a list of numbers, arrays whose first axes differ)."""
    leaves = jax.tree.leaves(per_example)
    fix = "pass per-example gradients, e.g. backprop.per_example_grads(net, params, x, y)"
    if not leaves or not all(hasattr(g, "shape") and len(g.shape) >= 1 for g in leaves):
        raise _checks.type_error(
            "per_example", "a pytree of arrays with a leading axis of m examples",
            per_example, fix)
    m = leaves[0].shape[0]
    if any(g.shape[0] != m for g in leaves):
        raise _checks.value_error(
            "every leaf of per_example", f"of leading axis m = {m} (one row per example)",
            f"leading axes {sorted({g.shape[0] for g in leaves})}", fix)
    clip_norm = _checks.real("clip_norm", clip_norm, minimum=0.0, fix="e.g. clip_norm=1.0")
    norms = jnp.sqrt(sum(jnp.sum(jnp.reshape(g, (m, -1)) ** 2, axis=1) for g in leaves))
    scale = jnp.minimum(1.0, clip_norm / jnp.maximum(norms, jnp.finfo(norms.dtype).tiny))
    clipped = jax.tree.map(lambda g: g * scale.reshape((m,) + (1,) * (g.ndim - 1)), per_example)
    return clipped, norms


def private_value_grad_and_output(net: Network, params: Params, x, y, key, dp: DPSGD,
                                  masks=None):
    """J, the DP-SGD gradient g̃ and A^L for ``x: (m, n_0)``, float targets ``y: (m, n_L)``
    (raw: no validation), with ``key`` drawing the noise; ``masks``: dropout scales."""
    check_network(net)  # at trace time, should a caller have skipped the door's check
    m = x.shape[0]
    zs, acts = forward_layers(net, params, x, masks)
    J = cost_from_pass(net, params, zs, acts, y)
    clipped, _ = clip_per_example(backprop.example_grads(net, params, x, y, masks),
                                  dp.clip_norm)
    summed = jax.tree.map(lambda g: jnp.sum(g, axis=0), clipped)
    leaves, treedef = jax.tree.flatten(summed)
    keys = jax.random.split(key, len(leaves))
    noisy = [
        (g + dp.noise_multiplier * dp.clip_norm * jax.random.normal(k, g.shape, g.dtype)) / m
        for g, k in zip(leaves, keys)
    ]
    grads = backprop.add_l2_grad(net, params, jax.tree.unflatten(treedef, noisy), m)
    return J, grads, acts[-1]
