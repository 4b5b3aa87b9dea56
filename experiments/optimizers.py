"""Experiment 7: optimizers on an elongated valley and on the digits (the maths.md cheat
sheet and the neural-network notes).

Claim (the maths.md cheat sheet's optimizers, the neural-network notes' mini-batch and
momentum pictures): on an elongated quadratic valley gradient descent zig-zags across the
valley while momentum damps the oscillation and reaches a target cost in fewer steps at the
same learning rate, and RMSprop and Adam give the flat direction a larger step than the
steep one; on the digits mini-batch gradient descent reaches a lower cost than batch
gradient descent after the same number of epochs, at the price of a noisy cost curve, while
stochastic (batch 1) descent takes longer per epoch; every optimizer of
:mod:`jaxnn.optimizers` learns.

Three parts:

1. **The valley** J(w) = ½(h₁w₁² + h₂w₂²) with h = (1, 50) (condition number 50), from
   w = (−10, 1). Every optimizer of :mod:`jaxnn.optimizers` runs on the 2-vector ``w`` (a
   one-leaf pytree) with the hand-written gradient ∇J = (h₁w₁, h₂w₂), checked against
   ``jax.grad``. Measured: the steps to J ≤ 10⁻³, the number of sign changes of w₂ before
   that (the zig-zag across the valley), and for RMSprop and Adam the per-coordinate
   effective learning rate α/(√Ŝᵢ + ε) read from the optimizer state.
2. **Batch vs mini-batch vs stochastic** gradient descent on the bundled digits: the same
   784-30-10 network (sigmoid hidden, softmax + cross entropy), the same learning rate,
   the same number of epochs, with batch sizes 4,000 (the whole set), 32 and 1. Measured:
   the cost on the whole training set after every epoch, seconds per epoch (from
   :func:`jaxnn.train.fit`, one compiled ``lax.scan`` per epoch), and the noise of the
   per-update minibatch cost (from :func:`jaxnn.train.make_step`): the fraction of updates
   after which it went up.
3. **Learning curves of every optimizer** (sgd, momentum, nesterov, rmsprop, adam, adamw)
   on the same network and batch size 32.

Quick mode: 2,000 digits, 3 epochs, 300 per-update costs (none for batch 1), and only sgd
(part 2's mini-batch run) in part 3; the autodiff run is full mode only.

Momentum here is the maths.md cheat sheet's exponentially weighted form
V = βV + (1 − β)g, W = W − αV: at the same α its long-run step along a constant gradient
equals gradient descent's, so it wins on the valley by damping the oscillation, not by a
larger step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import data, schedules
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit, make_step

NAME = "optimizers"
CLAIM = (
    "On an elongated quadratic valley momentum damps gradient descent's zig-zag and reaches "
    "a target cost in fewer steps at the same learning rate, and RMSprop and Adam adapt "
    "their step size per coordinate; on the digits mini-batch gradient descent reaches a "
    "lower cost than batch gradient descent after the same number of epochs while its cost "
    "curve is noisier, stochastic descent is slower per epoch, and every optimizer learns "
    "(the maths.md cheat sheet; the neural-network notes)."
)

# ----------------------------------------------------------------------------------------
# Part 1: the valley J(w) = ½ Σ h_i w_i².

CURVATURE = (1.0, 50.0)  # h₁, h₂: condition number 50
W_START = (-10.0, 1.0)
TARGET_J = 1e-3
VALLEY_LR = 0.036  # α h₂ = 1.8: gradient descent flips w₂'s sign every step
VALLEY_STEPS = 600
# RMSprop and Adam "adapt": their effective rate α/(√Ŝ + ε) on the flat coordinate w₁ is
# more than this many times the one on the steep w₂ (median over the first 20 updates);
# gradient descent and momentum use one rate for both, a ratio of 1.
ADAPTIVE_RATIO = 1.5


def valley_cost(w):
    """J(w) = ½(h₁w₁² + h₂w₂²), ``w: (2,)``."""
    return 0.5 * jnp.sum(jnp.asarray(CURVATURE, w.dtype) * w * w)


def valley_grad(w):
    """∇J = (h₁w₁, h₂w₂), written by hand."""
    return jnp.asarray(CURVATURE, w.dtype) * w


def valley_optimizers():
    """The optimizers drawn on the valley, each with its settings (for the config)."""
    return {
        "gradient descent": (optim.sgd(VALLEY_LR), {"name": "sgd", "lr": VALLEY_LR}),
        "momentum": (
            optim.momentum(VALLEY_LR, beta=0.9),
            {"name": "momentum", "lr": VALLEY_LR, "beta": 0.9},
        ),
        "RMSprop": (
            optim.rmsprop(schedules.exponential_decay(0.1, 0.5, 100)),
            {"name": "rmsprop", "lr": "0.1, halved every 100 steps", "beta": 0.9},
        ),
        "Adam": (optim.adam(0.3), {"name": "adam", "lr": 0.3, "beta1": 0.9, "beta2": 0.999}),
    }


def run_valley(opt, steps: int):
    """``steps`` updates from :data:`W_START`; returns the path ``(steps + 1, 2)`` and the
    per-coordinate effective learning rate α/(√Ŝ + ε) after every update ``(steps, 2)``
    (NaN for optimizers without a second moment)."""
    w0 = jnp.asarray(W_START, jnp.float32)

    def body(carry, _):
        w, state = carry
        w, state = opt.update(valley_grad(w), state, w)
        rate = optim.learning_rate(state)
        if isinstance(state, optim.AdamState):  # Ŝ = S / (1 − β2^t), β2 = 0.999
            s_hat = state.square_avg / (1 - 0.999 ** state.count.astype(w.dtype))
            eff = rate / (jnp.sqrt(s_hat) + 1e-8)
        elif isinstance(state, optim.RmspropState):
            eff = rate / (jnp.sqrt(state.square_avg) + 1e-8)
        else:
            eff = jnp.full((2,), jnp.nan, w.dtype)
        return (w, state), (w, eff)

    _, (ws, eff) = jax.lax.scan(body, (w0, opt.init(w0)), None, length=steps)
    path = np.concatenate([np.asarray(w0)[None], np.asarray(ws)])
    return path, np.asarray(eff)


def valley_stats(path: np.ndarray) -> dict:
    """Steps to J ≤ TARGET_J, sign changes of w₂ before then, final J."""
    h = np.asarray(CURVATURE)
    Js = 0.5 * np.sum(h * path.astype(np.float64) ** 2, axis=1)
    hit = np.flatnonzero(Js <= TARGET_J)
    steps = int(hit[0]) if hit.size else None
    w2 = path[: (steps if steps is not None else len(path) - 1) + 1, 1]
    flips = int(np.sum(np.sign(w2[1:]) * np.sign(w2[:-1]) < 0))
    return {
        "steps_to_target": steps,
        "w2_sign_changes_before_target": flips,
        "final_cost": float(Js[-1]),
        "costs": Js,
    }


# ----------------------------------------------------------------------------------------
# Parts 2 and 3: the digits.

SIZES = (784, 30, 10)
DIGITS_LR = 0.5


def digits_net():
    return jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy")


def per_update_costs(net, params, opt, x, y, batch_size: int, updates: int, seed: int):
    """The minibatch cost J of each of the first ``updates`` updates (make_step, one call
    per update, shuffled like an epoch)."""
    step = make_step(net, opt)
    # Fresh device buffers: make_step donates (deletes) the params and state it is given.
    params = jax.tree.map(lambda a: jax.device_put(np.asarray(a)), params)
    state = opt.init(params)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    xs, ys = x[order], y[order]  # host arrays: slicing them compiles nothing
    costs = []
    for k in range(updates):
        i = (k * batch_size) % (x.shape[0] - batch_size + 1)
        params, state, metrics = step(params, state, xs[i : i + batch_size], ys[i : i + batch_size])
        costs.append(metrics["cost"])
    return np.asarray(jax.device_get(costs), np.float64)


def noise(costs: np.ndarray) -> dict:
    """How noisy a cost curve is: the fraction of updates after which the cost went up,
    and the standard deviation of log(J_{t+1} / J_t)."""
    ratios = np.diff(np.log(costs))
    return {"uphill_fraction": float(np.mean(ratios > 0)), "log_step_std": float(np.std(ratios))}


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)

    # --- Part 1: the valley.
    w_probe = jnp.asarray([0.3, -0.7], jnp.float32)
    grad_check = float(jnp.max(jnp.abs(valley_grad(w_probe) - jax.grad(valley_cost)(w_probe))))
    valley, paths, eff_rates = {}, {}, {}
    for label, (opt, _) in valley_optimizers().items():
        path, eff = run_valley(opt, VALLEY_STEPS)
        paths[label] = path
        stats = valley_stats(path)
        if not np.isnan(eff).all():
            ratio = eff[:20, 0] / eff[:20, 1]  # flat over steep coordinate, first 20 steps
            stats["effective_lr_ratio_flat_over_steep_median_first_20"] = float(np.median(ratio))
            stats["effective_lr_first_step"] = eff[0].tolist()
        eff_rates[label] = eff
        valley[label] = stats
    rms_const_path, _ = run_valley(optim.rmsprop(0.1), VALLEY_STEPS)
    rms_const = valley_stats(rms_const_path)
    tail = rms_const["costs"][-100:]
    valley_rmsprop_constant = {
        "lr": 0.1,
        "steps_to_target": rms_const["steps_to_target"],
        "cost_range_last_100_steps": [float(tail.min()), float(tail.max())],
    }
    gd, mom = valley["gradient descent"], valley["momentum"]
    momentum_faster = (
        mom["steps_to_target"] is not None
        and gd["steps_to_target"] is not None
        and mom["steps_to_target"] < gd["steps_to_target"]
    )
    momentum_damps = mom["w2_sign_changes_before_target"] < gd["w2_sign_changes_before_target"]
    adaptive = all(
        valley[k]["effective_lr_ratio_flat_over_steep_median_first_20"] > ADAPTIVE_RATIO
        for k in ("RMSprop", "Adam")
    )

    # --- Part 2: batch vs mini-batch vs stochastic on the digits.
    mnist = data.load_mnist()
    if quick:
        n_train, epochs, noise_updates = 2000, 3, 300
    else:
        n_train, epochs, noise_updates = 4000, 12, 2000
    x, y = mnist.x_train[:n_train], mnist.y_train[:n_train]
    net = digits_net()
    params0 = jaxnn.init_params(key, net, "lecun_normal")
    batch_sizes = {"batch": n_train, "mini-batch": 32, "stochastic": 1}
    regimes, runs = {}, {}
    for label, bs in batch_sizes.items():
        r = fit(net, params0, optim.sgd(DIGITS_LR), (x, y), epochs=epochs, batch_size=bs,
                key=jax.random.fold_in(key, 1), validation=(x, y))
        runs[label] = r
        # The first epoch also pays for the jit dispatch warm-up: average the others.
        secs = [h["seconds"] for h in r.history[1:]] or [r.history[0]["seconds"]]
        if bs == n_train:  # one update per epoch: fit's train_cost is the per-update cost
            curve = np.asarray([h["train_cost"] for h in r.history], np.float64)
        elif bs == 32 or not quick:
            curve = per_update_costs(net, params0, optim.sgd(DIGITS_LR), x, y, bs,
                                     noise_updates, seed)
        else:  # quick mode leaves out the stochastic curve (one more compile)
            curve = None
        regimes[label] = {
            "batch_size": bs,
            "updates_per_epoch": n_train // bs,
            "seconds_per_epoch": float(np.mean(secs)),
            "train_cost_per_epoch": [h["val_cost"] for h in r.history],
            "final_train_cost": r.history[-1]["val_cost"],
            "final_test_accuracy": evaluate(net, r.params, mnist.x_test, mnist.y_test)["accuracy"],
            "per_update_cost": curve,
            "noise": None if curve is None else noise(curve),
        }
    b, mb, st = regimes["batch"], regimes["mini-batch"], regimes["stochastic"]
    minibatch_lower = mb["final_train_cost"] < b["final_train_cost"]
    minibatch_noisier = mb["noise"]["uphill_fraction"] > b["noise"]["uphill_fraction"]
    stochastic_slower = st["seconds_per_epoch"] > mb["seconds_per_epoch"]

    # The same mini-batch run with autodiff's gradient instead of BP1–BP4 (full mode).
    autodiff = None
    if not quick:
        r_ad = fit(net, params0, optim.sgd(DIGITS_LR), (x, y), epochs=epochs, batch_size=32,
                   key=jax.random.fold_in(key, 1), validation=(x, y), grad="autodiff")
        manual_costs = np.asarray(mb["train_cost_per_epoch"])
        ad_costs = np.asarray([h["val_cost"] for h in r_ad.history])
        autodiff = {
            "final_train_cost": float(ad_costs[-1]),
            "max_abs_cost_difference_vs_manual": float(np.max(np.abs(ad_costs - manual_costs))),
        }

    # --- Part 3: every optimizer, batch 32.
    opt_settings = {
        "sgd": {"lr": DIGITS_LR},
        "momentum": {"lr": DIGITS_LR, "beta": 0.9},
        "nesterov": {"lr": DIGITS_LR, "beta": 0.9},
        "rmsprop": {"lr": 3e-3, "beta": 0.9},
        "adam": {"lr": 3e-3, "beta1": 0.9, "beta2": 0.999},
        "adamw": {"lr": 3e-3, "beta1": 0.9, "beta2": 0.999, "weight_decay": 1e-2},
    }
    if quick:
        opt_settings = {"sgd": opt_settings["sgd"]}  # part 2's mini-batch run, reused
    curves = {}
    for name, hp in opt_settings.items():
        if name == "sgd":
            r = runs["mini-batch"]  # the same run as part 2's mini-batch
        else:
            extra = {k: v for k, v in hp.items() if k != "lr"}
            r = fit(net, params0, optim.get(name, hp["lr"], **extra), (x, y), epochs=epochs,
                    batch_size=32, key=jax.random.fold_in(key, 1), validation=(x, y))
        curves[name] = {
            "train_cost_per_epoch": [h["val_cost"] for h in r.history],
            "final_test_accuracy": evaluate(net, r.params, mnist.x_test, mnist.y_test)["accuracy"],
        }
    initial_cost = evaluate(net, params0, x, y)["cost"]
    all_learn = all(c["train_cost_per_epoch"][-1] < 0.5 * initial_cost for c in curves.values())

    held = bool(momentum_faster and momentum_damps and adaptive and minibatch_lower
                and minibatch_noisier and stochastic_slower and all_learn)

    config = {
        "valley": {
            "cost": "J(w) = 0.5 (h1 w1^2 + h2 w2^2)",
            "curvature": CURVATURE,
            "condition_number": CURVATURE[1] / CURVATURE[0],
            "start": W_START,
            "target_cost": TARGET_J,
            "steps": VALLEY_STEPS,
            "optimizers": {k: v[1] for k, v in valley_optimizers().items()},
            "adaptive_ratio_threshold": ADAPTIVE_RATIO,
        },
        "digits": {
            "data": "bundled MNIST sample",
            "n_train": n_train,
            "network": {"sizes": SIZES, "hidden": "sigmoid", "output": "softmax",
                        "cost": "cross_entropy", "init": "lecun_normal"},
            "epochs": epochs,
            "sgd_lr_for_every_batch_size": DIGITS_LR,
            "batch_sizes": batch_sizes,
            "per_update_cost_curve_updates": noise_updates,
            "optimizers": opt_settings,
        },
        "seed": seed,
        "quick": quick,
    }
    results = {
        "valley": {
            "gradient_check_max_abs_vs_jax_grad": grad_check,
            **{k: {kk: vv for kk, vv in v.items() if kk != "costs"} for k, v in valley.items()},
            "rmsprop_constant_lr": valley_rmsprop_constant,
        },
        "batch_sizes": {k: {kk: vv for kk, vv in v.items() if kk != "per_update_cost"}
                        for k, v in regimes.items()},
        "minibatch_autodiff": autodiff,
        "optimizer_curves": curves,
        "initial_train_cost": initial_cost,
        "checks": {
            "momentum_fewer_steps_than_gd": momentum_faster,
            "momentum_fewer_w2_sign_changes": momentum_damps,
            "rmsprop_adam_flat_direction_larger_step": adaptive,
            "minibatch_lower_cost_than_batch": minibatch_lower,
            "minibatch_noisier_than_batch": minibatch_noisier,
            "stochastic_slower_per_epoch_than_minibatch": stochastic_slower,
            "every_optimizer_halves_the_cost": all_learn,
        },
    }
    summary = (
        f"Valley (κ = 50): momentum reaches J ≤ {TARGET_J:g} in {mom['steps_to_target']} steps "
        f"vs gradient descent's {gd['steps_to_target']}, flipping w₂'s sign "
        f"{mom['w2_sign_changes_before_target']} times vs {gd['w2_sign_changes_before_target']}. "
        f"Digits, {epochs} epochs at η = {DIGITS_LR}: training cost {mb['final_train_cost']:.3f} "
        f"(mini-batch 32) vs {b['final_train_cost']:.3f} (batch) vs "
        f"{st['final_train_cost']:.3f} (stochastic); seconds per epoch "
        f"{mb['seconds_per_epoch']:.3f} vs {b['seconds_per_epoch']:.3f} vs "
        f"{st['seconds_per_epoch']:.3f}."
    )

    ratios = [valley[k]["effective_lr_ratio_flat_over_steep_median_first_20"]
              for k in ("RMSprop", "Adam")]
    settings = {"gradient descent": f"α = {VALLEY_LR}", "momentum": f"α = {VALLEY_LR}, β = 0.9",
                "RMSprop": "α = 0.1 halved every 100", "Adam": "α = 0.3"}

    def draw_valley(path):
        plt = pyplot()
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
        g1, g2 = np.meshgrid(np.linspace(-11, 2, 300), np.linspace(-1.6, 1.6, 300))
        Jg = 0.5 * (CURVATURE[0] * g1**2 + CURVATURE[1] * g2**2)
        ax.contour(g1, g2, Jg, levels=np.geomspace(0.05, 120, 14), colors="0.75", linewidths=0.8)
        colors = {"gradient descent": "C3", "momentum": "C0", "RMSprop": "C2", "Adam": "C1"}
        for label, p in paths.items():
            s = valley[label]
            n = s["steps_to_target"] or VALLEY_STEPS
            ax.plot(p[: n + 1, 0], p[: n + 1, 1], ".-", color=colors[label], lw=1, ms=3,
                    label=f"{label} ({settings[label]}): {s['steps_to_target']} steps, "
                          f"{s['w2_sign_changes_before_target']} sign flips of w₂")
            ax2.semilogy(s["costs"], color=colors[label], label=label)
        ax.plot(*W_START, "ks")
        ax.plot(0, 0, "k*", ms=12)
        ax.set_xlabel("w₁ (flat direction, h₁ = 1)")
        ax.set_ylabel("w₂ (steep direction, h₂ = 50)")
        ax.set_xlim(-11, 2)
        ax.set_ylim(-1.6, 1.6)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"Paths to J ≤ {TARGET_J:g} on J = ½(w₁² + 50 w₂²)")
        ax2.axhline(TARGET_J, color="k", ls=":", lw=1, label=f"target {TARGET_J:g}")
        ax2.set_xlim(0, 400)
        ax2.set_ylim(1e-8, 200)
        ax2.set_xlabel("update")
        ax2.set_ylabel("J(w)")
        ax2.legend(fontsize=8)
        ax2.set_title("Cost per update")
        fig.suptitle(
            f"Momentum damps the zig-zag: {mom['steps_to_target']} steps vs gradient descent's "
            f"{gd['steps_to_target']} at α = {VALLEY_LR} ({mom['w2_sign_changes_before_target']} "
            f"vs {gd['w2_sign_changes_before_target']} sign flips); RMSprop/Adam give w₁ a "
            f"{min(ratios):.1f}–{max(ratios):.1f}× larger step size than w₂", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def draw_batches(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        colors = {"batch": "C3", "mini-batch": "C0", "stochastic": "C2"}
        shown = 500  # updates drawn in the noise panel
        for label in ("stochastic", "mini-batch", "batch"):  # the smooth one on top
            r = regimes[label]
            curve = r["per_update_cost"]
            if curve is not None:
                k = min(len(curve), shown)
                axes[2].semilogy(np.arange(1, k + 1), curve[:k], color=colors[label],
                                 lw=2.0 if label == "batch" else 0.7,
                                 alpha=0.5 if label == "stochastic" else 0.9,
                                 marker="o" if label == "batch" else None, ms=4,
                                 label=f"{label} (m = {r['batch_size']}): up after "
                                 f"{100 * r['noise']['uphill_fraction']:.0f}% of updates")
        for label, r in regimes.items():
            c = colors[label]
            ep = np.arange(1, epochs + 1)
            axes[0].semilogy(ep, r["train_cost_per_epoch"], "o-", color=c,
                             label=f"{label} (m = {r['batch_size']})")
            t = np.cumsum([h["seconds"] for h in runs[label].history])
            axes[1].semilogy(t, r["train_cost_per_epoch"], "o-", color=c,
                             label=f"{label}: {r['seconds_per_epoch'] * 1e3:.0f} ms/epoch")
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("cost on the whole training set")
        axes[0].set_title(f"Same epochs, same η = {DIGITS_LR}")
        axes[1].set_xlabel("wall-clock seconds (compiled epochs)")
        axes[1].set_ylabel("cost on the whole training set")
        axes[1].set_title("Same cost against time")
        axes[2].set_xlabel(f"update (first {shown}; batch has one per epoch)")
        axes[2].set_ylabel("cost of the update's minibatch")
        axes[2].set_title("Noise of the per-update cost")
        for ax in axes:
            ax.legend(fontsize=8)
        fig.suptitle(
            f"After {epochs} epochs mini-batch reaches cost {mb['final_train_cost']:.3f} vs "
            f"batch {b['final_train_cost']:.3f} (stochastic {st['final_train_cost']:.3f}); its "
            f"minibatch cost rises after {100 * mb['noise']['uphill_fraction']:.0f}% of updates "
            f"(batch {100 * b['noise']['uphill_fraction']:.0f}%); stochastic takes "
            f"{st['seconds_per_epoch'] / mb['seconds_per_epoch']:.1f}× longer per epoch",
            fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def draw_curves(path):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(8, 5))
        ep = np.arange(0, epochs + 1)
        for name, c in curves.items():
            hp = opt_settings[name]
            ax.semilogy(ep, [initial_cost, *c["train_cost_per_epoch"]], "o-", ms=3,
                        label=f"{name} (α = {hp['lr']:g}): test acc "
                              f"{c['final_test_accuracy']:.3f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cost on the whole training set")
        ax.legend(fontsize=8)
        best = min(curves, key=lambda k: curves[k]["train_cost_per_epoch"][-1])
        ax.set_title(
            f"Every optimizer learns the digits (784-30-10, batch 32); lowest cost after "
            f"{epochs} epochs: {best} {curves[best]['train_cost_per_epoch'][-1]:.3f}",
            fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    figures = {
        f"{NAME}_valley.png": draw_valley,
        f"{NAME}_batch_sizes.png": draw_batches,
        f"{NAME}_learning_curves.png": draw_curves,
    }
    return Result(held=held, config=config, results=results, figures=figures, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
