"""Zero initialisation keeps every unit of a layer identical; scaled random initialisation
keeps signals in range and trains deep networks.

Claim (the neural-network notes, "random initialisation to break symmetry" and
"initialisation schemes"): with all weights zero every unit of a layer computes, and
learns, the same thing; random weights scaled by √(1/n) (LeCun) or √(2/n) (He), or
Glorot's √(2/(n_in + n_out)), keep the activations of a deep network in range, and such a
network trains better than one started from N(0, 1) weights.

The neural-network notes muddle the names ("Xavier: √(1/n)", "Her: √(2/(n^L + n^{L−1}))");
the standard ones are used here: LeCun normal σ = √(1/n_in), He normal σ = √(2/n_in),
Glorot (Xavier) normal σ = √(2/(n_in + n_out)).

Three parts, on the bundled MNIST sample (4,000 training and 1,000 test digits, pixels in
[0, 1]), 784-100-100-100-100-10 networks, softmax output with cross entropy, SGD η = 0.1,
minibatches of 32 from a fresh shuffle every epoch (``train.make_step``, compiled once per
network and reused by every scheme; ``train.evaluate`` after every epoch):

1. Symmetry: a 784-100-10 network with a sigmoid hidden layer started from zeros. After
   training, the hidden weight matrix has identical rows (max row difference) and
   numerical rank 1 (singular values above 1e-6 · the largest), as has the output one
   (identical columns). With tanh or ReLU hidden layers zeros are worse still: the hidden
   activations are 0 and no weight ever moves.
2. Activation statistics at initialisation: the standard deviation of A^l in each hidden
   layer of the tanh and ReLU networks, over 1,000 training images, for
   every scheme (``backprop.forward_pass``); "in range" means the last hidden layer's std
   is within a factor of 4 of the first's (neither vanishing nor exploding with depth).
3. Learning curves of the same deep networks for each scheme (zeros, uniform U[−0.12,
   0.12], N(0, 1), LeCun, He, Glorot): test accuracy per epoch. A run whose cost turns
   NaN/Inf is stopped and marked diverged; its accuracy is that of its last finite
   parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, optimizers, train

NAME = "initialization"
CLAIM = (
    "Zero initialisation makes every unit of a layer learn the same thing (the neural-network "
    "notes); random initialisation scaled by √(1/n) (LeCun), √(2/n) (He) or Glorot's "
    "√(2/(n_in + n_out)) keeps a deep network's activations in range, and it trains better "
    "than N(0, 1)."
)

DEEP_SIZES = (784, 100, 100, 100, 100, 10)
SYMMETRY_SIZES = (784, 100, 10)
SCHEMES = ("zeros", "uniform", "normal", "lecun_normal", "he_normal", "glorot_normal")
SCALED = ("lecun_normal", "he_normal", "glorot_normal")
LEARNING_RATE = 0.1
BATCH_SIZE = 32
RANK_TOLERANCE = 1e-6  # singular values below this fraction of the largest count as 0
IN_RANGE = 4.0  # last/first hidden-layer activation std within this factor


def symmetry_measures(params) -> list[dict]:
    """Per layer: the largest |W_ij − W_0j| (row i against row 0), relative to max |W|,
    and the numerical rank of W."""
    out = []
    for l, layer in enumerate(params, start=1):
        W = np.asarray(layer.W, np.float64)
        scale = float(np.max(np.abs(W)))
        s = np.linalg.svd(W, compute_uv=False)
        rank = int(np.sum(s > RANK_TOLERANCE * s[0])) if s[0] > 0 else 0
        out.append({
            "layer": l,
            "shape": list(W.shape),
            "max_abs_W": scale,
            "max_row_difference": float(np.max(np.abs(W - W[0]))),
            "numerical_rank": rank,
            "singular_values_top5": s[:5].tolist(),
        })
    return out


def train_scheme(net, step, opt, scheme, key, rng, train_set, test_set, epochs,
                 stats_x) -> dict:
    """``epochs`` epochs of minibatch SGD (``train.make_step``, compiled once per network)
    from ``init_params(key, net, scheme)``, the minibatches drawn with the NumPy generator
    ``rng``; test accuracy and cost after every epoch."""
    x, y = train_set
    params = jaxnn.init_params(key, net, scheme)
    stds = activation_stds(net, params, stats_x)
    state = opt.init(params)
    start = train.evaluate(net, params, *test_set)
    accuracy, cost, train_cost = [start["accuracy"]], [start["cost"]], []
    diverged_at = None
    n = x.shape[0]
    for e in range(epochs):
        order = rng.permutation(n)  # a fresh shuffle; the last n mod 32 sit this one out
        # make_step donates its inputs: keep a copy to fall back on if the epoch diverges.
        new_params, new_state, costs = jax.tree.map(jnp.copy, (params, state)) + ([],)
        for b in range(n // BATCH_SIZE):
            idx = order[b * BATCH_SIZE:(b + 1) * BATCH_SIZE]
            new_params, new_state, m = step(new_params, new_state, x[idx], y[idx])
            costs.append(m["cost"])
        costs = np.asarray(jax.device_get(costs))
        finite = np.all(np.isfinite(costs)) and all(
            np.all(np.isfinite(leaf)) for leaf in jax.device_get(jax.tree.leaves(new_params)))
        if not finite:
            diverged_at = e + 1
            break
        params, state = new_params, new_state
        ev = train.evaluate(net, params, *test_set)
        accuracy.append(ev["accuracy"])
        cost.append(ev["cost"])
        train_cost.append(float(np.mean(costs)))
    return {
        "scheme": scheme,
        "activation_std_at_init": stds,
        "test_accuracy_per_epoch": accuracy,
        "test_cost_per_epoch": cost,
        "train_cost_per_epoch": train_cost,
        "final_test_accuracy": accuracy[-1],
        "diverged_in_epoch": diverged_at,
        "params": params,
    }


def activation_stds(net, params, x) -> list[float]:
    """std of A^l over the images and units, for each hidden layer l."""
    _, acts = backprop.forward_pass(net, params, x)
    return [float(jnp.std(a)) for a in acts[1:-1]]


def run(quick: bool, seed: int) -> Result:
    mnist = data.load_mnist()
    n_train = 2000 if quick else len(mnist.y_train)
    x_host, y_host = mnist.x_train[:n_train], mnist.y_train[:n_train]  # batches cut on the host
    x_test, y_test = jnp.asarray(mnist.x_test), jnp.asarray(mnist.y_test)
    key = jax.random.key(seed)
    epochs = 1 if quick else 10
    schemes = tuple(s for s in SCHEMES if not (quick and s == "uniform"))
    opt = optimizers.sgd(LEARNING_RATE)

    stats_x = x_host[:1000]
    train_set, test_set = (x_host, y_host), (x_test, y_test)

    # 1. Symmetry: a sigmoid hidden layer from zeros.
    sym_net = jaxnn.mlp(SYMMETRY_SIZES, hidden="sigmoid", output="softmax",
                        cost="cross_entropy")
    sym_run = train_scheme(sym_net, train.make_step(sym_net, opt), opt, "zeros", key,
                           np.random.default_rng((seed, 0)),
                           train_set, test_set, epochs, stats_x)
    sym_params = sym_run.pop("params")
    sym_zero = symmetry_measures(sym_params)
    zero_hidden = sym_zero[:-1]  # the hidden layer (the output's rows differ by class)
    symmetric = all(
        m["max_abs_W"] > 0
        and m["max_row_difference"] <= 1e-6 * m["max_abs_W"]
        and m["numerical_rank"] == 1
        for m in zero_hidden
    )

    # 2 and 3. Deep tanh and ReLU networks, every scheme.
    deep, deep_W1 = {}, {}
    for hidden in ("tanh", "relu"):
        net = jaxnn.mlp(DEEP_SIZES, hidden=hidden, output="softmax", cost="cross_entropy")
        step = train.make_step(net, opt)
        runs = {}
        for i, scheme in enumerate(schemes):
            k = jax.random.fold_in(key, 100 + i)
            r = train_scheme(net, step, opt, scheme, k, np.random.default_rng((seed, 100 + i)),
                             train_set, test_set, epochs, stats_x)
            final_params = r.pop("params")
            if scheme == "zeros":
                r["weights_still_all_zero"] = all(
                    float(jnp.max(jnp.abs(layer.W))) == 0.0 for layer in final_params)
            r["W1_after_training"] = symmetry_measures(final_params[:1])[0]
            deep_W1[(hidden, scheme)] = np.asarray(final_params[0].W)
            runs[scheme] = r
        deep[hidden] = runs
    sym_W1 = {"zeros": np.asarray(sym_params[0].W),
              "lecun_normal": deep_W1[("tanh", "lecun_normal")]}

    def std_ratio(r):  # None where every activation is 0 (zeros: tanh(0) = relu(0) = 0)
        s = r["activation_std_at_init"]
        return s[-1] / s[0] if s[0] > 0 else None

    in_range = {h: {s: bool(1 / IN_RANGE <= std_ratio(deep[h][s]) <= IN_RANGE) for s in SCALED}
                for h in deep}
    better = {
        h: {s: deep[h][s]["final_test_accuracy"] > deep[h]["normal"]["final_test_accuracy"]
            for s in SCALED}
        for h in deep
    }
    held = (
        symmetric
        and all(all(v.values()) for v in better.values())
        and all(all(v.values()) for v in in_range.values())
    )

    def acc(h, s):
        return deep[h][s]["final_test_accuracy"]

    def diverged(h, s):
        e = deep[h][s]["diverged_in_epoch"]
        return f" (diverged in epoch {e})" if e else ""

    z1 = zero_hidden[0]
    lecun_W1 = deep["tanh"]["lecun_normal"]["W1_after_training"]
    sym_label = {"zeros": "sigmoid net from zeros", "lecun_normal": "tanh net from LeCun"}
    sym_rank = {"zeros": z1["numerical_rank"], "lecun_normal": lecun_W1["numerical_rank"]}
    summary = (
        f"From zeros, the sigmoid network's hidden weights stay identical row by row (W^1: "
        f"max row difference {z1['max_row_difference']:.1e} of max |W| "
        f"{z1['max_abs_W']:.2g}, rank {z1['numerical_rank']}; LeCun: rank "
        f"{lecun_W1['numerical_rank']} in the tanh net); with tanh/ReLU zeros no weight "
        f"moves. "
        f"After {epochs} epoch{'s' if epochs > 1 else ''}, test accuracy tanh: "
        + ", ".join(f"{s.replace('_normal', '')} {acc('tanh', s):.1%}{diverged('tanh', s)}"
                    for s in schemes[1:])
        + "; ReLU: "
        + ", ".join(f"{s.replace('_normal', '')} {acc('relu', s):.1%}{diverged('relu', s)}"
                    for s in schemes[1:])
        + f". Last/first hidden activation std at init: He on ReLU "
        f"{std_ratio(deep['relu']['he_normal']):.2f}, LeCun on tanh "
        f"{std_ratio(deep['tanh']['lecun_normal']):.2f}, N(0, 1) on ReLU "
        f"{std_ratio(deep['relu']['normal']):.0f}."
    )
    results = {
        "symmetry_network": {"sizes": SYMMETRY_SIZES, "hidden": "sigmoid", "init": "zeros",
                             "layers": sym_zero, **{k: v for k, v in sym_run.items()
                                                    if k != "scheme"}},
        "zeros_symmetric": symmetric,
        "deep_tanh": deep["tanh"],
        "deep_relu": deep["relu"],
        "last_over_first_hidden_std": {h: {s: std_ratio(deep[h][s]) for s in schemes}
                                       for h in deep},
        "scaled_schemes_in_range": in_range,
        "scaled_schemes_beat_normal": better,
    }
    config = {
        "deep_sizes": DEEP_SIZES,
        "output": "softmax + cross_entropy",
        "optimizer": f"sgd({LEARNING_RATE})",
        "batch_size": BATCH_SIZE,
        "epochs": epochs,
        "schemes": schemes,
        "uniform_epsilon": 0.12,
        "data": f"jaxnn.data.load_mnist() bundled sample, first {n_train} train / 1000 test",
        "activation_stats_images": 1000,
        "in_range_factor": IN_RANGE,
        "rank_tolerance": RANK_TOLERANCE,
        "seed": seed,
    }
    colors = {s: f"C{i}" for i, s in enumerate(SCHEMES)}  # one colour per scheme, everywhere
    labels = {"zeros": "zeros", "uniform": "uniform ±0.12", "normal": "N(0, 1)",
              "lecun_normal": "LeCun √(1/n)", "he_normal": "He √(2/n)",
              "glorot_normal": "Glorot √(2/(n_in+n_out))"}

    def draw_curves(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
        for ax, h in zip(axes, ("tanh", "relu")):
            for s in schemes:
                r = deep[h][s]
                label = labels[s]
                if r["diverged_in_epoch"]:
                    label += f" — diverged (NaN) in epoch {r['diverged_in_epoch']}"
                ax.plot(range(len(r["test_accuracy_per_epoch"])), r["test_accuracy_per_epoch"],
                        "o-", ms=4 if r["diverged_in_epoch"] else 3, color=colors[s],
                        label=label)
            ax.set_xlabel("epoch (SGD η = 0.1, batch 32)")
            ax.set_title(f"784-100-100-100-100-10, {h} hidden layers", fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        axes[0].set_ylabel("test accuracy (1,000 digits)")
        fig.suptitle(
            "Scaled initialisations train, N(0, 1) and zeros do not: final test accuracy "
            f"tanh LeCun {acc('tanh', 'lecun_normal'):.0%} vs N(0, 1) {acc('tanh', 'normal'):.0%}"
            f"; ReLU He {acc('relu', 'he_normal'):.0%} vs N(0, 1) {acc('relu', 'normal'):.0%}",
            fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def draw_activations(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
        layers = np.arange(1, len(DEEP_SIZES) - 1)
        for ax, h in zip(axes[:2], ("tanh", "relu")):
            for s in schemes[1:]:
                ax.semilogy(layers, deep[h][s]["activation_std_at_init"], "o-",
                            color=colors[s], label=labels[s])
            ax.set_xticks(layers)
            ax.set_xlabel("hidden layer l")
            ax.set_ylabel("std of A^l at initialisation")
            ax.set_title(f"{h}: activations through depth", fontsize=10)
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=8)
        ax = axes[2]
        for s, marker in (("zeros", "o"), ("lecun_normal", "s")):
            sv = np.linalg.svd(np.asarray(sym_W1[s], np.float64), compute_uv=False)
            ax.semilogy(np.arange(1, len(sv) + 1), np.maximum(sv, 1e-20), marker + "-", ms=3,
                        label=f"{sym_label[s]}: rank {sym_rank[s]}")
        ax.set_xlabel("singular value index")
        ax.set_ylabel("singular value of W^1 after training")
        ax.set_title("symmetry: W^1 (100 × 784) after training", fontsize=10)
        ax.legend(fontsize=8)
        fig.suptitle(
            f"√(1/n), √(2/n) keep signals in range: last/first hidden std He/ReLU "
            f"{std_ratio(deep['relu']['he_normal']):.2f}, N(0, 1)/ReLU "
            f"{std_ratio(deep['relu']['normal']):.0f}; zeros leave W^1 rank "
            f"{z1['numerical_rank']}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held, config=config, results=results,
        figures={f"{NAME}_curves.png": draw_curves,
                 f"{NAME}_activations.png": draw_activations},
        summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
