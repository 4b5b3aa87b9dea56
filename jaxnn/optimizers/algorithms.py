"""The optimizers, each a state NamedTuple beside its factory, and their registry.

Each ``update`` is its maths, one line per equation (the maths.md cheat sheet's), applied
leaf by leaf by ``per_leaf``; ``begin`` checks the arguments and gives the new count t and
the rate α. W is a parameter, g its gradient (in W's compute dtype), V and S its moments;
``params``, ``grads`` and each moment are pytrees of floating-point arrays of one structure.

To add an optimizer, write its state and ``@hyperparameters`` factory here, then add its
:class:`Entry` (the factory, its state, which state fields are second moments, whether it
is SGD-like) to :data:`ENTRIES` and both names to ``__all__``: ``jaxnn.optimizers.get``,
``NAMES``, the command line and the tests that loop over the registry pick it up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.optimizers.arguments import (
    check_beta,
    check_learning_rate,
    check_mask,
    check_nonnegative,
    hyperparameters,
)
from jaxnn.optimizers.base import (
    LikeParams,
    Optimizer,
    PyTree,
    Schedule,
    begin,
    bias_corrections,
    descend,
    divide,
    per_leaf,
    start,
    zeros_like_params,
)

__all__ = [
    "ENTRIES", "Entry", "NAMES", "OPTIMIZERS", "entry_of",
    "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw",
    "SgdState", "MomentumState", "NesterovState", "RmspropState", "AdamState", "AdamWState",
]


class SgdState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    learning_rate: jax.Array  # float (), α of the most recent update.


@hyperparameters
def sgd(learning_rate: float | Schedule) -> Optimizer:
    """Stochastic gradient descent: W = W − α g.

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.

    Returns:
      An ``Optimizer``; its state is ``SgdState(count, learning_rate)``.
    """
    schedule = check_learning_rate(learning_rate)

    def init(params):
        return SgdState(*start(schedule, params))

    def update(grads, state, params):
        count, rate = begin(SgdState, schedule, grads, state, params)
        (params,) = per_leaf(lambda w, g: (descend(w, rate, g),), params, grads)  # W = W − α g
        return params, SgdState(count, rate)

    return Optimizer(init, update)


class MomentumState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    learning_rate: jax.Array  # float (), α of the most recent update.
    velocity: LikeParams  # V, first moment: EWA of the gradients.


@hyperparameters
def momentum(learning_rate: float | Schedule, beta: float = 0.9) -> Optimizer:
    """Gradient descent with momentum, in the exponentially weighted form of the cheat sheet.

        V = βV + (1 − β) g     (V starts at 0)
        W = W − α V

    With V = (1 − β) v this is the heavy-ball ``v = βv + g; W = W − α' v`` of
    ``optax.sgd(α', momentum=β)`` and PyTorch, α' = α (1 − β): port α' as α' / (1 − β).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past gradients in V (0 gives sgd).

    Returns:
      An ``Optimizer``; its state is ``MomentumState(count, learning_rate, velocity)``.

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
      Computational Mathematics and Mathematical Physics 4(5), 1964.
    """
    schedule = check_learning_rate(learning_rate)
    beta = check_beta("beta", beta)

    def init(params):
        return MomentumState(*start(schedule, params), zeros_like_params(params))

    def update(grads, state, params):
        count, rate = begin(MomentumState, schedule, grads, state, params)

        def leaf(w, g, v):
            v = beta * v + (1 - beta) * g  # V = βV + (1 − β) g
            return descend(w, rate, v), v  # W = W − α V

        params, velocity = per_leaf(leaf, params, grads, state.velocity)
        return params, MomentumState(count, rate, velocity)

    return Optimizer(init, update)


class NesterovState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    learning_rate: jax.Array  # float (), α of the most recent update.
    velocity: LikeParams  # V, first moment: EWA of the gradients.


@hyperparameters
def nesterov(learning_rate: float | Schedule, beta: float = 0.9) -> Optimizer:
    """Nesterov's accelerated gradient, in the same exponentially weighted form.

        V = βV + (1 − β) g              (V starts at 0)
        W = W − α (βV + (1 − β) g)      (look ahead: one more EWA step with g)

    With V = (1 − β) v: ``optax.sgd(α', momentum=β, nesterov=True)``, α' = α (1 − β).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past gradients in V.

    Returns:
      An ``Optimizer``; its state is ``NesterovState(count, learning_rate, velocity)``.

    References:
      Nesterov, "A method for solving the convex programming problem with convergence
      rate O(1/k²)", Soviet Mathematics Doklady 27, 1983.
      Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
      momentum in deep learning", ICML 2013.
    """
    schedule = check_learning_rate(learning_rate)
    beta = check_beta("beta", beta)

    def init(params):
        return NesterovState(*start(schedule, params), zeros_like_params(params))

    def update(grads, state, params):
        count, rate = begin(NesterovState, schedule, grads, state, params)

        def leaf(w, g, v):
            v = beta * v + (1 - beta) * g  # the average, as momentum's: V = βV + (1 − β) g
            look_ahead = beta * v + (1 - beta) * g  # βV + (1 − β) g
            return descend(w, rate, look_ahead), v  # W = W − α (βV + (1 − β) g)

        params, velocity = per_leaf(leaf, params, grads, state.velocity)
        return params, NesterovState(count, rate, velocity)

    return Optimizer(init, update)


class RmspropState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far.
    learning_rate: jax.Array  # float (), α of the most recent update.
    square_avg: LikeParams  # S, second moment: EWA of the squared gradients.


@hyperparameters
def rmsprop(learning_rate: float | Schedule, beta: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop: divide the step by a running root mean square of the gradients.

        S = βS + (1 − β) g²      (S starts at 0)
        W = W − α g / (√S + ε)   (ε outside the square root)

    The cheat sheet's and PyTorch's ε; ``optax.rmsprop(α, decay=β, eps=ε,
    eps_in_sqrt=False)`` (optax's default divides by √(S + ε)).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past squared gradients in S.
      eps: ε ≥ 0, keeps the division finite where S is 0 (with ε = 0: no step there).

    Returns:
      An ``Optimizer``; its state is ``RmspropState(count, learning_rate, square_avg)``.

    References:
      Hinton, Srivastava & Swersky, "Neural networks for machine learning", lecture 6e,
      2012, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
    """
    schedule = check_learning_rate(learning_rate)
    beta = check_beta("beta", beta)
    eps = check_nonnegative("eps", eps, "1e-8")

    def init(params):
        return RmspropState(*start(schedule, params), zeros_like_params(params))

    def update(grads, state, params):
        count, rate = begin(RmspropState, schedule, grads, state, params)

        def leaf(w, g, s):
            s = beta * s + (1 - beta) * jnp.square(g)  # S = βS + (1 − β) g²
            w = descend(w, rate, divide(g, jnp.sqrt(s), eps))  # W = W − α g / (√S + ε)
            return w, s

        params, square_avg = per_leaf(leaf, params, grads, state.square_avg)
        return params, RmspropState(count, rate, square_avg)

    return Optimizer(init, update)


class AdamState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far (t after update t).
    learning_rate: jax.Array  # float (), α of the most recent update.
    velocity: LikeParams  # V, first moment: EWA of the gradients.
    square_avg: LikeParams  # S, second moment: EWA of the squared gradients.


@hyperparameters
def adam(learning_rate: float | Schedule, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8) -> Optimizer:
    """Adam: momentum and RMSprop together, with bias correction.

        V = β1 V + (1 − β1) g          (first moment estimate, V starts at 0)
        S = β2 S + (1 − β2) g²         (second moment estimate, S starts at 0)
        V̂ = V / (1 − β1^t)             (bias correction)
        Ŝ = S / (1 − β2^t)
        W = W − α V̂ / (√Ŝ + ε)

    Equals ``optax.adam(α, b1=β1, b2=β2, eps=ε)`` up to rounding (1 − β^t is computed as
    −expm1(t ln β), see :func:`~jaxnn.optimizers.base.bias_correction`).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta1: β1 in [0, 1), the decay of the first moment estimate.
      beta2: β2 in [0, 1), the decay of the second moment estimate.
      eps: ε ≥ 0, keeps the division finite where Ŝ is 0 (with ε = 0: no step there).

    Returns:
      An ``Optimizer``; its state is ``AdamState(count, learning_rate, velocity, square_avg)``.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      https://arxiv.org/abs/1412.6980 (Algorithm 1).
    """
    schedule = check_learning_rate(learning_rate)
    beta1, beta2 = check_beta("beta1", beta1), check_beta("beta2", beta2)
    eps = check_nonnegative("eps", eps, "1e-8")

    def init(params):
        return AdamState(*start(schedule, params), zeros_like_params(params),
                         zeros_like_params(params))  # two buffers: both are donated

    def update(grads, state, params):
        t, rate = begin(AdamState, schedule, grads, state, params)
        corrections = bias_corrections(t, beta1, beta2)  # dtype -> 1 / (1 − β^t), β1 and β2

        def leaf(w, g, v, s):
            v = beta1 * v + (1 - beta1) * g  # V = β1 V + (1 − β1) g, first moment estimate
            s = beta2 * s + (1 - beta2) * jnp.square(g)  # S = β2 S + (1 − β2) g², second
            c1, c2 = corrections(v.dtype)
            v_hat = v * c1  # V̂ = V / (1 − β1^t), bias correction
            s_hat = s * c2  # Ŝ = S / (1 − β2^t)
            w = descend(w, rate, divide(v_hat, jnp.sqrt(s_hat), eps))  # W = W − α V̂ / (√Ŝ + ε)
            return w, v, s

        params, velocity, square_avg = per_leaf(leaf, params, grads, state.velocity,
                                                state.square_avg)
        return params, AdamState(t, rate, velocity, square_avg)

    return Optimizer(init, update)


class AdamWState(NamedTuple):
    count: jax.Array  # int32 (), updates done so far (t after update t).
    learning_rate: jax.Array  # float (), α of the most recent update.
    velocity: LikeParams  # V, first moment: EWA of the gradients.
    square_avg: LikeParams  # S, second moment: EWA of the squared gradients.


@hyperparameters
def adamw(learning_rate: float | Schedule, beta1: float = 0.9, beta2: float = 0.999,
          eps: float = 1e-8, weight_decay: float = 1e-4,
          mask: Callable[[PyTree], PyTree] | None = None) -> Optimizer:
    """AdamW: Adam with decoupled weight decay.

        V, S, V̂, Ŝ as in :func:`adam`
        W = W − α (V̂ / (√Ŝ + ε) + λ W)     (decay λW scaled by α, not added to g)

    Equals ``optax.adamw(α, b1=β1, b2=β2, eps=ε, weight_decay=λ, mask=mask)`` (and
    optax's default λ).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta1: β1 in [0, 1), the decay of the first moment estimate.
      beta2: β2 in [0, 1), the decay of the second moment estimate.
      eps: ε ≥ 0, keeps the division finite where Ŝ is 0 (with ε = 0: no step there).
      weight_decay: λ ≥ 0, the decay rate per unit of learning rate.
      mask: ``None`` (every W decays) or a function ``params -> pytree`` of bools like
        params, True where W decays: ``lambda ps: tuple(Layer(True, False) for _ in ps)``.

    Returns:
      An ``Optimizer``; its state is ``AdamWState(count, learning_rate, velocity, square_avg)``.

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      https://arxiv.org/abs/1711.05101 (Algorithm 2).
    """
    schedule = check_learning_rate(learning_rate)
    beta1, beta2 = check_beta("beta1", beta1), check_beta("beta2", beta2)
    eps = check_nonnegative("eps", eps, "1e-8")
    weight_decay = check_nonnegative("weight_decay", weight_decay, "1e-4")
    decays = check_mask(mask)  # params -> pytree of bools like params: does W decay?

    def init(params):
        return AdamWState(*start(schedule, params), zeros_like_params(params),
                          zeros_like_params(params))  # two buffers: both are donated

    def update(grads, state, params):
        t, rate = begin(AdamWState, schedule, grads, state, params)
        corrections = bias_corrections(t, beta1, beta2)  # dtype -> 1 / (1 − β^t), β1 and β2

        def leaf(w, g, v, s, decays_w):
            v = beta1 * v + (1 - beta1) * g  # V = β1 V + (1 − β1) g, first moment estimate
            s = beta2 * s + (1 - beta2) * jnp.square(g)  # S = β2 S + (1 − β2) g², second
            c1, c2 = corrections(v.dtype)
            v_hat = v * c1  # as Adam's: V̂ = V / (1 − β1^t)
            s_hat = s * c2  # Ŝ = S / (1 − β2^t)
            d = divide(v_hat, jnp.sqrt(s_hat), eps)  # V̂ / (√Ŝ + ε)
            if decays_w is not False:  # + λ W where the mask says so (static False: no work)
                d = d + jnp.where(decays_w, weight_decay * jnp.asarray(w).astype(d.dtype), 0)
            w = descend(w, rate, d)  # W = W − α (V̂ / (√Ŝ + ε) + λ W)
            return w, v, s

        params, velocity, square_avg = per_leaf(leaf, params, grads, state.velocity,
                                                state.square_avg, decays(params))
        return params, AdamWState(t, rate, velocity, square_avg)

    return Optimizer(init, update)


# ---------------------------------------------------------------------------
# The registry: the one list of optimizer names, and what other code needs to know of
# each (declared here, so nothing keys on a class name or a field name).


class Entry(NamedTuple):
    """One optimizer of the registry and the facts other code reads from it.

    Attributes:
      factory: the factory, e.g. :func:`adam`.
      state: its state NamedTuple; :data:`ENTRIES` is keyed by the factory's name, which is
        also the optimizer's name in checkpoints and on the command line.
      nonnegative: the state fields that are second moments (EWAs of g²), which stay ≥ 0:
        a negative value there means a damaged state (diagnosed when a run diverges).
      sgd_like: the step is W − α·(a running mean of g): with L2, each step scales W by
        1 − αλ/m, so αλ/m ≥ 2 makes |W| grow (diagnosed when a run diverges). False for
        the adaptive methods, whose step size does not scale with g.
    """

    factory: Callable[..., Optimizer]
    state: type
    nonnegative: tuple[str, ...] = ()
    sgd_like: bool = False


ENTRIES: dict[str, Entry] = {
    "sgd": Entry(sgd, SgdState, sgd_like=True),
    "momentum": Entry(momentum, MomentumState, sgd_like=True),
    "nesterov": Entry(nesterov, NesterovState, sgd_like=True),
    "rmsprop": Entry(rmsprop, RmspropState, nonnegative=("square_avg",)),
    "adam": Entry(adam, AdamState, nonnegative=("square_avg",)),
    "adamw": Entry(adamw, AdamWState, nonnegative=("square_avg",)),
}
assert all(name == entry.factory.__name__ for name, entry in ENTRIES.items())

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    name: entry.factory for name, entry in ENTRIES.items()}
NAMES: tuple[str, ...] = tuple(OPTIMIZERS)
_BY_STATE: dict[type, tuple[str, Entry]] = {
    entry.state: (name, entry) for name, entry in ENTRIES.items()}


def entry_of(state) -> tuple[str, Entry] | None:
    """``(name, entry)`` of the registry optimizer whose state ``state`` is (by its type,
    or the name of its type for a state read back from a file), or ``None``."""
    if isinstance(state, str):
        return next(((n, e) for n, e in ENTRIES.items() if e.state.__name__ == state), None)
    return _BY_STATE.get(type(state))

