"""Experiment 8: normalising the inputs speeds up training (the neural-network notes).

Claim (the neural-network notes, "input normalisation x ← (x − μ)/σ"): when the input
features live on very different scales, training on standardized inputs reaches a target
cost in fewer steps than training on the raw inputs, each at its own best learning rate.

Setting: the bundled digits with every pixel multiplied by its own random scale
s_j = 10^{u_j}, u_j ~ U(−1, 2) (features on scales 0.1 to 100, a factor 1,000 apart), so
the cost's valley is elongated as in the notes' contour picture. The standardized copy is
``jaxnn.data.standardize(x_train, x_test)``: μ and σ from the training set only. The raw
[0, 1] pixels are run too, as a reference.

Every condition trains the same 784-30-10 network (sigmoid hidden, softmax + cross
entropy, LeCun-normal initialisation, one fixed initial parameter set) with plain
minibatch SGD (batch 32) over a log grid of learning rates. The grid is one compiled
program: a ``lax.scan`` of hand-written gradients (``jaxnn.backprop.value_and_grad``) and
``jaxnn.optimizers.sgd`` updates, ``vmap``-ed over the rate, shuffling exactly as
:func:`jaxnn.train.fit` does. The best rate of each condition (lowest final training
cost) is then re-run with :func:`jaxnn.train.fit`, whose curve is the grid's up to float32
rounding (amplified by training; the difference is reported), and the epochs and updates
to each target cost are counted from fit's curve. Quick mode leaves out the reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit

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


def make_net():
    return jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy")


def lr_grid_trainer(net, params0, n: int, epochs: int):
    """A compiled ``costs(lrs, x, y, key) -> (len(lrs), epochs)``: the cost J on the whole
    training set after every epoch, for each learning rate (vmapped). Epoch e shuffles
    with ``fold_in(key, e)`` and drops the last ``n mod BATCH`` examples, like ``fit``."""
    num_batches = n // BATCH

    def train(lr, x, y, key):
        opt = optim.sgd(lambda count: lr)  # a schedule closing over the traced rate

        def epoch(carry, e):
            params, state = carry
            order = jax.random.permutation(jax.random.fold_in(key, e), n)
            batches = order[: num_batches * BATCH].reshape(num_batches, BATCH)

            def step(carry, idx):
                params, state = carry
                J, grads = backprop.value_and_grad(net, params, x[idx], y[idx])  # BP1–BP4
                params, state = opt.update(grads, state, params)
                return (params, state), J

            (params, state), _ = jax.lax.scan(step, (params, state), batches)
            return (params, state), jaxnn.cost(net, params, x, y)

        _, costs = jax.lax.scan(epoch, (params0, opt.init(params0)), jnp.arange(epochs))
        return costs

    return jax.jit(jax.vmap(train, in_axes=(0, None, None, None)))


def epochs_to(costs, target: float) -> int | None:
    """The first epoch (1-based) whose training cost is ≤ target, or None."""
    hit = np.flatnonzero(np.asarray(costs) <= target)
    return int(hit[0]) + 1 if hit.size else None


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    mnist = data.load_mnist()
    if quick:
        n, epochs, lrs = 1000, 5, np.geomspace(1e-3, 10.0, 9)
    else:
        n, epochs, lrs = 4000, 15, np.geomspace(1e-3, 10.0, 17)
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
    params0 = jaxnn.init_params(jax.random.fold_in(key, 0), net, "lecun_normal")
    shuffle_key = jax.random.fold_in(key, 1)
    trainer = lr_grid_trainer(net, params0, n, epochs)
    lrs32 = jnp.asarray(lrs, jnp.float32)
    y_dev = jnp.asarray(y_train)
    updates_per_epoch = n // BATCH

    results, grids = {}, {}
    for label, (xtr, xte) in conditions.items():
        costs = np.asarray(trainer(lrs32, jnp.asarray(xtr), y_dev, shuffle_key), np.float64)
        final = np.where(np.isfinite(costs[:, -1]), costs[:, -1], np.inf)
        best = int(np.argmin(final))
        grids[label] = costs
        # Re-run the best rate with the library's fit: the curve must match the grid's.
        r = fit(net, params0, optim.sgd(float(lrs32[best])), (xtr, y_train), epochs=epochs,
                batch_size=BATCH, key=shuffle_key, validation=(xtr, y_train))
        curve = np.asarray([h["val_cost"] for h in r.history])
        to_target = {str(t): epochs_to(curve, t) for t in TARGETS}
        results[label] = {
            "feature_std_range": [float(xtr.std(0)[xtr.std(0) > 0].min()),
                                  float(xtr.std(0).max())],
            "final_cost_per_lr": final,
            "best_lr": float(lrs32[best]),
            "train_cost_per_epoch": curve,
            "fit_vs_grid_max_abs_cost_difference": float(np.max(np.abs(curve - costs[best]))),
            "epochs_to_target": to_target,
            "updates_to_target": {t: (e * updates_per_epoch if e else None)
                                  for t, e in to_target.items()},
            "final_train_cost": float(curve[-1]),
            "test_accuracy": evaluate(net, r.params, xte, mnist.y_test)["accuracy"],
        }

    raw, st = results["raw (scaled pixels)"], results["standardized"]

    def sooner(a, b):  # epochs a strictly fewer than b, None meaning never
        return a is not None and (b is None or a < b)

    main_key = str(MAIN_TARGET)
    faster = sooner(st["epochs_to_target"][main_key], raw["epochs_to_target"][main_key])
    lower = st["final_train_cost"] < raw["final_train_cost"]
    held = bool(faster and lower)

    def fmt(e):
        return "never" if e is None else f"{e} epoch{'s' if e > 1 else ''}"

    summary = (
        f"At its best learning rate standardized input reaches training cost {MAIN_TARGET} in "
        f"{fmt(st['epochs_to_target'][main_key])} (η = {st['best_lr']:.3g}) vs "
        f"{fmt(raw['epochs_to_target'][main_key])} for features on scales 0.1–100 "
        f"(η = {raw['best_lr']:.3g}); after {epochs} epochs {st['final_train_cost']:.3f} vs "
        f"{raw['final_train_cost']:.3f}, test accuracy {st['test_accuracy']:.3f} vs "
        f"{raw['test_accuracy']:.3f}."
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
        "learning_rates": lrs32,
        "best_lr_rule": "lowest training cost after the last epoch",
        "targets": TARGETS,
        "main_target": MAIN_TARGET,
        "standardize": "jaxnn.data.standardize(x_train, x_test): statistics from x_train only",
        "seed": seed,
        "quick": quick,
    }
    results = {
        "conditions": results,
        "checks": {"standardized_fewer_epochs_to_main_target": faster,
                   "standardized_lower_final_cost": lower},
    }
    colors = {"raw (scaled pixels)": "C3", "standardized": "C0",
              "pixels in [0, 1] (reference)": "0.5"}

    def draw(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        for label, r in results["conditions"].items():
            c = colors[label]
            final = np.asarray(r["final_cost_per_lr"], np.float64)
            ax1.loglog(np.asarray(lrs32), np.where(np.isfinite(final), final, np.nan), "o-",
                       color=c, label=label)
            ax1.plot(r["best_lr"], r["final_train_cost"], "*", color=c, ms=14)
            e = r["epochs_to_target"][main_key]
            ax2.semilogy(np.arange(1, epochs + 1), r["train_cost_per_epoch"], "o-", color=c,
                         label=f"{label}, η = {r['best_lr']:.3g}: cost ≤ {MAIN_TARGET} "
                               f"after {fmt(e)}")
        ax1.set_xlabel("learning rate η")
        ax1.set_ylabel(f"training cost after {epochs} epochs")
        ax1.set_title("Learning-rate sweep (★ = best η)")
        ax1.legend(fontsize=8)
        ax2.axhline(MAIN_TARGET, color="k", ls=":", lw=1)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("cost on the whole training set")
        ax2.set_title(f"Each at its best η (jaxnn.train.fit, batch {BATCH})")
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"Standardized inputs reach cost {MAIN_TARGET} in "
            f"{fmt(st['epochs_to_target'][main_key])}, features on scales 0.1–100 in "
            f"{fmt(raw['epochs_to_target'][main_key])} (final {st['final_train_cost']:.3f} vs "
            f"{raw['final_train_cost']:.3f})", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_curves.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
