"""Experiment 8: normalising the inputs speeds up training (the neural-network notes).

Claim (the neural-network notes, "input normalisation x ← (x − μ)/σ"): when the input
features live on very different scales, training on standardized inputs reaches a target
cost in fewer steps than training on the raw inputs, each at its own best learning rate.

Setting: the bundled digits with every pixel multiplied by its own random scale
s_j = 10^{u_j}, u_j ~ U(−1, 2) (features on scales 0.1 to 100, a factor 1,000 apart), so
the cost's valley is elongated as in the notes' contour picture. The scales are one draw
(NumPy seed = ``--seed``), shared by every run. The standardized copy is
``jaxnn.data.standardize(x_train, x_test)``: μ and σ from the training set only. The raw
[0, 1] pixels are run too, as a reference.

Every condition trains the same 784-30-10 network (sigmoid hidden, softmax + cross
entropy, LeCun-normal initialisation) with plain minibatch SGD (batch 32) over a log grid
of learning rates, each rate from :data:`SEEDS` seeds (5 in full mode, 2 in quick mode):
seed k draws the initial parameters from ``fold_in(key_k, 0)`` and shuffles with
``fold_in(key_k, 1)``, the same in every condition, so the conditions are compared seed by
seed. A condition's whole grid × seeds is one compiled program,
:func:`jaxnn.train.fit_many` with the rates as per-run hyper-parameters; after every epoch
it measures the cost J on the whole training set. A condition's best rate is the one
with the lowest mean final training cost over the seeds (a rate at which any seed
diverged is not eligible); the epochs to each target cost are counted per seed at that
rate. In full mode the first seed's best-rate run is repeated with
:func:`jaxnn.train.fit`, the one-run loop: the same steps, so the curves agree up to
float32 rounding (the batched and the single matmuls round differently), which training
amplifies (the largest cost difference is reported). Quick mode leaves out the reference
and the repeat.

**The rule** (:data:`RULE`): held when, each condition at its best rate, (1) in every
seed standardized inputs reach training cost :data:`MAIN_TARGET` in fewer epochs than the
raw ones (never reaching it counts as more epochs than any), and (2) the final training
cost of standardized inputs is one standard deviation below the raw inputs': mean + std
(standardized) < mean − std (raw), with the mean and the sample standard deviation
(ddof = 1) over the seeds.
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
from jaxnn import data
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit, fit_many

NAME = "normalization"
CLAIM = (
    "With input features on scales 1,000 apart, standardized inputs x ← (x − μ)/σ (μ, σ "
    "from the training set) reach a target training cost in fewer steps than the raw "
    "inputs, each at its best learning rate (the neural-network notes)."
)

SIZES = (784, 30, 10)
BATCH = 32
SCALE_EXPONENTS = (-1.0, 2.0)  # s_j = 10^u, u ~ U(−1, 2)
TARGETS = (1.0, 0.5, 0.25)
MAIN_TARGET = 0.5
SEEDS = {"full": 5, "quick": 2}
RULE = (
    "held when, each condition at its best learning rate (lowest mean final training cost "
    "over the seeds), (1) in every seed standardized inputs reach training cost 0.5 in "
    "fewer epochs than the raw inputs (seed k: the same initial parameters and shuffles in "
    "both; never reaching it counts as more epochs than any), and (2) the final training "
    "cost is one std lower: mean + std (standardized) < mean − std (raw), mean and sample "
    "std (ddof = 1) over the seeds"
)


def make_net():
    return jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy")


def epochs_to(costs, target: float) -> int | None:
    """The first epoch (1-based) whose training cost is ≤ target, or None."""
    hit = np.flatnonzero(np.asarray(costs) <= target)
    return int(hit[0]) + 1 if hit.size else None


def epochs_stats(per_seed: list[int | None]) -> dict:
    """:func:`experiments._common.mean_std` of the epochs to a target over the seeds that
    reached it (``reached`` of them); mean and std are None when none did."""
    hit = [e for e in per_seed if e is not None]
    stats = mean_std(hit) if hit else {"mean": None, "std": None}
    return {**stats, "per_seed": per_seed, "reached": len(hit)}


def sooner(a: int | None, b: int | None) -> bool:
    """Epochs a strictly fewer than b, None meaning never."""
    return a is not None and (b is None or a < b)


def train_grid(net, params0, lrs, x, y, keys, epochs: int):
    """Every rate × every seed in one :func:`fit_many` program (run ``i·K + k``: rate i,
    seed k, from ``params0[k]``, shuffled with ``keys[k]``); returns the result and the
    whole-training-set cost ``(len(lrs), K, epochs)``, NaN after a run diverged."""
    L, K = len(lrs), keys.shape[0]
    params = jax.tree.map(lambda a: jnp.concatenate([a] * L), params0)
    r = fit_many(net, params, lambda learning_rate: optim.sgd(learning_rate), (x, y),
                 epochs=epochs, batch_size=BATCH, keys=jnp.concatenate([keys] * L),
                 validation=(x, y), hyperparams={"learning_rate": np.repeat(lrs, K)})
    costs = np.full((L * K, epochs), np.nan)
    for j, hist in enumerate(r.histories):
        costs[j, : len(hist)] = [h["val_cost"] for h in hist]
    return r, costs.reshape(L, K, epochs)


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    mnist = data.load_mnist()
    if quick:
        n, epochs, lrs = 1000, 5, np.geomspace(1e-3, 10.0, 9)
    else:
        n, epochs, lrs = 4000, 15, np.geomspace(1e-3, 10.0, 17)
    lrs = lrs.astype(np.float32)
    n_seeds = SEEDS["quick" if quick else "full"]
    x_train, y_train = mnist.x_train[:n], mnist.y_train[:n]
    rng = np.random.default_rng(seed)
    scales = (10.0 ** rng.uniform(*SCALE_EXPONENTS, size=x_train.shape[1])).astype(np.float32)
    raw_train, raw_test = x_train * scales, mnist.x_test * scales
    std = data.standardize(raw_train, raw_test)  # μ, σ from the training set only
    conditions = {
        "raw (scaled pixels)": (raw_train, raw_test),
        "standardized": (std.train, std.others[0]),
    }
    if not quick:
        conditions["pixels in [0, 1] (reference)"] = (x_train, mnist.x_test)

    net = make_net()
    keys = jax.random.split(key, n_seeds)
    params0 = jax.vmap(lambda k: jaxnn.init_params(jax.random.fold_in(k, 0), net,
                                                   "lecun_normal"))(keys)
    shuffle_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    updates_per_epoch = n // BATCH

    results = {}
    for label, (xtr, xte) in conditions.items():
        r, costs = train_grid(net, params0, lrs, xtr, y_train, shuffle_keys, epochs)
        final = np.where(np.isfinite(costs[:, :, -1]), costs[:, :, -1], np.inf)  # (L, K)
        best = int(np.argmin(final.mean(axis=1)))
        curves = costs[best]  # (K, E)
        finals = final[best]
        runs = range(best * n_seeds, (best + 1) * n_seeds)
        accuracy = [evaluate(net, jax.tree.map(lambda a, j=j: a[j], r.params), xte,
                             mnist.y_test)["accuracy"] for j in runs]
        out = {
            "feature_std_range": [float(xtr.std(0)[xtr.std(0) > 0].min()),
                                  float(xtr.std(0).max())],
            "final_cost_per_lr_mean": final.mean(axis=1),
            "final_cost_per_lr_std": final.std(axis=1, ddof=1),
            "diverged_seeds_per_lr": (~np.isfinite(final)).sum(axis=1),
            "best_lr": float(lrs[best]),
            "train_cost_per_epoch_mean": curves.mean(axis=0),
            "train_cost_per_epoch_std": curves.std(axis=0, ddof=1),
            "epochs_to_target": {str(t): epochs_stats([epochs_to(c, t) for c in curves])
                                 for t in TARGETS},
            "updates_per_epoch": updates_per_epoch,
            "final_train_cost": mean_std(finals),
            "test_accuracy": mean_std(accuracy),
        }
        if not quick:  # fit, the one-run loop, repeats the first seed's best run
            one = fit(net, jax.tree.map(lambda a: a[0], params0), optim.sgd(float(lrs[best])),
                      (xtr, y_train), epochs=epochs, batch_size=BATCH, key=shuffle_keys[0],
                      validation=(xtr, y_train))
            curve = np.asarray([h["val_cost"] for h in one.history])
            out["fit_vs_fit_many_max_abs_cost_difference"] = float(
                np.max(np.abs(curve - curves[0])))
        results[label] = out

    raw, st = results["raw (scaled pixels)"], results["standardized"]
    main_key = str(MAIN_TARGET)
    faster_per_seed = [sooner(a, b) for a, b in zip(st["epochs_to_target"][main_key]["per_seed"],
                                                    raw["epochs_to_target"][main_key]["per_seed"])]
    faster = all(faster_per_seed)
    lower = one_std_above(raw["final_train_cost"], st["final_train_cost"])
    held = bool(faster and lower)

    def fmt(e):
        if e["reached"] == 0:
            return "never"
        text = f"{e['mean']:.1f} ± {e['std']:.1f} epochs"
        return text + (f" ({e['reached']}/{n_seeds} seeds reach it)"
                       if e["reached"] < n_seeds else "")

    def pm(s, digits=3):
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"

    summary = (
        f"Over {n_seeds} seeds, at its best learning rate standardized input reaches "
        f"training cost {MAIN_TARGET} in {fmt(st['epochs_to_target'][main_key])} "
        f"(η = {st['best_lr']:.3g}) vs {fmt(raw['epochs_to_target'][main_key])} for features "
        f"on scales 0.1–100 (η = {raw['best_lr']:.3g}), sooner in "
        f"{sum(faster_per_seed)}/{n_seeds} seeds; after {epochs} epochs training cost "
        f"{pm(st['final_train_cost'])} vs {pm(raw['final_train_cost'])}, test accuracy "
        f"{pm(st['test_accuracy'])} vs {pm(raw['test_accuracy'])} (mean ± std)."
    )
    config = {
        "data": "bundled MNIST sample",
        "n_train": n,
        "feature_scales": "s_j = 10^u_j, u_j ~ U(-1, 2), one per pixel (numpy seed = seed)",
        "network": {"sizes": SIZES, "hidden": "sigmoid", "output": "softmax",
                    "cost": "cross_entropy", "init": "lecun_normal"},
        "optimizer": "sgd",
        "batch_size": BATCH,
        "epochs": epochs,
        "learning_rates": lrs,
        "best_lr_rule": "lowest mean training cost over the seeds after the last epoch "
                        "(no seed diverged)",
        "targets": TARGETS,
        "main_target": MAIN_TARGET,
        "standardize": "jaxnn.data.standardize(x_train, x_test): statistics from x_train only",
        "seeds": n_seeds,
        "seed_keys": f"jax.random.split(jax.random.key({seed}), {n_seeds}); seed k "
                     "initialises with fold_in(key_k, 0), shuffles with fold_in(key_k, 1)",
        "training": "jaxnn.train.fit_many: a condition's rates × seeds in one program",
        "held_if": RULE,
        "seed": seed,
        "quick": quick,
    }
    results = {
        "rule": RULE,
        "seeds": n_seeds,
        "conditions": results,
        "checks": {"standardized_fewer_epochs_to_main_target_every_seed": faster,
                   "standardized_fewer_epochs_to_main_target_per_seed": faster_per_seed,
                   "standardized_lower_final_cost_by_one_std": lower},
    }
    colors = {"raw (scaled pixels)": "C3", "standardized": "C0",
              "pixels in [0, 1] (reference)": "0.5"}

    def draw(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        ep = np.arange(1, epochs + 1)
        for label, r in results["conditions"].items():
            c = colors[label]
            mean = np.asarray(r["final_cost_per_lr_mean"], np.float64)
            sd = np.asarray(r["final_cost_per_lr_std"], np.float64)
            ok = np.isfinite(mean)
            ax1.errorbar(lrs[ok], mean[ok], yerr=sd[ok], fmt="o-", ms=4, capsize=2, color=c,
                         label=label)
            ax1.plot(r["best_lr"], r["final_train_cost"]["mean"], "*", color=c, ms=14)
            curve = np.asarray(r["train_cost_per_epoch_mean"])
            band = np.asarray(r["train_cost_per_epoch_std"])
            ax2.plot(ep, curve, "o-", ms=3, color=c,
                     label=f"{label}, η = {r['best_lr']:.3g}: cost ≤ {MAIN_TARGET} after "
                           f"{fmt(r['epochs_to_target'][main_key])}")
            ax2.fill_between(ep, np.maximum(curve - band, 1e-6), curve + band, color=c,
                             alpha=0.2, lw=0)
        ax1.set_xscale("log")
        ax1.set_yscale("log")
        ax1.set_xlabel("learning rate η")
        ax1.set_ylabel(f"training cost after {epochs} epochs (mean ± std, {n_seeds} seeds)")
        ax1.set_title("Learning-rate sweep (★ = best η; rates where a seed diverged left out)",
                      fontsize=10)
        ax1.legend(fontsize=8)
        ax2.set_yscale("log")
        ax2.axhline(MAIN_TARGET, color="k", ls=":", lw=1)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel(f"cost on the whole training set (mean ± std, {n_seeds} seeds)")
        ax2.set_title(f"Each at its best η (jaxnn.train.fit_many, batch {BATCH})",
                      fontsize=10)
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"Standardized inputs reach cost {MAIN_TARGET} in "
            f"{fmt(st['epochs_to_target'][main_key])}, features on scales 0.1–100 in "
            f"{fmt(raw['epochs_to_target'][main_key])} (final {pm(st['final_train_cost'])} vs "
            f"{pm(raw['final_train_cost'])})", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_curves.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
