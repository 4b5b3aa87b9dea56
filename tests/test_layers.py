"""Layer norm, batch norm and skip connections: the hand-written backward pass ((N1)–(N3),
BP2 with the skip term) against jax.grad of the training-mode cost, evaluation mode, the
population statistics, and the refusals.

The float64 matrix is a pairwise covering array (built here, greedily) over norm ×
residual × hidden activation × (output, cost) pair × depth × batch size × L2 × dropout:
every level of each factor meets every level of every other at least once, except hidden
activation × (output, cost) pair, which tests/test_backprop.py covers for plain networks
and which the new layers do not couple (the normalisation sees only Δ̃ = ∂J/∂Z̃). For the
same reason the pairs here are those whose BP1 differs in kind: each cost with the first
and last of its outputs in the registry (the fused sigmoid and softmax cross entropies
among them), identity + quadratic (fused) and softmax + quadratic (the softmax VJP).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _pairwise import pairs_of, pairwise, required_pairs

import jaxnn
from jaxnn import activations, backprop, costs, network, privacy
from jaxnn.architecture import BatchNormLayer, Layer, NormLayer
from jaxnn.gradcheck import rel_diff

HIDDEN = list(activations.hidden_names())
PAIRS = sorted({(outs[i], c) for c in costs.NAMES
                for outs in [costs.valid_outputs(c)] for i in (0, -1)}
               | {("identity", "quadratic"), ("softmax", "quadratic")})
N_IN, N_OUT = 4, 3
# A depth-L network: sizes WIDTHS[L]. Depth 5 has a skip on layer 2, a width change on
# layer 3 (no skip there), and a skip on layer 4.
WIDTHS = {2: (N_IN, 6, N_OUT), 3: (N_IN, 6, 6, N_OUT), 5: (N_IN, 6, 6, 5, 5, N_OUT)}
FACTORS = {
    "norm": (None, "layer", "batch"),
    "residual": (False, True),
    "hidden": HIDDEN,
    "pair": PAIRS,
    "depth": tuple(WIDTHS),
    "m": (1, 8),
    "l2": (0.0, 0.7),
    "dropout": (0.0, 0.3),
}
UNCOUPLED = {("hidden", "pair")}  # covered by tests/test_backprop.py


def _allowed(row) -> bool:
    """A residual network needs two equal hidden widths (depth ≥ 3)."""
    return not (row.get("residual") and row.get("depth", 3) < 3)


MATRIX = pairwise(FACTORS, _allowed, UNCOUPLED)


def _net(row, dtype_key=0):
    output, cost = row["pair"]
    depth = row["depth"]
    return jaxnn.Network(WIDTHS[depth], (row["hidden"],) * (depth - 1) + (output,), cost,
                         row["l2"], row["dropout"], row["norm"], row["residual"])


def _problem(net, m, dtype, key=0):
    """Parameters away from their initial values (γ ≠ 1, β ≠ 0, b ≠ 0), inputs, targets."""
    kp, kq, kx, ky = jax.random.split(jax.random.key(key), 4)
    params = jaxnn.init_params(kp, net, "glorot_normal", dtype=dtype)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(kq, len(leaves))
    params = jax.tree.unflatten(tree, [a + 0.3 * jax.random.normal(k, a.shape, dtype)
                                       for a, k in zip(leaves, keys)])
    x = jax.random.normal(kx, (m, net.n_in), dtype)
    if net.cost == "cross_entropy" and net.activations[-1] == "softmax":
        y = jax.random.randint(ky, (m,), 0, net.n_out)
    elif net.cost == "huber":
        y = jax.random.uniform(ky, (m, net.n_out), dtype, -2.0, 2.0)
    else:
        y = jax.random.uniform(ky, (m, net.n_out), dtype)
    return params, x, y


def _assert_same(manual, reference, rtol):
    """As tests/test_backprop.py: normwise relative difference ≤ rtol per array, or an
    array zero up to round-off (batch norm's ∂J/∂b is Σ_rows Δ = 0 in exact arithmetic)."""
    J, grads = manual
    J_ref, grads_ref = reference
    assert rel_diff(J, J_ref) <= rtol
    assert jax.tree.structure(grads) == jax.tree.structure(grads_ref)
    scale = max(1.0, max(float(jnp.max(jnp.abs(r))) for r in jax.tree.leaves(grads_ref)))
    floor = 100 * float(jnp.finfo(J.dtype).eps) * max(1.0, abs(float(J_ref))) * scale
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_ref)):
        assert g.shape == r.shape and g.dtype == r.dtype
        max_abs = float(jnp.max(jnp.abs(g - r)))
        assert rel_diff(g, r) <= rtol or max_abs <= floor, (rel_diff(g, r), max_abs)


def _case_id(row):
    return "-".join(str(v if not isinstance(v, tuple) else "+".join(v)) for v in row.values())


def test_the_matrix_covers_every_pair_of_levels():
    covered = set()
    names = list(FACTORS)
    for row in MATRIX:
        assert _allowed(row)
        covered |= pairs_of({f: FACTORS[f].index(row[f]) for f in names}, names)
    assert required_pairs(FACTORS, _allowed, UNCOUPLED) <= covered
    sizes = sorted(len(v) for v in FACTORS.values())
    assert len(MATRIX) <= 1.25 * sizes[-1] * sizes[-3]  # near the lower bound


@pytest.mark.parametrize("row", MATRIX, ids=_case_id)
def test_manual_equals_autodiff_float64(x64, row):
    """value_and_grad (BP1–BP4, (N1)–(N3), BP2 with the skip term) == jax.value_and_grad of
    jaxnn.cost, to 1e−10 in float64, the same dropout masks on both sides."""
    net = _net(row)
    params, x, y = _problem(net, row["m"], jnp.float64, key=row["depth"] * 100 + row["m"])
    key = jax.random.key(7) if net.dropout else None
    _assert_same(backprop.value_and_grad(net, params, x, y, key),
                 jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y, key), 1e-10)


@pytest.mark.parametrize("norm, residual", [("layer", False), ("batch", True), (None, True)])
def test_manual_equals_autodiff_float32(norm, residual):
    """The same in float32, to the tolerance tests/test_backprop.py uses (1e−5)."""
    net = jaxnn.mlp(WIDTHS[5], hidden="tanh", output="softmax", cost="cross_entropy", l2=0.1,
                    norm=norm, residual=residual)
    params, x, y = _problem(net, 32, jnp.float32)
    manual = backprop.value_and_grad(net, params, x, y)
    assert manual[0].dtype == jnp.float32
    _assert_same(manual, jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y), 1e-5)


NET_BN = jaxnn.mlp((4, 6, 6, 3), hidden="sigmoid", output="softmax", cost="cross_entropy",
                   norm="batch", residual=True)
NET_LN = NET_BN.replace(norm="layer")


def test_network_fields_checked_hashable_and_round_trip():
    assert NET_BN.normalized == (True, True, False) and NET_BN.skips == (False, True, False)
    assert hash(NET_BN) != hash(NET_LN) and NET_BN != NET_LN
    for net in (NET_BN, NET_LN, jaxnn.mlp((4, 6, 3))):
        assert jaxnn.Network.from_dict(net.to_dict()) == net
    old = {k: v for k, v in NET_BN.to_dict().items() if k not in ("norm", "residual")}
    assert jaxnn.Network.from_dict(old) == NET_BN.replace(norm=None, residual=False)
    # A width change gets no skip; a depth-1 first hidden layer never does.
    assert jaxnn.mlp((6, 6, 6, 5, 5, 2), residual=True).skips == (False, True, False, True,
                                                                  False)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"norm": "group"}, ValueError, "norm must be None or one of 'layer', 'batch'; got 'group'"),
    ({"norm": 1}, TypeError, "norm must be None or one of 'layer', 'batch'; got int 1"),
    ({"norm": "layer", "sizes": (4, 3)}, ValueError,
     "norm='layer' must be used on a network with a hidden layer; got sizes (4, 3)"),
    ({"residual": 1}, TypeError, "residual must be True or False; got int 1"),
    ({"residual": True, "sizes": (4, 6, 5, 3)}, ValueError,
     "residual=True must be used on a network with two consecutive hidden layers of equal "
     "width"),
])
def test_bad_norm_and_residual_are_refused(kwargs, error, message):
    kwargs = {"sizes": (4, 6, 6, 3), **kwargs}
    with pytest.raises(error) as e:
        jaxnn.mlp(kwargs.pop("sizes"), **kwargs)
    assert message in str(e.value)


def test_init_params_and_num_params():
    params = jaxnn.init_params(jax.random.key(0), NET_BN)
    assert [type(p) for p in params] == [BatchNormLayer, BatchNormLayer, Layer]
    assert [type(p) for p in jaxnn.init_params(jax.random.key(0), NET_LN)] == [
        NormLayer, NormLayer, Layer]
    for p in params[:-1]:
        np.testing.assert_array_equal(p.gamma, 1.0)
        np.testing.assert_array_equal(p.var, 1.0)
        assert not np.any(p.beta) and not np.any(p.mean)
    # W and b are the draws of the plain network.
    plain = jaxnn.init_params(jax.random.key(0), NET_BN.replace(norm=None))
    for p, q in zip(params, plain):
        np.testing.assert_array_equal(p.W, q.W)
    assert jaxnn.num_params(NET_BN) == sum(a.size for a in jax.tree.leaves(params))
    assert jaxnn.num_params(NET_LN) == jaxnn.num_params(NET_BN) - 2 * 12


def test_statistics_take_no_gradient_no_l2_and_no_step():
    """∂J/∂mean = ∂J/∂var = 0 exactly, manual and autodiff; L2 touches only W; sgd,
    momentum, rmsprop and adam leave the statistics where they are."""
    net = NET_BN.replace(l2=0.5)
    params, x, y = _problem(net, 9, jnp.float32)
    _, grads = backprop.value_and_grad(net, params, x, y)
    ref = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    for g in (grads, ref):
        for layer in g[:-1]:
            assert not np.any(layer.mean) and not np.any(layer.var)
    _, no_l2 = backprop.value_and_grad(net.replace(l2=0.0), params, x, y)
    for g, h in zip(grads, no_l2):
        for f in g._fields[1:]:
            np.testing.assert_array_equal(getattr(g, f), getattr(h, f))
    for opt in (jaxnn.optimizers.sgd(0.1), jaxnn.optimizers.momentum(0.1),
                jaxnn.optimizers.rmsprop(0.1), jaxnn.optimizers.adam(0.1)):
        new, _ = opt.update(grads, opt.init(params), params)
        for p, q in zip(new[:-1], params[:-1]):
            np.testing.assert_array_equal(p.mean, q.mean)
            np.testing.assert_array_equal(p.var, q.var)


def test_population_statistics_make_evaluation_equal_the_full_batch_training_pass():
    params, x, _ = _problem(NET_BN, 50, jnp.float32)
    stats = network.population_statistics(NET_BN, params, x)
    evaluated = network.forward_layers(NET_BN, stats, x, training=False)[1][-1]
    trained = network.forward_layers(NET_BN, params, x, training=True)[1][-1]
    np.testing.assert_allclose(evaluated, trained, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(stats[0].mean, jnp.mean(x @ params[0].W.T + params[0].b, 0),
                               rtol=1e-6, atol=1e-7)
    public = network.with_population_statistics(NET_BN, params, np.asarray(x))
    for a, b in zip(jax.tree.leaves(public), jax.tree.leaves(stats)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Identity without batch norm.
    assert network.population_statistics(NET_LN, params, x) is params


def test_evaluation_mode_one_example_alone_equals_inside_a_batch():
    """Batch norm in evaluation (forward, predict, accuracy) reads the population
    statistics: a row's output is the same alone as in any batch (≤ 1e−5, float32)."""
    for net in (NET_BN, NET_LN):
        params, x, y = _problem(net, 40, jnp.float32)
        params = network.population_statistics(net, params, x)
        batch = jaxnn.forward(net, params, x)
        alone = jnp.stack([jaxnn.forward(net, params, row) for row in x[:5]])
        np.testing.assert_allclose(alone, batch[:5], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jaxnn.forward(net, params, x[:3]), batch[:3], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(jaxnn.predict(net, params, x),
                                      network.predict_from_output(net, batch))
    # Training mode (the cost, the gradients) does depend on the batch under batch norm.
    params, x, _ = _problem(NET_BN, 40, jnp.float32)
    two = network.forward_layers(NET_BN, params, x[:2])[1][-1][0]
    three = network.forward_layers(NET_BN, params, x[:3])[1][-1][0]
    assert float(jnp.max(jnp.abs(two - three))) > 1e-4


def test_per_example_grads_with_layer_norm_and_skips(x64):
    """Layer norm and skips keep examples independent: mean_i of the per-example
    gradients is the batch gradient without L2. Batch norm and DP-SGD with it refuse."""
    net = NET_LN.replace(l2=0.3)
    params, x, y = _problem(net, 6, jnp.float64)
    per = backprop.per_example_grads(net, params, x, y)
    _, batch = backprop.value_and_grad(net.replace(l2=0.0), params, x, y)
    for a, b in zip(jax.tree.leaves(per), jax.tree.leaves(batch)):
        np.testing.assert_allclose(jnp.mean(a, axis=0), b, rtol=1e-10, atol=1e-14)
    message = "per-example gradients are not defined for a network with norm='batch'"
    with pytest.raises(ValueError, match=message):
        backprop.per_example_grads(NET_BN, *_problem(NET_BN, 6, jnp.float64))
    with pytest.raises(ValueError, match="DP-SGD's " + message):
        privacy.check_network(NET_BN)


def test_cost_with_manual_vjp_and_vmap_over_params():
    """jax.grad of cost_with_manual_vjp runs (N1)–(N3); the new params vmap (fit_many)."""
    params, x, y = _problem(NET_BN, 8, jnp.float32)
    g = jax.grad(backprop.cost_with_manual_vjp, argnums=1)(NET_BN, params, x, y)
    ref = jax.grad(jaxnn.cost, argnums=1)(NET_BN, params, x, y)
    _assert_same((jnp.zeros(()), g), (jnp.zeros(()), ref), 1e-5)
    keys = jax.random.split(jax.random.key(0), 3)
    stacked = jax.vmap(lambda k: jaxnn.init_params(k, NET_BN))(keys)
    t = jax.nn.one_hot(y, 3)
    J = jax.vmap(lambda p: backprop.value_grad_and_output(NET_BN, p, x, t)[0])(stacked)
    assert J.shape == (3,)


def test_checkpoints_keep_gamma_beta_and_statistics(tmp_path):
    """save/load round-trip every field of the normalised layers (γ, β, mean, var)."""
    opt = jaxnn.optimizers.adam(1e-3)
    for net in (NET_BN, NET_LN):
        params, x, _ = _problem(net, 8, jnp.float32)
        params = network.population_statistics(net, params, x)
        path = jaxnn.checkpoint.save(tmp_path / f"{net.norm}.safetensors", params,
                                     opt.init(params), net=net, step=3)
        back = jaxnn.checkpoint.load(path, net=net, opt_state_like=opt.init(params))
        assert back.net == net and [type(p) for p in back.params] == [type(p) for p in params]
        for a, b in zip(jax.tree.leaves(back.params), jax.tree.leaves(params)):
            np.testing.assert_array_equal(a, b)
