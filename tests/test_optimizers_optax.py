"""jaxnn optimizers against optax: trajectories, and the adapters between the two.

Each optimizer's 100-step float64 trajectory equals its optax equivalent's. jaxnn's
``update`` returns new parameters, optax's returns updates: the adapters of
jaxnn.optimizers.interop convert between the two contracts (an adapter changes nothing
but the contract: trajectories equal jaxnn's own, or optax's), and a jaxnn Optimizer
given to optax directly is refused instead of doubling the parameters.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_optimizers import make_params, quadratic, trajectory, weights_only

from jaxnn import optimizers as O
from jaxnn import schedules as S

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


def noisy_quadratic_trajectories(ours, ref, steps=100):
    """``steps`` updates of a jaxnn optimizer and of an optax transformation on the float64
    quadratic's gradients plus fresh noise each step (so they vary in size and sign), in
    one compilation; returns ((our final state, our params after each step), optax's)."""
    params = make_params(jnp.float64)
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
        (_, state), got = trajectory(ours_step, params, ours.init(params), noises)
        (_, ref_state), want = trajectory(ref_step, params, ref.init(params), noises)
        return (state, got), (ref_state, want)

    return jax.jit(both)()


@pytest.mark.parametrize("name", OPTAX_PAIRS)
def test_trajectory_equals_optax(x64, name):
    ours, ref = (make() for make in OPTAX_PAIRS[name])
    (state, got), (_, want) = noisy_quadratic_trajectories(ours, ref)
    chex.assert_type(jax.tree.leaves(got), jnp.float64)
    if name == "sgd":
        chex.assert_trees_all_equal(got, want)  # The same operations: bit for bit.
    else:
        chex.assert_trees_all_close(got, want, rtol=1e-12, atol=1e-14)
    assert int(state.count) == 100


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
    chex.assert_type(jax.tree.leaves(got), jnp.float32)
    chex.assert_type(jax.tree.leaves(want), jnp.float64)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------
# The adapters.

REFUSED = r"must be an optax GradientTransformation.*Fix: wrap it: .*as_gradient_transformation"


# jaxnn optimizer -> optax contract: (the jaxnn optimizer, the optax transformation made
# of it). Every registered optimizer, then chains with optax's clipping and schedules.
AS_TRANSFORMATION = {
    name: (lambda name=name: O.get(name, LR),
           lambda name=name: O.as_gradient_transformation(O.get(name, LR)))
    for name in O.NAMES
} | {
    "clip+adam(schedule)": (
        lambda: O.clip_by_global_norm(1.0, O.adam(SCHEDULE)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0),
                            O.as_gradient_transformation(O.adam(SCHEDULE))),
    ),
    # adam with α = 1, then optax scales its step by the schedule: α_t V̂ / (√Ŝ + ε).
    "clip+adam+scale_by_schedule": (
        lambda: O.clip_by_global_norm(1.0, O.adam(SCHEDULE)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0),
                            O.as_gradient_transformation(O.adam(1.0)),
                            optax.scale_by_schedule(SCHEDULE)),
    ),
}


@pytest.mark.parametrize("name", AS_TRANSFORMATION)
def test_as_gradient_transformation_follows_jaxnns_trajectory(x64, name):
    ours, tx = (make() for make in AS_TRANSFORMATION[name])
    (_, own), (_, via_optax) = noisy_quadratic_trajectories(ours, tx)
    chex.assert_type(jax.tree.leaves(via_optax), jnp.float64)
    # updates = new − old, then old + updates: one rounding of the parameters per step.
    chex.assert_trees_all_close(via_optax, own, rtol=1e-12, atol=1e-14)


# optax transformation -> jaxnn contract.
FROM_TRANSFORMATION = {
    "adam": lambda: optax.adam(LR),
    "clip+adam(schedule)": lambda: optax.chain(optax.clip_by_global_norm(1.0),
                                               optax.adam(SCHEDULE)),
    "injected sgd": lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=SCHEDULE),
}


@pytest.mark.parametrize("name", FROM_TRANSFORMATION)
def test_from_gradient_transformation_equals_optax(x64, name):
    tx = FROM_TRANSFORMATION[name]()
    opt = O.from_gradient_transformation(tx)
    assert isinstance(opt, O.Optimizer)
    (state, got), (_, want) = noisy_quadratic_trajectories(opt, tx)
    chex.assert_trees_all_equal(got, want)  # the same operations: bit for bit
    assert isinstance(state, O.TransformationState) and int(state.count) == 100


def test_a_wrapped_transformation_has_jaxnns_state_and_composes():
    params = make_params()
    grads = jax.tree.map(lambda p: 10 * jnp.ones_like(p), params)
    plain = O.from_gradient_transformation(optax.sgd(0.1))
    state = plain.init(params)
    assert int(state.count) == 0 and jnp.isnan(O.learning_rate(state))  # optax hides it
    injected = O.from_gradient_transformation(optax.inject_hyperparams(optax.sgd)(0.1))
    assert float(O.learning_rate(injected.init(params))) == pytest.approx(0.1)
    # jaxnn's clipping around optax's sgd equals jaxnn's own clipped sgd.
    clipped = O.clip_by_global_norm(1.0, plain)
    got, _ = clipped.update(grads, clipped.init(params), params)
    own = O.clip_by_global_norm(1.0, O.sgd(0.1))
    want, _ = own.update(grads, own.init(params), params)
    chex.assert_trees_all_close(got, want, rtol=1e-6)
    with pytest.raises(TypeError, match=r"state must be this optimizer's own state, "
                       r"TransformationState; got SgdState"):
        plain.update(grads, O.sgd(0.1).init(params), params)


def test_fit_takes_a_jaxnn_wrapper_around_an_optax_optimizer():
    """clip_by_global_norm(as_optimizer(optax.sgd)): the rate inside is optax's, unknown
    (NaN by design) — neither refused at the start nor flagged as a bad rate per step."""
    import jaxnn
    from jaxnn import train

    net = jaxnn.mlp((4, 6, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32).astype(np.int32)
    params = jaxnn.init_params(jax.random.key(0), net)
    wrapped = O.clip_by_global_norm(1.0, O.as_optimizer(optax.sgd(0.1)))
    r = train.fit(net, params, wrapped, (x, y), epochs=2, batch_size=8, key=jax.random.key(1))
    ref = train.fit(net, params, O.as_optimizer(optax.chain(optax.clip_by_global_norm(1.0),
                                                            optax.sgd(0.1))),
                    (x, y), epochs=2, batch_size=8, key=jax.random.key(1))
    chex.assert_trees_all_close(r.params, ref.params, rtol=1e-6)


def test_as_optimizer_takes_either_kind():
    sgd = O.sgd(0.1)
    assert O.as_optimizer(sgd) is sgd
    assert isinstance(O.as_optimizer(optax.sgd(0.1)), O.Optimizer)
    params = make_params()
    wrapped = O.as_optimizer(optax.sgd(0.1))
    got, _ = wrapped.update(params, wrapped.init(params), params)
    want, _ = sgd.update(params, sgd.init(params), params)
    chex.assert_trees_all_close(got, want, rtol=1e-6)


# ---------------------------------------------------------------------------
# A jaxnn Optimizer where optax expects a GradientTransformation: refused, never doubled.


def test_optax_refuses_a_jaxnn_optimizer_instead_of_doubling_the_parameters():
    params = make_params()
    grads = jax.tree.map(jnp.ones_like, params)
    sgd = O.sgd(0.1)
    with pytest.raises(TypeError, match=REFUSED):
        optax.chain(optax.identity(), sgd).init(params)
    chain = optax.chain(optax.identity(), sgd)
    state = (optax.identity().init(params), sgd.init(params))  # made outside optax
    with pytest.raises(TypeError, match=REFUSED):
        chain.update(grads, state, params)
    with pytest.raises(TypeError, match=REFUSED):
        jax.jit(chain.update)(grads, state, params)
    with pytest.raises(TypeError, match=REFUSED):
        optax.MultiSteps(O.adam(0.1), every_k_schedule=2).init(params)
    # The adapter in the same place: optax.apply_updates gives sgd's parameters.
    tx = optax.chain(optax.identity(), O.as_gradient_transformation(sgd))
    updates, _ = tx.update(grads, tx.init(params), params)
    want, _ = sgd.update(grads, sgd.init(params), params)
    chex.assert_trees_all_close(optax.apply_updates(params, updates), want, rtol=1e-6)


BAD_INPUTS = [
    (lambda: O.as_gradient_transformation(optax.sgd(0.1)), TypeError,
     r"opt must be a jaxnn Optimizer; got GradientTransformationExtraArgs"),
    (lambda: O.as_gradient_transformation(O.sgd(0.1)).update(
        make_params(), O.sgd(0.1).init(make_params())), TypeError,
     r"params must be the current parameters .*; got NoneType"),
    (lambda: O.from_gradient_transformation(O.sgd(0.1)), TypeError,
     r"tx must be an optax-style GradientTransformation; got Optimizer.* use it as is"),
    (lambda: O.from_gradient_transformation(optax.adam), TypeError,
     r"tx must be an optax-style GradientTransformation .*; got function.* call it first"),
    (lambda: O.as_optimizer("adam"), TypeError,
     r"opt must be a jaxnn Optimizer or an optax-style GradientTransformation .*; got str "
     r"'adam'\. Fix: build it: jaxnn\.optimizers\.get\('adam', 1e-3\)"),
]


@pytest.mark.parametrize(("build", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()
