"""The hand-written backward pass (BP1–BP4) against jax.grad of the pure cost."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _pairwise import pairs_of, pairwise, required_pairs
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import activations, backprop, costs
from jaxnn.gradcheck import rel_diff

# Read from the registries: a new activation or cost joins the matrix without an edit here.
HIDDEN = list(activations.hidden_names())
PAIRS = [(out, c) for c in costs.NAMES for out in costs.valid_outputs(c)]
OUTPUTS = [name for name in activations.NAMES if any(name == out for out, _ in PAIRS)]
WIDTHS = (4, 6, 5, 7, 3, 4)  # n_0 … ; a depth-L network uses WIDTHS[:L] + (n_L,)
N_OUT = 3
DEPTHS = (1, 2, 3, 4, 5)
BATCHES = (1, 7, 64)
L2S = (0.0, 0.7)

# The float64 matrix: hidden activation × output activation × cost × depth × m × λ as a
# pairwise covering array (tests/_pairwise.py): every level of each factor meets every
# level of every other factor in some case (every output/cost pair, every hidden activation
# with every output and every cost, each at every depth, batch size and λ). A depth-1
# network has no hidden layer: its hidden level is None, and None meets every output, cost,
# m and λ. A new cost adds a few cases, a new activation about two dozen (the full cross
# added hundreds).
FACTORS = {"hidden": [*HIDDEN, None], "output": OUTPUTS, "cost": list(costs.NAMES),
           "depth": list(DEPTHS), "m": list(BATCHES), "l2": list(L2S)}


def _runnable(row):
    """Whether a (partial) row of FACTORS can be built: the cost accepts the output, and a
    hidden activation appears exactly when there is a hidden layer."""
    if "output" in row and "cost" in row and row["output"] not in costs.valid_outputs(row["cost"]):
        return False
    if "hidden" in row and "depth" in row and (row["hidden"] is None) != (row["depth"] == 1):
        return False
    return True


MATRIX = pairwise(FACTORS, _runnable)


def _fused(output, cost):
    """Whether BP1 takes a fused form for this pair (asked of backprop itself, so that a new
    fused form joins the full cross below without an edit here)."""
    a = jnp.full((1, N_OUT), 0.5)
    return backprop._fused_output_delta(output, cost, a, a) is not None


# The fused BP1 forms replace ∇_a C ⊙ g'(Z^L) by a closed form (A − Y, P·Σy − Y, …), each
# with its own division by m: every such pair runs every depth × m × λ in full.
FUSED = [pair for pair in PAIRS if _fused(*pair)]


def _takes_labels(output, cost):
    """Whether _problem draws integer labels (a softmax output with cross entropy)."""
    return cost == "cross_entropy" and output == "softmax"


def _problem(net, m, dtype, key=0, soft_labels=False):
    kp, kx, ky = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_params(kp, net, "glorot_normal", dtype=dtype)
    # Non-zero biases so every activation's whole range is exercised.
    params = tuple(
        jaxnn.Layer(W, 0.3 * jax.random.normal(jax.random.fold_in(kp, i), b.shape, dtype))
        for i, (W, b) in enumerate(params)
    )
    x = jax.random.normal(kx, (m, net.n_in), dtype)
    if soft_labels:  # non-negative targets whose rows do not sum to 1
        y = jax.random.uniform(ky, (m, net.n_out), dtype, 0.0, 0.9)
    elif _takes_labels(net.activations[-1], net.cost):
        y = jax.random.randint(ky, (m,), 0, net.n_out)  # integer labels, one-hot
    elif net.cost == "huber":  # targets in [−2, 2): residuals on both sides of δ = 1
        y = jax.random.uniform(ky, (m, net.n_out), dtype, -2.0, 2.0)
    else:
        y = jax.random.uniform(ky, (m, net.n_out), dtype)
    return params, x, y


def _assert_same(manual, reference, rtol):
    """Same value and gradient: normwise relative difference ≤ rtol per array, except for an
    array that is zero up to round-off (|difference| ≤ 100 u max(1, |J|), u the unit
    round-off), where a relative difference means nothing. Softmax + absolute cost with
    every a_i > y_i gives such an exactly-zero gradient, which autodiff computes as ~1e−17."""
    J, grads = manual
    J_ref, grads_ref = reference
    assert rel_diff(J, J_ref) <= rtol
    floor = 100 * float(jnp.finfo(J.dtype).eps) * max(1.0, abs(float(J_ref)))
    assert jax.tree.structure(grads) == jax.tree.structure(grads_ref)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_ref)):
        assert g.shape == r.shape and g.dtype == r.dtype
        max_abs = float(jnp.max(jnp.abs(g - r)))
        assert rel_diff(g, r) <= rtol or max_abs <= floor, (rel_diff(g, r), max_abs)


def _check_float64(hidden, output, cost, depth, m, l2, soft_labels=False):
    net = jaxnn.Network(WIDTHS[:depth] + (N_OUT,), (hidden,) * (depth - 1) + (output,), cost, l2)
    params, x, y = _problem(net, m, jnp.float64, key=depth * 100 + m, soft_labels=soft_labels)
    _assert_same(
        backprop.value_and_grad(net, params, x, y),
        jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y),
        rtol=1e-10,
    )


def _case_id(row):
    return "-".join(str(row[f]) for f in FACTORS)


@pytest.mark.parametrize("row", MATRIX, ids=_case_id)
def test_manual_equals_autodiff_float64(x64, row):
    """One case of the pairwise matrix (see MATRIX), to a relative error ≤ 1e−10 in float64."""
    _check_float64(**row)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("output, cost", FUSED)
def test_fused_output_deltas_equal_autodiff_float64(x64, output, cost, depth):
    """Every fused BP1 pair × depths 1–5 × m ∈ {1, 7, 64} × λ ∈ {0, 0.7} in full (the
    hidden activation rotating through the registry), to ≤ 1e−10; softmax + cross entropy
    also with targets that are not one-hot (the fused form keeps Σ_i y_i for them). One
    test per depth, so the parallel workers share the cases evenly."""
    cases = list(itertools.product(DEPTHS, BATCHES, L2S))
    for i, (d, m, l2) in enumerate(cases):
        if d != depth:
            continue
        hidden = HIDDEN[i % len(HIDDEN)] if depth > 1 else None
        _check_float64(hidden, output, cost, depth, m, l2)
        if _takes_labels(output, cost):
            _check_float64(hidden, output, cost, depth, m, l2, soft_labels=True)


def test_the_matrix_covers_every_pair_of_levels():
    """The float64 matrix keeps every level and every runnable pair of levels (the
    covering property, checked here on the actual rows), and the fused cross holds the
    pairs backprop.py documents."""
    covered = set()
    for row in MATRIX:
        assert _runnable(row), row
        idx = {f: FACTORS[f].index(row[f]) for f in FACTORS}
        covered |= pairs_of(idx, list(FACTORS))
    assert required_pairs(FACTORS, _runnable) <= covered
    assert {(r["output"], r["cost"]) for r in MATRIX} == set(PAIRS)
    assert ("softmax", "cross_entropy") in FUSED and ("sigmoid", "binary_cross_entropy") in FUSED
    # Linear growth: the array is near its lower bound, the largest product of two factors.
    sizes = sorted(len(levels) for levels in FACTORS.values())
    assert len(MATRIX) <= 1.25 * sizes[-1] * sizes[-2]


@pytest.mark.parametrize("output, cost", PAIRS)
def test_manual_equals_autodiff_float32(output, cost):
    net = jaxnn.Network((5, 8, 8, N_OUT), ("tanh", "sigmoid", output), cost, 0.1)
    params, x, y = _problem(net, 32, jnp.float32)
    manual = backprop.value_and_grad(net, params, x, y)
    assert manual[0].dtype == jnp.float32
    _assert_same(manual, jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y), 1e-5)


@settings(max_examples=15, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    hidden=st.sampled_from(HIDDEN),
    pair=st.sampled_from(PAIRS),
    m=st.integers(1, 8),
    l2=st.sampled_from([0.0, 0.01, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_manual_equals_autodiff_property(sizes, hidden, pair, m, l2, seed):
    output, cost = pair
    with jax.enable_x64(True):
        net = jaxnn.Network(tuple(sizes), (hidden,) * (len(sizes) - 2) + (output,), cost, l2)
        params, x, y = _problem(net, m, jnp.float64, key=seed)
        x = x * 3.0  # wider inputs: saturated units too
        # One compiled program per example (new shapes each time: cheaper than eager).
        both = jax.jit(
            lambda p, x, y: (backprop.value_and_grad(net, p, x, y),
                             jax.value_and_grad(jaxnn.cost, argnums=1)(net, p, x, y))
        )
        manual, reference = both(params, x, y)
        _assert_same(manual, reference, rtol=1e-10)


def test_jitted_equals_eager():
    net = jaxnn.mlp((6, 10, 10, 4), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.2)
    params, x, y = _problem(net, 16, jnp.float32)
    eager = backprop.value_and_grad(net, params, x, y)
    jitted = jax.jit(backprop.value_and_grad, static_argnums=0)(net, params, x, y)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    again = jax.jit(backprop.value_and_grad, static_argnums=0)(net, params, x, y)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)


def test_works_under_vmap(x64):
    """vmap over examples gives each example's own gradient (m = 1 each)."""
    net = jaxnn.mlp((3, 5, 2), hidden="sigmoid", output="sigmoid", cost="binary_cross_entropy")
    params, x, y = _problem(net, 6, jnp.float64)
    per_example = jax.vmap(lambda xi, yi: backprop.grad(net, params, xi, yi))(x, y)
    reference = jax.vmap(lambda xi, yi: jax.grad(jaxnn.cost, argnums=1)(net, params, xi, yi))(x, y)
    for a, b in zip(jax.tree.leaves(per_example), jax.tree.leaves(reference)):
        assert a.shape[0] == 6
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # …and their mean is the batch gradient.
    batch = backprop.grad(net, params, x, y)
    for a, b in zip(jax.tree.leaves(per_example), jax.tree.leaves(batch)):
        np.testing.assert_allclose(a.mean(0), b, rtol=1e-12, atol=1e-15)


def test_single_example_and_labels(x64):
    net = jaxnn.mlp((3, 4, 5), hidden="relu", output="softmax", cost="cross_entropy")
    params, x, _ = _problem(net, 1, jnp.float64)
    J1, g1 = backprop.value_and_grad(net, params, x[0], jnp.array(2))
    J2, g2 = backprop.value_and_grad(net, params, x, jax.nn.one_hot(jnp.array([2]), 5))
    assert float(J1) == pytest.approx(float(J2), rel=1e-15)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_array_equal(a, b)


def test_deltas_are_dJ_dZ(x64):
    """Δ^l = ∂J/∂Z^l, checked by autodiff of J with respect to an offset added to Z^l."""
    net = jaxnn.mlp((4, 6, 5, 3), hidden="tanh", output="softmax", cost="quadratic", l2=0.3)
    params, x, y = _problem(net, 9, jnp.float64)
    ds = backprop.deltas(net, params, x, y)
    assert [d.shape for d in ds] == [(9, 6), (9, 5), (9, 3)]

    def J_with_offsets(offsets):
        a = x
        for (W, b), name, off in zip(params, net.activations, offsets):
            a = activations.get(name).fn(a @ W.T + b + off)
        c = jnp.mean(costs.get(net.cost).fn(a, y))
        return c + 0.3 / (2 * 9) * sum(jnp.sum(W**2) for W, _ in params)

    want = jax.grad(J_with_offsets)([jnp.zeros_like(d) for d in ds])
    for d, w in zip(ds, want):
        np.testing.assert_allclose(d, w, rtol=1e-12, atol=1e-16)
    # BP3: the bias gradient is the column sum of Δ.
    grads = backprop.grad(net, params, x, y)
    for d, g in zip(ds, grads):
        np.testing.assert_allclose(d.sum(0), g.b, rtol=1e-13)


def test_forward_pass_keeps_zs_and_activations(x64):
    net = jaxnn.mlp((4, 6, 3), hidden="sigmoid", output="identity", cost="quadratic")
    params, x, _ = _problem(net, 5, jnp.float64)
    zs, acts = backprop.forward_pass(net, params, x)
    assert [z.shape for z in zs] == [(5, 6), (5, 3)]
    assert [a.shape for a in acts] == [(5, 4), (5, 6), (5, 3)]
    np.testing.assert_array_equal(acts[0], x)
    np.testing.assert_allclose(acts[1], jax.nn.sigmoid(zs[0]), rtol=1e-15)
    np.testing.assert_allclose(acts[-1], jaxnn.forward(net, params, x), rtol=1e-15)


def test_identity_network_is_one_affine_map(x64):
    """The neural-network notes: without activations, a deep network collapses to ŷ = W x + B with
    W = W^L ⋯ W^1 and B = Σ_l W^L ⋯ W^{l+1} b^l."""
    net = jaxnn.mlp((5, 7, 6, 8, 3), hidden="identity", output="identity")
    params, x, _ = _problem(net, 11, jnp.float64)
    W = jnp.eye(5)
    B = jnp.zeros(5)
    for Wl, bl in params:
        W, B = Wl @ W, Wl @ B + bl
    np.testing.assert_allclose(jaxnn.forward(net, params, x), x @ W.T + B, rtol=1e-12, atol=1e-14)
