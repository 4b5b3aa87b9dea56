"""Optimizers: gradient descent and its momentum and adaptive variants, written out by hand.

Every factory here (``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adam``,
``adamw``, and the wrapper ``clip_by_global_norm``) returns the same type,
``Optimizer(init, update)``, a pair of pure functions:

    state = opt.init(params)
    params, state = opt.update(grads, state, params)

``params`` and ``grads`` are any pytrees of floating-point arrays with the same
structure (for instance a tuple of ``Layer(W, b)`` NamedTuples). Each algorithm
has its own state NamedTuple, whose tree structure, leaf shapes and dtypes never
change across updates, so ``update`` can be the body of ``jax.jit`` or
``lax.scan``. Every state holds:

- ``count``: an int32 scalar, the number of updates done so far (0 after
  ``init``); update ``t`` (counting from 1) is the one that sets ``count = t``.
  It stops at 2³¹ − 1 rather than wrapping round.
- ``learning_rate``: the rate α used by the most recent update, that is
  ``schedule(count − 1)``; after ``init`` it holds ``schedule(0)``, the rate the
  first update will use. Read it with :func:`learning_rate` for logging.

The update rules are those of seed 001 (t counts updates from 1), with α the
learning rate, g the gradient and W a parameter:

- sgd:      W = W − α g
- momentum: V = βV + (1 − β) g;  W = W − α V
- nesterov: V = βV + (1 − β) g;  W = W − α (βV + (1 − β) g)
- rmsprop:  S = βS + (1 − β) g²; W = W − α g / (√S + ε)
- adam:     V = β1 V + (1 − β1) g; S = β2 S + (1 − β2) g²;
            V̂ = V / (1 − β1^t); Ŝ = S / (1 − β2^t); W = W − α V̂ / (√Ŝ + ε)
- adamw:    adam's V̂, Ŝ;  W = W − α (V̂ / (√Ŝ + ε) + λ W)

The learning rate is a positive float or a schedule ``count -> rate`` (see
:mod:`jaxnn.schedules`); update ``t`` uses ``schedule(t − 1)``, as optax does.

Dtypes: every parameter keeps its dtype. The arithmetic of each leaf, and its
moments V and S, use ``promote_types(param.dtype, float32)``: float32 for
float16, bfloat16 and float32 parameters, float64 for float64 parameters (with
jax x64 enabled). So a float16 parameter is updated in float32 and rounded back
to float16 once per update; its moments are float32 (g² of a float16 gradient
underflows in float16 for |g| < 2.4e-4). Bias corrections 1 − β^t are computed
in that dtype, as −expm1(t ln β), and never promote a parameter.

Hyper-parameters are checked in Python when the optimizer is built, before any
tracing (TypeError for a wrong type, ValueError for a wrong value, saying what came
and how to fix it); so are ``update``'s arguments and the schedule (see ``_begin``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Schedule = Callable[[jnp.ndarray], jnp.ndarray]

_MAX_COUNT = np.iinfo(np.int32).max


class Optimizer(NamedTuple):
    """A pair of pure functions: ``init(params) -> state`` and
    ``update(grads, state, params) -> (params, state)``."""

    init: Callable[[PyTree], NamedTuple]
    update: Callable[[PyTree, NamedTuple, PyTree], tuple[PyTree, NamedTuple]]


class SgdState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far.
    learning_rate: jnp.ndarray  # float (), α of the most recent update.


class MomentumState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far.
    learning_rate: jnp.ndarray  # float (), α of the most recent update.
    velocity: PyTree  # V, first moment: EWA of the gradients, like params.


class NesterovState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far.
    learning_rate: jnp.ndarray  # float (), α of the most recent update.
    velocity: PyTree  # V, first moment: EWA of the gradients, like params.


class RmspropState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far.
    learning_rate: jnp.ndarray  # float (), α of the most recent update.
    square_avg: PyTree  # S, second moment: EWA of the squared gradients, like params.


class AdamState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far (t after update t).
    learning_rate: jnp.ndarray  # float (), α of the most recent update.
    velocity: PyTree  # V, first moment: EWA of the gradients, like params.
    square_avg: PyTree  # S, second moment: EWA of the squared gradients, like params.


class AdamWState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far (t after update t).
    learning_rate: jnp.ndarray  # float (), α of the most recent update.
    velocity: PyTree  # V, first moment: EWA of the gradients, like params.
    square_avg: PyTree  # S, second moment: EWA of the squared gradients, like params.


class ClipState(NamedTuple):
    count: jnp.ndarray  # int32 (), updates done so far.
    global_norm: jnp.ndarray  # float (), ‖g‖ of the raw grads at the last update (0 after init).
    inner: NamedTuple  # The wrapped optimizer's state.


# ---------------------------------------------------------------------------
# Validation (Python, at construction).


def _number(name: str, value, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number, got {type(value).__name__} {value!r}; "
            f"pass e.g. {name}={example}."
        )
    return float(value)


def _check_learning_rate(learning_rate) -> Schedule:
    """The learning rate as a schedule; a float must be finite and > 0."""
    if callable(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(
            "learning_rate must be a positive float or a schedule (a callable "
            f"count -> rate), got {type(learning_rate).__name__} {learning_rate!r}; "
            "pass e.g. learning_rate=1e-3 or learning_rate=schedules.constant(1e-3)."
        )
    rate = float(learning_rate)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(
            f"learning_rate must be finite and > 0, got {rate!r}; "
            "pass e.g. learning_rate=1e-3."
        )
    return lambda count: rate


def _check_beta(name: str, beta) -> float:
    beta = _number(name, beta, "0.9")
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f"{name} must be in [0, 1), got {beta!r}; pass e.g. {name}=0.9 "
            "(the weight of the past in an exponentially weighted average)."
        )
    return beta


def _check_nonnegative(name: str, value, example: str) -> float:
    value = _number(name, value, example)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"{name} must be finite and >= 0, got {value!r}; pass e.g. {name}={example}."
        )
    return value


def _check_floating(params: PyTree) -> None:
    for path, leaf in _param_leaves(params):  # ValueError when there is none
        dtype = _leaf_dtype(path, leaf)  # TypeError for a leaf that is not an array
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"optimizer parameters must be floating-point arrays, got dtype {dtype} "
                f"at params{jax.tree_util.keystr(path)}; cast it first, e.g. "
                "params = jax.tree.map(lambda x: x.astype(jnp.float32), params)."
            )


# ---------------------------------------------------------------------------
# Shared pieces of every update.


def _compute_dtype(x) -> np.dtype:
    """promote_types(x.dtype, float32): the dtype of a leaf's arithmetic and moments."""
    return jnp.promote_types(jnp.asarray(x).dtype, jnp.float32)


def _rate_dtype(params: PyTree) -> np.dtype:
    """The dtype of ``state.learning_rate``: the widest compute dtype of params."""
    return jnp.result_type(jnp.float32, *(_compute_dtype(p) for p in jax.tree.leaves(params)))


def _zeros(params: PyTree) -> PyTree:
    """Zero moments, one per parameter, in the parameter's compute dtype."""
    return jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), _compute_dtype(p)), params)


def _as(dtype, x) -> jnp.ndarray:
    return jnp.asarray(x).astype(dtype)


def _start(schedule: Schedule, params: PyTree) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(count, learning_rate) after init: (0, schedule(0))."""
    count = jnp.zeros((), jnp.int32)
    return count, _as(_rate_dtype(params), _rate_at(schedule, count))


def _increment(count: jnp.ndarray) -> jnp.ndarray:
    """count + 1, stopping at 2³¹ − 1 instead of wrapping round to −2³¹."""
    return jnp.where(count < _MAX_COUNT, count + 1, count)


def _step(schedule: Schedule, count: jnp.ndarray, old_rate: jnp.ndarray):
    """(count + 1, schedule(count)): the new count and the rate this update uses."""
    return _increment(count), _as(old_rate.dtype, _rate_at(schedule, count))


def _descend(params: PyTree, rate: jnp.ndarray, directions: PyTree) -> PyTree:
    """W = W − α d, leaf by leaf in the compute dtype, cast back to W's dtype."""

    def one(w, d):
        dtype = _compute_dtype(w)
        return (_as(dtype, w) - _as(dtype, rate) * d).astype(jnp.asarray(w).dtype)

    return jax.tree.map(one, params, directions)


def _grads(grads: PyTree, params: PyTree) -> PyTree:
    """The gradients in their parameters' compute dtypes."""
    return jax.tree.map(lambda g, p: _as(_compute_dtype(p), g), grads, params)


def _ewa(beta: float, average: PyTree, values: PyTree) -> PyTree:
    """A = βA + (1 − β) x, leaf by leaf."""
    return jax.tree.map(lambda a, x: beta * a + (1 - beta) * x, average, values)


def _bias_correction(beta: float, t: jnp.ndarray, dtype) -> jnp.ndarray:
    """1 − β^t in ``dtype``, computed as −expm1(t ln β).

    For β near 1 and small t, β^t is close to 1 and the subtraction 1 − β^t
    loses digits (β2 = 0.999, t = 3: a 1-ulp error in float32 β^t is a 2e-5
    relative error in 1 − β^t); −expm1(t ln β) is accurate to a few ulps for
    every t, and needs no pow, whose float32 result differs between eager
    (repeated multiplication for a concrete integer t) and jitted code.
    """
    if beta == 0.0:  # 1 − 0^t = 1 for t ≥ 1 (ln 0 is −∞).
        return jnp.ones((), dtype)
    return -jnp.expm1(t.astype(dtype) * math.log(beta))


# ---------------------------------------------------------------------------
# The optimizers.


def sgd(learning_rate: float | Schedule) -> Optimizer:
    """Stochastic gradient descent: W = W − α g.

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.

    Returns:
      An ``Optimizer`` whose state is ``SgdState(count, learning_rate)``.
    """
    schedule = _check_learning_rate(learning_rate)

    def init(params):
        _check_floating(params)
        return SgdState(*_start(schedule, params))

    def update(grads, state, params):
        count, rate = _begin(SgdState, schedule, grads, state, params)
        g = _grads(grads, params)
        params = _descend(params, rate, g)  # W = W − α g
        return params, SgdState(count, rate)

    return Optimizer(init, update)


def momentum(learning_rate: float | Schedule, beta: float = 0.9) -> Optimizer:
    """Gradient descent with momentum, in seed 001's exponentially weighted form.

        V = βV + (1 − β) g     (V starts at 0)
        W = W − α V

    This equals the heavy-ball form ``v = βv + g; W = W − α' v`` (Polyak 1964;
    ``optax.sgd(α', momentum=β)``, ``torch.optim.SGD(lr=α', momentum=β)``) with
    ``α' = α (1 − β)``, since V = (1 − β) v at every step. So a heavy-ball
    learning rate α' ports here as ``learning_rate = α' / (1 − β)``: divide by 1 − β.

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past gradients in V (0 gives sgd).

    Returns:
      An ``Optimizer`` whose state is ``MomentumState(count, learning_rate, velocity)``.

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods",
      USSR Computational Mathematics and Mathematical Physics 4(5), 1964.
    """
    schedule = _check_learning_rate(learning_rate)
    beta = _check_beta("beta", beta)

    def init(params):
        _check_floating(params)
        return MomentumState(*_start(schedule, params), _zeros(params))

    def update(grads, state, params):
        count, rate = _begin(MomentumState, schedule, grads, state, params)
        g = _grads(grads, params)
        velocity = _ewa(beta, state.velocity, g)  # V = βV + (1 − β) g
        params = _descend(params, rate, velocity)  # W = W − α V
        return params, MomentumState(count, rate, velocity)

    return Optimizer(init, update)


def nesterov(learning_rate: float | Schedule, beta: float = 0.9) -> Optimizer:
    """Nesterov's accelerated gradient, in the same exponentially weighted form.

        V = βV + (1 − β) g              (V starts at 0)
        W = W − α (βV + (1 − β) g)      (look-ahead: one more EWA step with g)

    With V = (1 − β) v this is the usual form (Sutskever et al. 2013, as
    written by ``optax.sgd(α', momentum=β, nesterov=True)`` and
    ``torch.optim.SGD(lr=α', momentum=β, nesterov=True)``):
    ``v = βv + g; W = W − α' (g + βv)`` with ``α' = α (1 − β)``; a learning
    rate α' of that form ports here as ``learning_rate = α' / (1 − β)``.

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past gradients in V.

    Returns:
      An ``Optimizer`` whose state is ``NesterovState(count, learning_rate, velocity)``.

    References:
      Nesterov, "A method for solving the convex programming problem with
      convergence rate O(1/k²)", Soviet Mathematics Doklady 27, 1983.
      Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
      momentum in deep learning", ICML 2013.
    """
    schedule = _check_learning_rate(learning_rate)
    beta = _check_beta("beta", beta)

    def init(params):
        _check_floating(params)
        return NesterovState(*_start(schedule, params), _zeros(params))

    def update(grads, state, params):
        count, rate = _begin(NesterovState, schedule, grads, state, params)
        g = _grads(grads, params)
        velocity = _ewa(beta, state.velocity, g)  # V = βV + (1 − β) g
        look_ahead = _ewa(beta, velocity, g)  # βV + (1 − β) g
        params = _descend(params, rate, look_ahead)  # W = W − α (βV + (1 − β) g)
        return params, NesterovState(count, rate, velocity)

    return Optimizer(init, update)


def rmsprop(learning_rate: float | Schedule, beta: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop: divide the step by a running root mean square of the gradients.

        S = βS + (1 − β) g²      (S starts at 0)
        W = W − α g / (√S + ε)   (ε outside the square root)

    ε outside the root is seed 001's form and PyTorch's; it equals
    ``optax.rmsprop(α, decay=β, eps=ε, eps_in_sqrt=False)`` (optax's default,
    ``eps_in_sqrt=True``, divides by √(S + ε) instead). The defaults β = 0.9
    (Hinton's lecture) and ε = 1e-8 (seed 001's advice for Adam, whose S this is)
    are optax's too.

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta: β in [0, 1), the weight of past squared gradients in S.
      eps: ε >= 0, keeps the division finite where S is 0 (with ε = 0: no step there).

    Returns:
      An ``Optimizer`` whose state is ``RmspropState(count, learning_rate, square_avg)``.

    References:
      Hinton, Srivastava & Swersky, "Neural networks for machine learning",
      lecture 6e, 2012, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
    """
    schedule = _check_learning_rate(learning_rate)
    beta = _check_beta("beta", beta)
    eps = _check_nonnegative("eps", eps, "1e-8")

    def init(params):
        _check_floating(params)
        return RmspropState(*_start(schedule, params), _zeros(params))

    def update(grads, state, params):
        count, rate = _begin(RmspropState, schedule, grads, state, params)
        g = _grads(grads, params)
        square_avg = _ewa(beta, state.square_avg, jax.tree.map(jnp.square, g))  # S = βS + (1−β)g²
        # g / (√S + ε)
        directions = jax.tree.map(lambda g, s: _divide(g, jnp.sqrt(s), eps), g, square_avg)
        params = _descend(params, rate, directions)  # W = W − α g / (√S + ε)
        return params, RmspropState(count, rate, square_avg)

    return Optimizer(init, update)


def _adam_directions(beta1, beta2, eps, count, velocity, square_avg):
    """V̂ / (√Ŝ + ε) for update t = count, leaf by leaf."""

    def one(v, s):
        v_hat = v / _bias_correction(beta1, count, v.dtype)  # V̂ = V / (1 − β1^t)
        s_hat = s / _bias_correction(beta2, count, s.dtype)  # Ŝ = S / (1 − β2^t)
        return _divide(v_hat, jnp.sqrt(s_hat), eps)  # V̂ / (√Ŝ + ε)

    return jax.tree.map(one, velocity, square_avg)


def adam(
    learning_rate: float | Schedule,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> Optimizer:
    """Adam: momentum and RMSprop together, with bias correction.

        V = β1 V + (1 − β1) g          (first moment estimate, V starts at 0)
        S = β2 S + (1 − β2) g²         (second moment estimate, S starts at 0)
        V̂ = V / (1 − β1^t)             (bias correction; t = count after the update)
        Ŝ = S / (1 − β2^t)
        W = W − α V̂ / (√Ŝ + ε)

    Equals ``optax.adam(α, b1=β1, b2=β2, eps=ε)`` up to rounding: optax computes
    1 − β^t directly, this module as −expm1(t ln β) (see ``_bias_correction``).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta1: β1 in [0, 1), the decay of the first moment estimate.
      beta2: β2 in [0, 1), the decay of the second moment estimate.
      eps: ε >= 0, keeps the division finite where Ŝ is 0 (with ε = 0: no step there).

    Returns:
      An ``Optimizer`` whose state is
      ``AdamState(count, learning_rate, velocity, square_avg)``.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      https://arxiv.org/abs/1412.6980 (Algorithm 1).
    """
    schedule = _check_learning_rate(learning_rate)
    beta1 = _check_beta("beta1", beta1)
    beta2 = _check_beta("beta2", beta2)
    eps = _check_nonnegative("eps", eps, "1e-8")

    def init(params):
        _check_floating(params)
        return AdamState(*_start(schedule, params), _zeros(params), _zeros(params))

    def update(grads, state, params):
        count, rate = _begin(AdamState, schedule, grads, state, params)
        g = _grads(grads, params)
        velocity = _ewa(beta1, state.velocity, g)  # First moment estimate.
        square_avg = _ewa(beta2, state.square_avg, jax.tree.map(jnp.square, g))  # Second.
        # Bias correction and V̂ / (√Ŝ + ε).
        directions = _adam_directions(beta1, beta2, eps, count, velocity, square_avg)
        params = _descend(params, rate, directions)  # W = W − α V̂ / (√Ŝ + ε)
        return params, AdamState(count, rate, velocity, square_avg)

    return Optimizer(init, update)


def adamw(
    learning_rate: float | Schedule,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    mask: Callable[[PyTree], PyTree] | None = None,
) -> Optimizer:
    """AdamW: Adam with decoupled weight decay.

        V, S, V̂, Ŝ as in :func:`adam`
        W = W − α (V̂ / (√Ŝ + ε) + λ W)     (decay λW scaled by α, not added to g)

    The decay is multiplied by the learning rate, as in optax and PyTorch; equals
    ``optax.adamw(α, b1=β1, b2=β2, eps=ε, weight_decay=λ, mask=mask)``. The
    default λ = 1e-4 is optax's (PyTorch's is 1e-2).

    Args:
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      beta1: β1 in [0, 1), the decay of the first moment estimate.
      beta2: β2 in [0, 1), the decay of the second moment estimate.
      eps: ε >= 0, keeps the division finite where Ŝ is 0 (with ε = 0: no step there).
      weight_decay: λ >= 0, the decay rate per unit of learning rate.
      mask: ``None`` to decay every parameter, or a function ``params -> pytree``
        of bools with the structure of ``params``, True where a leaf decays; e.g.
        ``lambda ps: tuple(Layer(W=True, b=False) for _ in ps)`` leaves biases alone.

    Returns:
      An ``Optimizer`` whose state is
      ``AdamWState(count, learning_rate, velocity, square_avg)``.

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      https://arxiv.org/abs/1711.05101 (Algorithm 2).
    """
    schedule = _check_learning_rate(learning_rate)
    beta1 = _check_beta("beta1", beta1)
    beta2 = _check_beta("beta2", beta2)
    eps = _check_nonnegative("eps", eps, "1e-8")
    weight_decay = _check_nonnegative("weight_decay", weight_decay, "1e-4")
    if mask is not None and not callable(mask):
        raise TypeError(
            "mask must be None or a function params -> pytree of bools, got "
            f"{type(mask).__name__} {mask!r}; pass e.g. "
            "mask=lambda ps: tuple(Layer(W=True, b=False) for _ in ps)."
        )

    def decays(params):
        """The pytree of mask bools (all True without a mask)."""
        if mask is None:
            return jax.tree.map(lambda _: True, params)
        flags = mask(params)
        if jax.tree.structure(flags) != jax.tree.structure(params):
            raise ValueError(
                "mask(params) must have the structure of params, got "
                f"{jax.tree.structure(flags)} for params {jax.tree.structure(params)}; "
                "return one bool per parameter array."
            )
        return flags

    def add_decay(direction, w, decays_w):
        decay = weight_decay * _as(direction.dtype, w)  # λ W
        if isinstance(decays_w, bool | np.bool_):  # Static mask: skip the work.
            return direction + decay if decays_w else direction
        return direction + jnp.where(decays_w, decay, 0)

    def init(params):
        _check_floating(params)
        return AdamWState(*_start(schedule, params), _zeros(params), _zeros(params))

    def update(grads, state, params):
        count, rate = _begin(AdamWState, schedule, grads, state, params)
        g = _grads(grads, params)
        velocity = _ewa(beta1, state.velocity, g)  # First moment estimate.
        square_avg = _ewa(beta2, state.square_avg, jax.tree.map(jnp.square, g))  # Second.
        # Bias correction and V̂ / (√Ŝ + ε).
        directions = _adam_directions(beta1, beta2, eps, count, velocity, square_avg)
        # V̂ / (√Ŝ + ε) + λ W (decoupled weight decay).
        directions = jax.tree.map(add_decay, directions, params, decays(params))
        params = _descend(params, rate, directions)  # W = W − α (V̂ / (√Ŝ + ε) + λ W)
        return params, AdamWState(count, rate, velocity, square_avg)

    return Optimizer(init, update)


# ---------------------------------------------------------------------------
# Gradient clipping.


def global_norm(tree: PyTree) -> jnp.ndarray:
    """The L2 norm of all the leaves of ``tree`` taken together: ‖g‖ = √(Σ_leaves Σ g²).

    Args:
      tree: a pytree of arrays of any shapes.

    Returns:
      A float scalar, in ``promote_types(dtype, float32)`` of the leaves (0 for an
      empty tree).
    """
    leaves = jax.tree.leaves(tree)
    dtype = jnp.result_type(jnp.float32, *(_compute_dtype(x) for x in leaves))
    squares = [jnp.sum(jnp.square(_as(dtype, x))) for x in leaves]  # Σ g² per leaf
    return jnp.sqrt(sum(squares, jnp.zeros((), dtype)))  # √(Σ_leaves Σ g²)


def clip_by_global_norm(max_norm: float, inner: Optimizer) -> Optimizer:
    """Rescale the gradients to a global norm of at most ``max_norm``, then run ``inner``.

        ‖g‖ = √(Σ_leaves Σ g²)
        g = g · min(1, max_norm / ‖g‖)
        (params, inner state) = inner.update(g, inner state, params)

    Gradients with ‖g‖ <= max_norm pass untouched; larger ones keep their
    direction and get norm max_norm. Equals
    ``optax.chain(optax.clip_by_global_norm(max_norm), <inner>)``.

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
    max_norm = _number("max_norm", max_norm, "1.0")
    if not (math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(
            f"max_norm must be finite and > 0, got {max_norm!r}; pass e.g. max_norm=1.0."
        )
    if not isinstance(inner, Optimizer):
        raise TypeError(
            f"inner must be an Optimizer, got {type(inner).__name__} {inner!r}; "
            "pass e.g. clip_by_global_norm(1.0, adam(1e-3))."
        )

    def init(params):
        dtype = _rate_dtype(params)
        return ClipState(jnp.zeros((), jnp.int32), jnp.zeros((), dtype), inner.init(params))

    def update(grads, state, params):
        norm = global_norm(_checked(ClipState, grads, state, params))  # ‖g‖
        scale = jnp.minimum(1, max_norm / norm)  # min(1, max_norm / ‖g‖); 1 when ‖g‖ = 0
        grads = jax.tree.map(lambda g: (_as(norm.dtype, g) * scale).astype(g.dtype), grads)
        params, inner_state = inner.update(grads, state.inner, params)
        norm = _as(state.global_norm.dtype, norm)
        return params, ClipState(_increment(state.count), norm, inner_state)

    return Optimizer(init, update)


def learning_rate(state: NamedTuple) -> jnp.ndarray:
    """The rate α used by the most recent update (``schedule(0)`` after init).

    Args:
      state: the state of any optimizer here, ``ClipState`` included.

    Returns:
      A float scalar.
    """
    while isinstance(state, ClipState):
        state = state.inner
    if not hasattr(state, "learning_rate"):
        raise TypeError(
            "learning_rate(state) expects the state of a jaxnn optimizer, got "
            f"{type(state).__name__}; pass the state returned by opt.init or opt.update."
        )
    return state.learning_rate


# ---------------------------------------------------------------------------
# Lookup by name.

_OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}


def get(name: str, learning_rate: float | Schedule, **hyperparameters) -> Optimizer:
    """The optimizer called ``name``, built with ``learning_rate`` and ``hyperparameters``.

    Args:
      name: one of "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw".
      learning_rate: α, a finite float > 0 or a schedule ``count -> rate``.
      **hyperparameters: that optimizer's keyword arguments (e.g. ``beta1=0.9``
        for adam); a name it does not take raises TypeError.

    Returns:
      ``Optimizer(init, update)``, e.g. ``get("adam", 1e-3, beta2=0.99)``.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"the optimizer name must be a string such as 'adam'; got {type(name).__name__} "
            f"{name!r}. Valid names: {', '.join(_OPTIMIZERS)}."
        )
    if name not in _OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {name!r}; expected one of {', '.join(_OPTIMIZERS)}, "
            "e.g. get('adam', 1e-3)."
        )
    factory = _OPTIMIZERS[name]
    valid = [p for p in inspect.signature(factory).parameters if p != "learning_rate"]
    unknown = [k for k in hyperparameters if k not in valid]
    if unknown:
        raise TypeError(
            f"optimizer {name!r} got unknown hyper-parameter(s) "
            f"{', '.join(map(repr, unknown))}; it takes {', '.join(valid) or 'none'}, "
            f"e.g. get({name!r}, 1e-3{''.join(f', {v}=…' for v in valid[:1])})."
        )
    return factory(learning_rate, **hyperparameters)


# ---------------------------------------------------------------------------
# Checks of update's arguments and of the schedule's rate.


def _param_leaves(params: PyTree) -> list:
    """``(path, leaf)`` of every leaf of ``params``; ValueError for a tree without any."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    if not flat:
        raise ValueError(
            f"optimizer parameters must hold at least one array; got {_short(params)}. "
            "Pass the parameters themselves, e.g. opt.init(jaxnn.init_params(key, net))."
        )
    return flat


def _leaf_dtype(path, leaf) -> np.dtype:
    """The dtype ``leaf`` has as an array; TypeError for a leaf that is not one."""
    try:
        return jnp.asarray(leaf).dtype
    except TypeError:
        raise TypeError(
            f"optimizer parameters must be floating-point arrays, got "
            f"{type(leaf).__name__} {_short(leaf)} at params{jax.tree_util.keystr(path)}."
        ) from None


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _begin(state_type: type, schedule: Schedule, grads: PyTree, state, params: PyTree):
    """The start of every ``update``: check its arguments, then ``_step``."""
    _checked(state_type, grads, state, params)
    return _step(schedule, state.count, state.learning_rate)


def _checked(state_type: type, grads: PyTree, state, params: PyTree) -> PyTree:
    """``update``'s arguments fit together: the state is this optimizer's, and the grads
    (and the state's moments V, S) have the structure and shapes of the params. Checks in
    Python on shapes only, so they cost nothing inside jit. Returns ``grads``."""
    if not isinstance(state, state_type):
        raise TypeError(
            f"update needs this optimizer's own state, {state_type.__name__}; got "
            f"{type(state).__name__}. Fix: state = opt.init(params) with this same optimizer "
            "(a state made by another optimizer cannot be continued here)."
        )
    _check_like_params("grads", grads, params)
    for field in ("velocity", "square_avg"):
        if field in state_type._fields:
            _check_like_params(f"state.{field}", getattr(state, field), params)
    return grads


def _check_like_params(name: str, tree: PyTree, params: PyTree) -> None:
    """``tree`` has the pytree structure and leaf shapes of ``params``."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    p_leaves, p_treedef = jax.tree_util.tree_flatten_with_path(params)
    if treedef != p_treedef:
        raise ValueError(
            f"{name} must have the structure of params; got {_short(treedef, 200)} for "
            f"params {_short(p_treedef, 200)}. Fix: pass the gradient of these params (and "
            "a state from opt.init of these params)."
        )
    for (path, leaf), (_, p) in zip(leaves, p_leaves):
        if jnp.shape(leaf) != jnp.shape(p):
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} has shape {jnp.shape(leaf)}; the "
                f"parameter has shape {jnp.shape(p)}. Fix: pass the gradient of these params "
                "(and a state from opt.init of these params)."
            )


def _rate_at(schedule: Schedule, count: jnp.ndarray) -> jnp.ndarray:
    """``schedule(count)`` as a scalar array, checked: a schedule that fails, returns a
    non-scalar, or (when the count is concrete) a NaN, inf or negative rate is an error
    here rather than NaN parameters later."""
    try:
        rate = jnp.asarray(schedule(count))
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"the learning-rate schedule failed when called with the update count (an int32 "
            f"scalar): {type(e).__name__}: {str(e).rstrip('.')}. A schedule is a function "
            "count -> rate made "
            "of jnp operations (no Python `if` on the count, it is traced under jit), e.g. "
            "jaxnn.schedules.cosine_decay(1e-3, 1000)."
        ) from e
    if rate.shape != () or not (
        jnp.issubdtype(rate.dtype, jnp.floating) or jnp.issubdtype(rate.dtype, jnp.integer)
    ):
        raise ValueError(
            f"the learning-rate schedule must return a real scalar; got {rate.dtype} of "
            f"shape {rate.shape}."
        )
    if not isinstance(rate, jax.core.Tracer) and not isinstance(count, jax.core.Tracer):
        value = float(rate)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(
                f"the learning-rate schedule returned {value!r} for update count "
                f"{int(count)}; a rate must be finite and >= 0. Fix: check the schedule's "
                "arguments (a decay_rate > 1 grows without bound)."
            )
    return rate


def _divide(numerator: jnp.ndarray, root: jnp.ndarray, eps: float) -> jnp.ndarray:
    """numerator / (root + ε); with ε = 0, 0 where root = 0 (a gradient that has always
    been 0, e.g. of a dead ReLU unit or a blank MNIST pixel, takes no step instead of NaN)."""
    if eps > 0:
        return numerator / (root + eps)
    safe = jnp.where(root > 0, root, jnp.ones_like(root))
    return jnp.where(root > 0, numerator / safe, jnp.zeros_like(numerator))
