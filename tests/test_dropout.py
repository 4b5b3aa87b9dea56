"""Inverted dropout: BP2 with the forward pass's masks equals jax.grad of the same cost."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import activations, backprop, optimizers, train

HIDDEN = activations.hidden_names()


def _data(m=12, n=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)), (np.arange(m) % k).astype(np.int32)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, cost", [("softmax", "cross_entropy"),
                                          ("sigmoid", "quadratic")])
def test_manual_equals_autodiff_with_the_same_key_float64(x64, hidden, output, cost):
    net = jaxnn.mlp((5, 8, 7, 3), hidden=hidden, output=output, cost=cost, dropout=0.4,
                    l2=0.05)
    params = jaxnn.init_params(jax.random.key(1), net, dtype=jnp.float64)
    x, y = _data()
    key = jax.random.key(7)
    J, grads = backprop.value_and_grad(net, params, x, y, key=key)
    J_ref, grads_ref = jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y, key)
    assert float(J) == pytest.approx(float(J_ref), rel=1e-12)
    chex.assert_trees_all_close(grads, grads_ref, rtol=1e-10, atol=1e-14)


def test_no_key_means_no_dropout_and_a_key_changes_the_cost():
    net = jaxnn.mlp((5, 16, 3), hidden="relu", output="softmax", cost="cross_entropy",
                    dropout=0.5)
    params = jaxnn.init_params(jax.random.key(0), net)
    x, y = _data()
    plain = net.replace(dropout=0.0)
    assert float(jaxnn.cost(net, params, x, y)) == float(jaxnn.cost(plain, params, x, y))
    dropped = float(jaxnn.cost(net, params, x, y, key=jax.random.key(3)))
    assert dropped != float(jaxnn.cost(plain, params, x, y))
    # The same key gives the same masks.
    assert dropped == float(jaxnn.cost(net, params, x, y, key=jax.random.key(3)))


def test_masks_drop_the_rate_and_rescale_the_rest():
    net = jaxnn.mlp((4, 2000, 3), dropout=0.25)
    (D,) = jaxnn.network.dropout_masks(net, jax.random.key(0), 50, jnp.float32)
    assert D.shape == (50, 2000)
    assert float(jnp.mean(D == 0)) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(np.unique(np.asarray(D)), [0.0, 1 / 0.75], rtol=1e-6)


def test_fit_with_dropout_resumes_bit_for_bit():
    net = jaxnn.mlp((5, 12, 3), hidden="tanh", output="softmax", cost="cross_entropy",
                    dropout=0.3)
    params = jaxnn.init_params(jax.random.key(0), net)
    x, y = _data(40)
    opt, key = optimizers.adam(1e-2), jax.random.key(4)
    whole = train.fit(net, params, opt, (x, y), epochs=4, batch_size=8, key=key)
    first = train.fit(net, params, opt, (x, y), epochs=2, batch_size=8, key=key)
    rest = train.fit(net, first.params, opt, (x, y), epochs=4, batch_size=8, key=key,
                     opt_state=first.opt_state, start_epoch=2, history=first.history)
    chex.assert_trees_all_equal(whole.params, rest.params)
    manual = whole.history[-1]["train_cost"]
    auto = train.fit(net, params, opt, (x, y), epochs=4, batch_size=8, key=key,
                     grad="autodiff").history[-1]["train_cost"]
    assert manual == pytest.approx(auto, rel=1e-5)


def test_fit_many_with_dropout_equals_fit():
    net = jaxnn.mlp((5, 12, 3), hidden="relu", output="softmax", cost="cross_entropy",
                    dropout=0.2)
    keys = jax.random.split(jax.random.key(0), 2)
    stacked = jax.vmap(lambda k: jaxnn.init_params(k, net))(keys)
    x, y = _data(32)
    many = train.fit_many(net, stacked, optimizers.sgd(0.1), (x, y), epochs=2, batch_size=8,
                          keys=keys)
    one = train.fit(net, jax.tree.map(lambda a: a[1], stacked), optimizers.sgd(0.1), (x, y),
                    epochs=2, batch_size=8, key=keys[1])
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], many.params), one.params,
                                rtol=1e-5)


def test_raw_uint32_keys_draw_the_masks_of_the_typed_ones():
    """A raw key (jax.random.PRNGKey, shape (2,)) trains with dropout as its typed twin does:
    the per-step keys keep their trailing (2,) when laid out like the minibatches."""
    net = jaxnn.mlp((5, 12, 3), hidden="relu", output="softmax", cost="cross_entropy",
                    dropout=0.2)
    x, y = _data(32)
    params = jaxnn.init_params(jax.random.key(0), net)
    raw = jax.random.PRNGKey(7)
    typed = jax.random.wrap_key_data(raw)
    got = train.fit(net, params, optimizers.sgd(0.1), (x, y), epochs=2, batch_size=8, key=raw)
    want = train.fit(net, params, optimizers.sgd(0.1), (x, y), epochs=2, batch_size=8,
                     key=typed)
    chex.assert_trees_all_equal(got.params, want.params)
    raws = jax.random.split(raw, 2)  # (2, 2) uint32: fit_many's raw form
    stacked = jax.vmap(lambda k: jaxnn.init_params(k, net))(jax.random.split(jax.random.key(1), 2))
    many = train.fit_many(net, stacked, optimizers.sgd(0.1), (x, y), epochs=1, batch_size=8,
                          keys=raws)
    assert all(np.isfinite(h[-1]["train_cost"]) for h in many.histories)


def test_make_step_needs_a_key_with_dropout():
    net = jaxnn.mlp((5, 6, 3), output="softmax", cost="cross_entropy", dropout=0.1)
    params = jaxnn.init_params(jax.random.key(0), net)
    opt = optimizers.sgd(0.1)
    step = train.make_step(net, opt)
    x, y = _data()
    with pytest.raises(ValueError, match=r"key must be a jax.random key: the network drops "
                                         r"hidden units \(dropout = 0.1\)"):
        step(params, opt.init(params), x.astype(np.float32), y)
    params2, _, metrics = step(params, opt.init(params), x.astype(np.float32), y,
                               jax.random.key(1))
    assert np.isfinite(float(metrics["cost"]))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: jaxnn.mlp((3, 4, 2), dropout=1.0), ValueError,
         r"dropout must be a real number in \[0, 1\); got 1.0"),
        (lambda: jaxnn.mlp((3, 4, 2), dropout=-0.1), ValueError,
         r"dropout must be a real number in \[0, 1\); got -0.1"),
        (lambda: jaxnn.mlp((3, 4, 2), dropout="0.2"), TypeError,
         r"dropout must be a real number; got str '0.2'"),
        (lambda: jaxnn.cost(jaxnn.mlp((3, 4, 2), dropout=0.2),
                            jaxnn.init_params(jax.random.key(0), jaxnn.mlp((3, 4, 2))),
                            np.ones((2, 3), np.float32), np.ones((2, 2), np.float32), key=3),
         TypeError, r"key must be a jax.random key; got 3"),
    ],
)
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()
