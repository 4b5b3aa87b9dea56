"""Experiment 9b: inverted dropout on the hidden layer narrows the train–test gap of a
network that over-fits, judged over seeds.

Claim: training with inverted dropout on the hidden layer — each hidden unit dropped with
probability p at every step, the kept ones scaled by 1/(1 − p), nothing dropped at
evaluation — narrows the gap between training and test accuracy, compared with the same
network trained without dropout, on a training set small enough to over-fit.

Setting: the over-fitting setup of :mod:`experiments.regularization` (after Nielsen's
chapter 3): 500 training digits from the bundled sample and its 1,000 test digits, sigmoid
hidden layer, softmax + cross entropy, the large N(0, 1) ``"normal"`` initialisation, plain
SGD with batch m = 10, no L2 — but a wider hidden layer, :data:`SIZES` = 784-100-10, since
dropping units out of 30 leaves too few to fit at all. Rates p ∈ :data:`RATES` ``["full"]``
= 0, 0.2, 0.5 (p = 0: no dropout), :data:`SEEDS` ``["full"]`` = 5 seeds each. The dropout
rate fixes the network (``jaxnn.mlp(..., dropout=p)``), so each rate is one
:func:`jaxnn.train.fit_many` program training the K seeds together with the hand-written
BP1–BP4 (BP2 multiplies by the forward pass's mask); the training loop draws a fresh mask
per step from the run's key. Seed k starts from the same parameters (``fold_in(keys[k],
0)``) and sees the same shuffles (``fold_in(keys[k], 1)``) at every rate, so each rate is
compared with p = 0 *per seed* (paired differences). Train and test accuracy are those of
the final parameters on the whole training and test sets, without dropout.

**The rule** (:data:`RULE`). Statistics over the K seeds: mean and sample standard
deviation (ddof = 1). The claim holds when, for *every* rate p > 0 in the sweep, the
per-seed paired reduction of the train–test accuracy gap against p = 0 has mean − std > 0
(a one-sided t statistic mean / (std/√K) > √K: ≈ 2.24 for K = 5, a one-sided p ≈ 0.04),
and the gradient check below passes. Test accuracy is reported beside the gap (with its
paired change) but not judged: the claim is about the gap. Quick mode (3 seeds, p ∈ {0,
0.5}, 12 epochs) applies the same rule; with K = 3 it is a smoke check, not evidence.

**Gradient check** (cheap, float64 under ``jax.enable_x64``): with a fixed key, hence fixed
masks, the hand-written gradient ``backprop.value_and_grad(net, params, x, y, key=k)``
equals ``jax.grad`` of ``jaxnn.cost(net, params, x, y, key=k)`` on one minibatch at the
largest rate, at the first seed's trained parameters (cast to float64); the results give
the largest relative difference (``gradcheck.rel_diff``: ‖a − b‖_∞ / max‖·‖_∞) over the
W^l and b^l, the bar being 1e-10 (``gradcheck.MANUAL_VS_AUTODIFF_RTOL["float64"]``).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, mean_std, pyplot
from jaxnn import backprop, data, gradcheck
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit_many

NAME = "dropout"
CLAIM = (
    "Inverted dropout on the hidden layer (each hidden unit dropped with probability p "
    "while training, the kept ones scaled by 1/(1 − p)) narrows the train–test accuracy "
    "gap of a 784-100-10 network that over-fits 500 training digits, compared with no "
    "dropout, at p = 0.2 and p = 0.5; judged over 5 seeds."
)
RULE = (
    "held when, for every rate p > 0 in the sweep, the per-seed paired reduction of the "
    "train–test accuracy gap against p = 0 (same initialisation and shuffles) has "
    "mean − std > 0 (sample std, ddof = 1), and the manual gradient with dropout equals "
    "jax.grad of jaxnn.cost with the same key to a relative difference ≤ 1e-10 in float64; "
    "test accuracy is reported, not judged; quick mode applies the same rule to its 3 seeds"
)

SIZES = (784, 100, 10)
HIDDEN = "sigmoid"
INIT = "normal"
BATCH = 10
LR = 0.5
N_TRAIN = 500
SEEDS = {"full": 5, "quick": 3}
EPOCHS = {"full": 120, "quick": 12}
RATES = {"full": (0.0, 0.2, 0.5), "quick": (0.0, 0.5)}
GRAD_RTOL = gradcheck.MANUAL_VS_AUTODIFF_RTOL["float64"]


def network(rate: float):
    return jaxnn.mlp(SIZES, hidden=HIDDEN, output="softmax", cost="cross_entropy",
                     dropout=rate)


def dropout_gradient_check(rate: float, params, x, y, key) -> dict:
    """BP1–BP4 with the masks of ``key`` against ``jax.grad`` of ``jaxnn.cost`` with the
    same key, in float64; also how many hidden units the key's masks drop."""
    net = network(rate)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x64 = jnp.asarray(x, jnp.float64)
        J_manual, manual = backprop.value_and_grad(net, p64, x64, y, key=key)
        J_auto, auto = jax.value_and_grad(jaxnn.cost, argnums=1)(net, p64, x64, y, key)
        J_plain = jaxnn.cost(net, p64, x64, y)  # no key: no dropout
        (D,) = jaxnn.network.dropout_masks(net, key, x64.shape[0], jnp.float64)
        rel = {f"{name}{l}": gradcheck.rel_diff(getattr(g, name), getattr(a, name))
               for l, (g, a) in enumerate(zip(manual, auto), start=1) for name in ("W", "b")}
        dtype = str(manual[0].W.dtype)
    worst = max(rel.values())
    return {
        "rate": rate,
        "dtype": dtype,
        "minibatch": int(x.shape[0]),
        "key": "jax.random.fold_in(jax.random.key(seed), 99)",
        "fraction_of_hidden_units_dropped": float(np.mean(np.asarray(D) == 0)),
        "rel_diff_per_parameter": rel,
        "max_rel_diff": worst,
        "bar": GRAD_RTOL,
        "passed": bool(worst <= GRAD_RTOL),
        "cost_manual": float(J_manual),
        "cost_autodiff": float(J_auto),
        "cost_without_dropout": float(J_plain),
    }


def run(quick: bool, seed: int) -> Result:
    mode = "quick" if quick else "full"
    K, epochs, rates = SEEDS[mode], EPOCHS[mode], RATES[mode]
    mnist = data.load_mnist()
    n = N_TRAIN
    x, y = mnist.x_train[:n], mnist.y_train[:n]
    x_test, y_test = mnist.x_test, mnist.y_test
    keys = jax.random.split(jax.random.key(seed), K)
    init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)

    train_acc = np.zeros((len(rates), K))
    test_acc = np.zeros_like(train_acc)
    curves, train_curves, timing, final_params = [], [], [], []
    for i, rate in enumerate(rates):
        net = network(rate)
        params0 = jax.vmap(lambda k, net=net: jaxnn.init_params(k, net, INIT))(init_keys)
        t0 = time.perf_counter()
        r = fit_many(net, params0, optim.sgd(LR), (x, y), epochs=epochs, batch_size=BATCH,
                     keys=run_keys, validation=(x_test, y_test))
        timing.append({"rate": rate, "compile_seconds": r.compile_seconds,
                       "fit_many_seconds_including_compile": time.perf_counter() - t0})
        assert all(s == "completed" for s in r.stopped), r.stopped
        for k in range(K):
            p = jax.tree.map(lambda a, k=k: a[k], r.params)
            train_acc[i, k] = evaluate(net, p, x, y)["accuracy"]  # no key: no dropout
            test_acc[i, k] = evaluate(net, p, x_test, y_test)["accuracy"]
        curves.append(np.asarray([[h["val_accuracy"] for h in hist] for hist in r.histories]))
        train_curves.append(np.asarray([[h["train_accuracy"] for h in hist]
                                        for hist in r.histories]))
        final_params.append(r.params)
    gap = train_acc - test_acc

    sweep = []
    for i, rate in enumerate(rates):
        entry = {
            "rate": rate,
            "train_accuracy": mean_std(train_acc[i]),
            "test_accuracy": mean_std(test_acc[i]),
            "gap": mean_std(gap[i]),
            "test_accuracy_per_epoch_mean": curves[i].mean(axis=0),
            "test_accuracy_per_epoch_std": curves[i].std(axis=0, ddof=1) if K > 1
            else np.zeros(epochs),
            # fit's train_accuracy: over the epoch's minibatches, *with* the masks.
            "train_accuracy_during_epoch_with_dropout_mean": train_curves[i].mean(axis=0),
        }
        if i > 0:  # paired with p = 0: same seed, same start, same shuffles
            entry["gap_reduction_vs_rate_0"] = mean_std(gap[0] - gap[i])
            entry["test_accuracy_change_vs_rate_0"] = mean_std(test_acc[i] - test_acc[0])
        sweep.append(entry)

    grad_check = dropout_gradient_check(
        rates[-1], jax.tree.map(lambda a: a[0], final_params[-1]), x[:BATCH], y[:BATCH],
        jax.random.fold_in(jax.random.key(seed), 99))

    narrows = {f"{s['rate']:g}": bool(s["gap_reduction_vs_rate_0"]["mean"]
                                      - s["gap_reduction_vs_rate_0"]["std"] > 0)
               for s in sweep[1:]}
    held = bool(all(narrows.values()) and grad_check["passed"])

    def ms(stats):
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"

    base = sweep[0]
    parts = [f"p = {s['rate']:g}: gap {ms(s['gap'])} (paired cut "
             f"{ms(s['gap_reduction_vs_rate_0'])}), test {ms(s['test_accuracy'])}"
             for s in sweep[1:]]
    summary = (
        f"Over {K} seeds (mean ± std), {SIZES[0]}-{SIZES[1]}-{SIZES[2]} on {n} digits: "
        f"without dropout train {ms(base['train_accuracy'])}, test "
        f"{ms(base['test_accuracy'])}, gap {ms(base['gap'])}; " + "; ".join(parts)
        + f". Manual vs autodiff gradient with dropout (float64, one key): max relative "
        f"difference {grad_check['max_rel_diff']:.1e}."
    )
    config = {
        "data": "bundled MNIST sample",
        "n_train": n,
        "n_test": int(x_test.shape[0]),
        "network": {"sizes": SIZES, "hidden": HIDDEN, "output": "softmax",
                    "cost": "cross_entropy", "init": "normal (N(0, 1), Nielsen)",
                    "dropout": "inverted, hidden layer only; rate p = probability of "
                               "dropping a unit; none at evaluation"},
        "optimizer": {"name": "sgd", "lr": LR},
        "batch_size_m": BATCH,
        "epochs": epochs,
        "rates": rates,
        "seeds": K,
        "seed_keys": f"jax.random.split(jax.random.key({seed}), {K}); seed k initialises "
                     "with fold_in(keys[k], 0) and shuffles with fold_in(keys[k], 1) at "
                     "every rate; masks: a fresh one per step from the epoch's key",
        "trained_by": f"jaxnn.train.fit_many: one program of {K} runs per rate",
        "held_if": RULE,
        "statistics": "mean and sample std (ddof = 1) over the seeds",
        "seed": seed,
        "quick": quick,
    }
    results = {
        "sweep": sweep,
        "gap_narrows_mean_minus_std_positive": narrows,
        "dropout_gradient_check": grad_check,
        "timing": timing,
    }

    def draw(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
        p = np.asarray([s["rate"] for s in sweep])

        def mean_std(key):
            return (np.asarray([s[key]["mean"] for s in sweep]),
                    np.asarray([s[key]["std"] for s in sweep]))

        ax = axes[0]
        for key, color, label in (("train_accuracy", "C2", "train"),
                                  ("test_accuracy", "C3", "test")):
            m, sd = mean_std(key)
            ax.errorbar(p, m, yerr=sd, fmt="o-", color=color, capsize=3, label=label)
        ax.set_xticks(p)
        ax.set_xlabel("dropout rate p (probability of dropping a hidden unit)")
        ax.set_ylabel("accuracy, final parameters, no dropout (mean ± std)")
        ax.set_title(f"Test accuracy {ms(base['test_accuracy'])} (p = 0) → "
                     f"{ms(sweep[-1]['test_accuracy'])} (p = {sweep[-1]['rate']:g})",
                     fontsize=10)
        ax.legend()
        ax = axes[1]
        m, sd = mean_std("gap")
        for i, s in enumerate(sweep):
            ax.plot(np.full(K, s["rate"]), s["gap"]["per_seed"], ".", color="0.6",
                    label="one seed" if i == 0 else None)
        ax.errorbar(p, m, yerr=sd, fmt="o-", color="C1", capsize=4, label="mean ± std")
        ax.set_xticks(p)
        ax.set_xlabel("dropout rate p")
        ax.set_ylabel("train − test accuracy")
        ax.set_title(f"Gap {ms(base['gap'])} (p = 0) → {ms(sweep[-1]['gap'])} "
                     f"(p = {sweep[-1]['rate']:g})", fontsize=10)
        ax.legend()
        ax = axes[2]
        ep = np.arange(1, epochs + 1)
        for i, s in enumerate(sweep):
            m = np.asarray(s["test_accuracy_per_epoch_mean"])
            sd = np.asarray(s["test_accuracy_per_epoch_std"])
            ax.plot(ep, m, color=f"C{i}", label=f"p = {s['rate']:g}")
            ax.fill_between(ep, m - sd, m + sd, color=f"C{i}", alpha=0.2, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (mean ± std)")
        ax.set_title("Test accuracy during training")
        ax.legend()
        fig.suptitle(f"Dropout on {n} digits, {SIZES[0]}-{SIZES[1]}-{SIZES[2]} {HIDDEN}, "
                     f"{K} seeds (mean ± 1 std)", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_gap.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
