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
minibatches of 32 from a fresh shuffle every epoch, each over :data:`SEEDS` seeds (5 in
full mode, 2 in quick mode). Every scheme × every seed of one network trains in one
compiled program (:func:`jaxnn.train.fit_many`); seed k draws the initial weights of every
scheme from the same key and shuffles with the same key, so the schemes are compared on
the same draws and the same minibatches. The test set is only watched (evaluated after
every epoch), nothing is chosen on it.

1. Symmetry: a 784-100-10 network with a sigmoid hidden layer started from zeros. After
   training, the hidden weight matrix has identical rows (max row difference) and
   numerical rank 1 (singular values above 1e-6 · the largest), as has the output one
   (identical columns). With tanh or ReLU hidden layers zeros are worse still: the hidden
   activations are 0 and no weight ever moves. The claim is one of exact arithmetic, so
   this network trains in float64. In float32 the compiled epoch rounds some rows'
   sums differently (at float32's ≈1e-7), and the symmetric point is not stable: over the
   epochs those rounding differences grow by orders of magnitude, past the 1e-6
   tolerance. Full mode trains that float32 network too and reports its row differences
   and ranks, unjudged.
2. Activation statistics at initialisation: the standard deviation of A^l in each hidden
   layer of the tanh and ReLU networks, over 1,000 training images, for every scheme and
   seed (``backprop.forward_pass``); "in range" means the last hidden layer's std is within
   a factor of 4 of the first's (neither vanishing nor exploding with depth).
3. Learning curves of the same deep networks for each scheme (zeros, uniform U[−0.12,
   0.12], N(0, 1), LeCun, He, Glorot): test accuracy per epoch, mean ± one std over the
   seeds. A run whose cost turns NaN/Inf is frozen at its last finite parameters
   (``fit_many``) and marked diverged; its accuracy from then on is theirs.

**The rule** (:data:`RULE`): held when (1) in every seed the sigmoid network from zeros
(float64) ends with identical hidden rows and a rank-1 W^1, (2) in every seed every scaled scheme's
last/first hidden activation std at initialisation is within a factor of 4, for tanh and
ReLU, and (3) for tanh and ReLU every scaled scheme's final test accuracy is one standard
deviation above N(0, 1)'s: mean − std (scaled) > mean + std (N(0, 1)), with the mean and
the sample standard deviation (ddof = 1) over the seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import (
    Result,
    exit_with,
    make_main,
    mean_std,
    one_std_above,
    pyplot,
)
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
SEEDS = {"full": 5, "quick": 2}
RULE = (
    "held when (1) in every seed the sigmoid 784-100-10 network trained from zeros (in "
    "float64) has identical hidden rows (max row difference ≤ 1e-6 · max |W|) and "
    "numerical rank 1; (2) in every seed each scaled scheme (LeCun, He, Glorot) keeps the "
    "last/first hidden activation std at initialisation within a factor of 4, in the tanh "
    "and the ReLU network; (3) in both networks each scaled scheme's final test accuracy "
    "is one std above N(0, 1)'s: mean − std (scaled) > mean + std (N(0, 1)), mean and "
    "sample std (ddof = 1) over the seeds"
)


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


def identical_rank_one(m: dict) -> bool:
    """A weight matrix that moved (max |W| > 0) with identical rows and numerical rank 1."""
    return (m["max_abs_W"] > 0 and m["max_row_difference"] <= 1e-6 * m["max_abs_W"]
            and m["numerical_rank"] == 1)


def activation_stds(net, params, x) -> list[float]:
    """std of A^l over the images and units, for each hidden layer l."""
    _, acts = backprop.forward_pass(net, params, x)
    return [float(jnp.std(a)) for a in acts[1:-1]]


def run_slice(params, i: int):
    """Run i's parameters from a stack with a leading run axis."""
    return jax.tree.map(lambda a: a[i], params)


def frozen_curve(start: float, per_epoch: list[float], epochs: int) -> list[float]:
    """``[start, epoch 1, …, epoch E]``: a run frozen after divergence (``fit_many`` keeps
    its last finite parameters) keeps its last value for the epochs it did not train."""
    curve = [start, *per_epoch]
    return curve + [curve[-1]] * (epochs + 1 - len(curve))


def train_schemes(net, schemes, keys, train_set, test_set, epochs: int, stats_x,
                  dtype=jnp.float32) -> dict:
    """Every scheme × every seed in one :func:`jaxnn.train.fit_many` program (run
    ``i·K + k`` is scheme i, seed k), SGD η = :data:`LEARNING_RATE`, batch
    :data:`BATCH_SIZE`. Seed k initialises every scheme from ``fold_in(keys[k], 0)`` and
    shuffles with ``fold_in(keys[k], 1)``. Returns, per scheme: the activation stds at
    initialisation, the test accuracy and cost after every epoch (epoch 0: at
    initialisation) and the final parameters, each per seed. ``dtype``: of the parameters
    and the data (float64 needs ``jax.enable_x64``)."""
    train_set, test_set = ((np.asarray(x, dtype), y) for x, y in (train_set, test_set))
    stats_x = np.asarray(stats_x, dtype)
    K = keys.shape[0]
    init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
    shuffle_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    stacks = [jax.vmap(lambda k, s=s: jaxnn.init_params(k, net, s, dtype))(init_keys)
              for s in schemes]
    params = jax.tree.map(lambda *a: jnp.concatenate(a), *stacks)
    r = train.fit_many(net, params, optimizers.sgd(LEARNING_RATE), train_set,
                       epochs=epochs, batch_size=BATCH_SIZE,
                       keys=jnp.concatenate([shuffle_keys] * len(schemes)),
                       validation=test_set)
    out = {}
    for i, scheme in enumerate(schemes):
        runs = range(i * K, (i + 1) * K)
        starts = [train.evaluate(net, run_slice(params, j), *test_set) for j in runs]
        out[scheme] = {
            "activation_stds": [activation_stds(net, run_slice(params, j), stats_x)
                                for j in runs],
            "accuracy": [frozen_curve(s["accuracy"], [h["val_accuracy"]
                                                      for h in r.histories[j]], epochs)
                         for s, j in zip(starts, runs)],
            "cost": [frozen_curve(s["cost"], [h["val_cost"] for h in r.histories[j]], epochs)
                     for s, j in zip(starts, runs)],
            "train_cost": [[h["train_cost"] for h in r.histories[j]] for j in runs],
            "diverged_at": [r.diverged_at[j] for j in runs],
            "final_params": [run_slice(r.params, j) for j in runs],
        }
    return out


def std_ratio(stds: list[float]) -> float | None:
    """Last over first hidden activation std; None where every activation is 0 (zeros:
    tanh(0) = relu(0) = 0)."""
    return stds[-1] / stds[0] if stds[0] > 0 else None


def run(quick: bool, seed: int) -> Result:
    mnist = data.load_mnist()
    n_train = 2000 if quick else len(mnist.y_train)
    x_train, y_train = mnist.x_train[:n_train], mnist.y_train[:n_train]
    train_set, test_set = (x_train, y_train), (mnist.x_test, mnist.y_test)
    n_seeds = SEEDS["quick" if quick else "full"]
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    epochs = 1 if quick else 10
    schemes = tuple(s for s in SCHEMES if not (quick and s == "uniform"))
    stats_x = x_train[:1000]

    # 1. Symmetry: a sigmoid hidden layer from zeros (the seeds differ in the shuffles only),
    # in float64: the claim is one of exact arithmetic (see the module docstring).
    sym_net = jaxnn.mlp(SYMMETRY_SIZES, hidden="sigmoid", output="softmax",
                        cost="cross_entropy")
    with jax.enable_x64(True):
        sym = train_schemes(sym_net, ("zeros",), keys, train_set, test_set, epochs,
                            stats_x, jnp.float64)["zeros"]
        sym_layers = [symmetry_measures(p) for p in sym["final_params"]]
    float32_sym = None
    if not quick:  # the same runs in float32: rounding breaks the symmetry (unjudged)
        sym32 = train_schemes(sym_net, ("zeros",), keys, train_set, test_set, epochs,
                              stats_x)["zeros"]
        hidden32 = [symmetry_measures(p)[0] for p in sym32["final_params"]]
        float32_sym = {
            "max_row_difference_over_max_abs_W": mean_std(
                [m["max_row_difference"] / m["max_abs_W"] for m in hidden32]),
            "numerical_rank_per_seed": [m["numerical_rank"] for m in hidden32],
        }
    # The hidden layer (the output's rows differ by class).
    symmetric_per_seed = [all(identical_rank_one(m) for m in layers[:-1])
                          for layers in sym_layers]
    symmetric = all(symmetric_per_seed)

    # 2 and 3. Deep tanh and ReLU networks, every scheme, every seed.
    deep, raw = {}, {}
    for hidden in ("tanh", "relu"):
        net = jaxnn.mlp(DEEP_SIZES, hidden=hidden, output="softmax", cost="cross_entropy")
        raw[hidden] = train_schemes(net, schemes, keys, train_set, test_set, epochs, stats_x)
        runs = {}
        for scheme, t in raw[hidden].items():
            acc, cost = np.asarray(t["accuracy"]), np.asarray(t["cost"])
            ratios = [std_ratio(s) for s in t["activation_stds"]]
            stds = np.asarray(t["activation_stds"])
            r = {
                "scheme": scheme,
                "activation_std_at_init_per_seed": stds,
                "activation_std_at_init_mean": stds.mean(axis=0),
                "last_over_first_hidden_std": (None if any(q is None for q in ratios)
                                               else mean_std(ratios)),
                "test_accuracy_per_epoch_mean": acc.mean(axis=0),
                "test_accuracy_per_epoch_std": acc.std(axis=0, ddof=1),
                "test_cost_per_epoch_mean": cost.mean(axis=0),
                "train_cost_per_epoch_per_seed": t["train_cost"],
                "final_test_accuracy": mean_std(acc[:, -1]),
                "final_test_cost": mean_std(cost[:, -1]),
                "diverged_in_epoch_per_seed": t["diverged_at"],
                "W1_numerical_rank_per_seed": [
                    symmetry_measures(p[:1])[0]["numerical_rank"] for p in t["final_params"]],
            }
            if scheme == "zeros":
                r["weights_still_all_zero_every_seed"] = all(
                    float(jnp.max(jnp.abs(layer.W))) == 0.0
                    for p in t["final_params"] for layer in p)
            runs[scheme] = r
        deep[hidden] = runs

    in_range = {h: {s: all(1 / IN_RANGE <= q <= IN_RANGE
                           for q in deep[h][s]["last_over_first_hidden_std"]["per_seed"])
                    for s in SCALED} for h in deep}
    better = {h: {s: one_std_above(deep[h][s]["final_test_accuracy"],
                                   deep[h]["normal"]["final_test_accuracy"])
                  for s in SCALED} for h in deep}
    held = (symmetric and all(all(v.values()) for v in better.values())
            and all(all(v.values()) for v in in_range.values()))

    def acc(h, s):
        a = deep[h][s]["final_test_accuracy"]
        return f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f}%"

    def diverged(h, s):
        n = sum(e is not None for e in deep[h][s]["diverged_in_epoch_per_seed"])
        return f" ({n}/{n_seeds} diverged)" if n else ""

    def ratio(h, s, digits=2):
        q = deep[h][s]["last_over_first_hidden_std"]
        return f"{q['mean']:.{digits}f} ± {q['std']:.{digits}f}"

    hidden0 = [layers[0] for layers in sym_layers]
    float32_note = "" if float32_sym is None else (
        f" (float64; in float32 rounding differences grow to "
        f"{float32_sym['max_row_difference_over_max_abs_W']['mean']:.1e} of max |W|, rank "
        f"{sorted(set(float32_sym['numerical_rank_per_seed']))})")
    lecun_ranks = deep["tanh"]["lecun_normal"]["W1_numerical_rank_per_seed"]
    summary = (
        f"Over {n_seeds} seeds: from zeros, the sigmoid network's hidden weights stay "
        f"identical row by row in {sum(symmetric_per_seed)}/{n_seeds} seeds (W^1: max row "
        f"difference ≤ {max(m['max_row_difference'] for m in hidden0):.1e}, rank "
        f"{sorted({m['numerical_rank'] for m in hidden0})}{float32_note}; LeCun in the tanh "
        f"net: rank {sorted(set(lecun_ranks))}); with tanh/ReLU zeros no weight moves. "
        f"After {epochs} epoch{'s' if epochs > 1 else ''}, test accuracy (mean ± std) tanh: "
        + ", ".join(f"{s.replace('_normal', '')} {acc('tanh', s)}{diverged('tanh', s)}"
                    for s in schemes[1:])
        + "; ReLU: "
        + ", ".join(f"{s.replace('_normal', '')} {acc('relu', s)}{diverged('relu', s)}"
                    for s in schemes[1:])
        + f". Last/first hidden activation std at init: He on ReLU {ratio('relu', 'he_normal')}"
        f", LeCun on tanh {ratio('tanh', 'lecun_normal')}, N(0, 1) on ReLU "
        f"{ratio('relu', 'normal', 0)}."
    )
    sym_acc = np.asarray(sym["accuracy"])
    results = {
        "rule": RULE,
        "seeds": n_seeds,
        "symmetry_network": {
            "sizes": SYMMETRY_SIZES, "hidden": "sigmoid", "init": "zeros",
            "layers_per_seed": sym_layers,
            "symmetric_per_seed": symmetric_per_seed,
            "final_test_accuracy": mean_std(sym_acc[:, -1]),
            "diverged_in_epoch_per_seed": sym["diverged_at"],
            "dtype": "float64",
            "float32_unjudged": float32_sym,
        },
        "zeros_symmetric": symmetric,
        "deep_tanh": deep["tanh"],
        "deep_relu": deep["relu"],
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
        "seeds": n_seeds,
        "seed_keys": f"jax.random.split(jax.random.key({seed}), {n_seeds}); seed k "
                     "initialises with fold_in(key_k, 0), shuffles with fold_in(key_k, 1)",
        "training": "jaxnn.train.fit_many: every scheme × seed of one network in one program",
        "held_if": RULE,
        "seed": seed,
        "quick": quick,
    }
    colors = {s: f"C{i}" for i, s in enumerate(SCHEMES)}  # one colour per scheme, everywhere
    labels = {"zeros": "zeros", "uniform": "uniform ±0.12", "normal": "N(0, 1)",
              "lecun_normal": "LeCun √(1/n)", "he_normal": "He √(2/n)",
              "glorot_normal": "Glorot √(2/(n_in+n_out))"}
    sym_W1 = {"zeros": np.asarray(sym["final_params"][0][0].W),
              "lecun_normal": np.asarray(raw["tanh"]["lecun_normal"]["final_params"][0][0].W)}
    sym_label = {"zeros": "sigmoid net from zeros", "lecun_normal": "tanh net from LeCun"}
    sym_rank = {"zeros": hidden0[0]["numerical_rank"], "lecun_normal": lecun_ranks[0]}

    def draw_curves(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
        ep = np.arange(epochs + 1)
        for ax, h in zip(axes, ("tanh", "relu")):
            for s in schemes:
                r = deep[h][s]
                mean = np.asarray(r["test_accuracy_per_epoch_mean"])
                std = np.asarray(r["test_accuracy_per_epoch_std"])
                ax.plot(ep, mean, "o-", ms=3, color=colors[s],
                        label=f"{labels[s]}: {acc(h, s)}{diverged(h, s)}")
                ax.fill_between(ep, mean - std, mean + std, color=colors[s], alpha=0.2, lw=0)
            ax.set_xlabel("epoch (SGD η = 0.1, batch 32)")
            ax.set_title(f"784-100-100-100-100-10, {h} hidden layers", fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        axes[0].set_ylabel(f"test accuracy (1,000 digits), mean ± std over {n_seeds} seeds")
        fig.suptitle(
            "Scaled initialisations train, N(0, 1) and zeros do not: final test accuracy "
            f"tanh LeCun {acc('tanh', 'lecun_normal')} vs N(0, 1) {acc('tanh', 'normal')}"
            f"; ReLU He {acc('relu', 'he_normal')} vs N(0, 1) {acc('relu', 'normal')}",
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
                stds = np.asarray(deep[h][s]["activation_std_at_init_per_seed"])
                ax.errorbar(layers, stds.mean(axis=0), yerr=stds.std(axis=0, ddof=1),
                            fmt="o-", ms=4, capsize=3, color=colors[s], label=labels[s])
            ax.set_yscale("log")
            ax.set_xticks(layers)
            ax.set_xlabel("hidden layer l")
            ax.set_ylabel(f"std of A^l at initialisation (mean ± std, {n_seeds} seeds)")
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
        ax.set_title("symmetry: W^1 (100 × 784) after training, first seed", fontsize=10)
        ax.legend(fontsize=8)
        fig.suptitle(
            f"√(1/n), √(2/n) keep signals in range: last/first hidden std He/ReLU "
            f"{ratio('relu', 'he_normal')}, N(0, 1)/ReLU {ratio('relu', 'normal', 0)}; "
            f"zeros leave W^1 rank {sym_rank['zeros']}", fontsize=10)
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
