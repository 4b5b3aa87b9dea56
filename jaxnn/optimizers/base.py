"""What every optimizer shares: the ``Optimizer`` type, the state's bookkeeping, dtypes, checks.

An algorithm in :mod:`jaxnn.optimizers.algorithms` calls these so that its own ``update`` is
its maths and nothing else:

- bookkeeping: :func:`start` (check ``init``'s params; ``count`` and ``learning_rate``) and
  :func:`begin` (check ``update``'s arguments, then ``count + 1`` and ``schedule(count)``);
- dtypes: :func:`compute_dtype`, :func:`zeros_like_params`, :func:`descend`, :func:`per_leaf`;
- numerics: :func:`bias_correction` (1 − β^t) and :func:`divide` (x / (r + ε));
- checks of ``init``'s and ``update``'s arguments, in Python (at trace time under jit):
  :func:`check_params`, :func:`check_update`, and of the schedule's rate, :func:`rate_at`.

The checks of a factory's own arguments are in :mod:`jaxnn.optimizers.arguments`.

A state field annotated :data:`LikeParams` holds one array per parameter (a moment V or S);
:func:`check_update` checks every such field against the parameters, whatever its name.
"""

from __future__ import annotations

import functools
import math
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks

PyTree = Any
Schedule = Callable[[jax.Array], jax.Array]
# The annotation of a state field with the structure and leaf shapes of params (V, S, …).
LikeParams = Annotated[PyTree, "one array per parameter, of its shape"]

MAX_COUNT = int(np.iinfo(np.int32).max)  # count stops here instead of wrapping round
# Modules whose code calls update(updates, state, params) -> (updates, state), optax's
# contract: a jaxnn Optimizer called from them refuses (see refuse_optax_callers).
OPTAX_STYLE_CALLERS = ("optax", "flax")


class _Functions(NamedTuple):
    init: Callable[[PyTree], NamedTuple]
    update: Callable[[PyTree, NamedTuple, PyTree], tuple[PyTree, NamedTuple]]


class Optimizer(_Functions):
    """A pair of pure functions::

        state = opt.init(params)
        params, state = opt.update(grads, state, params)

    ``update`` returns the new *parameters*, where optax's returns updates to add to them;
    so both functions refuse to be called by optax or flax (see
    :func:`refuse_optax_callers`), and :func:`jaxnn.optimizers.as_gradient_transformation`
    gives an optimizer optax's contract.

    An optimizer built by a registered factory also carries ``recipe``, the factory and its
    arguments (:mod:`jaxnn.recipes`): ``fit`` compiles one program per kind of optimizer
    and passes the numbers (learning rate, β, ε, …) in as arrays.
    """

    def __new__(cls, init, update):
        return super().__new__(cls, refuse_optax_callers(init), refuse_optax_callers(update))


def refuse_optax_callers(fn: Callable) -> Callable:
    """``fn``, raising TypeError when code of optax or flax calls it.

    optax reads nothing but the attributes ``init`` and ``update`` of a transformation, so a
    jaxnn Optimizer handed to ``optax.chain`` is accepted, and ``optax.apply_updates`` would
    then add the new parameters to the old ones. The caller's module is one frame lookup,
    made in Python (at trace time under jit), so the check costs nothing in compiled code.
    """
    if not callable(fn) or getattr(fn, "refuses_optax_callers", False):
        return fn

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] in OPTAX_STYLE_CALLERS:
            raise TypeError(_checks.message(
                f"an optimizer called by {caller}",
                "an optax GradientTransformation, whose update returns updates "
                "(new − old parameters)",
                "a jaxnn Optimizer, whose update returns the new parameters (optax would "
                "add them to the old ones)",
                "wrap it: jaxnn.optimizers.as_gradient_transformation(opt), e.g. optax.chain("
                "optax.clip_by_global_norm(1.0), as_gradient_transformation(adam(1e-3)))"))
        return fn(*args, **kwargs)

    guarded.refuses_optax_callers = True
    return guarded


# ---------------------------------------------------------------------------
# Dtypes and bookkeeping.


def compute_dtype(x) -> np.dtype:
    """promote_types(x.dtype, float32): the dtype of a leaf's arithmetic and moments
    (float32 for float16, bfloat16 and float32; float64 for float64)."""
    return jnp.promote_types(jnp.asarray(x).dtype, jnp.float32)


def rate_dtype(params: PyTree) -> np.dtype:
    """The dtype of ``state.learning_rate``: the widest compute dtype of the params."""
    return jnp.result_type(jnp.float32, *(compute_dtype(p) for p in jax.tree.leaves(params)))


def zeros_like_params(params: PyTree) -> PyTree:
    """Zero moments, one per parameter, of its shape, in its compute dtype."""
    return jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), compute_dtype(p)), params)


def start(schedule: Schedule, params: PyTree) -> tuple[jax.Array, jax.Array]:
    """The start of every ``init``: :func:`check_params`, then ``(count, learning_rate)``
    after ``init``, ``(0, schedule(0))``; count is int32."""
    check_params(params)
    count = jnp.zeros((), jnp.int32)
    return count, rate_at(schedule, count).astype(rate_dtype(params))


def increment(count: jax.Array) -> jax.Array:
    """count + 1, stopping at 2³¹ − 1 instead of wrapping round to −2³¹."""
    return jnp.where(count < MAX_COUNT, count + 1, count)


def begin(state_type: type, schedule: Schedule, grads: PyTree, state, params: PyTree):
    """The start of every ``update``: :func:`check_update`, then ``(count + 1,
    schedule(count))``, the new count t and the rate α this update t uses."""
    check_update(state_type, grads, state, params)
    rate = rate_at(schedule, state.count).astype(state.learning_rate.dtype)
    return increment(state.count), rate


def descend(w, rate: jax.Array, direction) -> jax.Array:
    """W − α d for one leaf, in W's compute dtype, rounded back to W's dtype once."""
    dtype = compute_dtype(w)
    w_dtype = jnp.asarray(w).dtype
    return (jnp.asarray(w).astype(dtype) - rate.astype(dtype) * direction.astype(dtype)
            ).astype(w_dtype)


def per_leaf(fn: Callable, params: PyTree, grads: PyTree, *moments: PyTree):
    """``fn(w, g, *moments)`` for each parameter ``w``, with its gradient ``g`` in ``w``'s
    compute dtype and its moments; ``fn`` returns a tuple ``(w, *moments)``, and so does
    this, as trees like ``params``."""
    treedef = jax.tree.structure(params)
    ws = treedef.flatten_up_to(params)
    gs = [jnp.asarray(g).astype(compute_dtype(w))
          for g, w in zip(treedef.flatten_up_to(grads), ws, strict=True)]
    columns = zip(ws, gs, *(treedef.flatten_up_to(m) for m in moments), strict=True)
    results = [fn(*column) for column in columns]
    return tuple(treedef.unflatten(list(out)) for out in zip(*results, strict=True))


def bias_correction(beta: float, t: jax.Array, dtype) -> jax.Array:
    """1 − β^t in ``dtype``, computed as −expm1(t ln β).

    For β near 1 and small t, β^t is close to 1 and 1 − β^t loses digits (β = 0.999, t = 3:
    a 1-ulp error in float32 β^t is a 2e-5 relative error in 1 − β^t); −expm1(t ln β) is
    accurate to a few ulps for every t, and needs no pow, whose float32 result differs
    between eager (repeated multiplication for a concrete t) and jitted code.
    """
    if _checks.traced(beta):  # one run's β in a sweep: the same, in array arithmetic
        return -jnp.expm1(t.astype(dtype) * jnp.log(beta.astype(dtype)))
    if beta == 0.0:  # 1 − 0^t = 1 for t ≥ 1 (ln 0 is −∞).
        return jnp.ones((), dtype)
    return -jnp.expm1(t.astype(dtype) * math.log(beta))


def bias_corrections(t: jax.Array, *betas) -> Callable:
    """``dtype -> (1 / (1 − β^t) for each of betas)`` (:func:`bias_correction`), traced once
    per dtype in one update and shared by every leaf of that dtype: traced per leaf, XLA
    kept a pair of scalar kernels per leaf (8 of a 64-64-10 Adam epoch's ~110 kernels).
    Reciprocals, so that each leaf multiplies (XLA turned the per-leaf division by a scalar
    into this multiplication itself; an elementwise division is several times slower)."""
    return functools.cache(
        lambda dtype: tuple(1 / bias_correction(b, t, dtype) for b in betas))


def divide(numerator: jax.Array, root: jax.Array, eps: float) -> jax.Array:
    """numerator / (root + ε); with ε = 0, 0 where root = 0 (a gradient that has always
    been 0, of a dead ReLU unit or a blank MNIST pixel, takes no step instead of NaN)."""
    if _checks.traced(eps):  # one run's ε in a sweep: both branches, selected per run
        safe = jnp.where(root > 0, root, jnp.ones_like(root))
        return jnp.where(eps > 0, numerator / (root + eps),
                         jnp.where(root > 0, numerator / safe, jnp.zeros_like(numerator)))
    if eps > 0:
        return numerator / (root + eps)
    safe = jnp.where(root > 0, root, jnp.ones_like(root))
    return jnp.where(root > 0, numerator / safe, jnp.zeros_like(numerator))


def rate_state(state: NamedTuple) -> NamedTuple:
    """The state that holds the rate: ``state`` itself, or (for a wrapper such as
    ``clip_by_global_norm``) the first ``inner`` state down that has ``learning_rate``."""
    while not hasattr(state, "learning_rate") and hasattr(state, "inner"):
        state = state.inner
    return state


def learning_rate(state: NamedTuple) -> jax.Array:
    """The rate α used by the most recent update (``schedule(0)`` after init).

    Args:
      state: the state of any jaxnn optimizer, wrappers included (their ``inner`` state
        holds the rate).

    Returns:
      A float scalar.
    """
    state = rate_state(state)
    if not hasattr(state, "learning_rate"):
        raise _checks.type_error("the state given to learning_rate",
                                 "the state of a jaxnn optimizer", state,
                                 "pass the state returned by opt.init or opt.update")
    return state.learning_rate


# ---------------------------------------------------------------------------
# Checks of init's and update's arguments, and of the schedule's rate.


def check_params(params: PyTree) -> None:
    """``params`` holds at least one array, and every leaf is a floating-point array."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    if not flat:
        raise _checks.value_error(
            "params", "a pytree holding at least one array", _checks.short(params),
            "pass the parameters themselves, e.g. opt.init(jaxnn.init_params(key, net))")
    for path, leaf in flat:
        where = f"params{jax.tree_util.keystr(path)}"
        try:
            dtype = jnp.asarray(leaf).dtype
        except TypeError:
            raise _checks.type_error(where, "a floating-point array", leaf) from None
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(_checks.message(
                where, "a floating-point array", f"{dtype} array of shape {jnp.shape(leaf)}",
                "cast it first, e.g. params = jax.tree.map(lambda x: x.astype(jnp.float32), "
                "params)"))


def check_update(state_type: type, grads: PyTree, state, params: PyTree) -> None:
    """``update``'s arguments fit together: ``state`` is a ``state_type``, and ``grads`` and
    every :data:`LikeParams` field of the state have the structure and leaf shapes of
    ``params``. Shapes only, in Python: free inside jit (checked at trace time)."""
    if not isinstance(state, state_type):
        raise _checks.type_error(
            "state", f"this optimizer's own state, {state_type.__name__}", state,
            "state = opt.init(params) with this same optimizer (a state made by another "
            "optimizer cannot be continued here)")
    check_like_params("grads", grads, params)
    for field in params_like_fields(state_type):
        check_like_params(f"state.{field}", getattr(state, field), params)


@functools.cache
def params_like_fields(state_type: type) -> tuple[str, ...]:
    """The fields of a state NamedTuple annotated :data:`LikeParams`, in order."""
    try:
        hints = typing.get_type_hints(state_type, include_extras=True)
    except (NameError, TypeError):  # an annotation that does not resolve: none to check
        return ()
    return tuple(f for f in state_type._fields if hints.get(f) == LikeParams)


def check_like_params(name: str, tree: PyTree, params: PyTree) -> None:
    """``tree`` has the pytree structure and leaf shapes of ``params``."""
    fix = "pass the gradient of these params, and a state from opt.init of these params"
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    p_leaves, p_treedef = jax.tree_util.tree_flatten_with_path(params)
    if treedef != p_treedef:
        raise _checks.value_error(
            name, f"a pytree with the structure of params, {_checks.short(p_treedef, 200)}",
            _checks.short(treedef, 200), fix)
    for (path, leaf), (_, p) in zip(leaves, p_leaves, strict=True):
        if jnp.shape(leaf) != jnp.shape(p):
            raise _checks.value_error(
                f"{name}{jax.tree_util.keystr(path)}",
                f"an array of the parameter's shape {jnp.shape(p)}",
                f"shape {jnp.shape(leaf)}", fix)


def rate_at(schedule: Schedule, count: jax.Array) -> jax.Array:
    """``schedule(count)`` as a scalar array, checked: a schedule that fails, returns a
    non-scalar, or (when the count is concrete) a NaN, inf or negative rate is an error
    here rather than NaN parameters later."""
    try:
        rate = jnp.asarray(schedule(count))
    except (TypeError, ValueError) as e:
        raise TypeError(_checks.message(
            "the learning-rate schedule",
            "a function count -> rate made of jnp operations, called with the update count "
            "(an int32 scalar)", f"{type(e).__name__}: {str(e).rstrip('.')}",
            "build it from jnp operations of the count, with no Python `if` on it (it is "
            "traced under jit), e.g. jaxnn.schedules.cosine_decay(1e-3, 1000)")) from e
    real = jnp.issubdtype(rate.dtype, jnp.floating) or jnp.issubdtype(rate.dtype, jnp.integer)
    if rate.shape != () or not real:
        raise _checks.value_error("the rate the learning-rate schedule returns",
                                  "a real scalar", f"{rate.dtype} of shape {rate.shape}")
    if not isinstance(rate, jax.core.Tracer) and not isinstance(count, jax.core.Tracer):
        value = float(rate)
        if not (math.isfinite(value) and value >= 0):
            raise _checks.value_error(
                f"the rate the learning-rate schedule returns for update count {int(count)}",
                "finite and ≥ 0", repr(value),
                "check the schedule's arguments (a decay_rate > 1 grows without bound)")
    return rate
