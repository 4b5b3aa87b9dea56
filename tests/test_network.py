"""Network description, parameters, initialisers, forward/cost, and every bad input."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import activations, backprop, costs


def test_network_is_frozen_hashable_and_static():
    net = jaxnn.mlp([784, 30, 10])
    assert net.sizes == (784, 30, 10) and net.activations == ("sigmoid", "sigmoid")
    assert hash(net) == hash(jaxnn.mlp((784, 30, 10)))
    assert net == jaxnn.Network((784, 30, 10), ("sigmoid", "sigmoid"), "quadratic", 0.0)
    with pytest.raises(AttributeError):
        net.l2 = 1.0
    traces = []

    @jax.jit
    def f(x):
        return x

    g = jax.jit(lambda n, x: (traces.append(1), x * n.num_layers)[1], static_argnums=0)
    g(net, 1.0)
    g(jaxnn.mlp((784, 30, 10)), 2.0)  # an equal description: no retrace
    assert len(traces) == 1
    assert jaxnn.Network.from_dict(net.to_dict()) == net


def test_mlp_builds_hidden_and_output():
    net = jaxnn.mlp((4, 5, 6, 3), hidden="relu", output="softmax", cost="cross_entropy", l2=0.5)
    assert net.activations == ("relu", "relu", "softmax")
    assert net.num_layers == 3 and net.n_in == 4 and net.n_out == 3 and net.l2 == 0.5
    assert jaxnn.num_params(net) == 5 * 4 + 5 + 6 * 5 + 6 + 3 * 6 + 3


@pytest.mark.parametrize(
    "scheme, std",
    [
        ("lecun_normal", lambda n_in, n_out: np.sqrt(1 / n_in)),
        ("he_normal", lambda n_in, n_out: np.sqrt(2 / n_in)),
        ("glorot_normal", lambda n_in, n_out: np.sqrt(2 / (n_in + n_out))),
        ("normal", lambda n_in, n_out: 1.0),
    ],
)
def test_init_scales(scheme, std):
    net = jaxnn.mlp((400, 300, 200))
    params = jaxnn.init_params(jax.random.key(0), net, scheme)
    for (W, b), (n_in, n_out) in zip(params, [(400, 300), (300, 200)]):
        assert W.shape == (n_out, n_in) and b.shape == (n_out,)
        assert W.dtype == jnp.float32
        assert float(jnp.std(W)) == pytest.approx(std(n_in, n_out), rel=0.02)
        assert abs(float(jnp.mean(W))) < 0.01 * std(n_in, n_out) * 10
        if scheme == "normal":
            assert float(jnp.std(b)) == pytest.approx(1.0, rel=0.25)
        else:
            assert not bool(jnp.any(b))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
@pytest.mark.parametrize("scheme", jaxnn.SCHEMES)
def test_init_params_has_the_bits_of_the_eager_draw(scheme, dtype):
    """init_params draws all layers in one compiled program; its parameters equal, bit for
    bit, the scheme's sampler called once outside jit for every entry (W^1 … W^L, then
    Nielsen's b^1 … b^L, end to end), cut in layer order and scaled by eager ops: XLA may not
    fold the scale into the normal sampler's constants."""
    _assert_eager_bits(jaxnn.mlp((13, 9, 8, 6, 3)), jax.random.key(11), scheme, dtype)


@pytest.mark.parametrize("key", [jax.random.PRNGKey(4), jax.random.key(4, impl="rbg")],
                         ids=["raw-threefry", "rbg"])
def test_init_params_has_the_bits_of_the_eager_draw_float64_and_other_keys(x64, key):
    """float64 (64-bit draws), a raw uint32[2] key, and an rbg key."""
    for scheme in ("he_normal", "normal", "uniform"):
        _assert_eager_bits(jaxnn.mlp((7, 9, 8, 2)), key, scheme, jnp.float64)


def test_init_params_layers_are_cuts_of_one_draw():
    """Layer l's weights are the next n_l · n_{l−1} entries of the one draw (row-major), so
    a deeper network of the same first widths starts with the same first layers."""
    key = jax.random.key(5)
    short = jaxnn.init_params(key, jaxnn.mlp((6, 5, 4)), "normal")
    deep = jaxnn.init_params(key, jaxnn.mlp((6, 5, 4, 3)), "normal")
    for l in range(2):
        np.testing.assert_array_equal(np.asarray(short[l].W), np.asarray(deep[l].W))
    flat = jax.random.normal(key, (30 + 20 + 5 + 4,), jnp.float32)
    np.testing.assert_array_equal(np.asarray(short[1].W), np.asarray(flat[30:50].reshape(4, 5)))
    np.testing.assert_array_equal(np.asarray(short[1].b), np.asarray(flat[55:59]))


def _assert_eager_bits(net, key, scheme, dtype):
    from jaxnn import initializers

    s = initializers.INITIALIZERS[scheme]
    compiled = jaxnn.init_params(key, net, scheme, dtype)
    shapes = [w_shape for w_shape, _ in net.shapes()]
    sizes = [n_out * n_in for n_out, n_in in shapes]
    biases = [n_out for n_out, _ in shapes] if s.random_bias else []
    flat = s.draw(key, (sum(sizes) + sum(biases),), dtype, **s.options)  # eager
    ends = np.cumsum([0, *sizes, *biases])
    eager = []
    for l, (n_out, n_in) in enumerate(shapes):
        eager.append(s.finish(flat[ends[l]:ends[l + 1]].reshape(n_out, n_in), n_in, n_out))
        L = len(shapes)
        eager.append(flat[ends[L + l]:ends[L + l + 1]] if s.random_bias
                     else jnp.zeros((n_out,), dtype))
    for got, want in zip(jax.tree.leaves(compiled), eager, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_init_uniform_and_zeros_and_determinism():
    net = jaxnn.mlp((50, 40, 3))
    params = jaxnn.init_params(jax.random.key(1), net, "uniform", epsilon=0.05)
    assert float(jnp.max(jnp.abs(params[0].W))) <= 0.05
    assert float(jnp.max(jnp.abs(params[0].W))) > 0.04
    zeros = jaxnn.init_params(jax.random.key(1), net, "zeros")
    assert not any(bool(jnp.any(p)) for p in jax.tree.leaves(zeros))
    a = jaxnn.init_params(jax.random.key(7), net)
    b = jaxnn.init_params(jax.random.key(7), net)
    c = jaxnn.init_params(jax.random.key(8), net)
    assert all(bool(jnp.array_equal(p, q)) for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert not bool(jnp.array_equal(a[0].W, c[0].W))
    old_style = jaxnn.init_params(jax.random.PRNGKey(7), net)
    assert old_style[0].W.shape == (40, 50)


def test_forward_shapes_and_cost_definition(x64):
    net = jaxnn.mlp((3, 4, 2), hidden="tanh", output="identity", cost="quadratic", l2=0.6)
    params = jaxnn.init_params(jax.random.key(0), net, dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (5, 2), jnp.float64)
    a = jaxnn.forward(net, params, x)
    assert a.shape == (5, 2)
    np.testing.assert_allclose(jaxnn.forward(net, params, x[2]), a[2], rtol=1e-15)
    h = jnp.tanh(x @ params[0].W.T + params[0].b)
    np.testing.assert_allclose(a, h @ params[1].W.T + params[1].b, rtol=1e-14)
    l2 = 0.6 / (2 * 5) * (jnp.sum(params[0].W ** 2) + jnp.sum(params[1].W ** 2))
    want = jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=1)) + l2
    assert float(jaxnn.cost(net, params, x, y)) == pytest.approx(float(want), rel=1e-14)


def test_params_of_another_dtype_set_the_compute_dtype(x64):
    net = jaxnn.mlp((3, 2))
    params = jaxnn.init_params(jax.random.key(0), net, dtype=jnp.float32)
    out = jaxnn.forward(net, params, np.ones((2, 3), np.float64))
    assert out.dtype == jnp.float32


def test_cross_entropy_is_finite_at_extreme_logits():
    net = jaxnn.mlp((2, 3), output="softmax", cost="cross_entropy")
    params = (jaxnn.Layer(jnp.array([[1e4, 0], [-1e4, 0], [0, 0]], jnp.float32), jnp.zeros(3)),)
    x = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    J, g = backprop.value_and_grad(net, params, x, jnp.array([1, 0]))
    assert bool(jnp.isfinite(J)) and float(J) > 1e3
    assert all(bool(jnp.all(jnp.isfinite(t))) for t in jax.tree.leaves(g))


def test_predict_and_accuracy():
    net = jaxnn.mlp((2, 3), output="softmax", cost="cross_entropy")
    params = (jaxnn.Layer(jnp.array([[1.0, 0], [0, 1.0], [-1.0, -1.0]]), jnp.zeros(3)),)
    x = jnp.array([[2.0, 0.0], [0.0, 2.0], [-2.0, -2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(jaxnn.predict(net, params, x), [0, 1, 2, 0])
    assert float(jaxnn.accuracy(net, params, x, jnp.array([0, 1, 2, 1]))) == 0.75
    assert float(jaxnn.accuracy(net, params, x, jax.nn.one_hot(jnp.array([0, 1, 2, 0]), 3))) == 1.0


NET = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
PARAMS = jaxnn.init_params(jax.random.key(0), NET)
X = jnp.ones((5, 3))
Y = jnp.array([0, 1, 0, 1, 1])


def ONE_OF(names):
    """The registry's names as a message lists them (a pattern; derived, never typed): the
    whole list, then its end, or the user components registered so far (other tests in
    the same process may have made some)."""
    return re.escape(", ".join(names)) + r"(\.|; or a user )"


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: jaxnn.mlp((3,)), ValueError, r"sizes needs at least two entries .*got \(3,\)"),
        (lambda: jaxnn.mlp((3, 0, 2)), ValueError, r"every size must be a positive int; got sizes\[1\] = 0"),
        (lambda: jaxnn.mlp((3, -4, 2)), ValueError, r"sizes\[1\] = -4"),
        (lambda: jaxnn.mlp((3, 2.5)), TypeError, r"sizes\[1\] must be a positive int; got 2.5"),
        (lambda: jaxnn.mlp("784,10"), TypeError, r"sizes must be a sequence of layer widths"),
        (lambda: jaxnn.mlp((3, 2), hidden="sigmoidd"), ValueError, r"unknown activation 'sigmoidd'; expected one of: " + ONE_OF(activations.NAMES)),
        (lambda: jaxnn.mlp((3, 2, 2), hidden="sigmoidd"), ValueError, r"unknown activation 'sigmoidd'"),
        (lambda: jaxnn.mlp((3, 2), cost="mse"), ValueError, r"unknown cost 'mse'; expected one of: " + ONE_OF(costs.NAMES)),
        (lambda: jaxnn.mlp((3, 4, 2), hidden="softmax"), ValueError, r"softmax is an output activation; layer 1 of 2 is hidden"),
        (lambda: jaxnn.mlp((3, 2), output="tanh", cost="binary_cross_entropy"), ValueError, r"the cost 'binary_cross_entropy' needs an output activation among sigmoid; got 'tanh'"),
        (lambda: jaxnn.mlp((3, 2), output="relu", cost="cross_entropy"), ValueError, "the cost 'cross_entropy' needs an output activation among " + ", ".join(jaxnn.costs.valid_outputs("cross_entropy")) + "; got 'relu'"),
        (lambda: jaxnn.mlp((3, 2), l2=-1.0), ValueError, r"l2 must be finite and ≥ 0; got -1.0"),
        (lambda: jaxnn.mlp((3, 2), l2=float("nan")), ValueError, r"l2 must be finite and ≥ 0; got nan"),
        (lambda: jaxnn.Network((3, 4, 2), ("tanh",), "quadratic"), ValueError, r"expected 2 activation names .* got 1"),
        (lambda: jaxnn.init_params(jax.random.key(0), NET, "xavier"), ValueError, r"unknown init scheme 'xavier'; expected one of: " + ONE_OF(jaxnn.SCHEMES)),
        (lambda: jaxnn.init_params(jax.random.key(0), NET, "uniform", epsilom=0.1), TypeError, r"init scheme 'uniform' takes epsilon; got unexpected option\(s\) epsilom"),
        (lambda: jaxnn.init_params(jax.random.key(0), NET, "uniform", epsilon=0), ValueError, r"the uniform scheme's epsilon must be finite and > 0; got 0.0"),
        (lambda: jaxnn.init_params(0, NET), TypeError, r"key must be a jax.random key; got 0"),
        (lambda: jaxnn.init_params(jax.random.key(0), (3, 2)), TypeError, r"net must be a jaxnn.Network; got tuple"),
        (lambda: jaxnn.forward(NET, PARAMS, jnp.ones((5, 4))), ValueError, r"x's last dimension must be n_0 = 3 \(sizes \(3, 4, 2\)\); got shape \(5, 4\)"),
        (lambda: jaxnn.forward(NET, PARAMS, jnp.ones((5, 3, 1))), ValueError, r"x must have shape \(m, 3\) or \(3,\); got \(5, 3, 1\)"),
        (lambda: jaxnn.forward(NET, PARAMS, jnp.ones((5, 3), jnp.int32)), TypeError, r"x must be floating point; got dtype int32"),
        (lambda: jaxnn.forward(NET, PARAMS, jnp.ones((0, 3))), ValueError, r"x is empty"),
        (lambda: jaxnn.forward(NET, PARAMS, X.at[2, 1].set(jnp.nan)), ValueError, r"x contains NaN or Inf"),
        (lambda: jaxnn.forward(NET, PARAMS, X.at[2, 1].set(jnp.inf)), ValueError, r"x contains NaN or Inf"),
        (lambda: jaxnn.cost(NET, PARAMS, X, jnp.ones((5, 3))), ValueError, r"y must be shaped like the output, \(5, 2\); got \(5, 3\)"),
        (lambda: jaxnn.cost(NET, PARAMS, X, jnp.array([0, 1, 2, 0, 1])), ValueError, r"labels must lie in \[0, 2\) for a network with n_L = 2 outputs; got values from 0 to 2"),
        (lambda: jaxnn.cost(NET, PARAMS, X, jnp.array([0, -1, 1, 0, 1])), ValueError, r"got values from -1 to 1"),
        (lambda: jaxnn.cost(NET, PARAMS, X, jnp.array([0, 1, 1])), ValueError, r"integer labels must have shape \(5,\)"),
        (lambda: jaxnn.cost(NET, PARAMS, X, jnp.ones((5, 2)).at[0, 0].set(jnp.nan)), ValueError, r"y contains NaN or Inf"),
        (lambda: jaxnn.cost(NET, PARAMS[:1], X, Y), ValueError, r"the network has 2 layers \(sizes \(3, 4, 2\)\) but params has 1 entries"),
        (lambda: jaxnn.cost(NET, (PARAMS[0], jaxnn.Layer(jnp.ones((2, 5)), jnp.ones(2))), X, Y), ValueError, r"params\[1\].W \(layer 2, 4 → 2\) has shape \(2, 5\); the network expects \(2, 4\)"),
        (lambda: jaxnn.cost(NET, (jaxnn.Layer(PARAMS[0].W, jnp.ones(3)), PARAMS[1]), X, Y), ValueError, r"params\[0\].b \(layer 1, 3 → 4\) has shape \(3,\); the network expects \(4,\)"),
        (lambda: jaxnn.cost(NET, (PARAMS[0], jaxnn.Layer(PARAMS[1].W.astype(jnp.int32), PARAMS[1].b)), X, Y), TypeError, r"params\[1\].W \(layer 2\) must be floating point; got int32"),
        (lambda: jaxnn.cost(NET, {"W": 1}, X, Y), TypeError, r"params must be a tuple of Layer\(W, b\)"),
        (lambda: backprop.value_and_grad(NET, PARAMS, jnp.ones((5, 4)), Y), ValueError, r"x's last dimension must be n_0 = 3"),
        (lambda: backprop.deltas(NET, PARAMS, X, jnp.array([0, 1, 2, 0, 1])), ValueError, r"labels must lie in \[0, 2\)"),
        (lambda: jaxnn.accuracy(NET, PARAMS, X[0], Y[:1]), ValueError, r"accuracy needs a batch x of shape \(m, n_0\)"),
    ],
)
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_input_is_caught_before_tracing():
    """Shape errors inside a user's jit surface as our ValueError, not an XLA error."""
    f = jax.jit(jaxnn.cost, static_argnums=0)
    with pytest.raises(ValueError, match=r"x's last dimension must be n_0 = 3"):
        f(NET, PARAMS, jnp.ones((5, 4)), Y)


def test_closed_over_arrays_inside_jit_and_vmap():
    """Value checks are skipped (not crashed) when a closed-over array is read in a trace;
    shape checks still run."""
    net = jaxnn.mlp((3, 2), output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(0), net)
    x = np.ones((4, 3), np.float32)
    y = np.array([0, 1, 1, 0])
    t = np.eye(2, dtype=np.float32)[y]
    want = float(jaxnn.cost(net, params, x, y))
    assert float(jax.jit(lambda p: jaxnn.cost(net, p, x, y))(params)) == pytest.approx(want)
    assert float(jax.jit(lambda p: jaxnn.cost(net, p, x, t))(params)) == pytest.approx(want)
    assert float(jax.jit(lambda: jaxnn.cost(net, params, x, y))()) == pytest.approx(want)
    jax.jit(lambda p: backprop.value_and_grad(net, p, jnp.asarray(x), y))(params)
    jax.vmap(lambda xi: jaxnn.forward(net, params, xi))(jnp.asarray(x))
    with pytest.raises(ValueError, match=r"x's last dimension must be n_0 = 3"):
        jax.jit(lambda p: jaxnn.cost(net, p, np.ones((4, 5), np.float32), y))(params)


# ---------------------------------------------------------------------------------------
# Memory: forward, predict and accuracy refuse, before allocating, an x whose activations
# cannot fit (jaxnn.memory.check_forward, from the shapes alone).

WIDE = jaxnn.mlp((3, 100_000, 2), hidden="tanh", output="softmax", cost="cross_entropy")


def _wide_rows(n):
    """n rows of x and labels as zero-copy broadcasts: nothing is allocated."""
    return (np.broadcast_to(np.zeros(3, np.float32), (n, 3)),
            np.broadcast_to(np.zeros((), np.int32), (n,)))


@pytest.mark.parametrize("call", ["forward", "predict", "accuracy", "forward_pass"])
def test_a_forward_pass_over_the_memory_limit_is_refused(call, monkeypatch):
    params = jaxnn.init_params(jax.random.key(0), WIDE)
    x, y = _wide_rows(10**7)  # X, Z, A and Δ of 10^7 × 100,000 float32: 10.9 TiB
    fn = {"forward": lambda: jaxnn.forward(WIDE, params, x),
          "predict": lambda: jaxnn.predict(WIDE, params, x),
          "accuracy": lambda: jaxnn.accuracy(WIDE, params, x, y),
          "forward_pass": lambda: backprop.forward_pass(WIDE, params, x)}[call]
    with pytest.raises(ValueError, match=r"^a forward pass of 10000000 rows through a "
                       r"3-100000-2 network would take about 10\.9 TiB; the memory limit is "
                       r".*\. Fix: fewer rows at once \(e\.g\. in chunks\), or a smaller network"):
        fn()
    with pytest.raises(ValueError, match=r"^a forward and backward pass of 10000000 rows"):
        jaxnn.cost(WIDE, params, x, y)  # J is usually differentiated: the batch estimate
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "100M")  # 1000 rows: 1.1 GiB
    with pytest.raises(ValueError, match=r"would take about 1\.1 GiB; the memory limit is "
                       r"100\.0 MiB \(JAXNN_MEMORY_LIMIT\)"):
        jaxnn.forward(WIDE, params, _wide_rows(1000)[0])
    assert jaxnn.forward(WIDE, params, _wide_rows(10)[0]).shape == (10, 2)


def test_the_forward_memory_check_runs_at_trace_time_inside_jit():
    """Shapes are static under jit: the check costs nothing per call and still refuses."""
    params = jaxnn.init_params(jax.random.key(0), WIDE)
    f = jax.jit(jaxnn.forward, static_argnums=0)
    with pytest.raises(ValueError, match=r"^a forward pass of 10000000 rows"):
        jax.eval_shape(lambda x: f(WIDE, params, x),
                       jax.ShapeDtypeStruct((10**7, 3), jnp.float32))
    small = jaxnn.init_params(jax.random.key(0), NET)
    np.testing.assert_allclose(f(NET, small, X), jaxnn.forward(NET, small, X), rtol=1e-6)
    assert jax.vmap(lambda xi: jaxnn.forward(NET, small, xi))(X).shape == (5, 2)
