"""Tests of jaxnn.optimizers and jaxnn.schedules, with optax (float64) as the reference.

Each optimizer runs through one table of checks: its 100-step trajectory against
optax's equivalent, convergence on a convex quadratic and on Rosenbrock's
function, jitted against eager, the state's structure across updates, and
parameter dtypes. Trajectories run inside one jitted ``lax.scan`` each, to keep
compile time (most of this file's runtime) low.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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


# One table of optimizers, run through the same checks.
OPTIMIZERS = {
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
# Trajectories equal optax's, float64.

LR, BETA = 0.05, 0.9
SCHEDULE = S.cosine_decay(0.1, 80, warmup_steps=10, init=0.01, end=0.001)
OPTAX_PAIRS = {
    "sgd": (lambda: O.sgd(LR), lambda: optax.sgd(LR)),
    # EWA V = (1 − β) v of optax's heavy-ball trace v = g + βv, so α' = α (1 − β).
    "momentum": (lambda: O.momentum(LR, BETA), lambda: optax.sgd(LR * (1 - BETA), BETA)),
    "nesterov": (
        lambda: O.nesterov(LR, BETA),
        lambda: optax.sgd(LR * (1 - BETA), BETA, nesterov=True),
    ),
    # optax's default eps_in_sqrt=True divides by √(S + ε); ours is √S + ε.
    "rmsprop": (
        lambda: O.rmsprop(LR, beta=0.8, eps=1e-3),
        lambda: optax.rmsprop(LR, decay=0.8, eps=1e-3, eps_in_sqrt=False),
    ),
    "adam": (
        lambda: O.adam(LR, beta1=0.8, beta2=0.99, eps=1e-3),
        lambda: optax.adam(LR, b1=0.8, b2=0.99, eps=1e-3),
    ),
    "adamw": (
        lambda: O.adamw(LR, weight_decay=0.1),
        lambda: optax.adamw(LR, weight_decay=0.1),
    ),
    "adamw+mask": (
        lambda: O.adamw(LR, weight_decay=0.1, mask=weights_only),
        lambda: optax.adamw(LR, weight_decay=0.1, mask=weights_only),
    ),
    # One schedule, given to both: update t uses schedule(t − 1) in both libraries.
    "adam+schedule": (lambda: O.adam(SCHEDULE), lambda: optax.adam(SCHEDULE)),
    "clip(adam)": (
        lambda: O.clip_by_global_norm(1.0, O.adam(LR)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(LR)),
    ),
}


@pytest.mark.parametrize("name", OPTAX_PAIRS)
def test_trajectory_equals_optax(x64, name):
    ours, ref = (make() for make in OPTAX_PAIRS[name])
    params = make_params(jnp.float64)
    steps = 100
    # Gradients of the quadratic plus fresh noise each step, so they vary in size and sign.
    noises = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(p.size), (steps, *p.shape)), params
    )

    def grads(p, noise):
        return jax.tree.map(jnp.add, jax.grad(quadratic)(p), noise)

    def ours_step(p, s, noise):
        return ours.update(grads(p, noise), s, p)

    def ref_step(p, s, noise):
        updates, s = ref.update(grads(p, noise), s, p)
        return optax.apply_updates(p, updates), s

    def both():
        return (trajectory(ours_step, params, ours.init(params), noises),
                trajectory(ref_step, params, ref.init(params), noises))

    ((_, state), got), (_, want) = jax.jit(both)()  # One compilation for both.
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == jnp.float64
        if name == "sgd":
            np.testing.assert_array_equal(g, w)  # The same operations: bit for bit.
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    assert int(state.count) == steps


def test_float32_adam_tracks_its_float64_trajectory():
    """Bias correction as −expm1(t ln β): in float32, 1 − 0.999^t loses digits for small t
    (that form drifts 7e-6 from the float64 trajectory here; −expm1 stays within 1e-6)."""
    steps = 100
    params = make_params(jnp.float32)
    noises = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(p.size), (steps, *p.shape), p.dtype),
        params,
    )
    opt = O.adam(0.05)

    def step(p, s, noise):
        return opt.update(jax.tree.map(jnp.add, jax.grad(quadratic)(p), noise), s, p)

    def run(params, noises):
        return trajectory(step, params, opt.init(params), noises)[1]

    got = jax.jit(run)(params, noises)  # x64 off: every computation in float32
    with jax.enable_x64(True):
        want = jax.jit(run)(*jax.tree.map(lambda x: x.astype(jnp.float64), (params, noises)))
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == jnp.float32 and w.dtype == jnp.float64
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


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
# jit, state structure, count, learning rate.


def random_grads(params, step):
    key = jax.random.fold_in(jax.random.PRNGKey(7), step)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)]
    )


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_jit_equals_eager_and_state_keeps_its_structure(name):
    opt = OPTIMIZERS[name]()
    params = make_params()
    state0 = opt.init(params)
    assert isinstance(opt, O.Optimizer)
    assert state0.count.dtype == jnp.int32 and int(state0.count) == 0
    update = jax.jit(opt.update)
    p, s = params, state0
    for k in range(1, 4):
        grads = random_grads(params, k)
        eager_p, eager_s = opt.update(grads, s, p)
        p, s = update(grads, s, p)
        # One update from the same inputs: parameters agree to 1 ulp (XLA may fuse a·b + c
        # into one rounding under jit). Moments to 1 ulp of their largest entry: where
        # βV and (1 − β)g nearly cancel, that rounding is many ulps of the small result.
        for e, j in zip(jax.tree.leaves(eager_p), jax.tree.leaves(p), strict=True):
            np.testing.assert_array_max_ulp(e, j, maxulp=1)
        for e, j in zip(jax.tree.leaves(eager_s), jax.tree.leaves(s), strict=True):
            ulp = np.finfo(e.dtype).eps * np.max(np.abs(e)) if e.dtype != jnp.int32 else 0
            np.testing.assert_allclose(j, e, rtol=0, atol=ulp)
        # Same treedef, leaf shapes and dtypes as after init; count is int32 and counts.
        assert jax.tree.structure(s) == jax.tree.structure(state0)
        assert [(x.shape, x.dtype) for x in jax.tree.leaves(s)] == [
            (x.shape, x.dtype) for x in jax.tree.leaves(state0)
        ]
        assert s.count.dtype == jnp.int32 and int(s.count) == k
        assert jax.tree.structure(p) == jax.tree.structure(params)


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

    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(jax.tree.map(want, params, grads)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(g, np.float32), np.asarray(w, np.float32))


def test_float64_params_stay_float64(x64):
    params = make_params(jnp.float64)
    for name, make in OPTIMIZERS.items():
        p, state = dtypes_after_two_updates(make(), params)
        assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(p)), name
        floats = [x for x in jax.tree.leaves(state) if x.dtype != jnp.int32]
        assert all(x.dtype == jnp.float64 for x in floats), name


def test_integer_params_are_rejected():
    with pytest.raises(TypeError, match=r"floating-point arrays, got dtype int32 at params\[1\]"):
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
    for c, g in zip(jax.tree.leaves(clipped), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(c, g / norm, rtol=1e-4, atol=1e-6)  # same direction


def test_clip_leaves_small_gradients_untouched():
    params = make_params()
    grads = random_grads(params, 0)
    opt = O.clip_by_global_norm(100.0, O.sgd(1.0))
    new, state = opt.update(grads, opt.init(params), params)
    want, _ = O.sgd(1.0).update(grads, O.sgd(1.0).init(params), params)
    for n, w in zip(jax.tree.leaves(new), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(n, w)
    assert float(state.global_norm) == pytest.approx(float(O.global_norm(grads)))


def test_clip_with_zero_gradients_is_finite():
    params = make_params()
    opt = O.clip_by_global_norm(1.0, O.adam(0.1))
    new, state = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
    assert float(state.global_norm) == 0.0
    for n, p in zip(jax.tree.leaves(new), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(n, p)


def test_global_norm_equals_optax_and_numpy(x64):
    tree = make_params(jnp.float64)
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
    assert float(O.global_norm(tree)) == pytest.approx(np.linalg.norm(flat), rel=1e-15)
    assert float(O.global_norm(tree)) == pytest.approx(float(optax.tree.norm(tree)), rel=1e-15)
    assert float(O.global_norm(())) == 0.0


# ---------------------------------------------------------------------------
# Lookup by name.


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_get_builds_the_named_optimizer(name):
    params = make_params()
    grads = random_grads(params, 0)
    direct = getattr(O, name)(0.05)
    looked_up = O.get(name, 0.05)
    a, _ = direct.update(grads, direct.init(params), params)
    b, _ = looked_up.update(grads, looked_up.init(params), params)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_get_passes_hyperparameters():
    state = O.get("adamw", 0.1, beta2=0.99, weight_decay=0.0).init(jnp.zeros(1))
    assert isinstance(state, O.AdamWState)


# ---------------------------------------------------------------------------
# Schedules.

COUNTS = [0, 1, 2, 5, 9, 10, 11, 37, 79, 80, 81, 200]


def cosine_by_hand(t, peak=0.1, decay_steps=80, warmup=10, init=0.01, end=0.001):
    if t < warmup:
        return init + (peak - init) * t / warmup
    tau = min(t - warmup, decay_steps - warmup)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * tau / (decay_steps - warmup)))


SCHEDULES = {
    "constant": (S.constant(0.3), lambda t: 0.3),
    "exponential": (S.exponential_decay(0.1, 0.5, 10), lambda t: 0.1 * 0.5 ** (t / 10)),
    "exponential staircase": (
        S.exponential_decay(0.1, 0.5, 10, staircase=True),
        lambda t: 0.1 * 0.5 ** (t // 10),
    ),
    "cosine with warm-up": (S.cosine_decay(0.1, 80, 10, init=0.01, end=0.001), cosine_by_hand),
    "cosine": (
        S.cosine_decay(0.1, 80),
        lambda t: 0.05 * (1 + math.cos(math.pi * min(t, 80) / 80)),
    ),
    "piecewise values": (
        S.piecewise_constant(boundaries=[10, 80], values=[0.1, 0.01, 0.001]),
        lambda t: 0.1 if t < 10 else 0.01 if t < 80 else 0.001,
    ),
    "piecewise scales": (
        S.piecewise_constant(init_value=0.1, boundaries_and_scales={80: 0.5, 10: 0.1}),
        lambda t: 0.1 if t < 10 else 0.01 if t < 80 else 0.005,
    ),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_equals_its_formula_eager_and_jitted(name):
    schedule, formula = SCHEDULES[name]
    want = np.array([formula(t) for t in COUNTS])
    eager = np.array([float(schedule(t)) for t in COUNTS])
    counts = jnp.array(COUNTS, jnp.int32)
    jitted = jax.jit(jax.vmap(schedule))(counts)  # traced int32 counts: no Python branching
    np.testing.assert_allclose(eager, want, rtol=1e-6)
    np.testing.assert_allclose(jitted, want, rtol=1e-6)


OPTAX_SCHEDULES = {
    "exponential": (
        S.exponential_decay(0.1, 0.5, 10),
        optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5),
    ),
    "exponential staircase": (
        S.exponential_decay(0.1, 0.5, 10, staircase=True),
        optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5, staircase=True),
    ),
    "cosine with warm-up": (
        S.cosine_decay(0.1, 80, warmup_steps=10, init=0.01, end=0.001),
        optax.warmup_cosine_decay_schedule(0.01, 0.1, 10, 80, end_value=0.001),
    ),
    "piecewise": (
        S.piecewise_constant(init_value=0.1, boundaries_and_scales={10: 0.1, 80: 0.5}),
        optax.piecewise_constant_schedule(0.1, {10: 0.1, 80: 0.5}),
    ),
}


@pytest.mark.parametrize("name", OPTAX_SCHEDULES)
def test_schedule_equals_optax(name):
    ours, ref = OPTAX_SCHEDULES[name]
    counts = jnp.arange(0, 120, dtype=jnp.int32)
    # optax computes in float32 even under x64, and its cosine form 1 + cos(π τ / D)
    # loses digits near the end: 1e-6 relative or 1e-8 absolute.
    np.testing.assert_allclose(jax.vmap(ours)(counts), jax.vmap(ref)(counts), rtol=1e-6,
                               atol=1e-8)


# ---------------------------------------------------------------------------
# Bad inputs: each raises with a message saying what was expected and what came.

BAD_INPUTS = [
    (lambda: O.sgd(0.0), ValueError, r"learning_rate must be finite and > 0, got 0\.0"),
    (lambda: O.adam(-1e-3), ValueError, r"learning_rate must be finite and > 0, got -0\.001"),
    (lambda: O.adam(float("nan")), ValueError, r"learning_rate must be finite and > 0, got nan"),
    (lambda: O.rmsprop(float("inf")), ValueError, r"learning_rate must be .* got inf"),
    (lambda: O.sgd("fast"), TypeError, r"learning_rate must be a positive float or a schedule"),
    (lambda: O.sgd(True), TypeError, r"a schedule \(a callable count -> rate\), got bool True"),
    (lambda: O.momentum(0.1, beta=1.0), ValueError, r"beta must be in \[0, 1\), got 1\.0"),
    (lambda: O.nesterov(0.1, beta=-0.1), ValueError, r"beta must be in \[0, 1\), got -0\.1"),
    (lambda: O.adam(0.1, beta1=1.5), ValueError, r"beta1 must be in \[0, 1\), got 1\.5"),
    (lambda: O.adamw(0.1, beta2=1.0), ValueError, r"beta2 must be in \[0, 1\), got 1\.0"),
    (lambda: O.adam(0.1, beta1="0.9"), TypeError, r"beta1 must be a real number, got str"),
    (lambda: O.rmsprop(0.1, eps=-1e-8), ValueError, r"eps must be finite and >= 0, got -1e-08"),
    (lambda: O.adam(0.1, eps=float("nan")), ValueError, r"eps must be finite and >= 0, got nan"),
    (lambda: O.adamw(0.1, weight_decay=-0.1), ValueError, r"weight_decay must be finite and >= 0"),
    (lambda: O.adamw(0.1, mask=[True]), TypeError, r"mask must be None or a function"),
    (lambda: O.clip_by_global_norm(0.0, O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0, got 0\.0"),
    (lambda: O.clip_by_global_norm(-1, O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0, got -1\.0"),
    (lambda: O.clip_by_global_norm(float("inf"), O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0, got inf"),
    (lambda: O.clip_by_global_norm(1.0, O.sgd), TypeError,
     r"inner must be an Optimizer, got function"),
    (lambda: O.get("adamm", 0.1), ValueError,
     r"unknown optimizer 'adamm'; expected one of sgd, momentum, nesterov, rmsprop, adam, adamw"),
    (lambda: O.get("adam", 0.1, beta=0.9), TypeError,
     r"optimizer 'adam' got unknown hyper-parameter\(s\) 'beta'; it takes beta1, beta2, eps"),
    (lambda: O.get("sgd", 0.1, momentum=0.9), TypeError,
     r"optimizer 'sgd' got unknown hyper-parameter\(s\) 'momentum'; it takes none"),
    (lambda: O.get("adam", "x"), TypeError, r"learning_rate must be a positive float"),
    (lambda: O.learning_rate((1, 2)), TypeError,
     r"expects the state of a jaxnn optimizer, got tuple"),
    (lambda: S.constant(0.0), ValueError, r"value must be finite and > 0, got 0\.0"),
    (lambda: S.constant("1e-3"), TypeError, r"value must be a real number, got str"),
    (lambda: S.exponential_decay(0.0, 0.5, 10), ValueError, r"init must be finite and > 0"),
    (lambda: S.exponential_decay(0.1, 0.0, 10), ValueError, r"decay_rate must be finite and > 0"),
    (lambda: S.exponential_decay(0.1, 0.5, 0), ValueError,
     r"transition_steps must be an int >= 1, got 0"),
    (lambda: S.exponential_decay(0.1, 0.5, 2.5), TypeError,
     r"transition_steps must be an int, got float 2\.5"),
    (lambda: S.exponential_decay(0.1, 0.5, 10, staircase="yes"), TypeError,
     r"staircase must be a bool, got str 'yes'"),
    (lambda: S.cosine_decay(-0.1, 100), ValueError, r"peak must be finite and > 0, got -0\.1"),
    (lambda: S.cosine_decay(0.1, 10, warmup_steps=10), ValueError,
     r"decay_steps must be > warmup_steps .* got decay_steps=10, warmup_steps=10"),
    (lambda: S.cosine_decay(0.1, 100, warmup_steps=-1), ValueError,
     r"warmup_steps must be an int >= 0, got -1"),
    (lambda: S.cosine_decay(0.1, 100, end=-0.1), ValueError, r"end must be finite and >= 0"),
    (lambda: S.cosine_decay(0.1, 100, init=float("nan")), ValueError,
     r"init must be finite and >= 0, got nan"),
    (lambda: S.piecewise_constant(), ValueError, r"either boundaries= and values=, .* got neither"),
    (lambda: S.piecewise_constant(boundaries=[1], values=[1.0, 2.0], init_value=1.0),
     ValueError, r"got both forms"),
    (lambda: S.piecewise_constant(boundaries=[1]), ValueError,
     r"needs both boundaries= and values="),
    (lambda: S.piecewise_constant(init_value=0.1), ValueError,
     r"needs both init_value= and boundaries_and_scales="),
    (lambda: S.piecewise_constant(boundaries=[10, 20], values=[1.0, 2.0]), ValueError,
     r"values must have len\(boundaries\) \+ 1 = 3 entries, got 2"),
    (lambda: S.piecewise_constant(boundaries=[20, 10], values=[1.0, 2.0, 3.0]), ValueError,
     r"boundaries must be strictly increasing, got \[20, 10\]"),
    (lambda: S.piecewise_constant(boundaries=[-1], values=[1.0, 2.0]), ValueError,
     r"boundaries\[0\] must be an int >= 0, got -1"),
    (lambda: S.piecewise_constant(boundaries=[1], values=[1.0, -2.0]), ValueError,
     r"values\[1\] must be finite and >= 0, got -2\.0"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales={10: -0.5}),
     ValueError, r"boundaries_and_scales\[10\] must be finite and >= 0, got -0\.5"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales={"10": 0.5}),
     TypeError, r"each key of boundaries_and_scales must be an int, got str '10'"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales=[(10, 0.5)]),
     TypeError, r"boundaries_and_scales must be a dict \{boundary: scale\}, got list"),
]


@pytest.mark.parametrize(("build", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_adamw_mask_with_the_wrong_structure_is_rejected():
    opt = O.adamw(0.1, mask=lambda params: (True,))
    params = make_params()
    with pytest.raises(ValueError, match=r"mask\(params\) must have the structure of params"):
        opt.update(params, opt.init(params), params)
