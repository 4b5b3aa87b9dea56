"""Experiment 11: gradient checking confirms backpropagation (the neural-network notes).

Claim (the neural-network notes, "gradient checking"): the hand-written gradient (BP1–BP4) equals
autodiff's to round-off, and the centred difference (J(θ + ε) − J(θ − ε)) / 2ε confirms it,
with an error that is V-shaped in ε: truncation O(ε²) for large ε, rounding O(u/ε) for
small ε (u the unit round-off), so the best ε sits inside the range, near u^{1/3}
(about 1e-5 in float64, 1e-2…1e-3 in float32). The notes write the difference as
(J(θ − ε) − J(θ + ε)) / 2ε; that sign is reversed and gives the negated gradient, shown
here.

Network: 6-5-4-3 (tanh hidden, softmax + cross entropy, LeCun-normal), a batch of 8 random
inputs with integer labels, run under ``jax.enable_x64(True)`` in float64 and in float32
(the float32 parameters and inputs are the float64 ones rounded; the exact gradient of
that rounded problem, in float64, is the reference for the float32 differences).

* ``jaxnn.gradcheck.manual_vs_autodiff`` in both dtypes (per-layer tables in the JSON).
* ``jaxnn.gradcheck.finite_difference_grad`` at ε = 1e-6 (float64) and 1e-3 (float32).
* The ε sweep, 1e-1 to 1e-12 on a log grid: every entry's J(θ ± ε e_k) from
  ``jaxnn.cost``, vmapped over entries and ε in one compiled program per dtype (the
  library's ``finite_difference_grad`` compiles once per ε); at the two ε above the sweep
  reproduces ``finite_difference_grad`` (difference reported). Error = normwise relative
  difference ‖fd − ∇J‖∞ / ‖∇J‖∞ (``gradcheck.rel_diff``).
* The notes' form from the same evaluations: equals −∇J, and a descent step along it
  raises the cost.
* ``gradcheck.directional_check`` on Nielsen's 784-30-10 network with 16 digits (float64;
  full mode only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, data, gradcheck

NAME = "gradient_checking"
CLAIM = (
    "The hand-written gradient equals jax.grad to ≤ 1e-12 (float64, normwise relative); the "
    "centred difference (J(θ+ε) − J(θ−ε))/2ε confirms it with an error that is smallest at "
    "an interior ε (≈ 1e-5 in float64, ≈ 1e-2…1e-3 in float32), and the neural-network "
    "notes' (J(θ−ε) − J(θ+ε))/2ε gives the negated gradient (the neural-network notes)."
)

SIZES = (6, 5, 4, 3)
BATCH = 8
EPS_CHECK = {"float64": 1e-6, "float32": 1e-3}
# Where the minimum of the error must fall: half a decade around the expected range.
EPS_WINDOW = {"float64": (10**-7.5, 10**-4.5), "float32": (10**-3.5, 10**-1.5)}


def flatten(tree):
    """A pytree of arrays as one host vector, and the inverse ``unflatten(v)`` (leaf order
    of ``jax.tree.leaves``, as ``ravel_pytree``); NumPy only, so nothing compiles, and
    ``unflatten`` also works on traced vectors inside ``jit``."""
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [np.shape(leaf) for leaf in leaves]
    flat = np.concatenate([np.ravel(np.asarray(leaf)) for leaf in leaves])

    def unflatten(v):
        parts, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            parts.append(v[start : start + size].reshape(shape))
            start += size
        return jax.tree.unflatten(treedef, parts)

    return flat, unflatten


def sweep_evaluations(net, params, x, y, eps: np.ndarray):
    """``(J(θ + ε e_k), J(θ − ε e_k))``, each ``(len(eps), num_params)``, in the dtype of
    ``params``, for every ε and every parameter entry k; one compiled program.

    ``x`` and ``y`` enter the compiled function as arguments: ``jaxnn.cost`` traced with a
    concrete NumPy ``x`` or ``y`` closed over raises TracerBoolConversionError in its
    NaN check (reported as a library bug)."""
    flat, unflatten = flatten(params)

    @jax.jit
    def evals(flat, eps, x, y):
        eye = jnp.eye(flat.size, dtype=flat.dtype)

        def J(theta):
            return jaxnn.cost(net, unflatten(theta), x, y)

        def one(e):  # one ε, every entry
            plus = jax.vmap(lambda ek: J(flat + e * ek))(eye)  # J(θ + ε e_k)
            minus = jax.vmap(lambda ek: J(flat - e * ek))(eye)  # J(θ − ε e_k)
            return plus, minus

        return jax.lax.map(one, eps)

    plus, minus = evals(flat, eps.astype(flat.dtype), x, y)
    return np.asarray(plus), np.asarray(minus)


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    n_eps = 23 if quick else 45  # one point per half decade, or per quarter decade
    eps_grid = np.geomspace(1e-1, 1e-12, n_eps)
    with jax.enable_x64(True):
        net = jaxnn.mlp(SIZES, hidden="tanh", output="softmax", cost="cross_entropy")
        params = {"float64": jaxnn.init_params(key, net, "lecun_normal", dtype=jnp.float64)}
        rng = np.random.default_rng(seed)
        xs = {"float64": rng.normal(size=(BATCH, SIZES[0]))}
        y = rng.integers(0, SIZES[-1], size=BATCH).astype(np.int32)
        params["float32"] = jax.tree.map(lambda a: np.asarray(a, np.float32), params["float64"])
        xs["float32"] = xs["float64"].astype(np.float32)
        grad_fn = jax.jit(backprop.grad, static_argnums=0)  # BP1–BP4, compiled
        cost_fn = jax.jit(jaxnn.cost, static_argnums=0)

        reports, sweep, lib_fd = {}, {}, {}
        for dt in ("float64", "float32"):
            p, x = params[dt], xs[dt]
            rep = gradcheck.manual_vs_autodiff(net, p, x, y)
            # The exact gradient of this dtype's problem: BP1–BP4 in float64 at its point.
            p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
            truth = flatten(grad_fn(net, p64, x.astype(np.float64), y))[0]
            fd_lib = flatten(gradcheck.finite_difference_grad(net, p, x, y, EPS_CHECK[dt]))[0]
            plus, minus = sweep_evaluations(net, p, x, y, eps_grid)
            eps_dt = eps_grid.astype(plus.dtype)[:, None]
            centred = (plus - minus) / (2 * eps_dt)  # (J(θ+ε) − J(θ−ε)) / 2ε
            errors = np.asarray([gradcheck.rel_diff(c, truth) for c in centred])
            i_check = int(np.argmin(np.abs(np.log(eps_grid / EPS_CHECK[dt]))))
            best = int(np.argmin(errors))
            reports[dt] = rep
            lib_fd[dt] = {
                "eps": EPS_CHECK[dt],
                "rel_diff_vs_exact_gradient": gradcheck.rel_diff(fd_lib, truth),
                "passes_library_tolerance": gradcheck.rel_diff(fd_lib, truth)
                <= gradcheck.FINITE_DIFFERENCE_RTOL[dt],
                "library_tolerance": gradcheck.FINITE_DIFFERENCE_RTOL[dt],
                "sweep_vs_library_max_abs_diff": float(np.max(np.abs(centred[i_check] - fd_lib)))
                if np.isclose(eps_grid[i_check], EPS_CHECK[dt]) else None,
            }
            u = float(np.finfo(np.dtype(dt)).eps) / 2
            lo, hi = EPS_WINDOW[dt]
            sweep[dt] = {
                "errors": errors,
                "best_eps": float(eps_grid[best]),
                "best_error": float(errors[best]),
                "interior_minimum": 0 < best < len(eps_grid) - 1,
                "in_expected_window": bool(lo <= eps_grid[best] <= hi),
                "unit_roundoff_u": u,
                "u_cube_root": u ** (1 / 3),
                "error_at_largest_eps": float(errors[0]),
                "error_at_smallest_eps": float(errors[-1]),
            }
            if dt == "float64":
                # The neural-network notes' form, from the very same evaluations.
                seed_form = (minus - plus) / (2 * eps_dt)  # (J(θ−ε) − J(θ+ε)) / 2ε
                seed_row = seed_form[i_check]
                # A descent step along the notes' "gradient" goes uphill.
                flat, unflatten = flatten(p)
                J0 = float(cost_fn(net, p, x, y))
                eta = 0.1
                J_seed = float(cost_fn(net, unflatten(flat - eta * seed_row), x, y))
                J_right = float(cost_fn(net, unflatten(flat - eta * centred[i_check]), x, y))
                seed004 = {
                    "eps": float(eps_grid[i_check]),
                    "rel_diff_vs_minus_gradient": gradcheck.rel_diff(seed_row, -truth),
                    "rel_diff_vs_gradient": gradcheck.rel_diff(seed_row, truth),
                    "first_entries": {"seed_form": seed_row[:4], "gradient": truth[:4]},
                    "step_size": eta,
                    "cost_before": J0,
                    "cost_after_step_along_seed_form": J_seed,
                    "cost_after_step_along_centred_difference": J_right,
                }

        # Random directional derivatives on a bigger network (784-30-10, 16 digits); full
        # mode only (directional_check runs eagerly, a few seconds).
        directional = None
        if not quick:
            mnist = data.load_mnist()
            big = jaxnn.mlp((784, 30, 10), hidden="sigmoid", output="sigmoid", cost="quadratic")
            big_p = jaxnn.init_params(jax.random.fold_in(key, 1), big, "normal",
                                      dtype=jnp.float64)
            dir_err, numeric, analytic = gradcheck.directional_check(
                big, big_p, mnist.x_train[:16].astype(np.float64), mnist.y_train[:16],
                jax.random.fold_in(key, 2), num_directions=8, eps=1e-6)
            directional = {"max_rel_diff": dir_err, "numeric": numeric, "analytic": analytic,
                           "passed": dir_err <= gradcheck.FINITE_DIFFERENCE_RTOL["float64"]}

    f64, f32 = sweep["float64"], sweep["float32"]
    manual_auto_ok = reports["float64"].max_rel_diff <= 1e-12
    v_shape = all(s["interior_minimum"] and s["in_expected_window"] for s in sweep.values())
    seed_negated = (seed004["rel_diff_vs_minus_gradient"] <= 1e-6
                    and seed004["rel_diff_vs_gradient"] >= 1.0
                    and seed004["cost_after_step_along_seed_form"] > seed004["cost_before"])
    fd_ok = lib_fd["float64"]["passes_library_tolerance"]
    directional_ok = directional is None or directional["passed"]
    held = bool(manual_auto_ok and v_shape and seed_negated and fd_ok and directional_ok)

    summary = (
        f"Manual vs jax.grad: {reports['float64'].max_rel_diff:.1e} (float64), "
        f"{reports['float32'].max_rel_diff:.1e} (float32); the centred difference is best at "
        f"ε = {f64['best_eps']:.0e} (error {f64['best_error']:.1e}) in float64 and "
        f"ε = {f32['best_eps']:.0e} ({f32['best_error']:.1e}) in float32; the neural-network "
        f"notes' form equals −∇J to {seed004['rel_diff_vs_minus_gradient']:.1e}."
    )
    config = {
        "network": {"sizes": SIZES, "hidden": "tanh", "output": "softmax",
                    "cost": "cross_entropy", "init": "lecun_normal"},
        "batch": BATCH,
        "inputs": "standard normal, numpy seed = seed; labels uniform in 0..2",
        "float32_point": "the float64 parameters and inputs rounded to float32",
        "eps_grid": eps_grid,
        "eps_library_check": EPS_CHECK,
        "eps_minimum_window": EPS_WINDOW,
        "error_measure": "gradcheck.rel_diff: ‖fd − ∇J‖∞ / max(‖fd‖∞, ‖∇J‖∞), ∇J by BP1–BP4 "
                         "in float64 at the same point",
        "directional_check": {"network": (784, 30, 10), "digits": 16, "directions": 8,
                              "eps": 1e-6, "dtype": "float64"},
        "seed": seed,
        "quick": quick,
    }
    results = {
        "manual_vs_autodiff": {
            dt: {"max_rel_diff": r.max_rel_diff, "max_abs_diff": r.max_abs_diff,
                 "passed": r.passed, "table": r.table()}
            for dt, r in reports.items()
        },
        "finite_difference_grad": lib_fd,
        "eps_sweep": sweep,
        "seed004_sign": seed004,
        "directional_check_784_30_10": directional,
        "checks": {
            "manual_equals_autodiff_1e-12_float64": manual_auto_ok,
            "fd_error_minimum_interior_and_in_window": v_shape,
            "seed004_form_is_negated_gradient": seed_negated,
            "fd_float64_within_library_tolerance": fd_ok,
            "directional_check_passed_or_skipped": directional_ok,
        },
    }

    def draw(path):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(8.5, 5.5))
        colors = {"float64": "C0", "float32": "C3"}
        for dt, s in sweep.items():
            c = colors[dt]
            err = np.maximum(np.asarray(s["errors"], np.float64), 1e-18)
            ax.loglog(eps_grid, err, "o-", color=c, ms=4,
                      label=f"{dt}: best ε = {s['best_eps']:.0e}, error {s['best_error']:.1e}")
            ax.plot(s["best_eps"], s["best_error"], "*", color=c, ms=16)
            ax.axhline(max(reports[dt].max_rel_diff, 1e-18), color=c, ls="--", lw=1,
                       label=f"{dt}: manual vs jax.grad {reports[dt].max_rel_diff:.1e}")
            u = s["unit_roundoff_u"]
            # Guides through the best point: rounding ∝ u/ε (left), truncation ∝ ε² (right).
            e_left = np.geomspace(1e-12, s["best_eps"], 20)
            e_right = np.geomspace(s["best_eps"], 1e-1, 20)
            ax.plot(e_left, s["best_error"] * s["best_eps"] / e_left, ":", color=c, lw=1)
            ax.plot(e_right, s["best_error"] * (e_right / s["best_eps"]) ** 2, ":", color=c,
                    lw=1)
            ax.axvline(u ** (1 / 3), color=c, lw=0.6, alpha=0.5)
        ax.set_ylim(1e-17, 1e2)
        ax.set_xlabel("ε")
        ax.set_ylabel("‖fd − ∇J‖∞ / ‖∇J‖∞")
        ax.legend(fontsize=8, loc="lower left")
        ax.set_title(
            f"Centred differences: V-shaped error, minimum at ε = {f64['best_eps']:.0e} "
            f"(float64) and {f32['best_eps']:.0e} (float32)\n"
            "dotted: slopes −1 (rounding, u/ε) and +2 (truncation, ε²); thin vertical: u^(1/3)",
            fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_eps.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
