"""The largest manual-vs-autodiff gradient difference over the test matrix, per dtype.

    python scripts/grad_error_sweep.py

Every hidden activation × every valid output/cost pair × depths 1–5 × batch sizes 1, 7, 64
× L2 ∈ {0, 0.7}, in float64 and float32: the normwise relative difference
‖manual − autodiff‖∞ / max(‖manual‖∞, ‖autodiff‖∞) per parameter array, skipping arrays that
that are entirely zero up to round-off (every entry ≤ 100 u max(1, |J|)). Prints the worst
case of each dtype.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

import jaxnn
from jaxnn import activations, backprop, costs
from jaxnn.gradcheck import rel_diff

HIDDEN = [n for n in activations.NAMES if n != "softmax"]
PAIRS = [(out, c) for c in costs.NAMES for out in costs.valid_outputs(c)]
WIDTHS = (4, 6, 5, 7, 3, 4)


def sweep(dtype) -> tuple[float, str]:
    worst, where = 0.0, ""
    for hidden, (output, cost), depth, m, l2 in itertools.product(
        HIDDEN, PAIRS, range(1, 6), (1, 7, 64), (0.0, 0.7)
    ):
        if depth == 1 and hidden != HIDDEN[0]:
            continue
        net = jaxnn.Network(WIDTHS[:depth] + (3,), (hidden,) * (depth - 1) + (output,), cost, l2)
        kp, kx, ky = jax.random.split(jax.random.key(depth * 100 + m), 3)
        params = jaxnn.init_params(kp, net, "glorot_normal", dtype=dtype)
        x = jax.random.normal(kx, (m, net.n_in), dtype)
        if cost == "cross_entropy" and output == "softmax":
            y = jax.random.randint(ky, (m,), 0, 3)
        else:
            y = jax.random.uniform(ky, (m, 3), dtype)
        J, g = backprop.value_and_grad(net, params, x, y)
        J_ref, g_ref = jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y)
        floor = 100 * float(jnp.finfo(dtype).eps) * max(1.0, abs(float(J_ref)))
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            if max(float(jnp.max(jnp.abs(a))), float(jnp.max(jnp.abs(b)))) <= floor:
                continue  # the whole array is zero up to round-off
            r = rel_diff(a, b)
            if r > worst:
                worst, where = r, f"{hidden}/{output}+{cost}, depth {depth}, m {m}, l2 {l2}"
    return worst, where


if __name__ == "__main__":
    with jax.enable_x64(True):
        print("float64: largest rel diff {:.3e} at {}".format(*sweep(jnp.float64)))
    print("float32: largest rel diff {:.3e} at {}".format(*sweep(jnp.float32)))
