"""Seed 002's single sigmoid neuron, one training step, to full precision (SEEDS.md)."""

import jax
import jax.numpy as jnp
import pytest

import jaxnn
from jaxnn import backprop


@pytest.fixture
def neuron(x64):
    net = jaxnn.Network((2, 1), ("sigmoid",), "quadratic")
    params = (jaxnn.Layer(W=jnp.array([[1.0, -1.0]]), b=jnp.array([-2.0])),)
    x = jnp.array([4.0, 0.5])
    y = jnp.array([1.0])
    return net, params, x, y


def test_forward_quantities(neuron):
    net, params, x, y = neuron
    zs, acts = backprop.forward_pass(net, params, x[None])
    assert float(zs[0][0, 0]) == 1.5
    assert float(acts[-1][0, 0]) == pytest.approx(0.8175744761936437, abs=1e-15)
    # C = ½(y − a)² = 0.01664 exactly; the seed's 0.0162 comes from the rounded a = 0.82.
    assert float(jaxnn.cost(net, params, x, y)) == pytest.approx(0.016639535868011743, abs=1e-15)


def test_every_derivative(neuron):
    net, params, x, y = neuron
    a = float(jaxnn.forward(net, params, x)[0])
    assert a - 1.0 == pytest.approx(-0.18242552380635635, abs=1e-15)  # ∂C/∂a = a − y
    assert a * (1 - a) == pytest.approx(0.14914645207033286, abs=1e-15)  # ∂a/∂z = a(1 − a)
    (delta,) = backprop.deltas(net, params, x, y)
    assert float(delta[0, 0]) == pytest.approx(-0.027208119642790095, abs=1e-15)  # ∂C/∂z
    J, ((gW, gb),) = backprop.value_and_grad(net, params, x, y)
    assert float(gW[0, 0]) == pytest.approx(-0.10883247857116038, abs=1e-15)  # ∂C/∂w1
    assert float(gW[0, 1]) == pytest.approx(-0.013604059821395047, abs=1e-15)  # ∂C/∂w2
    assert float(gb[0]) == pytest.approx(-0.027208119642790095, abs=1e-15)  # ∂C/∂b
    # …and autodiff agrees.
    ((rW, rb),) = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    assert float(rW[0, 0]) == pytest.approx(float(gW[0, 0]), abs=1e-16)
    assert float(rb[0]) == pytest.approx(float(gb[0]), abs=1e-16)


def test_one_step_with_learning_rate_one(neuron):
    net, params, x, y = neuron
    grads = backprop.grad(net, params, x, y)
    params = jax.tree.map(lambda p, g: p - 1.0 * g, params, grads)  # θ ← θ − α ∇J, α = 1
    (W, b), = params
    assert float(W[0, 0]) == pytest.approx(1.1088324785711603, abs=1e-15)
    assert float(W[0, 1]) == pytest.approx(-0.986395940178605, abs=1e-15)
    assert float(b[0]) == pytest.approx(-1.97279188035721, abs=1e-14)
    assert float(jaxnn.forward(net, params, x)[0]) == pytest.approx(0.8775402118686612, abs=1e-15)
