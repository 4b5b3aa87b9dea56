"""Experiment 12: a network trained on MNIST recognises digits it has not seen (the AI
Okinawa course slides).

Claim (the AI Okinawa course slides on MNIST, training vs test data): networks trained by
the hand-written backpropagation recognise handwritten test digits they were never trained
on, far above chance (10 %).

Two runs, each :func:`jaxnn.train.fit` with BP1–BP4, test accuracy after every epoch:

* **Nielsen's canonical run** (``network.py``): 784-30-10, sigmoid hidden and output,
  quadratic cost, N(0, 1) ``"normal"`` initialisation of weights and biases, SGD η = 3.0,
  minibatch 10, 30 epochs. The same run with ``grad="autodiff"`` stands beside it (full
  mode).
* **The default ``jaxnn train`` network**: 784-256-10, ReLU hidden, softmax output, cross
  entropy, He-normal initialisation, Adam (α = 10⁻³), minibatch 32, 20 epochs.

Data: the bundled sample (4,000 training, 1,000 test digits), or the full MNIST files
(60,000 / 10,000) with ``--data DIR`` (or the environment variable ``JAXNN_MNIST_DIR``).
Figures: the learning curves, both confusion matrices, and a grid of misclassified test
digits (28 × 28, true → predicted).

Held when Nielsen's run reaches test accuracy ≥ 0.90 and the default network ≥ 0.93
(quick mode: 10 and 3 epochs, both ≥ 0.80). On the 4,000-digit sample Nielsen's network
is data-limited: 30 epochs of minibatch 10 are 12,000 updates where the book's 50,000
images give 150,000, and its training accuracy climbs well above its test accuracy (see
the learning curves), so the 0.90 bar is marginal there.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import data
from jaxnn import optimizers as optim
from jaxnn.train import fit

NAME = "mnist"
CLAIM = (
    "Networks trained by the hand-written backpropagation recognise handwritten digits they "
    "have not seen: Nielsen's canonical 784-30-10 run reaches ≥ 0.90 and the default "
    "784-256-10 ReLU/softmax network ≥ 0.93 test accuracy (the AI Okinawa course slides)."
)

DATA_ENV = "JAXNN_MNIST_DIR"
BARS = {"full": {"nielsen": 0.90, "default": 0.93}, "quick": {"nielsen": 0.80, "default": 0.80}}

RUNS = {
    "nielsen": {
        "label": "Nielsen 784-30-10 (sigmoid, quadratic, SGD η = 3)",
        "sizes": (784, 30, 10), "hidden": "sigmoid", "output": "sigmoid", "cost": "quadratic",
        "init": "normal", "optimizer": ("sgd", 3.0), "batch_size": 10,
        "epochs": 30, "quick_epochs": 10,
    },
    "default": {
        "label": "default 784-256-10 (ReLU/softmax, cross entropy, Adam 1e-3)",
        "sizes": (784, 256, 10), "hidden": "relu", "output": "softmax",
        "cost": "cross_entropy", "init": "he_normal", "optimizer": ("adam", 1e-3),
        "batch_size": 32, "epochs": 20, "quick_epochs": 3,
    },
}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, k: int = 10) -> np.ndarray:
    """``M[i, j]`` = number of test digits of class i predicted as j."""
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (labels, predictions), 1)
    return m


def train(spec: dict, mnist, epochs: int, key, grad: str = "manual"):
    net = jaxnn.mlp(spec["sizes"], hidden=spec["hidden"], output=spec["output"],
                    cost=spec["cost"])
    params = jaxnn.init_params(jax.random.fold_in(key, 0), net, spec["init"])
    name, lr = spec["optimizer"]
    r = fit(net, params, optim.get(name, lr), (mnist.x_train, mnist.y_train), epochs=epochs,
            batch_size=spec["batch_size"], key=jax.random.fold_in(key, 1), grad=grad,
            validation=(mnist.x_test, mnist.y_test))
    return net, r


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    data_dir = os.environ.get(DATA_ENV) or None
    mnist = data.load_mnist(data_dir)
    bars = BARS["quick" if quick else "full"]

    runs, out = {}, {}
    for name, spec in RUNS.items():
        epochs = spec["quick_epochs"] if quick else spec["epochs"]
        net, r = train(spec, mnist, epochs, key)
        pred = np.asarray(jaxnn.predict(net, r.params, mnist.x_test))
        acc = r.history[-1]["val_accuracy"]  # fit evaluates the whole test set every epoch
        runs[name] = {"net": net, "fit": r, "pred": pred}
        out[name] = {
            "epochs": epochs,
            "updates": epochs * (mnist.x_train.shape[0] // spec["batch_size"]),
            "test_accuracy": acc,
            "test_accuracy_per_epoch": [h["val_accuracy"] for h in r.history],
            "train_accuracy_per_epoch": [h["train_accuracy"] for h in r.history],
            "misclassified": int(np.sum(pred != mnist.y_test)),
            "confusion_matrix": confusion_matrix(mnist.y_test, pred),
            "seconds_per_epoch": float(np.mean([h["seconds"] for h in r.history[1:]]
                                               or [r.history[0]["seconds"]])),
            "compile_seconds": r.compile_seconds,
            "bar": bars[name],
            "reached_bar": acc >= bars[name],
        }
    # Nielsen's run again with autodiff's gradient in place of BP1–BP4 (full mode).
    autodiff, ad_curve = None, None
    if not quick:
        _, r_ad = train(RUNS["nielsen"], mnist, out["nielsen"]["epochs"], key, grad="autodiff")
        ad_curve = np.asarray([h["val_accuracy"] for h in r_ad.history])
        manual_curve = np.asarray(out["nielsen"]["test_accuracy_per_epoch"])
        autodiff = {
            "test_accuracy": ad_curve[-1],
            "test_accuracy_per_epoch": ad_curve,
            "max_abs_accuracy_difference_per_epoch": float(np.max(np.abs(ad_curve - manual_curve))),
            "max_abs_param_difference": float(max(
                np.max(np.abs(np.asarray(a) - np.asarray(b)))
                for a, b in zip(jax.tree.leaves(r_ad.params),
                                jax.tree.leaves(runs["nielsen"]["fit"].params)))),
        }
    held = bool(all(o["reached_bar"] for o in out.values()))
    n_train, n_test = mnist.x_train.shape[0], mnist.x_test.shape[0]
    source = data_dir if data_dir else "bundled sample"

    nl, df = out["nielsen"], out["default"]

    def met(o):
        return "met" if o["reached_bar"] else "missed"

    summary = (
        f"On {n_test:,} unseen digits ({source}, {n_train:,} for training): Nielsen's "
        f"784-30-10 reaches {nl['test_accuracy']:.3f} after {nl['epochs']} epochs (bar "
        f"{nl['bar']} {met(nl)}), the default 784-256-10 {df['test_accuracy']:.3f} after "
        f"{df['epochs']} (bar {df['bar']} {met(df)})"
        + (f"; with jax.grad in place of BP1–BP4 Nielsen's run gives "
           f"{autodiff['test_accuracy']:.3f}." if autodiff else ".")
    )
    config = {
        "data": source,
        "n_train": n_train,
        "n_test": n_test,
        "runs": {k: {kk: vv for kk, vv in v.items() if kk != "quick_epochs"}
                 | {"epochs": out[k]["epochs"]} for k, v in RUNS.items()},
        "bars": bars,
        "held_if": "every run's final test accuracy ≥ its bar",
        "data_flag": f"--data DIR or {DATA_ENV}=DIR for the full MNIST files",
        "seed": seed,
        "quick": quick,
    }
    results = {**out, "nielsen_autodiff": autodiff}
    colors = {"nielsen": "C0", "default": "C3"}
    y_test, x_test = mnist.y_test, mnist.x_test

    def draw_curves(path):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(8, 5))
        for name, o in out.items():
            ep = np.arange(1, o["epochs"] + 1)
            ax.plot(ep, o["test_accuracy_per_epoch"], "o-", ms=3, color=colors[name],
                    label=f"{RUNS[name]['label']}: {o['test_accuracy']:.3f}")
            ax.plot(ep, o["train_accuracy_per_epoch"], ":", color=colors[name], lw=1,
                    label="  (training accuracy, mean over the epoch)")
            ax.axhline(o["bar"], color=colors[name], ls="--", lw=0.8)
        if ad_curve is not None:
            ax.plot(np.arange(1, len(ad_curve) + 1), ad_curve, "x", color="k", ms=5,
                    label=f"Nielsen with jax.grad instead of BP1–BP4: {ad_curve[-1]:.3f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy on the test digits")
        ax.set_ylim(max(0.0, min(min(o["test_accuracy_per_epoch"]) for o in out.values()) - 0.05),
                    1.0)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"Unseen digits recognised: {nl['test_accuracy']:.3f} (Nielsen) and "
                     f"{df['test_accuracy']:.3f} (default) on {n_test:,} test digits",
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def draw_confusion(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(13, 6))
        for ax, (name, o) in zip(axes, out.items()):
            m = np.asarray(o["confusion_matrix"])
            ax.imshow(m, cmap="Blues")
            for i in range(10):
                for j in range(10):
                    if m[i, j]:
                        ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if m[i, j] > m.max() / 2 else "black")
            ax.set_xticks(range(10))
            ax.set_yticks(range(10))
            ax.set_xlabel("predicted digit")
            ax.set_ylabel("true digit")
            off = m - np.diag(np.diag(m))
            i, j = np.unravel_index(np.argmax(off), off.shape)
            ax.set_title(f"{RUNS[name]['label']}\naccuracy {o['test_accuracy']:.3f}; most "
                         f"common error {i} → {j} ({off[i, j]}×)", fontsize=9)
        fig.suptitle(f"Confusion matrices on {n_test:,} test digits", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def draw_misclassified(path):
        plt = pyplot()
        pred = runs["default"]["pred"]
        wrong = np.flatnonzero(pred != y_test)
        rows, cols = 4, 8
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.75))
        for k, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if k < len(wrong):
                i = wrong[k]
                ax.imshow(x_test[i].reshape(28, 28), cmap="gray_r")
                ax.set_title(f"true {y_test[i]} → {pred[i]}", fontsize=9)
        fig.suptitle(f"The default network misreads {len(wrong)} of {n_test:,} test digits "
                     f"({100 * len(wrong) / n_test:.1f} %); the first "
                     f"{min(len(wrong), rows * cols)} (true → predicted)", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    figures = {
        f"{NAME}_learning_curves.png": draw_curves,
        f"{NAME}_confusion.png": draw_confusion,
        f"{NAME}_misclassified.png": draw_misclassified,
    }
    return Result(held=held, config=config, results=results, figures=figures, summary=summary)


_main = make_main(NAME, CLAIM, run)


def main(argv=None) -> int:
    """``_common``'s main plus ``--data DIR``: train and test on the full MNIST files in DIR
    (sets :data:`DATA_ENV` for :func:`run`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--data", default=None)
    args, rest = ap.parse_known_args(argv)
    if args.data:
        os.environ[DATA_ENV] = args.data
    return _main(rest)


if __name__ == "__main__":
    exit_with(main)
