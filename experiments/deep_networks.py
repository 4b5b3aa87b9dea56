"""Layer norm, batch norm and skip connections against vanishing gradients in a deep
sigmoid network.

Claim (the neural-network notes' vanishing gradients, Nielsen's ch. 5, and the remedies
every course takes next: Ba et al. 2016 arXiv:1607.06450, Ioffe & Szegedy 2015
arXiv:1502.03167, He et al. 2016 arXiv:1512.03385): a deep sigmoid network, 10 hidden
layers of 32 units on the bundled MNIST sample, learns slowly in its early layers and
reaches a lower test accuracy; layer norm, batch norm and residual connections each keep
the per-layer speeds within an order of magnitude and reach a higher test accuracy.

Speed of learning of layer l: ‖∂J/∂W^l‖ (BP4; with norm, the gradient of the training-mode
cost), on the same 1,000 training images, at initialisation (geometric mean over the
seeds) and after training. Each variant trains 5 seeds together with ``train.fit_many``
(adam, α = 1e−3, minibatches of 32, LeCun normal initialisation); test accuracy is in
evaluation mode, batch norm with the population statistics of the training set
(``network.population_statistics``).

The rule, fixed before the run (:data:`RULE`): the plain network's first hidden layer is
more than 10× slower than its last at initialisation; each remedy's hidden-layer speeds
at initialisation lie within a factor of 10 of each other; and each remedy's mean test
accuracy minus its standard deviation over the seeds exceeds the plain network's mean
plus its standard deviation. Layer norm with skips together (the issue's goal on
scikit-learn's digits) is run and reported beside them, outside the rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, inputs, network, optimizers, train

NAME = "deep_networks"
CLAIM = (
    "A deep sigmoid network (10 hidden layers of 32 on the bundled MNIST sample) learns "
    "slowly in its early layers and reaches a lower test accuracy; layer norm, batch norm "
    "and residual connections each keep the per-layer speeds ‖∂J/∂W^l‖ within an order of "
    "magnitude and reach a higher test accuracy (5 seeds, fit_many)."
)
RULE = (
    "held if (1) plain: first hidden layer's speed < 1/10 of the last hidden layer's at "
    "initialisation (geometric mean over seeds); (2) every remedy: max/min of the hidden "
    "layers' speeds at initialisation ≤ 10; (3) every remedy: mean − std of test accuracy "
    "over seeds > plain's mean + std."
)

SIZES = (784,) + (32,) * 10 + (10,)
VARIANTS = {
    "plain": {},
    "layer_norm": {"norm": "layer"},
    "batch_norm": {"norm": "batch"},
    "residual": {"residual": True},
    "layer_norm_residual": {"norm": "layer", "residual": True},  # reported, not judged
}
JUDGED = ("layer_norm", "batch_norm", "residual")
ORDER_OF_MAGNITUDE = 10.0
SPEED_IMAGES = 1000
SETTINGS = {
    "full": {"train": None, "epochs": 15, "seeds": 5},
    "quick": {"train": 1000, "epochs": 2, "seeds": 2},
}
LEARNING_RATE, BATCH = 1e-3, 32


def make_net(variant: str) -> jaxnn.Network:
    return jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy",
                     **VARIANTS[variant])


def speeds(net: jaxnn.Network, params, x, y):
    """‖∂J/∂W^l‖ for l = 1..L, from one hand-written backward pass (training mode)."""
    targets = inputs.as_targets(net.n_out, y, x.dtype)
    grads = backprop.value_grad_and_output(net, params, x, targets)[1]
    return jnp.stack([jnp.linalg.norm(g.W) for g in grads])


def eval_accuracy(net: jaxnn.Network, params, x_train, x, labels):
    """Evaluation-mode accuracy; batch norm first takes its population statistics over the
    training set."""
    params = network.population_statistics(net, params, x_train)
    a_out = network.forward_layers(net, params, x, training=False)[1][-1]
    return jnp.mean(network.predict_from_output(net, a_out) == labels)


def study(variant: str, x, y, x_test, y_test, x_speed, y_speed, epochs: int, seeds: int,
          key) -> dict:
    net = make_net(variant)
    keys = jax.random.split(key, seeds)
    params = jax.vmap(lambda k: jaxnn.init_params(k, net))(keys)
    speed_fn = jax.jit(jax.vmap(speeds, (None, 0, None, None)), static_argnums=0)
    at_init = np.asarray(speed_fn(net, params, x_speed, y_speed))
    result = train.fit_many(net, params, optimizers.adam(LEARNING_RATE), (x, y),
                            epochs=epochs, batch_size=BATCH,
                            keys=jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))
    trained = result.params
    after = np.asarray(speed_fn(net, trained, x_speed, y_speed))
    acc_fn = jax.jit(jax.vmap(eval_accuracy, (None, 0, None, None, None)), static_argnums=0)
    accuracy = np.asarray(acc_fn(net, trained, x, x_test, y_test), np.float64)
    geo = np.exp(np.mean(np.log(at_init), axis=0))
    geo_after = np.exp(np.mean(np.log(after), axis=0))
    hidden = geo[:-1]
    return {
        "network": net.to_dict(),
        "speed_at_init": geo.tolist(),
        "speed_after_training": geo_after.tolist(),
        "first_over_last_hidden_at_init": float(hidden[0] / hidden[-1]),
        "max_over_min_hidden_at_init": float(hidden.max() / hidden.min()),
        "max_over_min_hidden_after_training": float(geo_after[:-1].max()
                                                    / geo_after[:-1].min()),
        "test_accuracy_per_seed": accuracy.tolist(),
        "test_accuracy": {"mean": float(accuracy.mean()), "std": float(accuracy.std())},
        "final_train_accuracy": [h[-1]["train_accuracy"] for h in result.histories],
        "compile_seconds": result.compile_seconds,
    }


def run(quick: bool, seed: int) -> Result:
    setting = SETTINGS["quick" if quick else "full"]
    mnist = data.load_mnist()
    n = setting["train"] or len(mnist.x_train)
    x, y = jnp.asarray(mnist.x_train[:n]), jnp.asarray(mnist.y_train[:n], jnp.int32)
    x_test, y_test = jnp.asarray(mnist.x_test), jnp.asarray(mnist.y_test, jnp.int32)
    x_speed = jnp.asarray(mnist.x_train[:SPEED_IMAGES])
    y_speed = jnp.asarray(mnist.y_train[:SPEED_IMAGES], jnp.int32)
    key = jax.random.key(seed)
    studies = {v: study(v, x, y, x_test, y_test, x_speed, y_speed, setting["epochs"],
                        setting["seeds"], jax.random.fold_in(key, i))
               for i, v in enumerate(VARIANTS)}

    plain = studies["plain"]
    plain_slow = plain["first_over_last_hidden_at_init"] < 1 / ORDER_OF_MAGNITUDE
    p_acc = plain["test_accuracy"]
    remedies = {}
    for v in JUDGED:
        s = studies[v]
        acc = s["test_accuracy"]
        remedies[v] = {
            "speeds_within_order_of_magnitude":
                s["max_over_min_hidden_at_init"] <= ORDER_OF_MAGNITUDE,
            "higher_accuracy": acc["mean"] - acc["std"] > p_acc["mean"] + p_acc["std"],
        }
    held = plain_slow and all(all(r.values()) for r in remedies.values())

    summary = (
        f"Plain sigmoid 784-(32×10)-10: first/last hidden speed "
        f"{plain['first_over_last_hidden_at_init']:.2g} at initialisation, test accuracy "
        f"{p_acc['mean']:.3f} ± {p_acc['std']:.3f}. "
        + "; ".join(
            f"{v.replace('_', ' ')}: max/min hidden speed {s['max_over_min_hidden_at_init']:.2g}, "
            f"accuracy {s['test_accuracy']['mean']:.3f} ± {s['test_accuracy']['std']:.3f}"
            for v, s in studies.items() if v != "plain")
        + " (layer norm + residual is reported, not judged)"
        + f" ({setting['seeds']} seeds, {setting['epochs']} epochs, {n} training images)."
    )
    results = {**studies, "plain_early_layers_slow": plain_slow, "remedies": remedies}
    config = {
        "quick": quick,
        "held_if": RULE,
        "sizes": SIZES,
        "hidden": "sigmoid", "output": "softmax", "cost": "cross_entropy",
        "init": "lecun_normal",
        "variants": VARIANTS,
        "judged": JUDGED,
        "optimizer": "adam", "learning_rate": LEARNING_RATE, "batch_size": BATCH,
        "epochs": setting["epochs"], "seeds": setting["seeds"],
        "train_images": n, "test_images": int(x_test.shape[0]),
        "speed_images": SPEED_IMAGES,
        "data": "jaxnn.data.load_mnist() (the bundled sample)",
        "seed": seed,
    }

    def draw(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
        layers = np.arange(1, len(SIZES))
        for v, s in studies.items():
            axes[0].semilogy(layers, s["speed_at_init"], marker="o", label=v.replace("_", " "))
            axes[1].semilogy(layers, s["speed_after_training"], marker="o",
                             label=v.replace("_", " "))
        for ax, when in zip(axes[:2], ("at initialisation", "after training")):
            ax.set_xlabel("layer l (11 = output)")
            ax.set_ylabel("speed of learning ‖∂J/∂W^l‖")
            ax.set_title(f"per-layer speed {when}")
            ax.grid(True, which="major", alpha=0.3)
        axes[0].legend(fontsize=8)
        for i, s in enumerate(studies.values()):
            accs = s["test_accuracy_per_seed"]
            axes[2].plot([i] * len(accs), accs, "o", alpha=0.6)
            axes[2].errorbar(i + 0.15, s["test_accuracy"]["mean"],
                             yerr=s["test_accuracy"]["std"], fmt="_k", capsize=4)
        axes[2].set_xticks(range(len(studies)))
        axes[2].set_xticklabels([v.replace("_", "\n") for v in studies], fontsize=8)
        axes[2].set_ylabel("test accuracy (evaluation mode)")
        axes[2].set_title(f"{setting['seeds']} seeds, {setting['epochs']} epochs")
        fig.suptitle("Deep sigmoid network 784-(32×10)-10: per-layer speeds with and "
                     "without each remedy", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(held, config, results, {f"{NAME}_speeds.png": draw}, summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
