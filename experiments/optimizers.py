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
   effective learning rate α/(√Ŝᵢ + ε) read from the optimizer state. Full-batch descent
   from a fixed start has no randomness: one run, the same in every seed.
2. **Batch vs mini-batch vs stochastic** gradient descent on the bundled digits: the same
   784-30-10 network (sigmoid hidden, softmax + cross entropy), the same learning rate,
   the same number of epochs, with batch sizes 4,000 (the whole set), 32 and 1, each from
   :data:`SEEDS` seeds (5 in full mode) trained together by :func:`jaxnn.train.fit_many`
   (one compiled program per batch size). Seed k initialises from ``fold_in(key_k, 0)``
   and shuffles with ``fold_in(key_k, 1)`` for every batch size and optimizer. Measured:
   the cost on the whole training set after every epoch, seconds per epoch of the
   program (all seeds together), and the noise of the per-update minibatch cost (a
   compiled ``lax.scan`` of BP1–BP4 steps, ``vmap``-ed over the seeds): the fraction of
   updates after which it went up.
3. **Learning curves of every optimizer** (sgd, momentum, nesterov, rmsprop, adam, adamw)
   on the same network and batch size 32, one ``fit_many`` per optimizer (the kinds have
   different states) over the same seeds; mean ± one std over the seeds in the figures.

**The rule** (:data:`RULE`): the valley's three checks as measured; on the digits each
comparison is judged on the seed statistics: mini-batch's final training cost one
standard deviation (sample, ddof = 1) below batch's, its uphill fraction one std above
batch's, stochastic's seconds per epoch one std above mini-batch's (std over epochs 2…E),
and every optimizer halving the initial training cost in every seed.

Quick mode: 2 seeds, 2,000 digits, 3 epochs, 300 per-update costs (none for batch 1), and
only sgd (part 2's mini-batch run) in part 3; the autodiff run is full mode only. Quick
mode measures and reports the seconds per epoch but does not judge them: the tests run it,
often on a loaded machine, where a timing says nothing about the optimizers. Its timing
check is ``None`` ("not judged in quick mode"), and the claim's held flag rests on the
other checks; the full run judges all of them.

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
from experiments._common import (
    Result,
    exit_with,
    make_main,
    mean_std,
    one_std_above,
    pyplot,
)
from jaxnn import backprop, data, schedules
from jaxnn import optimizers as optim
from jaxnn.train import evaluate, fit_many

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
SEEDS = {"full": 5, "quick": 2}
RULE = (
    "held when, on the valley (deterministic: no seed enters, one run), momentum reaches "
    "J ≤ 1e-3 in fewer steps and with fewer sign changes of w₂ than gradient descent and "
    "RMSprop's and Adam's flat/steep effective-rate ratio exceeds 1.5; and on the digits, "
    "over the seeds (mean and sample std, ddof = 1): mini-batch's final training cost is "
    "one std below batch's (mean + std < mean − std), mini-batch's fraction of uphill "
    "updates one std above batch's, stochastic's seconds per epoch (all seeds in one "
    "program, over epochs 2…E) one std above mini-batch's (judged in full mode only: quick "
    "mode reports the seconds, not judged), and every optimizer's final training cost "
    "below half the initial one in every seed"
)
TIMING_CHECKS = ("stochastic_slower_per_epoch_than_minibatch_by_one_std",)


def digits_net():
    return jaxnn.mlp(SIZES, hidden="sigmoid", output="softmax", cost="cross_entropy")


def per_update_costs(net, params, lr: float, x, y, batch_size: int, updates: int, keys):
    """``(K, updates)``: the minibatch cost J of each of the first ``updates`` SGD updates
    of each seed, one compiled ``lax.scan`` of hand-written gradients
    (``backprop.value_and_grad``) ``vmap``-ed over the seeds; seed k takes its examples in
    the order of one permutation by ``keys[k]``, cycled, from ``params[k]``."""
    n = x.shape[0]
    opt = optim.sgd(lr)
    x, y = jnp.asarray(x), jnp.asarray(y)

    def one_seed(p, key):
        order = jax.random.permutation(key, n)

        def step(carry, t):
            p, state = carry
            idx = jax.lax.dynamic_slice(order, ((t * batch_size) % (n - batch_size + 1),),
                                        (batch_size,))
            J, grads = backprop.value_and_grad(net, p, x[idx], y[idx])  # BP1–BP4
            p, state = opt.update(grads, state, p)
            return (p, state), J

        _, Js = jax.lax.scan(step, (p, opt.init(p)), jnp.arange(updates))
        return Js

    return np.asarray(jax.jit(jax.vmap(one_seed))(params, keys), np.float64)


def noise(costs: np.ndarray) -> dict:
    """How noisy a cost curve is: the fraction of updates after which the cost went up,
    and the standard deviation of log(J_{t+1} / J_t)."""
    ratios = np.diff(np.log(costs))
    return {"uphill_fraction": float(np.mean(ratios > 0)), "log_step_std": float(np.std(ratios))}


def seed_noise(curves: np.ndarray) -> dict:
    """:func:`noise` of each seed's curve (rows of ``curves``), as seed statistics."""
    per_seed = [noise(c) for c in curves]
    return {k: mean_std([p[k] for p in per_seed]) for k in ("uphill_fraction", "log_step_std")}


def epoch_seconds(history) -> dict:
    """Seconds per epoch of one ``fit_many`` program (all seeds together) over epochs 2…E
    (the first also pays for dispatch warm-up): ``{"per_epoch", "mean", "std"}``."""
    secs = [h["seconds"] for h in history[1:]] or [history[0]["seconds"]]
    stats = mean_std(secs)
    return {"per_epoch": stats.pop("per_seed"), **stats}


def curves_of(r, key: str = "val_cost") -> np.ndarray:
    """``(K, E)`` of one per-epoch metric of a ``fit_many`` result (every run completed)."""
    assert all(s == "completed" for s in r.stopped), r.stopped
    return np.asarray([[h[key] for h in hist] for hist in r.histories], np.float64)


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)

    # --- Part 1: the valley (deterministic: no seed enters).
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

    # --- Part 2: batch vs mini-batch vs stochastic on the digits, every seed.
    mnist = data.load_mnist()
    if quick:
        n_train, epochs, noise_updates = 2000, 3, 300
    else:
        n_train, epochs, noise_updates = 4000, 12, 2000
    n_seeds = SEEDS["quick" if quick else "full"]
    x, y = mnist.x_train[:n_train], mnist.y_train[:n_train]
    net = digits_net()
    keys = jax.random.split(key, n_seeds)
    params0 = jax.vmap(lambda k: jaxnn.init_params(jax.random.fold_in(k, 0), net,
                                                   "lecun_normal"))(keys)
    shuffle_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)

    def seed_params(params, k):
        return jax.tree.map(lambda a: a[k], params)

    def test_accuracy(params):
        return mean_std([evaluate(net, seed_params(params, k), mnist.x_test,
                                  mnist.y_test)["accuracy"] for k in range(n_seeds)])

    def train(opt, batch_size, grad="manual"):
        return fit_many(net, params0, opt, (x, y), epochs=epochs, batch_size=batch_size,
                        keys=shuffle_keys, validation=(x, y), grad=grad)

    batch_sizes = {"batch": n_train, "mini-batch": 32, "stochastic": 1}
    regimes, runs, update_curves = {}, {}, {}
    for label, bs in batch_sizes.items():
        r = train(optim.sgd(DIGITS_LR), bs)
        runs[label] = r
        costs = curves_of(r)
        if bs == n_train:  # one update per epoch: fit_many's train_cost is its cost
            curves = curves_of(r, "train_cost")
        elif bs == 32 or not quick:
            curves = per_update_costs(net, params0, DIGITS_LR, x, y, bs, noise_updates,
                                      shuffle_keys)
        else:  # quick mode leaves out the stochastic curve (one more compile)
            curves = None
        update_curves[label] = curves
        regimes[label] = {
            "batch_size": bs,
            "updates_per_epoch": n_train // bs,
            "seconds_per_epoch_all_seeds": epoch_seconds(r.histories[0]),
            "train_cost_per_epoch_mean": costs.mean(axis=0),
            "train_cost_per_epoch_std": costs.std(axis=0, ddof=1),
            "final_train_cost": mean_std(costs[:, -1]),
            "final_test_accuracy": test_accuracy(r.params),
            "noise": None if curves is None else seed_noise(curves),
        }
    b, mb, st = regimes["batch"], regimes["mini-batch"], regimes["stochastic"]
    minibatch_lower = one_std_above(b["final_train_cost"], mb["final_train_cost"])
    minibatch_noisier = one_std_above(mb["noise"]["uphill_fraction"],
                                      b["noise"]["uphill_fraction"])
    # A timing is judged only in a full run: quick mode (the tests, a loaded machine)
    # reports the seconds and leaves the check None.
    timing_judged = not quick
    stochastic_slower = (one_std_above(st["seconds_per_epoch_all_seeds"],
                                       mb["seconds_per_epoch_all_seeds"])
                         if timing_judged else None)

    # The same mini-batch seeds with autodiff's gradient instead of BP1–BP4 (full mode).
    autodiff = None
    if not quick:
        ad_costs = curves_of(train(optim.sgd(DIGITS_LR), 32, grad="autodiff"))
        autodiff = {
            "final_train_cost": mean_std(ad_costs[:, -1]),
            "max_abs_cost_difference_vs_manual_any_seed_epoch": float(
                np.max(np.abs(ad_costs - curves_of(runs["mini-batch"])))),
        }

    # --- Part 3: every optimizer, batch 32, every seed (one fit_many per kind).
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
    initial = mean_std([evaluate(net, seed_params(params0, k), x, y)["cost"]
                        for k in range(n_seeds)])
    curves = {}
    for name, hp in opt_settings.items():
        if name == "sgd":
            r = runs["mini-batch"]  # the same runs as part 2's mini-batch
        else:
            extra = {k: v for k, v in hp.items() if k != "lr"}
            r = train(optim.get(name, hp["lr"], **extra), 32)
        costs = curves_of(r)
        curves[name] = {
            "train_cost_per_epoch_mean": costs.mean(axis=0),
            "train_cost_per_epoch_std": costs.std(axis=0, ddof=1),
            "final_train_cost": mean_std(costs[:, -1]),
            "final_test_accuracy": test_accuracy(r.params),
            "halves_the_cost_per_seed": [
                bool(c < 0.5 * c0) for c, c0 in zip(costs[:, -1], initial["per_seed"])],
        }
    all_learn = all(all(c["halves_the_cost_per_seed"]) for c in curves.values())

    held = bool(momentum_faster and momentum_damps and adaptive and minibatch_lower
                and minibatch_noisier and (stochastic_slower or not timing_judged)
                and all_learn)

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
            "seeds": "none: full-batch descent from a fixed start is deterministic",
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
            "seeds": n_seeds,
            "seed_keys": f"jax.random.split(jax.random.key({seed}), {n_seeds}); seed k "
                         "initialises with fold_in(key_k, 0), shuffles with "
                         "fold_in(key_k, 1), the same for every batch size and optimizer",
            "training": "jaxnn.train.fit_many: one program per batch size / optimizer, "
                        "over the seeds",
        },
        "seeds": n_seeds,
        "held_if": RULE,
        "timing_judged": timing_judged,
        "seed": seed,
        "quick": quick,
    }
    results = {
        "rule": RULE,
        "seeds": n_seeds,
        "valley": {
            "gradient_check_max_abs_vs_jax_grad": grad_check,
            **{k: {kk: vv for kk, vv in v.items() if kk != "costs"} for k, v in valley.items()},
            "rmsprop_constant_lr": valley_rmsprop_constant,
        },
        "batch_sizes": regimes,
        "minibatch_autodiff": autodiff,
        "optimizer_curves": curves,
        "initial_train_cost": initial,
        "checks": {
            "momentum_fewer_steps_than_gd": momentum_faster,
            "momentum_fewer_w2_sign_changes": momentum_damps,
            "rmsprop_adam_flat_direction_larger_step": adaptive,
            "minibatch_lower_cost_than_batch_by_one_std": minibatch_lower,
            "minibatch_noisier_than_batch_by_one_std": minibatch_noisier,
            "stochastic_slower_per_epoch_than_minibatch_by_one_std": stochastic_slower,
            "every_optimizer_halves_the_cost_every_seed": all_learn,
        },
        "not_judged_in_quick_mode": [] if timing_judged else list(TIMING_CHECKS),
    }

    def pm(s, digits=3):
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"

    summary = (
        f"Valley (κ = 50, deterministic): momentum reaches J ≤ {TARGET_J:g} in "
        f"{mom['steps_to_target']} steps vs gradient descent's {gd['steps_to_target']}, "
        f"flipping w₂'s sign {mom['w2_sign_changes_before_target']} times vs "
        f"{gd['w2_sign_changes_before_target']}. Digits, {epochs} epochs at η = {DIGITS_LR}, "
        f"mean ± std over {n_seeds} seeds: training cost {pm(mb['final_train_cost'])} "
        f"(mini-batch 32) vs {pm(b['final_train_cost'])} (batch) vs "
        f"{pm(st['final_train_cost'])} (stochastic); cost rises after "
        f"{pm(mb['noise']['uphill_fraction'], 2)} of mini-batch updates vs "
        f"{pm(b['noise']['uphill_fraction'], 2)} of batch ones; seconds per epoch "
        f"({n_seeds} seeds together) {pm(mb['seconds_per_epoch_all_seeds'])} vs "
        f"{pm(b['seconds_per_epoch_all_seeds'])} vs {pm(st['seconds_per_epoch_all_seeds'])}"
        f"{'' if timing_judged else ' (not judged in quick mode)'}; "
        f"every optimizer halves the initial cost {pm(initial)} in every seed: "
        f"{'yes' if all_learn else 'no'}."
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

    def band(ax, xs, mean, std, color, label, **kw):
        mean, std = np.asarray(mean), np.asarray(std)
        ax.plot(xs, mean, "o-", ms=3, color=color, label=label, **kw)
        ax.fill_between(xs, np.maximum(mean - std, 1e-6), mean + std, color=color, alpha=0.2,
                        lw=0)

    slowdown = (st["seconds_per_epoch_all_seeds"]["mean"]
                / mb["seconds_per_epoch_all_seeds"]["mean"])

    def draw_batches(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        colors = {"batch": "C3", "mini-batch": "C0", "stochastic": "C2"}
        shown = 500  # updates drawn in the noise panel
        for label in ("stochastic", "mini-batch", "batch"):  # the smooth one on top
            r = regimes[label]
            curve = update_curves[label]
            if curve is not None:
                curve = curve[0]  # the first seed
                k = min(len(curve), shown)
                axes[2].semilogy(np.arange(1, k + 1), curve[:k], color=colors[label],
                                 lw=2.0 if label == "batch" else 0.7,
                                 alpha=0.5 if label == "stochastic" else 0.9,
                                 marker="o" if label == "batch" else None, ms=4,
                                 label=f"{label} (m = {r['batch_size']}): up after "
                                 f"{pm(r['noise']['uphill_fraction'], 2)} of updates")
        ep = np.arange(1, epochs + 1)
        for label, r in regimes.items():
            c = colors[label]
            band(axes[0], ep, r["train_cost_per_epoch_mean"], r["train_cost_per_epoch_std"], c,
                 f"{label} (m = {r['batch_size']}): {pm(r['final_train_cost'])}")
            t = np.cumsum([h["seconds"] for h in runs[label].histories[0]])
            band(axes[1], t, r["train_cost_per_epoch_mean"], r["train_cost_per_epoch_std"], c,
                 f"{label}: {r['seconds_per_epoch_all_seeds']['mean'] * 1e3:.0f} ms/epoch")
        for ax in axes[:2]:
            ax.set_yscale("log")
            ax.set_ylabel(f"cost on the whole training set (mean ± std, {n_seeds} seeds)")
        axes[0].set_xlabel("epoch")
        axes[0].set_title(f"Same epochs, same η = {DIGITS_LR}")
        axes[1].set_xlabel(f"wall-clock seconds ({n_seeds} seeds in one compiled program)")
        axes[1].set_title("Same cost against time")
        axes[2].set_xlabel(f"update (first {shown}; batch has one per epoch)")
        axes[2].set_ylabel("cost of the update's minibatch (first seed)")
        axes[2].set_title("Noise of the per-update cost")
        for ax in axes:
            ax.legend(fontsize=7)
        fig.suptitle(
            f"After {epochs} epochs mini-batch reaches cost {pm(mb['final_train_cost'])} vs "
            f"batch {pm(b['final_train_cost'])} (stochastic {pm(st['final_train_cost'])}); "
            f"stochastic takes {slowdown:.1f}× longer per epoch (mean ± std over {n_seeds} "
            "seeds)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def draw_curves(path):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(8, 5))
        ep = np.arange(0, epochs + 1)
        for i, (name, c) in enumerate(curves.items()):
            hp = opt_settings[name]
            band(ax, ep, [initial["mean"], *c["train_cost_per_epoch_mean"]],
                 [initial["std"], *c["train_cost_per_epoch_std"]], f"C{i}",
                 f"{name} (α = {hp['lr']:g}): test acc {pm(c['final_test_accuracy'])}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"cost on the whole training set (mean ± std, {n_seeds} seeds)")
        ax.legend(fontsize=8)
        best = min(curves, key=lambda k: curves[k]["final_train_cost"]["mean"])
        ax.set_title(
            f"Every optimizer learns the digits (784-30-10, batch 32); lowest cost after "
            f"{epochs} epochs: {best} {pm(curves[best]['final_train_cost'])}", fontsize=10)
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
