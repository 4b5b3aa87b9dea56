"""A 1-layer network with a sigmoid output is logistic regression, trained by ``propagate``.

Claim (the notes after Andrew Ng's course): a network with no hidden layer,
ŷ = σ(wᵀx + b), with the binary cross-entropy cost J = (1/m) Σ L(a, y), is logistic
regression; its batch gradient descent is the notes' ``propagate`` loop,
dw = (1/m) X (A − Y)ᵀ and db = (1/m) Σ (A − Y).

The experiment trains the same model two ways on a binary task from the bundled MNIST
sample (3 against 8), from the same zero initialisation, in float64:

* the notes' loop in plain NumPy, with the notes' column layout X: (n_x, m), w: (n_x, 1);
* jaxnn: ``Network((784, 1), ("sigmoid",), "binary_cross_entropy")``, the hand-written
  full-batch gradient ``backprop.value_and_grad`` (BP1 fused: Δ = (A − Y)/m), and
  ``optimizers.sgd``; and once more with ``jax.grad(jaxnn.cost)`` in place of BP1–BP4.

It records the largest difference between the parameters (and the costs) of the runs over
every step, and the test accuracy. jaxnn computes the cross entropy from the logits
(log σ(z) = −softplus(−z)); the notes take log A directly, which only differs once A
rounds to 0 or 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, optimizers

NAME = "logistic_regression"
CLAIM = (
    "A 1-layer sigmoid network with binary cross entropy is logistic regression: trained "
    "by full-batch gradient descent it follows the propagate loop of the notes after Andrew "
    "Ng's course (dw = (1/m) X (A − Y)ᵀ, db = (1/m) Σ (A − Y)) step by step, and it "
    "separates two digits."
)

DIGITS = (3, 8)  # label 0 and label 1
LEARNING_RATE = 0.5
SAME_TOLERANCE = 1e-10  # float64: "the same parameters"
GOOD_ACCURACY = 0.9


# ----------------------------------------------------------------------------------------
# The notes after Andrew Ng's course, in plain NumPy, with their layout: X (n_x, m),
# Y (1, m), w (n_x, 1), b scalar.


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def propagate(w, b, X, Y):
    """The notes' propagate: the cost and the gradients, vectorised over the m columns."""
    m = X.shape[1]
    # FORWARD PROPAGATION (FROM X TO COST)
    A = sigmoid(np.dot(w.T, X) + b)
    cost = (-1 / m) * np.sum(Y * np.log(A) + (1 - Y) * (np.log(1 - A)))
    # BACKWARD PROPAGATION (TO FIND GRAD)
    dw = (1 / m) * np.dot(X, (A - Y).T)
    db = (1 / m) * np.sum(A - Y)
    return {"dw": dw, "db": db}, cost


def optimize(w, b, X, Y, num_iterations: int, learning_rate: float):
    """The notes' batch gradient-descent loop; the parameters and cost of every step."""
    history = []
    for _ in range(num_iterations):
        grads, cost = propagate(w, b, X, Y)  # propagation on ALL the training sample
        w = w - learning_rate * grads["dw"]
        b = b - learning_rate * grads["db"]
        history.append((w, b, cost))
    return history


# ----------------------------------------------------------------------------------------
# jaxnn.


def jaxnn_descent(x, y, num_iterations: int, learning_rate: float, gradient: str):
    """Full-batch gradient descent with jaxnn: ``x: (m, 784)`` rows, ``y: (m,)`` 0/1."""
    net = jaxnn.Network((784, 1), ("sigmoid",), "binary_cross_entropy")
    params = (jaxnn.Layer(W=jnp.zeros((1, 784)), b=jnp.zeros((1,))),)  # as the notes' zeros
    opt = optimizers.sgd(learning_rate)
    if gradient == "manual":
        value_and_grad = backprop.value_and_grad  # BP1–BP4
    else:
        value_and_grad = jax.value_and_grad(jaxnn.cost, argnums=1)  # autodiff

    @jax.jit
    def step(params, state, x, y):
        J, grads = value_and_grad(net, params, x, y)
        params, state = opt.update(grads, state, params)
        return params, state, J

    state = opt.init(params)
    x, y = jnp.asarray(x), jnp.asarray(y)  # on the device once
    history = []
    for _ in range(num_iterations):
        params, state, J = step(params, state, x, y)
        history.append((params[0].W, params[0].b, J))
    return net, params, jax.device_get(history)


def run(quick: bool, seed: int) -> Result:
    del seed  # deterministic: zero initialisation, full batch, a fixed split
    iterations = 100 if quick else 1000
    mnist = data.load_mnist()
    train_mask = np.isin(mnist.y_train, DIGITS)
    test_mask = np.isin(mnist.y_test, DIGITS)
    x_train = mnist.x_train[train_mask].astype(np.float64)
    y_train = (mnist.y_train[train_mask] == DIGITS[1]).astype(np.int32)
    x_test = mnist.x_test[test_mask].astype(np.float64)
    y_test = (mnist.y_test[test_mask] == DIGITS[1]).astype(np.int32)

    # The notes: X (n_x, m), Y (1, m), zeros.
    X, Y = x_train.T, y_train[None, :].astype(np.float64)
    seed_history = optimize(np.zeros((784, 1)), 0.0, X, Y, iterations, LEARNING_RATE)
    w_seed, b_seed, _ = seed_history[-1]
    seed_predictions = (sigmoid(w_seed.T @ x_test.T + b_seed)[0] > 0.5).astype(np.int32)
    seed_test_accuracy = float(np.mean(seed_predictions == y_test))

    with jax.enable_x64(True):
        net, params, manual = jaxnn_descent(x_train, y_train, iterations, LEARNING_RATE,
                                            "manual")
        _, _, autodiff = jaxnn_descent(x_train, y_train, iterations, LEARNING_RATE,
                                       "autodiff")
        test_accuracy = float(jaxnn.accuracy(net, params, x_test, y_test))
        predictions = np.asarray(jaxnn.predict(net, params, x_test))
        train_accuracy = float(jaxnn.accuracy(net, params, x_train, y_train))
        dtype = str(params[0].W.dtype)

    # Step by step: the notes' w (n_x, 1) is jaxnn's W (1, n_x) transposed.
    param_diff = [
        max(float(np.max(np.abs(W - w.T))), float(np.max(np.abs(bj - b))))
        for (w, b, _), (W, bj, _) in zip(seed_history, manual)
    ]
    # The notes' cost is J before its update; jaxnn's J too (value_and_grad at the params
    # the step starts from).
    cost_diff = max(abs(float(J) - c) for (_, _, c), (_, _, J) in zip(seed_history, manual))
    ad_diff = max(
        max(float(np.max(np.abs(W - Wa))), float(np.max(np.abs(b - ba))))
        for (W, b, _), (Wa, ba, _) in zip(manual, autodiff)
    )
    max_param_diff = max(param_diff)
    predictions_differ = int(np.sum(predictions != seed_predictions))
    held = (
        max_param_diff <= SAME_TOLERANCE
        and ad_diff <= SAME_TOLERANCE
        and test_accuracy >= GOOD_ACCURACY
        and predictions_differ == 0
    )
    costs = [float(J) for _, _, J in manual]
    seed_costs = [c for _, _, c in seed_history]
    summary = (
        f"Over {iterations} full-batch steps on {len(y_train)} digits ({DIGITS[0]} vs "
        f"{DIGITS[1]}), jaxnn's parameters equal the notes' NumPy propagate loop to "
        f"{max_param_diff:.1e} (costs to {cost_diff:.1e}, autodiff to {ad_diff:.1e}, "
        f"{dtype}); cost {costs[0]:.4f} → {costs[-1]:.4f}, test accuracy "
        f"{test_accuracy:.1%} on {len(y_test)} unseen digits (the notes' loop: "
        f"{seed_test_accuracy:.1%})."
    )
    results = {
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "max_param_difference_over_steps": max_param_diff,
        "param_difference_at_step": {
            str(k): param_diff[k - 1] for k in (1, 10, 100, 1000) if k <= iterations
        },
        "max_cost_difference_over_steps": cost_diff,
        "max_manual_vs_autodiff_param_difference": ad_diff,
        "first_cost": costs[0],
        "final_cost": costs[-1],
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "seed_loop_test_accuracy": seed_test_accuracy,
        "test_predictions_differing_from_seed_loop": predictions_differ,
        "dtype": dtype,
    }
    config = {
        "digits": DIGITS,
        "label_1": DIGITS[1],
        "network": net.to_dict(),
        "init": "zeros (as the notes' initialize_with_zeros)",
        "learning_rate": LEARNING_RATE,
        "iterations": iterations,
        "batch": "full (batch gradient descent)",
        "dtype": dtype,
        "data": "jaxnn.data.load_mnist() bundled sample",
    }

    def draw(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
        t = np.arange(1, iterations + 1)
        axes[0].semilogy(t, seed_costs, lw=3, alpha=0.5, label="the notes' propagate (NumPy)")
        axes[0].semilogy(t, costs, "k--", lw=1, label="jaxnn BP1–BP4 + sgd")
        axes[0].set_xlabel("gradient-descent step")
        axes[0].set_ylabel("cost J (binary cross entropy)")
        axes[0].set_title("the two runs' costs")
        axes[0].legend(fontsize=8)
        axes[1].semilogy(t, np.maximum(param_diff, 1e-18), ".", ms=2)
        axes[1].axhline(SAME_TOLERANCE, color="r", ls=":", lw=1, label="tolerance 1e-10")
        axes[1].set_xlabel("gradient-descent step")
        axes[1].set_ylabel("max |θ_jaxnn − θ_notes| (float64)")
        axes[1].set_title("parameters, step by step")
        axes[1].legend(fontsize=8)
        w_img = np.asarray(params[0].W).reshape(28, 28)
        lim = float(np.max(np.abs(w_img)))
        im = axes[2].imshow(w_img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[2].set_title(f"learned w (red: evidence for {DIGITS[1]})")
        axes[2].set_xlabel("pixel column")
        axes[2].set_ylabel("pixel row")
        fig.colorbar(im, ax=axes[2], fraction=0.046)
        fig.suptitle(
            f"Logistic regression = 1-layer sigmoid network: same parameters to "
            f"{max_param_diff:.0e} over {iterations} steps; test accuracy {test_accuracy:.1%} "
            f"({DIGITS[0]} vs {DIGITS[1]})", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held, config=config, results=results,
        figures={f"{NAME}_steps.png": draw}, summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
