"""Every g' against jax.grad of g, every ∇_a C against jax.grad of C (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations, costs

ELEMENTWISE = [n for n in activations.NAMES if n != "softmax"]


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
    # Seed 004 prints ReLU's derivative as ReLU; ReLU(z) = max(0, z).
    z = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activations.get("relu").fn(z), [0.0, 0.0, 3.0])


@pytest.mark.parametrize("name", ["sigmoid", "softmax"])
def test_log_forms_equal_log_of_the_activation(x64, name):
    g = activations.get(name)
    z = _z(scale=2.0)
    np.testing.assert_allclose(g.log_fn(z), jnp.log(g.fn(z)), rtol=1e-12)
    if g.log1m_fn is not None:
        np.testing.assert_allclose(g.log1m_fn(z), jnp.log1p(-g.fn(z)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
@pytest.mark.parametrize("name", ["sigmoid", "softmax"])
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
    return a, y


@pytest.mark.parametrize("name", costs.NAMES)
def test_cost_gradient_equals_jax_grad(x64, name):
    c = costs.get(name)
    a, y = _a_y(name)
    want = jax.vmap(jax.grad(c.fn))(a, y)
    np.testing.assert_allclose(c.grad(a, y), want, rtol=1e-13, atol=1e-15)


def test_binary_cross_entropy_has_its_minus_sign(x64):
    # Seed 001 drops the minus sign; the cost of a confident right answer is small and > 0.
    c = costs.get("binary_cross_entropy")
    assert 0 < float(c.fn(jnp.array([0.99]), jnp.array([1.0]))) < 0.011
    # …and grows when the answer is wrong (seed 003 says it decreases: it increases).
    assert float(c.fn(jnp.array([0.01]), jnp.array([1.0]))) > 4.0


@pytest.mark.parametrize("name", ["binary_cross_entropy", "cross_entropy"])
def test_from_log_equals_fn(x64, name):
    c = costs.get(name)
    a, y = _a_y(name)
    np.testing.assert_allclose(c.from_log(jnp.log(a), jnp.log1p(-a), y), c.fn(a, y), rtol=1e-13)


@pytest.mark.parametrize(
    "lookup, bad, message",
    [
        (activations.get, "sigmoidd", r"unknown activation 'sigmoidd'; expected one of: sigmoid"),
        (costs.get, "mse", r"unknown cost 'mse'; expected one of: quadratic"),
        (activations.get, 3, r"an activation name must be a string such as 'sigmoid'"),
        (costs.get, None, r"a cost name must be a string such as 'quadratic'"),
    ],
)
def test_unknown_names(lookup, bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        lookup(bad)
