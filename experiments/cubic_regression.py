"""Experiment 10: gradient descent recovers the slides' cubic; a tanh network fits it too.

Claim (the AI Okinawa course slides' derivatives refresher, y = ax³ + bx² + cx + d): from
noisy samples of the cubic, gradient descent on the quadratic cost of a model linear in the
features [x³, x², x] recovers a, b, c, d within their statistical uncertainty, and a small
tanh network (1-32-1, identity output) fits the same curve to well within the noise level.

* **Coefficients.** The linear model is a one-layer jaxnn network: sizes (3, 1), identity
  output, quadratic cost C = ½(ŷ − y)², input rows [x³, x², x]; its weights W = (a, b, c)
  and its bias b¹ = d (the bias plays the constant feature 1, so no column of ones is
  needed). Full-batch gradient descent (:func:`jaxnn.train.fit`, batch = n, sgd) from
  zero, with BP1 in its fused form Δ = (A − Y)/m. The reference is the least-squares
  solution in float64 (``numpy.linalg.lstsq``) with its standard errors
  σ̂ √diag((XᵀX)⁻¹); the claim needs |GD − LS| ≤ 10⁻³ (converged) and every
  |coefficient − true| ≤ 4 standard errors. The same run with ``grad="autodiff"`` stands
  beside it (full mode).
* **Network.** 1-32-1, tanh hidden, identity output, quadratic cost, Glorot-normal
  initialisation, Adam with a cosine-decayed rate, batch 10. Its RMSE against the
  noise-free curve on a held-out grid of 501 points is compared with the noise σ.
"""

from __future__ import annotations

import jax
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import data, schedules
from jaxnn import optimizers as optim
from jaxnn.train import fit

NAME = "cubic_regression"
CLAIM = (
    "Gradient descent on the quadratic cost of a model linear in [x³, x², x] recovers the "
    "coefficients a, b, c, d of a noisy cubic within 4 standard errors, and a 1-32-1 tanh "
    "network fits the curve with an RMSE below half the noise level (the AI Okinawa course "
    "slides)."
)

COEFFS = {"a": 2.0, "b": -1.0, "c": -1.5, "d": 0.5}
NOISE = 0.1
N = 200
X_RANGE = (-1.0, 1.0)
GD_LR = 1.5  # < 2 / λ_max((1/n) XᵀX) ≈ 2 / 1.17
HIDDEN = 32
NET_PEAK_LR = 3e-2


def features(x: np.ndarray) -> np.ndarray:
    """[x³, x², x] for ``x: (n, 1)``, ``(n, 3)`` float32."""
    return np.concatenate([x**3, x**2, x], axis=1).astype(np.float32)


def true_curve(x: np.ndarray) -> np.ndarray:
    a, b, c, d = COEFFS.values()
    return a * x**3 + b * x**2 + c * x + d


def run(quick: bool, seed: int) -> Result:
    key = jax.random.key(seed)
    gd_epochs, net_epochs = (400, 300) if quick else (2000, 1500)
    train = data.cubic(N, *COEFFS.values(), noise=NOISE, seed=seed, x_range=X_RANGE)
    fresh = data.cubic(1000, *COEFFS.values(), noise=NOISE, seed=seed + 1, x_range=X_RANGE)
    x_grid = np.linspace(*X_RANGE, 501, dtype=np.float32)[:, None]
    y_grid = true_curve(x_grid.astype(np.float64))
    names = list(COEFFS)
    truth = np.asarray(list(COEFFS.values()))

    # --- Least squares in float64, with standard errors.
    X = np.concatenate([features(train.x), np.ones((N, 1), np.float32)], axis=1)
    X = X.astype(np.float64)
    y64 = train.y[:, 0].astype(np.float64)
    ls, *_ = np.linalg.lstsq(X, y64, rcond=None)
    sigma_hat = np.sqrt(np.sum((X @ ls - y64) ** 2) / (N - 4))
    se = sigma_hat * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
    hessian_eigs = np.linalg.eigvalsh(X.T @ X / N)

    # --- Gradient descent on the one-layer identity network.
    lin = jaxnn.mlp((3, 1), output="identity", cost="quadratic")
    params0 = jaxnn.init_params(key, lin, "zeros")
    path = []

    def record(epoch, params, state, rec):
        path.append([*np.asarray(params[0].W)[0], float(params[0].b[0])])

    gd = {}
    for grad in ("manual",) if quick else ("manual", "autodiff"):  # autodiff: full mode
        r = fit(lin, params0, optim.sgd(GD_LR), (features(train.x), train.y), epochs=gd_epochs,
                batch_size=N, key=jax.random.fold_in(key, 1), grad=grad,
                on_epoch=record if grad == "manual" else None)
        coef = np.asarray([*np.asarray(r.params[0].W)[0], float(r.params[0].b[0])], np.float64)
        gd[grad] = {"coefficients": coef, "params": r.params,
                    "final_cost": r.history[-1]["train_cost"]}
    coef = gd["manual"]["coefficients"]
    gd_vs_ls = float(np.max(np.abs(coef - ls)))
    errors = coef - truth
    within = bool(np.all(np.abs(errors) <= 4 * se))
    converged = gd_vs_ls <= 1e-3
    manual_vs_autodiff = (None if quick else
                          float(np.max(np.abs(coef - gd["autodiff"]["coefficients"]))))
    lin_grid = np.asarray(jaxnn.forward(lin, gd["manual"]["params"], features(x_grid)), np.float64)
    lin_fresh = np.asarray(jaxnn.forward(lin, gd["manual"]["params"], features(fresh.x)))

    # --- The tanh network.
    net = jaxnn.mlp((1, HIDDEN, 1), hidden="tanh", output="identity", cost="quadratic")
    net_params0 = jaxnn.init_params(jax.random.fold_in(key, 2), net, "glorot_normal")
    batch = 10
    lr = schedules.cosine_decay(NET_PEAK_LR, net_epochs * (N // batch))
    rn = fit(net, net_params0, optim.adam(lr), (train.x, train.y), epochs=net_epochs,
             batch_size=batch, key=jax.random.fold_in(key, 3))
    net_grid = np.asarray(jaxnn.forward(net, rn.params, x_grid), np.float64)
    net_fresh = np.asarray(jaxnn.forward(net, rn.params, fresh.x))

    def rmse(a, b):
        return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))

    lin_rmse, net_rmse = rmse(lin_grid, y_grid), rmse(net_grid, y_grid)
    net_fits = net_rmse < NOISE / 2
    held = bool(converged and within and net_fits)

    summary = (
        f"Gradient descent recovers (a, b, c, d) = ({', '.join(f'{v:.3f}' for v in coef)}) "
        f"for true ({', '.join(f'{v:g}' for v in truth)}): errors ≤ "
        f"{np.max(np.abs(errors) / se):.1f} standard errors, {gd_vs_ls:.1e} from least "
        f"squares; the 1-{HIDDEN}-1 tanh network's RMSE to the true curve is "
        f"{net_rmse:.4f} (cubic model {lin_rmse:.4f}) against noise σ = {NOISE}."
    )
    config = {
        "coefficients": COEFFS,
        "noise_sigma": NOISE,
        "n_train": N,
        "x_range": X_RANGE,
        "linear_model": {"network": "sizes (3, 1), identity output, quadratic cost, zero init",
                         "features": "[x^3, x^2, x]; bias = d",
                         "optimizer": {"name": "sgd", "lr": GD_LR, "batch_size": N},
                         "epochs_full_batch": gd_epochs},
        "tanh_network": {"sizes": (1, HIDDEN, 1), "hidden": "tanh", "output": "identity",
                         "cost": "quadratic", "init": "glorot_normal",
                         "optimizer": f"adam, cosine decay from {NET_PEAK_LR} to 0",
                         "batch_size": batch, "epochs": net_epochs},
        "held_if": "|GD − LS| ≤ 1e-3, every |coef − true| ≤ 4 SE, tanh RMSE to the true "
                   "curve on the grid < σ/2",
        "grid_points": int(x_grid.shape[0]),
        "seed": seed,
        "quick": quick,
    }
    results = {
        "true": dict(zip(names, truth)),
        "gradient_descent": dict(zip(names, coef)),
        "gradient_descent_autodiff": (None if quick else
                                      dict(zip(names, gd["autodiff"]["coefficients"]))),
        "least_squares": dict(zip(names, ls)),
        "standard_errors": dict(zip(names, se)),
        "errors_vs_true": dict(zip(names, errors)),
        "errors_in_standard_errors": dict(zip(names, errors / se)),
        "max_abs_gd_minus_least_squares": gd_vs_ls,
        "max_abs_manual_minus_autodiff": manual_vs_autodiff,
        "final_cost_gd": gd["manual"]["final_cost"],
        "hessian_eigenvalues": hessian_eigs,
        "hessian_condition_number": float(hessian_eigs[-1] / hessian_eigs[0]),
        "rmse_to_true_curve_on_grid": {"cubic_features_gd": lin_rmse, "tanh_network": net_rmse},
        "rmse_on_fresh_noisy_points": {"cubic_features_gd": rmse(lin_fresh, fresh.y),
                                       "tanh_network": rmse(net_fresh, fresh.y),
                                       "noise_sigma": NOISE},
        "tanh_final_train_cost": rn.history[-1]["train_cost"],
        "checks": {"gd_converged_to_least_squares": converged,
                   "coefficients_within_4_standard_errors": within,
                   "tanh_rmse_below_half_noise": net_fits},
    }
    path_arr = np.asarray(path)

    def term(v, power):  # "2x³", "x²", "1.5x", "0.5"
        return ("" if abs(v) == 1 and power else f"{abs(v):g}") + power

    terms = zip(COEFFS.values(), ("x³", "x²", "x", ""))
    polynomial = "".join(f"{' − ' if v < 0 else ' + '}{term(v, p)}" for v, p in terms if v)
    polynomial = polynomial[3:] if polynomial.startswith(" + ") else "−" + polynomial[3:]

    def draw(fig_path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        ax1.plot(train.x[:, 0], train.y[:, 0], ".", color="0.6", ms=4,
                 label=f"{N} noisy samples (σ = {NOISE})")
        ax1.plot(x_grid[:, 0], y_grid[:, 0], "k-", lw=2.5, label=f"true y = {polynomial}")
        ax1.plot(x_grid[:, 0], lin_grid[:, 0], "--", color="C0", lw=1.8,
                 label=f"gradient descent on [x³, x², x]: RMSE {lin_rmse:.4f}")
        ax1.plot(x_grid[:, 0], net_grid[:, 0], ":", color="C3", lw=2.2,
                 label=f"1-{HIDDEN}-1 tanh network: RMSE {net_rmse:.4f}")
        ax1.set_xlabel("x")
        ax1.set_ylabel("y")
        ax1.set_title("Fits on a held-out grid (RMSE to the true curve)")
        ax1.legend(fontsize=8)
        epochs = np.arange(1, len(path_arr) + 1)
        for i, (nm, col) in enumerate(zip(names, ("C0", "C1", "C2", "C3"))):
            ax2.plot(epochs, path_arr[:, i], color=col,
                     label=f"{nm}: {coef[i]:.3f} ± {se[i]:.3f} (true {truth[i]:g})")
            ax2.axhline(truth[i], color=col, ls=":", lw=1)
        ax2.set_xscale("log")
        ax2.set_xlabel("gradient-descent step (full batch)")
        ax2.set_ylabel("coefficient")
        ax2.set_title(f"Coefficients under gradient descent (η = {GD_LR})")
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"Gradient descent recovers a, b, c, d within {np.max(np.abs(errors) / se):.1f} "
            f"standard errors; the tanh network's RMSE {net_rmse:.3f} is "
            f"{NOISE / net_rmse:.0f}× below the noise σ = {NOISE}", fontsize=11)
        fig.tight_layout()
        fig.savefig(fig_path, dpi=110)
        plt.close(fig)

    return Result(held=held, config=config, results=results,
                  figures={f"{NAME}_fits.png": draw}, summary=summary)


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
