"""Every g' against jax.grad of g, every ∇_a C against jax.grad of C (float64).

The lists come from the registries, so a new activation or cost is tested without an edit
here; the modern ones (softplus, ELU, SiLU, GELU, GELU-tanh, Huber) also get their values
checked against jax.nn's and their tails checked in every float dtype."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations, costs

ELEMENTWISE = [n for n in activations.NAMES if activations.get(n).deriv is not None]
# jax.nn's own implementations: the values the hand-written functions must reproduce.
JAX_NN = {
    "softplus": jax.nn.softplus,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),
}
TAILS = [-1e300, -1e30, -1e4, -745.0, -100.0, -30.0, -1e-300, 0.0, 1e-300, 30.0, 100.0, 745.0,
         1e4, 1e30, 1e300]


def _z(shape=(5, 7), scale=3.0, key=0):
    z = scale * jax.random.normal(jax.random.key(key), shape, jnp.float64)
    return z.at[0, 0].set(0.0)  # include the kink of relu / leaky_relu


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_equals_jax_grad(x64, name):
    g = activations.get(name)
    z = _z()
    want = jax.vmap(jax.vmap(jax.grad(g.fn)))(z)
    got = g.deriv(z, g.fn(z))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(JAX_NN))
def test_modern_activations_equal_jax_nn(x64, name):
    z = jnp.linspace(-12.0, 12.0, 241)
    got, want = activations.get(name).fn(z), JAX_NN[name](z)
    # Absolute near 0: jax.nn.gelu(approximate=True) forms 1 + tanh u, which cancels for
    # z ≪ 0 (it gives −0 where z σ(2u) ≈ −1e−61, off by up to 3e−15 at z ≈ −6).
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_in_the_tails_and_at_zero(x64, name):
    """g and g' finite at 0, ±1e−300 and out to ±1e300, and g' equal to jax.grad there
    (softplus' σ(z) must not be e^z/(1 + e^z); GELU-tanh's z³ must not reach sech² as ∞)."""
    g = activations.get(name)
    z = jnp.array(TAILS, jnp.float64)
    a = g.fn(z)
    got, want = g.deriv(z, a), jax.vmap(jax.grad(g.fn))(z)
    assert bool(jnp.all(jnp.isfinite(a))) and bool(jnp.all(jnp.isfinite(got)))
    # atol against the derivative's size (≈ 1): autodiff of ELU's expm1 takes e^z as
    # expm1(z) + 1, which cancels at z = −30 (ours: e^z itself).
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_tails_finite_in_every_float_dtype(name, dtype):
    g = activations.get(name)
    big = float(jnp.finfo(dtype).max) / 2
    z = jnp.array([-big, -1e4 if dtype != jnp.float16 else -6e4, -30.0, -1.0, 0.0, 1.0, 30.0,
                   1e4 if dtype != jnp.float16 else 6e4, big], dtype)
    a = g.fn(z)
    assert a.dtype == dtype and bool(jnp.all(jnp.isfinite(a)))
    assert bool(jnp.all(jnp.isfinite(g.deriv(z, a))))
    assert bool(jnp.all(jnp.isfinite(jax.vmap(jax.grad(g.fn))(z))))


def test_modern_derivatives_at_landmarks(x64):
    """The hand-derived values at z = 0 and in the tails."""
    d = {n: activations.get(n) for n in JAX_NN}
    z = jnp.array([0.0, 40.0, -40.0], jnp.float64)
    at = {n: g.deriv(z, g.fn(z)) for n, g in d.items()}
    np.testing.assert_allclose(at["softplus"], [0.5, 1.0, np.exp(-40.0)], rtol=1e-15)
    np.testing.assert_allclose(at["elu"], [1.0, 1.0, np.exp(-40.0)], rtol=1e-15)
    np.testing.assert_allclose(at["silu"], [0.5, 1.0, -39 * np.exp(-40.0)], rtol=1e-13)
    np.testing.assert_allclose(at["gelu"], [0.5, 1.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(at["gelu_tanh"], [0.5, 1.0, 0.0], atol=1e-300)


@pytest.mark.parametrize("name", activations.NAMES)
def test_vjp_equals_jax_vjp(x64, name):
    g = activations.get(name)
    z = _z()
    u = jax.random.normal(jax.random.key(7), z.shape, jnp.float64)
    _, vjp = jax.vjp(g.fn, z)
    np.testing.assert_allclose(g.vjp(z, g.fn(z), u), vjp(u)[0], rtol=1e-13, atol=1e-15)


def test_softmax_jacobian_is_a_i_delta_ij_minus_a_j(x64):
    z = 2.0 * jax.random.normal(jax.random.key(1), (6,), jnp.float64)
    a = activations.get("softmax").fn(z)
    want = jnp.diag(a) - jnp.outer(a, a)  # a_i (δ_ij − a_j)
    np.testing.assert_allclose(jax.jacobian(activations.get("softmax").fn)(z), want, atol=1e-15)


def test_relu_is_max_not_its_derivative():
    # The neural-network notes print ReLU's derivative as ReLU; ReLU(z) = max(0, z).
    z = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activations.get("relu").fn(z), [0.0, 0.0, 3.0])


# The activations with stable log forms, and the costs computed from them (the registries say).
LOG_FORMS = [n for n in activations.NAMES if activations.get(n).log_fn is not None]
FROM_LOG = [n for n in costs.NAMES if costs.get(n).from_log is not None]


def test_the_log_forms_are_where_the_cross_entropies_need_them():
    assert {"sigmoid", "softmax"} <= set(LOG_FORMS)
    assert {"binary_cross_entropy", "cross_entropy"} <= set(FROM_LOG)
    for name in FROM_LOG:  # every output a cost computed from logs accepts has its fields
        for out in costs.valid_outputs(name):
            assert all(getattr(activations.get(out), f) is not None
                       for f in costs.get(name).needs), (name, out)


@pytest.mark.parametrize("name", LOG_FORMS)
def test_log_forms_equal_log_of_the_activation(x64, name):
    g = activations.get(name)
    z = _z(scale=2.0)
    np.testing.assert_allclose(g.log_fn(z), jnp.log(g.fn(z)), rtol=1e-12)
    if g.log1m_fn is not None:
        np.testing.assert_allclose(g.log1m_fn(z), jnp.log1p(-g.fn(z)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
@pytest.mark.parametrize("name", LOG_FORMS)
def test_log_forms_finite_at_extreme_logits(name, dtype):
    g = activations.get(name)
    z = jnp.array([[-1e4, 0.0, 1e4]], dtype)
    assert bool(jnp.all(jnp.isfinite(g.log_fn(z))))
    if g.log1m_fn is not None:
        assert bool(jnp.all(jnp.isfinite(g.log1m_fn(z))))


def _a_y(name):
    k1, k2 = jax.random.split(jax.random.key(3))
    a = jax.random.uniform(k1, (6, 4), jnp.float64, 0.05, 0.95)
    y = jax.random.uniform(k2, (6, 4), jnp.float64)
    if name == "cross_entropy":
        y = jax.nn.one_hot(jnp.arange(6) % 4, 4, dtype=jnp.float64)
    if not costs.get(name).probabilities:  # outputs and targets beyond [0, 1] too
        a, y = 4 * a - 2, 4 * y - 2
    return a, y


@pytest.mark.parametrize("name", costs.NAMES)
def test_cost_gradient_equals_jax_grad(x64, name):
    c = costs.get(name)
    a, y = _a_y(name)
    want = jax.vmap(jax.grad(c.fn))(a, y)
    np.testing.assert_allclose(c.grad(a, y), want, rtol=1e-13, atol=1e-15)


def test_huber_is_quadratic_then_linear(x64):
    c = costs.get("huber")
    r = jnp.array([[-1e300, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 1e300]])
    y = jnp.zeros_like(r)
    want_h = np.array([1e300, 2.5, 0.5, 0.125, 0.0, 0.125, 0.5, 2.5, 1e300])
    np.testing.assert_allclose(c.fn(r, y), [want_h.sum()], rtol=1e-15)
    np.testing.assert_allclose(c.grad(r, y), [[-1, -1, -1, -0.5, 0, 0.5, 1, 1, 1]])
    np.testing.assert_array_equal(jax.grad(lambda a: c.fn(a, y).sum())(r), c.grad(r, y))
    # δ = 1 is the point where the two pieces meet with equal value and slope.
    np.testing.assert_allclose(c.fn(jnp.array([[1.0]]), jnp.array([[0.0]])), [0.5])


def test_binary_cross_entropy_has_its_minus_sign(x64):
    # The maths.md cheat sheet drops the minus sign; the cost of a confident right answer is
    # small and > 0.
    c = costs.get("binary_cross_entropy")
    assert 0 < float(c.fn(jnp.array([0.99]), jnp.array([1.0]))) < 0.011
    # …and grows when the answer is wrong (the notes after Andrew Ng's course say it
    # decreases: it increases).
    assert float(c.fn(jnp.array([0.01]), jnp.array([1.0]))) > 4.0


@pytest.mark.parametrize("name", FROM_LOG)
def test_from_log_equals_fn(x64, name):
    c = costs.get(name)
    a, y = _a_y(name)
    np.testing.assert_allclose(c.from_log(jnp.log(a), jnp.log1p(-a), y), c.fn(a, y), rtol=1e-13)


@pytest.mark.parametrize(
    "lookup, bad, message",
    [
        (activations.get, "sigmoidd",
         r"unknown activation 'sigmoidd'; expected one of: " + re.escape(", ".join(activations.NAMES))),
        (costs.get, "mse", r"unknown cost 'mse'; expected one of: " + re.escape(", ".join(costs.NAMES))),
        (activations.get, 3, r"an activation name must be a string such as 'sigmoid'"),
        (costs.get, None, r"a cost name must be a string such as 'quadratic'"),
    ],
)
def test_unknown_names(lookup, bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        lookup(bad)
