"""Gradient clipping by global norm: a wrapper around any optimizer."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks
from jaxnn.optimizers.arguments import hyperparameters
from jaxnn.optimizers.base import (
    Optimizer,
    PyTree,
    check_update,
    compute_dtype,
    increment,
    rate_dtype,
)


class ClipState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    global_norm: jax.Array  # float (), ‖g‖ of the raw grads at the last update (0 after init).
    inner: NamedTuple  # The wrapped optimizer's state.


def global_norm(tree: PyTree) -> jax.Array:
    """The L2 norm of all the leaves of ``tree`` taken together: ‖g‖ = √(Σ_leaves Σ g²).

    Args:
      tree: a pytree of arrays of any shapes.

    Returns:
      A float scalar, in ``promote_types(dtype, float32)`` of the leaves (0 for an empty
      tree).
    """
    leaves = jax.tree.leaves(tree)
    dtype = jnp.result_type(jnp.float32, *(compute_dtype(x) for x in leaves))
    squares = [jnp.sum(jnp.square(jnp.asarray(x).astype(dtype))) for x in leaves]  # Σ g²
    return jnp.sqrt(sum(squares, jnp.zeros((), dtype)))  # √(Σ_leaves Σ g²)


@hyperparameters
def clip_by_global_norm(max_norm: float, inner: Optimizer) -> Optimizer:
    """Rescale the gradients to a global norm of at most ``max_norm``, then run ``inner``.

        ‖g‖ = √(Σ_leaves Σ g²)
        g = g · min(1, max_norm / ‖g‖)
        (params, inner state) = inner.update(g, inner state, params)

    Gradients with ‖g‖ ≤ max_norm pass untouched; larger ones keep their direction and get
    norm max_norm. Equals ``optax.chain(optax.clip_by_global_norm(max_norm), <inner>)``.

    Args:
      max_norm: a finite float > 0.
      inner: the ``Optimizer`` that applies the clipped gradients.

    Returns:
      An ``Optimizer`` whose state is ``ClipState(count, global_norm, inner)``;
      ``global_norm`` is ‖g‖ of the raw (unclipped) gradients of the last update.

    References:
      Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
      networks", ICML 2013, https://arxiv.org/abs/1211.5063.
    """
    max_norm = _checks.real("max_norm", max_norm, minimum=0.0, strict=True,
                            fix="pass e.g. max_norm=1.0")
    _checks.instance("inner", inner, Optimizer, "an Optimizer",
                     "pass e.g. clip_by_global_norm(1.0, adam(1e-3)); wrap an optax "
                     "transformation with from_gradient_transformation(tx)")

    def init(params):
        dtype = rate_dtype(params)
        return ClipState(jnp.zeros((), jnp.int32), jnp.zeros((), dtype), inner.init(params))

    def update(grads, state, params):
        check_update(ClipState, grads, state, params)
        norm = global_norm(grads)  # ‖g‖
        scale = jnp.minimum(1, max_norm / norm)  # min(1, max_norm / ‖g‖); 1 when ‖g‖ = 0
        grads = jax.tree.map(lambda g: (jnp.asarray(g).astype(norm.dtype) * scale).astype(
            jnp.asarray(g).dtype), grads)  # g · min(1, max_norm / ‖g‖), in g's dtype
        params, inner_state = inner.update(grads, state.inner, params)
        norm = norm.astype(state.global_norm.dtype)
        return params, ClipState(increment(state.count), norm, inner_state)

    return Optimizer(init, update)
