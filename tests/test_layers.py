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

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import activations, backprop, costs, network, normalization, privacy
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


def _required(factors, allowed):
    names = list(factors)
    return {((f, i), (g, j))
            for f, g in itertools.combinations(names, 2) if (f, g) not in UNCOUPLED
            for i, a in enumerate(factors[f]) for j, b in enumerate(factors[g])
            if allowed({f: a, g: b})}


def _covered(indices, names):
    return {((f, indices[f]), (g, indices[g])) for f, g in itertools.combinations(names, 2)}


def _pairwise(factors, allowed):
    """A greedy covering array: each row starts from the first uncovered pair and gives
    every other factor the allowed level covering the most uncovered pairs."""
    names = list(factors)
    uncovered = _required(factors, allowed)
    order = sorted(uncovered)
    rows = []
    while uncovered:
        (f, i), (g, j) = next(p for p in order if p in uncovered)
        chosen = {f: i, g: j}
        for h in names:
            if h in chosen:
                continue
            gains = []
            for k, level in enumerate(factors[h]):
                if allowed({**{n: factors[n][x] for n, x in chosen.items()}, h: level}):
                    new = _covered({**chosen, h: k}, [n for n in names if n in chosen or n == h])
                    gains.append((len(new & uncovered), -k))
            chosen[h] = -max(gains)[1]
        uncovered -= _covered(chosen, names)
        rows.append({n: factors[n][chosen[n]] for n in names})
    return rows


MATRIX = _pairwise(FACTORS, _allowed)


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
        covered |= _covered({f: FACTORS[f].index(row[f]) for f in names}, names)
    assert _required(FACTORS, _allowed) <= covered
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
