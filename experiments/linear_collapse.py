"""Without activations a deep network is one affine map, so it cannot fit XOR.

Claim (the neural-network notes, "why activations are needed"): with identity activations,
a network of any depth collapses to ŷ = WX + B with W = W^L ⋯ W^1 and
B = W^L(⋯(W^2 b^1 + b^2)⋯) + b^L, so it is no more expressive than one layer: it cannot fit
XOR, which a small network with a tanh hidden layer fits exactly.

Part 1 builds a deep identity network (6 layers, random weights and biases), computes W
and B by multiplying the layers out, and compares ``jaxnn.forward`` with XWᵀ + B on random
inputs, in float32 and float64. The hand-written gradient of this network is compared
with ``jax.grad(jaxnn.cost)``.

Part 2 trains a 2-8-8-8-1 identity network and a 2-8-1 tanh network (identity output,
quadratic cost, Adam, full batch) on ``jaxnn.data.xor()``. For the four points of XOR
every affine map satisfies a(0,1) + a(1,0) − a(0,0) − a(1,1) = 0 (the "XOR contrast"),
while classifying all four right at a threshold t needs a(0,1), a(1,0) > t > a(0,0),
a(1,1), i.e. a positive contrast; so an affine map gets at most 3 of 4 right, and its
least-squares fit is the constant ½ with cost ½ · ¼ = 0.125. The experiment measures the
cost floor, the contrast, and the accuracy of the identity network over 2,000 random
weight draws. Accuracy thresholds the output at ½, the midpoint of the 0/1 targets; an
output within 1e-5 of ½ counts as undecided (wrong): a least-squares linear fit ends
within rounding of ½ on every point, where the side it falls on is float noise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, optimizers, train

NAME = "linear_collapse"
CLAIM = (
    "Without activations a deep network collapses to one affine map ŷ = WX + B (the "
    "neural-network notes): it cannot fit XOR (cost stuck at the least-squares floor 0.125, "
    "at most 3 of 4 points right), while a small tanh network fits XOR exactly."
)

DEEP_SIZES = (4, 32, 32, 32, 32, 32, 2)
LINEAR_XOR_SIZES = (2, 8, 8, 8, 1)
TANH_XOR_SIZES = (2, 8, 1)
UNDECIDED = 1e-5  # |a − ½| below this: the output does not decide the class


def collapse(params) -> tuple[np.ndarray, np.ndarray]:
    """W = W^L ⋯ W^1 and B = W^L(⋯(W^2 b^1 + b^2)⋯) + b^L of an identity network."""
    W = np.eye(params[0].W.shape[1], dtype=np.asarray(params[0].W).dtype)
    B = np.zeros(params[0].W.shape[1], dtype=W.dtype)
    for layer in params:
        Wl, bl = np.asarray(layer.W), np.asarray(layer.b)
        W, B = Wl @ W, Wl @ B + bl
    return W, B


def _outputs_and_gradients(net, params, x, y):
    """The deep network's output, its hand-written gradient and autodiff's."""
    _, grads = backprop.value_and_grad(net, params, x, y)  # BP1–BP4
    ref = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)  # autodiff
    return jaxnn.forward(net, params, x), grads, ref


def collapse_check(rng: np.random.Generator, dtype) -> dict:
    """max |forward(x) − (x Wᵀ + B)| over 1,000 random inputs, and manual vs autodiff.

    Any weights will do: W^l ~ N(0, 1/n_{l−1}) and b^l ~ N(0, 0.5²) from ``rng`` (so B is
    not trivially 0)."""
    net = jaxnn.mlp(DEEP_SIZES, hidden="identity", output="identity", cost="quadratic")
    params = tuple(
        jaxnn.Layer(jnp.asarray(rng.standard_normal(w) / np.sqrt(w[1]), dtype),
                    jnp.asarray(0.5 * rng.standard_normal(b), dtype))
        for w, b in net.shapes()
    )
    x = rng.standard_normal((1000, net.n_in)).astype(dtype)
    y = rng.standard_normal((1000, net.n_out)).astype(dtype)
    deep, grads, ref = jax.device_get(
        jax.jit(_outputs_and_gradients, static_argnums=0)(net, params, x, y)
    )
    W, B = collapse(params)
    affine = x @ W.T + B
    grad_diff = max(
        float(np.max(np.abs(g - r))) for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref))
    )
    return {
        "dtype": str(np.dtype(dtype)),
        "max_abs_difference": float(np.max(np.abs(deep - affine))),
        "max_abs_output": float(np.max(np.abs(deep))),
        "W_shape": list(W.shape),
        "manual_vs_autodiff_max_abs_grad_difference": grad_diff,
    }


def xor_contrast(a: np.ndarray) -> float:
    """a(0,1) + a(1,0) − a(0,0) − a(1,1) for outputs at xor()'s points (00, 01, 10, 11)."""
    a = a.reshape(-1)
    return float(a[1] + a[2] - a[0] - a[3])


def decided_accuracy(a: np.ndarray, y: np.ndarray):
    """Fraction right at threshold ½, with outputs within UNDECIDED of ½ counted wrong.

    ``a``: outputs ``(..., 4, 1)``, ``y``: targets ``(4, 1)``; one accuracy per leading
    index (a float for a single set of outputs)."""
    right = ((a > 0.5) == (y > 0.5)) & (np.abs(a - 0.5) > UNDECIDED)
    acc = np.mean(right, axis=(-2, -1))
    return float(acc) if acc.ndim == 0 else acc


def train_xor(sizes, hidden: str, key, steps: int, learning_rate: float) -> dict:
    """Full-batch Adam on XOR (``train.make_step``); the cost before every step."""
    x, y = data.xor()
    net = jaxnn.mlp(sizes, hidden=hidden, output="identity", cost="quadratic")
    params = jaxnn.init_params(key, net, "lecun_normal")
    opt = optimizers.adam(learning_rate)
    state = opt.init(params)
    step = train.make_step(net, opt)
    costs = []
    for _ in range(steps):
        params, state, metrics = step(params, state, x, y)  # cost of the params before
        costs.append(metrics["cost"])
    costs = [float(c) for c in jax.device_get(costs)]
    a = np.asarray(jaxnn.forward(net, params, x))
    final_cost = float(jaxnn.cost(net, params, x, y))
    return {
        "sizes": list(sizes), "hidden": hidden, "steps": steps,
        "final_cost": final_cost, "min_cost": min(costs + [final_cost]),
        "final_outputs": a.reshape(-1).tolist(),
        "final_accuracy": decided_accuracy(a, y),
        "final_xor_contrast": xor_contrast(a),
        "costs": costs, "params": params,
    }


def random_linear_accuracies(rng: np.random.Generator, draws: int) -> np.ndarray:
    """Accuracy on XOR of the 2-8-8-8-1 identity network for ``draws`` random weights and
    biases, each N(0, 1/n_in) and N(0, 1): one vmapped, jitted ``jaxnn.forward``."""
    x, y = data.xor()
    net = jaxnn.mlp(LINEAR_XOR_SIZES, hidden="identity", output="identity", cost="quadratic")
    params = tuple(
        jaxnn.Layer(
            (rng.standard_normal((draws, *w)) / np.sqrt(w[1])).astype(np.float32),
            rng.standard_normal((draws, *b)).astype(np.float32),
        )
        for w, b in net.shapes()
    )
    forward = jax.jit(jax.vmap(jaxnn.forward, in_axes=(None, 0, None)), static_argnums=0)
    outs = np.asarray(forward(net, params, x))  # (draws, 4, 1)
    return decided_accuracy(outs, y)


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    k_lin, k_tanh = jax.random.split(key)
    rng = np.random.default_rng(seed)
    checks = [collapse_check(rng, jnp.float32)]
    with jax.enable_x64(True):
        checks.append(collapse_check(rng, jnp.float64))

    steps = 300 if quick else 2000
    linear = train_xor(LINEAR_XOR_SIZES, "identity", k_lin, steps, 0.01)
    tanh = train_xor(TANH_XOR_SIZES, "tanh", k_tanh, steps, 0.05)
    W_lin, B_lin = collapse(linear.pop("params"))
    tanh.pop("params")
    x, y = data.xor()
    A = np.hstack([np.asarray(x, np.float64), np.ones((4, 1))])
    coef = np.linalg.lstsq(A, np.asarray(y, np.float64), rcond=None)[0]
    ls_cost = float(0.5 * np.mean((A @ coef - y) ** 2))
    draws = 2000
    rand_acc = random_linear_accuracies(rng, draws)

    f32 = checks[0]
    collapse_ok = f32["max_abs_difference"] < 1e-5 and checks[1]["max_abs_difference"] < 1e-12
    linear_stuck = (
        linear["min_cost"] >= ls_cost - 1e-6
        and linear["final_accuracy"] <= 0.75
        and rand_acc.max() <= 0.75
    )
    tanh_fits = tanh["final_accuracy"] == 1.0 and tanh["final_cost"] < 1e-3
    held = collapse_ok and linear_stuck and tanh_fits

    summary = (
        f"A {len(DEEP_SIZES) - 1}-layer identity network equals x Wᵀ + B to "
        f"{f32['max_abs_difference']:.1e} (float32) and {checks[1]['max_abs_difference']:.1e} "
        f"(float64). On XOR the 2-8-8-8-1 identity network's cost stays at "
        f"{linear['min_cost']:.6f} (least-squares floor {ls_cost:.3f}; collapsed map "
        f"W = [{W_lin[0, 0]:.1e}, {W_lin[0, 1]:.1e}], B = {B_lin[0]:.4f}; XOR contrast "
        f"{linear['final_xor_contrast']:.1e}, where 2 is needed), and the best accuracy "
        f"{rand_acc.max():.0%} over {draws} random weight draws; the 2-8-1 tanh network "
        f"reaches cost {tanh['final_cost']:.1e} and {tanh['final_accuracy']:.0%} accuracy."
    )
    linear_costs, tanh_costs = linear.pop("costs"), tanh.pop("costs")
    results = {
        "collapse": checks,
        "least_squares_floor": ls_cost,
        "linear_xor": linear,
        "linear_collapsed_W": W_lin.tolist(),
        "linear_collapsed_B": B_lin.tolist(),
        "tanh_xor": tanh,
        "random_linear_weight_draws": draws,
        "random_linear_best_accuracy": float(rand_acc.max()),
        "random_linear_accuracy_counts": {
            f"{k / 4:.2f}": int(np.sum(rand_acc == k / 4)) for k in range(5)
        },
    }
    config = {
        "deep_identity_sizes": DEEP_SIZES,
        "linear_xor_sizes": LINEAR_XOR_SIZES,
        "tanh_xor_sizes": TANH_XOR_SIZES,
        "output": "identity", "cost": "quadratic", "init": "lecun_normal",
        "optimizer": "adam, lr 0.01 (linear) / 0.05 (tanh), full batch",
        "steps": steps, "seed": seed, "undecided_band": UNDECIDED,
    }

    def draw(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        t = np.arange(1, steps + 1)
        floor = 1e-15  # a cost of exactly 0 (float32) is drawn at this floor
        ax1.axhline(ls_cost, color="grey", ls="--", lw=1,
                    label=f"least-squares floor {ls_cost:.3f}")
        ax1.semilogy(t, np.maximum(linear_costs, floor), lw=2.5, alpha=0.8,
                     label="2-8-8-8-1, identity activations")
        ax1.semilogy(t, np.maximum(tanh_costs, floor), label="2-8-1, tanh hidden layer")
        ax1.set_xlabel("training step (full batch, Adam)")
        ax1.set_ylabel("cost J (quadratic; 0 drawn at 1e-15)")
        ax1.set_title("XOR: the linear network stalls at 0.125")
        ax1.legend(fontsize=8)
        pts = ["(0,0)→0", "(0,1)→1", "(1,0)→1", "(1,1)→0"]
        pos = np.arange(4)
        ax2.bar(pos - 0.2, linear["final_outputs"], 0.4, label="identity network")
        ax2.bar(pos + 0.2, tanh["final_outputs"], 0.4, label="tanh network")
        ax2.plot(pos, np.asarray(y).reshape(-1), "k_", ms=30, mew=2, label="target")
        ax2.set_xticks(pos, pts)
        ax2.set_xlabel("XOR point")
        ax2.set_ylabel("output after training")
        ax2.set_ylim(-0.08, 1.25)
        ax2.set_title("the linear network outputs ½ everywhere")
        ax2.legend(fontsize=8, loc="upper center", ncol=3)
        fig.suptitle(
            f"No activation, no XOR: identity net cost {linear['final_cost']:.4f}, best "
            f"affine accuracy {rand_acc.max():.0%}; tanh net cost {tanh['final_cost']:.1g}, "
            f"accuracy {tanh['final_accuracy']:.0%}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held, config=config, results=results,
        figures={f"{NAME}_xor.png": draw}, summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
