"""Adapters between jaxnn's ``Optimizer`` and optax's ``GradientTransformation``.

The two contracts differ in what ``update`` returns::

    jaxnn:  params, state = opt.update(grads, state, params)      # the new parameters
    optax:  updates, state = tx.update(updates, state, params)    # new − old parameters
            params = optax.apply_updates(params, updates)

- :func:`as_gradient_transformation` gives a jaxnn optimizer optax's contract, for
  ``optax.chain`` and the rest of optax;
- :func:`from_gradient_transformation` gives any optax-style ``(init, update)`` object
  jaxnn's contract, for ``jaxnn.train.fit`` and :func:`~jaxnn.optimizers.clip_by_global_norm`;
- :func:`as_optimizer` takes either kind and returns a jaxnn ``Optimizer`` (what ``fit``
  calls on its ``opt``).

Both adapters are duck-typed: optax is never imported here (it is a test dependency only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import _checks
from jaxnn.optimizers.base import (
    Optimizer,
    PyTree,
    check_params,
    check_update,
    increment,
    rate_dtype,
)


class GradientTransformation(NamedTuple):
    """optax's contract, without optax: ``init(params) -> state`` and
    ``update(updates, state, params) -> (updates, state)``, updates = new − old params."""

    init: Callable[[PyTree], PyTree]
    update: Callable[..., tuple[PyTree, PyTree]]


def as_gradient_transformation(opt: Optimizer) -> GradientTransformation:
    """A jaxnn optimizer with optax's contract, e.g. for ``optax.chain``.

        new, state = opt.update(updates, state, params)
        updates = new − params            (so optax.apply_updates(params, updates) = new)

    Args:
      opt: a jaxnn ``Optimizer``.

    Returns:
      A :class:`GradientTransformation` whose state is ``opt``'s state; ``update`` needs
      ``params`` (jaxnn's optimizers compute the new parameters from them). E.g.
      ``optax.chain(optax.clip_by_global_norm(1.0), as_gradient_transformation(adam(1e-3)))``.
    """
    _checks.instance("opt", opt, Optimizer, "a jaxnn Optimizer",
                     "build one, e.g. jaxnn.optimizers.adam(1e-3); an optax transformation "
                     "needs no wrapping")

    def init(params):
        return opt.init(params)

    def update(updates, state, params=None):
        if params is None:
            raise _checks.type_error(
                "params", "the current parameters (a jaxnn optimizer computes the new ones "
                "from them)", params, "call tx.update(grads, state, params)")
        new_params, state = opt.update(updates, state, params)
        return jax.tree.map(lambda new, old: new - old, new_params, params), state  # new − old

    return GradientTransformation(init, update)


class TransformationState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    learning_rate: jax.Array  # float (), the transformation's rate if it shows one, else NaN.
    inner: PyTree  # The wrapped transformation's state.


def from_gradient_transformation(tx) -> Optimizer:
    """A jaxnn ``Optimizer`` from an optax-style transformation ``tx``.

        updates, inner = tx.update(grads, inner, params)
        params = params + updates         (optax.apply_updates, in each parameter's dtype)

    Args:
      tx: an object with ``init(params) -> state`` and ``update(updates, state, params) ->
        (updates, state)``: an ``optax.GradientTransformation`` such as ``optax.adam(1e-3)``.

    Returns:
      An ``Optimizer`` whose state is ``TransformationState(count, learning_rate, inner)``.
      ``learning_rate`` is ``tx``'s when its state shows one (a transformation built with
      ``optax.inject_hyperparams``), and NaN otherwise: optax keeps it out of the state.
    """
    if isinstance(tx, Optimizer):
        raise _checks.type_error(
            "tx", "an optax-style GradientTransformation", tx,
            "it already is a jaxnn Optimizer: use it as is (wrapping it would add the new "
            "parameters to the old ones)")
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise _checks.type_error("tx", _TRANSFORMATION, tx, _build_fix(tx))

    def init(params):
        check_params(params)
        inner = tx.init(params)
        return TransformationState(jnp.zeros((), jnp.int32), _rate_of(inner, params), inner)

    def update(grads, state, params):
        check_update(TransformationState, grads, state, params)
        updates, inner = tx.update(grads, state.inner, params)
        # params + updates, as optax.apply_updates computes it.
        params = jax.tree.map(
            lambda p, u: jnp.asarray(p + u).astype(jnp.asarray(p).dtype), params, updates)
        return params, TransformationState(increment(state.count), _rate_of(inner, params),
                                           inner)

    return Optimizer(init, update)


def as_optimizer(opt) -> Optimizer:
    """``opt`` as a jaxnn ``Optimizer``: a jaxnn one as is, an optax-style transformation
    through :func:`from_gradient_transformation`; TypeError for anything else.

    Args:
      opt: a jaxnn ``Optimizer`` (``jaxnn.optimizers.adam(1e-3)``) or an optax-style
        ``GradientTransformation`` (``optax.adam(1e-3)``).

    Returns:
      An ``Optimizer``: ``params, state = opt.update(grads, state, params)``.
    """
    if isinstance(opt, Optimizer):
        return opt
    if callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None)):
        return from_gradient_transformation(opt)
    raise _checks.type_error("opt", f"a jaxnn Optimizer or {_TRANSFORMATION}", opt,
                             _build_fix(opt))


_TRANSFORMATION = ("an optax-style GradientTransformation (init(params) and "
                   "update(updates, state, params))")


def _build_fix(value) -> str:
    if isinstance(value, str):  # a name
        return f"build it: jaxnn.optimizers.get({_checks.short(value, 30)}, 1e-3)"
    if callable(value):  # a factory, not yet called: optimizers.adam, optax.adam
        return f"call it first, e.g. {getattr(value, '__name__', 'adam')}(1e-3)"
    return "pass e.g. jaxnn.optimizers.adam(1e-3), or optax.adam(1e-3)"


def _rate_of(inner: PyTree, params: PyTree) -> jax.Array:
    """The learning rate an optax state shows (``state.hyperparams["learning_rate"]`` of
    ``optax.inject_hyperparams``), in the rate dtype of ``params``; NaN when it shows none."""
    dtype = rate_dtype(params)
    for node in jax.tree.leaves(inner, is_leaf=lambda x: hasattr(x, "hyperparams")):
        hyperparams = getattr(node, "hyperparams", None)
        if isinstance(hyperparams, Mapping) and "learning_rate" in hyperparams:
            return jnp.asarray(hyperparams["learning_rate"]).astype(dtype)
    return jnp.full((), jnp.nan, dtype)
