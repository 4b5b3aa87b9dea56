"""Experiment 9: L2 regularisation shrinks the weights and counters over-fitting (the
backpropagation notebook cheat sheet).

Claim (the backpropagation notebook cheat sheet's regularised cost
J = … + λ/(2m) ΣΣΣ θ²): as λ grows the weights shrink, and on a training set small enough
to over-fit, a moderate λ narrows the gap between training and test accuracy and raises
the test accuracy.

Setting, after Nielsen's chapter 3 over-fitting example: 500 training digits from the
bundled sample, the 1,000 test digits, the 784-30-10 network (sigmoid hidden, softmax +
cross entropy) started from the large N(0, 1) ``"normal"`` initialisation, plain SGD with
η = 0.5 and batch m = 10 for 300 epochs (every training digit is then classified right),
once per λ in a sweep. Each run is :func:`jaxnn.train.fit` with the hand-written BP1–BP4,
whose BP4 adds (λ/m)W to ∂J/∂W; that regularised gradient is checked against autodiff's
(``gradcheck.manual_vs_autodiff``) at the largest λ's final parameters.

Convention: jaxnn's J adds (λ/2m) Σ‖W‖² with m the *minibatch* size (biases are not
regularised, see :mod:`jaxnn.network`), so each SGD step decays the weights by the factor
1 − ηλ/m. Nielsen's λ_N divides by the training-set size n instead; the same decay per
step is λ_N = λ n / m, which the results report beside λ.
"""

from __future__ import annotations

import jax
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, gradcheck
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit

NAME = "regularization"
CLAIM = (
    "L2 regularisation λ/(2m) Σ‖W‖² shrinks the weights as λ grows, and on a small training "
    "set that over-fits a moderate λ narrows the train–test accuracy gap and raises the "
    "test accuracy (the backpropagation notebook cheat sheet)."
)

SIZES = (784, 30, 10)
BATCH = 10
LR = 0.5


def weight_norm_sq(params) -> float:
    """Σ_l ‖W^l‖²_F (the quantity the L2 term penalises; biases left out)."""
    return float(sum(np.sum(np.square(np.asarray(W, np.float64))) for W, _ in params))


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    mnist = data.load_mnist()
    if quick:
        n, epochs, lambdas = 500, 40, (0.0, 0.01)
    else:
        n, epochs, lambdas = 500, 300, (0.0, 0.001, 0.003, 0.01, 0.03, 0.1)
    x, y = mnist.x_train[:n], mnist.y_train[:n]
    x_test, y_test = mnist.x_test, mnist.y_test
    init_key, shuffle_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

    sweep = []
    for lam in lambdas:
        net = jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy", l2=lam)
        params0 = jaxnn.init_params(init_key, net, "normal")  # same start for every λ
        r = fit(net, params0, optim.sgd(LR), (x, y), epochs=epochs, batch_size=BATCH,
                key=shuffle_key, validation=(x_test, y_test))
        unreg = jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy")
        train = evaluate(unreg, r.params, x, y)
        test = evaluate(unreg, r.params, x_test, y_test)
        final = (net, r.params)
        sweep.append({
            "lambda": lam,
            "lambda_over_m": lam / BATCH,
            "weight_decay_per_step": LR * lam / BATCH,
            "nielsen_lambda_equivalent": lam * n / BATCH,
            "weight_norm_sq": weight_norm_sq(r.params),
            "initial_weight_norm_sq": weight_norm_sq(params0),
            "train_accuracy": train["accuracy"],
            "test_accuracy": test["accuracy"],
            "train_cost_unregularised": train["cost"],
            "test_cost": test["cost"],
            "gap": train["accuracy"] - test["accuracy"],
            "test_accuracy_per_epoch": [h["val_accuracy"] for h in r.history],
        })
    # The largest λ's regularised gradient on one minibatch: BP1–BP4 with (λ/m)W, against
    # jax.grad of jaxnn.cost (which holds the (λ/2m) Σ‖W‖² term).
    net, params = final
    check = gradcheck.manual_vs_autodiff(net, params, x[:BATCH], y[:BATCH])
    J_manual, _ = backprop.value_and_grad(net, params, x[:BATCH], y[:BATCH])
    J_auto = jaxnn.cost(net, params, x[:BATCH], y[:BATCH])
    l2_check = {
        "lambda": net.l2,
        "manual_vs_autodiff_rel_diff": check.max_rel_diff,
        "manual_vs_autodiff_passed": check.passed,
        "regularised_cost_manual": float(J_manual),
        "regularised_cost_jaxnn_cost": float(J_auto),
    }

    norms = [s["weight_norm_sq"] for s in sweep]
    norms_fall = all(b < a for a, b in zip(norms, norms[1:]))
    base = sweep[0]
    best = max(sweep[1:], key=lambda s: s["test_accuracy"])
    better_test = best["test_accuracy"] > base["test_accuracy"]
    smaller_gap = best["gap"] < base["gap"]
    grad_ok = l2_check["manual_vs_autodiff_passed"]
    held = bool(norms_fall and better_test and smaller_gap and grad_ok)

    summary = (
        f"Σ‖W‖² falls from {base['weight_norm_sq']:.0f} (λ = 0) to "
        f"{sweep[-1]['weight_norm_sq']:.0f} (λ = {sweep[-1]['lambda']:g}); the best "
        f"λ = {best['lambda']:g} (λ/m = {best['lambda_over_m']:g}) lifts test accuracy from "
        f"{base['test_accuracy']:.3f} to {best['test_accuracy']:.3f} and cuts the train–test "
        f"gap from {base['gap']:.3f} to {best['gap']:.3f} on {n} training digits."
    )
    config = {
        "data": "bundled MNIST sample",
        "n_train": n,
        "n_test": int(x_test.shape[0]),
        "network": {"sizes": SIZES, "hidden": "sigmoid", "output": "softmax",
                    "cost": "cross_entropy", "init": "normal (N(0, 1), Nielsen)"},
        "optimizer": {"name": "sgd", "lr": LR},
        "batch_size_m": BATCH,
        "epochs": epochs,
        "lambdas": lambdas,
        "l2_convention": "J = (1/m) Σ C + (λ/2m) Σ‖W‖², m = minibatch size; biases not "
                         "regularised; Nielsen's λ_N = λ n / m gives the same decay per step",
        "seed": seed,
        "quick": quick,
    }
    results = {
        "sweep": sweep,
        "best_lambda": best["lambda"],
        "l2_gradient_check": l2_check,
        "checks": {
            "weight_norm_falls_as_lambda_grows": norms_fall,
            "best_lambda_raises_test_accuracy": better_test,
            "best_lambda_narrows_gap": smaller_gap,
            "l2_gradient_manual_equals_autodiff": grad_ok,
        },
    }

    def draw(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
        lam = np.asarray([s["lambda"] for s in sweep])
        pos = lam > 0
        x_lam = np.where(pos, lam, lam[pos].min() / 4 if pos.any() else 1e-4)  # λ = 0 at left
        labels = ["0" if v == 0 else f"{v:g}" for v in lam]
        ax = axes[0]
        ax.loglog(x_lam, norms, "o-", color="C0", label="after training")
        ax.axhline(base["initial_weight_norm_sq"], color="0.5", ls="--", lw=1,
                   label=f"at initialisation, N(0, 1): {base['initial_weight_norm_sq']:.0f}")
        ax.legend(fontsize=8)
        ax.set_xlabel("λ  (λ = 0 drawn at the far left)")
        ax.set_ylabel("Σ‖W‖² after training")
        ax.set_title("Weights shrink as λ grows")
        ax.set_xticks(x_lam)
        ax.set_xticklabels(labels)
        ax.minorticks_off()
        ax = axes[1]
        ax.semilogx(x_lam, [s["train_accuracy"] for s in sweep], "o-", color="C2", label="train")
        ax.semilogx(x_lam, [s["test_accuracy"] for s in sweep], "o-", color="C3", label="test")
        ax.set_xticks(x_lam)
        ax.set_xticklabels(labels)
        ax.minorticks_off()
        ax.set_xlabel("λ")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Train–test gap {base['gap']:.3f} (λ = 0) → {best['gap']:.3f} "
                     f"(λ = {best['lambda']:g})")
        ax.legend()
        ax = axes[2]
        ep = np.arange(1, epochs + 1)
        ax.plot(ep, base["test_accuracy_per_epoch"], color="C3", label="λ = 0")
        ax.plot(ep, best["test_accuracy_per_epoch"], color="C0", label=f"λ = {best['lambda']:g}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.set_title("Test accuracy during training")
        ax.legend()
        fig.suptitle(
            f"L2 on {n} digits: Σ‖W‖² {base['weight_norm_sq']:.0f} → "
            f"{best['weight_norm_sq']:.0f} and test accuracy {base['test_accuracy']:.3f} → "
            f"{best['test_accuracy']:.3f} at λ = {best['lambda']:g} (m = {BATCH})", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_sweep.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
