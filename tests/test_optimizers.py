"""Tests of jaxnn.optimizers: registry, convergence, jit and eager, state, dtypes, clipping.

Each optimizer runs through one table of checks: convergence on a convex quadratic and on
Rosenbrock's function, jitted and eager (chex variants), the state's structure across
updates, and parameter dtypes. The tables that need no tuning are built from the registry
``O.NAMES``, so a new optimizer is checked by them without an edit here. Runs of many steps
are one jitted ``lax.scan`` each, to keep compile time (most of this file's runtime) low.
The checks against optax (trajectories, and the adapters to and from optax) are in
tests/test_optimizers_optax.py; lookup by name and bad inputs in
tests/test_optimizer_arguments.py.
"""

import inspect
import math
import re
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

from jaxnn import optimizers as O
from jaxnn import schedules as S


class Layer(NamedTuple):
    W: jax.Array
    b: jax.Array


def make_params(dtype=jnp.float32):
    """A two-layer pytree: (Layer(W (3, 2), b (3,)), Layer(W (1, 3), b (1,)))."""
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    return (
        Layer(jax.random.normal(k[0], (3, 2), dtype), jax.random.normal(k[1], (3,), dtype)),
        Layer(jax.random.normal(k[2], (1, 3), dtype), jnp.zeros((1,), dtype)),
    )


def weights_only(params):
    """The adamw mask that decays weights and leaves biases alone."""
    return tuple(Layer(W=True, b=False) for _ in params)


def quadratic(params):
    """f = Σ ½ a (p − ½)², a = 1 … 5 by position: convex, minimum at p = ½."""
    def one(p):
        a = 1.0 + jnp.arange(p.size, dtype=p.dtype).reshape(p.shape) % 5
        return jnp.sum(0.5 * a * (p - 0.5) ** 2)
    return sum(one(p) for p in jax.tree.leaves(params))


def rosenbrock(p):
    """f(x, y) = (1 − x)² + 100 (y − x²)², minimum at (1, 1)."""
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def trajectory(step, params, state, noises):
    """lax.scan of ``step(params, state, noise) -> (params, state)``; returns
    ((final params, final state), params after each step)."""
    def body(carry, noise):
        carry = step(*carry, noise)
        return carry, carry[0]
    return jax.lax.scan(body, (params, state), noises)


def descend(opt, f, params, steps):
    """``steps`` updates of ``opt`` on ``jax.grad(f)``, jitted in a lax.scan; final params."""
    def body(carry, _):
        p, s = carry
        return opt.update(jax.grad(f)(p), s, p), None
    run = jax.jit(lambda p: jax.lax.scan(body, (p, opt.init(p)), None, length=steps)[0][0])
    return run(params)


# One table of optimizers, run through the same checks: every registered one (with its
# defaults unless tuned below), and the variants a name alone does not build.
OPTIMIZERS = {name: (lambda name=name: O.get(name, 0.01)) for name in O.NAMES} | {
    "sgd": lambda: O.sgd(0.1),
    "momentum": lambda: O.momentum(0.1, beta=0.9),
    "nesterov": lambda: O.nesterov(0.1, beta=0.9),
    "rmsprop": lambda: O.rmsprop(0.01),
    "adam": lambda: O.adam(0.01),
    "adamw": lambda: O.adamw(0.01, weight_decay=0.1, mask=weights_only),
    "adam+schedule": lambda: O.adam(S.exponential_decay(0.01, 0.5, 3)),
    "clip(adam)": lambda: O.clip_by_global_norm(0.5, O.adam(0.01)),
}


# ---------------------------------------------------------------------------
# The registry.


def test_the_registry_is_the_one_list_of_names():
    assert O.NAMES == tuple(O.OPTIMIZERS)
    for name, factory in O.OPTIMIZERS.items():
        assert getattr(O, name) is factory and name in O.__all__
        assert isinstance(factory(0.1), O.Optimizer)
        assert next(iter(inspect.signature(factory).parameters)) == "learning_rate"


def test_every_registered_optimizer_has_reference_cases():
    """The tuned tables below (optax trajectory or convergence) must cover every name."""
    missing = [n for n in O.NAMES if n not in CONVEX or n not in ROSENBROCK]
    assert not missing, f"add convergence cases (CONVEX, ROSENBROCK) for {missing}"


# ---------------------------------------------------------------------------
# Convergence.

CONVEX = {
    "sgd": (lambda: O.sgd(0.1), 300),
    "momentum": (lambda: O.momentum(0.5, 0.9), 300),
    "nesterov": (lambda: O.nesterov(0.5, 0.9), 300),
    "rmsprop": (lambda: O.rmsprop(S.cosine_decay(0.05, 500)), 500),
    "adam": (lambda: O.adam(S.cosine_decay(0.1, 500)), 500),
    "adamw": (lambda: O.adamw(S.cosine_decay(0.1, 500), weight_decay=1e-4), 500),
}


@pytest.mark.parametrize("name", CONVEX)
def test_converges_on_a_convex_quadratic(x64, name):
    make, steps = CONVEX[name]
    params = descend(make(), quadratic, make_params(jnp.float64), steps)
    for p in jax.tree.leaves(params):
        np.testing.assert_allclose(p, 0.5, atol=1e-3)


ROSENBROCK = {
    "sgd": (lambda: O.sgd(1.5e-3), 20_000),
    "momentum": (lambda: O.momentum(1e-2, 0.9), 5_000),
    "nesterov": (lambda: O.nesterov(1e-2, 0.9), 5_000),
    "rmsprop": (lambda: O.rmsprop(S.exponential_decay(1e-2, 0.1, 2_000)), 5_000),
    "adam": (lambda: O.adam(S.cosine_decay(5e-2, 3_000)), 3_000),
    "adamw": (lambda: O.adamw(S.cosine_decay(5e-2, 3_000)), 3_000),
}


@pytest.mark.parametrize("name", ROSENBROCK)
def test_converges_on_rosenbrock(x64, name):
    make, steps = ROSENBROCK[name]
    x = descend(make(), rosenbrock, jnp.array([-1.2, 1.0]), steps)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-2)


# ---------------------------------------------------------------------------
# jit and eager, state structure, count, learning rate.


def random_grads(params, step):
    key = jax.random.fold_in(jax.random.PRNGKey(7), step)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)]
    )


class UpdateVariantsTest(chex.TestCase):
    """Every optimizer of the table, its update jitted and not (chex variants)."""

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        *((re.sub(r"\W+", "_", name), name) for name in OPTIMIZERS))
    def test_update_equals_eager_and_keeps_the_state_structure(self, name):
        opt = OPTIMIZERS[name]()
        params = make_params()
        state0 = opt.init(params)
        assert isinstance(opt, O.Optimizer)
        assert state0.count.dtype == jnp.int32 and int(state0.count) == 0
        update = self.variant(opt.update)
        p, s = params, state0
        for k in range(1, 4):
            grads = random_grads(params, k)
            eager_p, eager_s = opt.update(grads, s, p)
            p, s = update(grads, s, p)
            # One update from the same inputs: parameters agree to 1 ulp (XLA may fuse
            # a·b + c into one rounding under jit). Moments to 1 ulp of their largest entry:
            # where βV and (1 − β)g nearly cancel, that rounding is many ulps of the result.
            for e, j in zip(jax.tree.leaves(eager_p), jax.tree.leaves(p), strict=True):
                np.testing.assert_array_max_ulp(e, j, maxulp=1)
            for e, j in zip(jax.tree.leaves(eager_s), jax.tree.leaves(s), strict=True):
                ulp = np.finfo(e.dtype).eps * np.max(np.abs(e)) if e.dtype != jnp.int32 else 0
                np.testing.assert_allclose(j, e, rtol=0, atol=ulp)
            # Same treedef, leaf shapes and dtypes as after init; count is int32 and counts.
            chex.assert_trees_all_equal_structs(s, state0)
            chex.assert_trees_all_equal_shapes_and_dtypes(s, state0)
            assert s.count.dtype == jnp.int32 and int(s.count) == k
            chex.assert_trees_all_equal_structs(p, params)


def test_learning_rate_field_holds_the_rate_of_the_last_update():
    schedule = S.piecewise_constant(boundaries=[1, 2], values=[0.3, 0.2, 0.1])
    opt = O.clip_by_global_norm(1.0, O.sgd(schedule))
    params = jnp.zeros(2)
    state = opt.init(params)
    assert float(O.learning_rate(state)) == pytest.approx(0.3)  # schedule(0) after init
    for k, rate in enumerate([0.3, 0.2, 0.1, 0.1], start=1):
        new, state = opt.update(jnp.array([0.5, 0.0]), state, params)
        # Update k used schedule(k − 1): W = 0 − α · 0.5.
        assert float(new[0]) == pytest.approx(-0.5 * rate)
        assert float(O.learning_rate(state)) == pytest.approx(rate)
        assert float(state.inner.learning_rate) == pytest.approx(rate)
        assert int(state.count) == int(state.inner.count) == k


def test_count_saturates_instead_of_wrapping():
    opt = O.adam(0.1)
    params = jnp.ones(2)
    state = opt.init(params)._replace(count=jnp.int32(np.iinfo(np.int32).max))
    new, state = opt.update(jnp.ones(2), state, params)
    assert int(state.count) == np.iinfo(np.int32).max
    assert np.all(np.isfinite(new))


@pytest.mark.parametrize("name", O.NAMES)
def test_a_state_of_another_optimizer_is_refused(name):
    other = O.NAMES[(O.NAMES.index(name) + 1) % len(O.NAMES)]
    params = make_params()
    opt, state = O.get(name, 0.1), O.get(other, 0.1).init(params)
    with pytest.raises(TypeError, match=r"state must be this optimizer's own state"):
        opt.update(params, state, params)


# ---------------------------------------------------------------------------
# Dtypes.


def dtypes_after_two_updates(opt, params):
    """(params, state) after two updates, as ShapeDtypeStructs: traced, never run."""
    def two_updates(params):
        p, state = params, opt.init(params)
        for k in range(2):
            p, state = opt.update(random_grads(params, k), state, p)
        return p, state
    return jax.eval_shape(two_updates, params)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_params_keep_their_dtype(dtype):
    params = make_params(dtype)
    for name, make in OPTIMIZERS.items():
        p, state = dtypes_after_two_updates(make(), params)
        assert all(x.dtype == dtype for x in jax.tree.leaves(p)), name
        # Moments, learning rate and global norm in float32 (count stays int32).
        floats = [x for x in jax.tree.leaves(state) if x.dtype != jnp.int32]
        assert all(x.dtype == jnp.float32 for x in floats), name


def test_low_precision_adam_runs_finite():
    params = make_params(jnp.float16)
    opt = O.clip_by_global_norm(1.0, O.adam(1e-3))
    p, state = params, opt.init(params)
    for k in range(2):
        p, state = opt.update(random_grads(params, k), state, p)
    assert all(np.all(np.isfinite(np.asarray(x, np.float32))) for x in jax.tree.leaves(p))


def test_low_precision_update_is_computed_in_float32_and_rounded_once():
    params = make_params(jnp.bfloat16)
    grads = random_grads(params, 0)
    opt = O.sgd(0.01)
    got, _ = opt.update(grads, opt.init(params), params)

    def want(w, g):  # W = W − α g in float32, one rounding to bfloat16.
        return (w.astype(jnp.float32) - jnp.float32(0.01) * g.astype(jnp.float32)).astype(w.dtype)

    chex.assert_trees_all_equal(got, jax.tree.map(want, params, grads))


def test_float64_params_stay_float64(x64):
    params = make_params(jnp.float64)
    for name, make in OPTIMIZERS.items():
        p, state = dtypes_after_two_updates(make(), params)
        assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(p)), name
        floats = [x for x in jax.tree.leaves(state) if x.dtype != jnp.int32]
        assert all(x.dtype == jnp.float64 for x in floats), name


def test_integer_params_are_rejected():
    with pytest.raises(TypeError, match=r"params\[1\] must be a floating-point array; got int32"):
        O.adam(0.1).init((jnp.zeros(2), jnp.zeros(2, jnp.int32)))


# ---------------------------------------------------------------------------
# Gradient clipping.


def test_clip_reports_the_norm_and_rescales_to_max_norm_when_above():
    params = make_params()
    grads = jax.tree.map(lambda g: 10 * g, random_grads(params, 0))
    norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in jax.tree.leaves(grads)))
    opt = O.clip_by_global_norm(1.0, O.sgd(1.0))  # with α = 1, W − W' is the clipped g
    new, state = jax.jit(opt.update)(grads, opt.init(params), params)
    assert norm > 1.0
    assert float(state.global_norm) == pytest.approx(norm, rel=1e-6)
    clipped = jax.tree.map(jnp.subtract, params, new)
    assert float(O.global_norm(clipped)) == pytest.approx(1.0, rel=1e-5)
    # Same direction as g.
    chex.assert_trees_all_close(clipped, jax.tree.map(lambda g: g / norm, grads), rtol=1e-4,
                                atol=1e-6)


def test_clip_leaves_small_gradients_untouched():
    params = make_params()
    grads = random_grads(params, 0)
    opt = O.clip_by_global_norm(100.0, O.sgd(1.0))
    new, state = opt.update(grads, opt.init(params), params)
    want, _ = O.sgd(1.0).update(grads, O.sgd(1.0).init(params), params)
    chex.assert_trees_all_equal(new, want)
    assert float(state.global_norm) == pytest.approx(float(O.global_norm(grads)))


def test_clip_with_zero_gradients_is_finite():
    params = make_params()
    opt = O.clip_by_global_norm(1.0, O.adam(0.1))
    new, state = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
    assert float(state.global_norm) == 0.0
    chex.assert_trees_all_equal(new, params)


def test_global_norm_equals_optax_and_numpy(x64):
    tree = make_params(jnp.float64)
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
    assert float(O.global_norm(tree)) == pytest.approx(np.linalg.norm(flat), rel=1e-15)
    assert float(O.global_norm(tree)) == pytest.approx(float(optax.tree.norm(tree)), rel=1e-15)
    assert float(O.global_norm(())) == 0.0
