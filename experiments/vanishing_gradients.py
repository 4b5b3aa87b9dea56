"""Gradients vanish or explode with depth; in a deep sigmoid network earlier layers learn
more slowly.

Claim (the neural-network notes, "vanishing/exploding gradients", and the AI Okinawa
course slides via Nielsen's book, ch. 5): in a deep linear network with weights 1.5·I (or
0.5·I) the output and the gradients scale as 1.5^L (0.5^L); in a deep sigmoid network the
speed of learning ‖∂C/∂b^l‖ = ‖δ^l‖ falls layer by layer towards the input, so earlier
layers learn several times more slowly, while ReLU with He initialisation keeps it of the
same order.

Speed of learning of layer l, as Nielsen defines it: the norm of the gradient of the cost
with respect to the layer's biases, averaged over the same 1,000 training images,
‖∂J/∂b^l‖ = ‖Σ_rows Δ^l‖ (BP3), computed here from ``backprop.deltas``. Beside it, the
per-example size ‖δ^l‖ (root mean square over the images), which averaging does not
shrink, and the same speeds from ``jax.grad(jaxnn.cost)`` at initialisation.

Three networks [784, 30, 30, 30, 30, 10], sigmoid outputs, trained on the first 1,000
images of the bundled MNIST sample:

* ``nielsen``: Nielsen's own setup (``fig/generate_gradient.py`` of his book's repository
  calls ``network2.Network`` with its defaults): sigmoid hidden layers, the
  cross-entropy cost −Σ [y ln a + (1 − y) ln(1 − a)] (jaxnn's ``binary_cross_entropy``),
  weights N(0, 1/n_in) (``lecun_normal``) and biases N(0, 1), then gradient descent on
  all 1,000 images at once (``SGD(td, 1, 1000, 0.1, lmbda=5.0)``: η = 0.1, L2 λ = 5), one
  step per epoch. His printed speeds for the four hidden layers are 0.003, 0.017, 0.070,
  0.285.
* ``quadratic_normal``: the textbook variant: quadratic cost, every weight and bias
  N(0, 1) (the ``normal`` scheme of network.py), SGD η = 0.1 with minibatches of 10.
* ``relu_he``: Nielsen's setup with ReLU hidden layers and He initialisation (biases 0).

The speeds at initialisation are averaged (geometric mean) over several random
initialisations; the training curves use the first one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, optimizers, train

NAME = "vanishing_gradients"
CLAIM = (
    "Gradients vanish or explode with depth (the neural-network notes): a deep linear net "
    "with weights 1.5·I or 0.5·I scales its output and gradients as 1.5^L or 0.5^L, and in "
    "Nielsen's deep sigmoid network earlier layers learn several times more slowly, while "
    "ReLU with He initialisation keeps the layers' speeds of the same order."
)

SIZES = (784, 30, 30, 30, 30, 10)
NIELSEN_SPEEDS = (0.003, 0.017, 0.070, 0.285)  # his book, ch. 5, four hidden layers
N_IMAGES = 1000
PRODUCT_DEPTHS = tuple(range(1, 21))
SEVERAL = 3.0  # "several times more slowly": each hidden layer at least this much slower
NEAR_ONE = 3.0  # "the same order": first/last hidden speed within a factor of 3 of 1

SETUPS = {
    # name: (hidden, cost, l2, init, batch size, learning rate)
    "nielsen": ("sigmoid", "binary_cross_entropy", 5.0, "nielsen", N_IMAGES, 0.1),
    "quadratic_normal": ("sigmoid", "quadratic", 0.0, "normal", 10, 0.1),
    "relu_he": ("relu", "binary_cross_entropy", 5.0, "he_normal", N_IMAGES, 0.1),
}


def initial_params(key, net: jaxnn.Network, scheme: str):
    """``init_params(key, net, scheme)``; ``"nielsen"`` is network2's default: weights
    N(0, 1/n_in) (= ``lecun_normal``) and biases N(0, 1)."""
    if scheme != "nielsen":
        return jaxnn.init_params(key, net, scheme)
    k_w, k_b = jax.random.split(key)
    params = jaxnn.init_params(k_w, net, "lecun_normal")
    bias_keys = jax.random.split(k_b, len(params))
    return tuple(jaxnn.Layer(p.W, jax.random.normal(k, p.b.shape)) for p, k in
                 zip(params, bias_keys))


def layer_speeds(net, params, x, y):
    """Per layer: ‖Σ_rows Δ^l‖ = ‖∂J/∂b^l‖ (Nielsen's speed) and the RMS of ‖δ^l_i‖.

    ``Δ^l`` rows are δ^l of one image divided by m (``backprop.deltas``); the L2 term does
    not touch the biases."""
    deltas = backprop.deltas(net, params, x, y)
    m = x.shape[0]
    speed = jnp.stack([jnp.linalg.norm(jnp.sum(d, axis=0)) for d in deltas])  # (BP3)
    per_example = jnp.stack([m * jnp.sqrt(jnp.mean(jnp.sum(d * d, axis=1))) for d in deltas])
    return speed, per_example


def autodiff_speeds(net, params, x, y):
    """‖∂J/∂b^l‖ from ``jax.grad(jaxnn.cost)``, the reference for ``layer_speeds``."""
    grads = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    return jnp.stack([jnp.linalg.norm(g.b) for g in grads])


def study(name: str, x, y, n_inits: int, epochs: int, key, batch_seed,
          with_autodiff: bool) -> dict:
    """Speeds at initialisation over ``n_inits`` draws, then through training.

    Parameters are drawn eagerly (the random draws of one layer shape compile once and are
    shared by every setup); the speeds and the training step are jit-compiled."""
    hidden, cost, l2, scheme, batch, rate = SETUPS[name]
    net = jaxnn.mlp(SIZES, hidden=hidden, output="sigmoid", cost=cost, l2=l2)
    speeds_fn = jax.jit(layer_speeds, static_argnums=0)
    keys = jax.random.split(key, n_inits + 1)
    at_init, per_example = [], []
    for k in keys[1:]:
        s, p = speeds_fn(net, initial_params(k, net, scheme), x, y)
        at_init.append(np.asarray(s))
        per_example.append(np.asarray(p))
    at_init, per_example = np.array(at_init), np.array(per_example)

    params = initial_params(keys[1], net, scheme)
    autodiff_rel = None
    if with_autodiff:
        ref = np.asarray(jax.jit(autodiff_speeds, static_argnums=0)(net, params, x, y))
        autodiff_rel = float(np.max(np.abs(ref - at_init[0]) / ref))

    # Training: train.make_step (BP1–BP4 + sgd), full batch (Nielsen: one step per epoch)
    # or minibatches of a fresh permutation every epoch; speeds after every epoch.
    opt = optimizers.sgd(rate)
    step = train.make_step(net, opt)
    state = opt.init(params)
    rng = np.random.default_rng(batch_seed)
    n = x.shape[0]
    x_host, y_host = np.asarray(x), np.asarray(y)
    curve, accuracy = [at_init[0]], []
    for _ in range(epochs):
        correct = []
        if batch == n:
            params, state, metrics = step(params, state, x, y)
            correct.append(metrics["accuracy"])
        else:
            order = rng.permutation(n)
            for start in range(0, n - batch + 1, batch):
                idx = order[start:start + batch]
                params, state, metrics = step(params, state, x_host[idx], y_host[idx])
                correct.append(metrics["accuracy"])
        accuracy.append(jnp.mean(jnp.stack(correct)))
        curve.append(speeds_fn(net, params, x, y)[0])
    curve = np.array(jax.device_get(curve))
    accuracy = [float(a) for a in jax.device_get(accuracy)]

    hidden_speeds = np.exp(np.mean(np.log(at_init), axis=0))[:-1]  # geometric mean
    hidden_per_example = np.exp(np.mean(np.log(per_example), axis=0))[:-1]
    ratio_first_last = at_init[:, 0] / at_init[:, -2]
    curve_ratio = curve[:, 0] / curve[:, -2]
    return {
        "network": net.to_dict(),
        "init": scheme,
        "batch_size": batch,
        "learning_rate": rate,
        "epochs": epochs,
        "initialisations": n_inits,
        "speed_at_init_hidden": hidden_speeds.tolist(),
        "speed_at_init_output": float(np.exp(np.mean(np.log(at_init[:, -1])))),
        "ratio_to_last_hidden": (hidden_speeds / hidden_speeds[-1]).tolist(),
        "ratio_next_over_this": (hidden_speeds[1:] / hidden_speeds[:-1]).tolist(),
        "ratio_first_over_last_hidden_per_init": ratio_first_last.tolist(),
        "ratio_first_over_last_hidden": float(np.exp(np.mean(np.log(ratio_first_last)))),
        "per_example_delta_rms_hidden": hidden_per_example.tolist(),
        "per_example_ratio_first_over_last": float(
            hidden_per_example[0] / hidden_per_example[-1]),
        "autodiff_max_relative_difference": autodiff_rel,
        "ratio_first_over_last_during_training": {
            "min": float(curve_ratio.min()), "max": float(curve_ratio.max()),
            "final": float(curve_ratio[-1]),
        },
        "final_train_accuracy": accuracy[-1] if accuracy else None,
        "_curve": curve,
    }


def _identity_pass(net, params, x, y):
    """Activations, deltas, the hand-written gradient and autodiff's, in one program."""
    _, acts = backprop.forward_pass(net, params, x)
    deltas = backprop.deltas(net, params, x, y)
    grads = backprop.grad(net, params, x, y)
    ref = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    return acts, deltas, grads, ref


def products(factor: float) -> dict:
    """The neural-network notes' deep identity network, W^l = factor·I (2 × 2), b = 0,
    L = 20 layers, float64: the signal after l layers, ‖A^l‖/‖x‖ (the output of a depth-l
    network), and the error carried back over k layers, ‖Δ^{L−k}‖/‖Δ^L‖, against factor^l
    and factor^k; and ∂J/∂W^1 against the formula, with J = ½‖a^L − 0‖²."""
    L = PRODUCT_DEPTHS[-1]
    with jax.enable_x64(True):
        net = jaxnn.mlp((2,) * (L + 1), hidden="identity", output="identity", cost="quadratic")
        params = tuple(jaxnn.Layer(factor * jnp.eye(2), jnp.zeros(2)) for _ in range(L))
        x, y = jnp.array([[1.0, 1.0]]), jnp.zeros((1, 2))
        acts, deltas, grads, ref = jax.device_get(
            jax.jit(_identity_pass, static_argnums=0)(net, params, x, y))
    x_norm = float(np.linalg.norm(acts[0]))
    rows, errors = [], []
    for depth in PRODUCT_DEPTHS:  # depth = l for the forward signal, k for the backward one
        forward = float(np.linalg.norm(acts[depth])) / x_norm
        backward = float(np.linalg.norm(deltas[L - 1 - depth])) / float(
            np.linalg.norm(deltas[L - 1])) if depth < L else None
        rows.append({"layers": depth, "forward_scale": forward,
                     "forward_formula": factor**depth,
                     "backward_scale": backward,
                     "backward_formula": factor**depth if depth < L else None})
        errors.append(abs(forward / factor**depth - 1))
        if backward is not None:
            errors.append(abs(backward / factor**depth - 1))
    # ∂J/∂W^1 = δ^1 xᵀ, δ^1 = factor^{L−1} · factor^L x: ‖·‖ = factor^{2L−1} ‖x‖².
    grad_W1 = float(np.linalg.norm(grads[0].W))
    grad_formula = factor ** (2 * L - 1) * x_norm**2
    errors.append(abs(grad_W1 / grad_formula - 1))
    autodiff = max(float(np.max(np.abs(g - r)) / np.max(np.abs(r)))
                   for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref))
                   if np.max(np.abs(r)) > 0)
    return {"factor": factor, "depth": L, "rows": rows,
            "grad_W1_norm": grad_W1, "grad_W1_formula": grad_formula,
            "max_relative_error": max(errors),
            "autodiff_max_relative_difference": autodiff}


def run(quick: bool, seed: int) -> Result:
    mnist = data.load_mnist()
    x = jnp.asarray(mnist.x_train[:N_IMAGES])
    y = jnp.asarray(mnist.y_train[:N_IMAGES])
    key = jax.random.key(seed)
    n_inits = 3 if quick else 20
    # --quick trains the quadratic variant not at all (its speeds at initialisation stay).
    epochs = {"nielsen": 20 if quick else 500, "quadratic_normal": 0 if quick else 30,
              "relu_he": 20 if quick else 500}
    studies = {name: study(name, x, y, n_inits, epochs[name], jax.random.fold_in(key, i),
                           (seed, i), with_autodiff=(name == "nielsen"))
               for i, name in enumerate(SETUPS)}
    curves = {name: s.pop("_curve") for name, s in studies.items()}
    prods = {f: products(f) for f in (1.5, 0.5)}

    nielsen_ratio = [s / NIELSEN_SPEEDS[-1] for s in NIELSEN_SPEEDS]

    def slower(s):  # each hidden layer ≥ SEVERAL times slower than the next one
        return all(r >= SEVERAL for r in s["ratio_next_over_this"])

    sig, quad, relu = studies["nielsen"], studies["quadratic_normal"], studies["relu_he"]
    relu_near = 1 / NEAR_ONE <= relu["ratio_first_over_last_hidden"] <= NEAR_ONE
    products_ok = all(p["max_relative_error"] < 1e-12
                      and p["autodiff_max_relative_difference"] < 1e-12 for p in prods.values())
    autodiff_ok = studies["nielsen"]["autodiff_max_relative_difference"] < 1e-4
    held = slower(sig) and relu_near and products_ok and autodiff_ok

    fmt = ", ".join
    summary = (
        "Nielsen's setup: hidden-layer speeds "
        f"{fmt(f'{v:.4f}' for v in sig['speed_at_init_hidden'])} at initialisation "
        f"(his 0.003, 0.017, 0.070, 0.285); relative to the last hidden "
        f"layer {fmt(f'{v:.3f}' for v in sig['ratio_to_last_hidden'][:-1])} (his "
        f"{fmt(f'{v:.3f}' for v in nielsen_ratio[:-1])}). Quadratic cost with N(0, 1): first/last "
        f"{quad['ratio_first_over_last_hidden']:.3f}. ReLU + He: first/last "
        f"{relu['ratio_first_over_last_hidden']:.2f} (per-example δ: "
        f"{relu['per_example_ratio_first_over_last']:.2f}). Identity nets: 20 layers scale "
        f"the signal by {prods[1.5]['rows'][-1]['forward_scale']:.4g} = 1.5^20 and "
        f"{prods[0.5]['rows'][-1]['forward_scale']:.4g} = 0.5^20, ‖∂J/∂W^1‖ = "
        f"{prods[1.5]['grad_W1_norm']:.3g} and {prods[0.5]['grad_W1_norm']:.3g} (relative "
        f"error ≤ {max(p['max_relative_error'] for p in prods.values()):.0e})."
    )
    results = {
        "nielsen_printed_speeds": NIELSEN_SPEEDS,
        "nielsen_printed_ratio_to_last_hidden": nielsen_ratio,
        **studies,
        "products_1.5": prods[1.5],
        "products_0.5": prods[0.5],
        "hidden_layers_each_several_times_slower": slower(sig),
        "relu_he_first_over_last_within_factor": relu_near,
    }
    config = {
        "sizes": SIZES,
        "images": f"first {N_IMAGES} of jaxnn.data.load_mnist() train",
        "setups": {k: dict(zip(("hidden", "cost", "l2", "init", "batch_size",
                                "learning_rate"), v)) for k, v in SETUPS.items()},
        "epochs": epochs,
        "initialisations_averaged": n_inits,
        "several_times_slower_threshold": SEVERAL,
        "near_one_factor": NEAR_ONE,
        "product_depths": [PRODUCT_DEPTHS[0], PRODUCT_DEPTHS[-1]],
        "seed": seed,
    }
    titles = {
        "nielsen": "sigmoid, cross entropy, Nielsen's init\nfull batch, η = 0.1, λ = 5",
        "quadratic_normal": "sigmoid, quadratic cost, N(0, 1) init\nSGD η = 0.1, batch 10",
        "relu_he": "ReLU, cross entropy, He init\nfull batch, η = 0.1, λ = 5",
    }

    def draw_speeds(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.3), sharey=True)
        colors = ["#2A6EA6", "#FFA933", "#FF5555", "#55AA55"]
        for ax, name in zip(axes, SETUPS):
            c = curves[name]
            for j in range(len(SIZES) - 2):
                ax.semilogy(np.arange(len(c)), c[:, j], color=colors[j],
                            label=f"hidden layer {j + 1}")
            ax.set_xlabel("epoch" + (" (one full-batch step each)" if
                                     studies[name]["batch_size"] == N_IMAGES else ""))
            ax.set_title(titles[name], fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
        axes[0].set_ylabel("speed of learning ‖∂J/∂b^l‖")
        axes[0].legend(fontsize=8)
        fig.suptitle(
            f"Speed of learning per layer, [784, 30, 30, 30, 30, 10]: sigmoid first/last "
            f"hidden {sig['ratio_first_over_last_hidden']:.3f} at init (Nielsen "
            f"{nielsen_ratio[0]:.3f}); ReLU + He {relu['ratio_first_over_last_hidden']:.2f}",
            fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def draw_products(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
        layers = np.arange(1, len(SIZES) - 1)
        w = 0.2
        ax1.bar(layers - 1.5 * w, NIELSEN_SPEEDS, w, label="Nielsen's book", color="grey")
        names = {"nielsen": "jaxnn, Nielsen's setup", "quadratic_normal":
                 "jaxnn, quadratic + N(0, 1)", "relu_he": "jaxnn, ReLU + He"}
        for i, (name, s) in enumerate(studies.items()):
            ax1.bar(layers + (i - 0.5) * w, s["speed_at_init_hidden"], w, label=names[name])
        ax1.set_yscale("log")
        ax1.set_xticks(layers)
        ax1.set_xlabel("hidden layer")
        ax1.set_ylabel("speed of learning at initialisation")
        ax1.set_title(f"at initialisation (geometric mean of {n_inits} draws)")
        ax1.legend(fontsize=8)
        for f, color in ((1.5, "C3"), (0.5, "C0")):
            rows = prods[f]["rows"]
            ls = [r["layers"] for r in rows]
            ax2.semilogy(ls, [r["forward_scale"] for r in rows], "o", color=color, ms=5,
                         label=f"W = {f}·I: forward ‖A^l‖/‖x‖")
            kb = [r["layers"] for r in rows if r["backward_scale"] is not None]
            ax2.semilogy(kb, [r["backward_scale"] for r in rows if r["backward_scale"]
                              is not None], "s", color=color, mfc="none", ms=7,
                         label=f"W = {f}·I: backward ‖Δ^(L−k)‖/‖Δ^L‖")
            ax2.semilogy(ls, [r["forward_formula"] for r in rows], "k-", lw=0.7)
        ax2.plot([], [], "k-", lw=0.7, label="formula f^l (f = 1.5, 0.5)")
        ax2.set_ylabel("scale after l (forward) or k (backward) layers")
        ax2.set_xticks([1, 5, 10, 15, 20])
        ax2.set_xlabel("layers l or k (20-layer identity network)")
        ax2.set_title("the neural-network notes: products of weights explode or vanish")
        ax2.legend(fontsize=7)
        fig.suptitle(
            f"Vanishing and exploding: 1.5^20 = {1.5**20:.4g}, 0.5^20 = {0.5**20:.3g}, "
            f"jaxnn matches to {max(p['max_relative_error'] for p in prods.values()):.0e}; "
            f"sigmoid hidden speeds {sig['speed_at_init_hidden'][0]:.4f} → "
            f"{sig['speed_at_init_hidden'][-1]:.3f}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held, config=config, results=results,
        figures={f"{NAME}_speed.png": draw_speeds, f"{NAME}_products.png": draw_products},
        summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
