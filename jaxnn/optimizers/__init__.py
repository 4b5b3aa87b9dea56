"""Optimizers: gradient descent and its momentum and adaptive variants, written out by hand.

Every factory (``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adam``, ``adamw``, the
wrapper ``clip_by_global_norm``) returns one type, ``Optimizer(init, update)``, a pair of
pure functions::

    state = opt.init(params)
    params, state = opt.update(grads, state, params)

``params`` and ``grads`` are pytrees of floating-point arrays of one structure (a tuple of
``Layer(W, b)``, W of shape ``(n_l, n_{l−1})``, b of shape ``(n_l,)``). Each algorithm has
its own state NamedTuple, whose structure, leaf shapes and dtypes never change across
updates, so ``update`` can be the body of ``jax.jit`` or ``lax.scan``. Every state holds
``count`` (int32, updates done, stopping at 2³¹ − 1; update t sets ``count = t``) and
``learning_rate`` (the rate α of the most recent update, ``schedule(count − 1)``; after
``init``, ``schedule(0)``; read it with :func:`learning_rate`). The learning rate is a
float > 0 or a schedule ``count -> rate`` (:mod:`jaxnn.schedules`); update t uses
``schedule(t − 1)``, as optax does. The rules, those of the maths.md cheat sheet, with g
the gradient and W a parameter:

- sgd:      W = W − α g
- momentum: V = βV + (1 − β) g;  W = W − α V
- nesterov: V = βV + (1 − β) g;  W = W − α (βV + (1 − β) g)
- rmsprop:  S = βS + (1 − β) g²; W = W − α g / (√S + ε)
- adam:     V = β1 V + (1 − β1) g; S = β2 S + (1 − β2) g²;
            V̂ = V / (1 − β1^t); Ŝ = S / (1 − β2^t); W = W − α V̂ / (√Ŝ + ε)
- adamw:    adam's V̂, Ŝ;  W = W − α (V̂ / (√Ŝ + ε) + λ W)

Dtypes: every parameter keeps its dtype; its arithmetic and moments use
``promote_types(dtype, float32)`` (a float16 parameter is updated in float32 and rounded
back once per update; g² of a float16 gradient would underflow for |g| < 2.4e-4).

Layout: :mod:`~jaxnn.optimizers.algorithms` holds each state beside its factory, and the
registry :data:`OPTIMIZERS` (its keys, :data:`NAMES`, are what :func:`get` takes);
:mod:`~jaxnn.optimizers.base` the ``Optimizer`` type, bookkeeping, dtypes and the checks of
``init`` and ``update``; :mod:`~jaxnn.optimizers.arguments` the checks of a factory's
arguments; :mod:`~jaxnn.optimizers.clip` gradient clipping; :mod:`~jaxnn.optimizers.interop`
the adapters to and from optax.

Hyper-parameters are checked when an optimizer is built, ``update``'s arguments when it
is called (in Python, at trace time under jit); a keyword a factory does not take is a
TypeError naming the closest one it does (``adam(1e-3, b1=0.9)``: did you mean beta1?).

jaxnn and optax. optax's ``GradientTransformation(init, update)`` looks like this
``Optimizer``, but its ``update`` returns *updates* (new − old parameters) that
``optax.apply_updates`` adds to the parameters, where ours returns the new parameters.
optax checks no type: ``optax.chain`` reads the attributes ``init`` and ``update`` of
whatever it gets. So ``optax.chain(optax.identity(), sgd(0.1))`` would be accepted and
``apply_updates`` would then give about twice the parameters. We considered renaming
``update`` (it breaks the cheat sheet's ``params, state = opt.update(grads, state,
params)``), returning a marked type from it (every jaxnn user would have to unwrap it), and
making it return updates when optax calls (one function with two meanings, chosen by its
caller). We chose: an ``Optimizer``'s ``init`` and ``update`` raise a TypeError when the
code calling them belongs to optax or flax (:data:`~jaxnn.optimizers.base.OPTAX_STYLE_CALLERS`,
one frame lookup per call, in Python), naming the explicit adapters that make either side
work with the other: :func:`as_gradient_transformation` (jaxnn → optax),
:func:`from_gradient_transformation` (optax → jaxnn) and :func:`as_optimizer` (either → a
jaxnn ``Optimizer``, for ``jaxnn.train.fit``).
"""

from jaxnn import _checks
from jaxnn.optimizers import algorithms
from jaxnn.optimizers.algorithms import *  # noqa: F403 (factories, states, OPTIMIZERS, NAMES)
from jaxnn.optimizers.algorithms import NAMES, OPTIMIZERS
from jaxnn.optimizers.base import Optimizer, Schedule, learning_rate, rate_state
from jaxnn.optimizers.clip import ClipState, clip_by_global_norm, global_norm
from jaxnn.optimizers.interop import (
    GradientTransformation,
    TransformationState,
    as_gradient_transformation,
    as_optimizer,
    from_gradient_transformation,
)

__all__ = [
    *algorithms.__all__,
    "ClipState", "GradientTransformation", "Optimizer", "Schedule", "TransformationState",
    "as_gradient_transformation", "as_optimizer", "clip_by_global_norm",
    "from_gradient_transformation", "get", "global_norm", "learning_rate", "rate_state",
]


def get(name: str, learning_rate: float | Schedule, **hyperparameters) -> Optimizer:
    """The optimizer called ``name``, built with ``learning_rate`` and ``hyperparameters``.

    Args:
      name: one of :data:`NAMES`.
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      **hyperparameters: that optimizer's keyword arguments (e.g. ``beta1=0.9`` for adam);
        one it does not take is a TypeError naming the closest it does.

    Returns:
      ``Optimizer(init, update)``, e.g. ``get("adam", 1e-3, beta2=0.99)``.
    """
    if not isinstance(name, str):
        raise _checks.type_error("the optimizer name", "a string such as 'adam'", name,
                                 f"one of: {', '.join(NAMES)}")
    return _checks.lookup("optimizer", name, OPTIMIZERS)(learning_rate, **hyperparameters)
