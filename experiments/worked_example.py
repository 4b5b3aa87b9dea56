"""The AI Okinawa course slides' worked example: one sigmoid neuron, one training step,
every number.

Claim (the AI Okinawa course slides): the single neuron x = (4, 0.5), w = (1, −1), b = −2,
target y = 1, cost C = ½(y − a)², learning rate α = 1, gives after one gradient step the
numbers the slides print (z = 1.5, a = 0.82, ∂C/∂z = −0.027, w1 = 1.108, …, a = 0.88 after
the step).

Everything is computed in float64 through the public API: the forward pass
(``backprop.forward_pass``), the cost (``jaxnn.cost``), ∇_a C and σ' from the cost and
activation pairs, δ = ∂C/∂z from ``backprop.deltas`` (BP1), the gradient from
``backprop.value_and_grad`` (BP3, BP4), the step from ``optimizers.sgd(1.0)``. Beside
each derivative stands the autodiff one (``jax.grad``).

"Agrees with the slides" means: equal at the two significant figures the slides work to
(they round a = 0.82 and carry the rounded values down the chain, so e.g. their
∂C/∂w1 = −0.027 · 4 = −0.108 while the exact value is −0.1088). The one exception is the
cost: the slides' C = 0.0162 is ½(1 − 0.82)², computed from the rounded a; the exact value
is 0.01664 (docs/equations.md lists this mistake). The experiment checks that this explains
it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot
from jaxnn import backprop, optimizers

NAME = "worked_example"
CLAIM = (
    "One training step of the AI Okinawa course slides' sigmoid neuron (x = (4, 0.5), "
    "w = (1, −1), b = −2, y = 1, C = ½(y − a)², α = 1) gives the numbers the slides print, "
    "and the hand-written gradient equals autodiff's."
)

# The numbers the AI Okinawa course slides print ("Parameters updates", "After one step").
SEED_PRINTED = {
    "z": 1.5,
    "a": 0.82,
    "C": 0.0162,
    "dC/da": -0.18,
    "da/dz": 0.15,
    "dC/dz": -0.027,
    "dC/dw1": -0.108,
    "dC/dw2": -0.0135,
    "dC/db": -0.027,
    "w1 after": 1.108,
    "w2 after": -0.9865,
    "b after": -1.973,
    "a after": 0.88,
}
SEED_SIGNIFICANT_FIGURES = 2  # the precision the slides carry through the chain
SEED_ROUNDED_A = 0.82  # the activation the slides compute their cost from


def round_sig(x: float, figures: int) -> float:
    """``x`` rounded to ``figures`` significant figures (half away from zero)."""
    if x == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(x))) - figures + 1
    scaled = abs(x) / 10.0**exponent
    return math.copysign(math.floor(scaled + 0.5) * 10.0**exponent, x)


def _printed_decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text else 0


def neuron_step() -> dict[str, dict[str, float | None]]:
    """Every quantity of the worked example, by hand-written backprop and by autodiff.

    Returns ``{quantity: {"manual": float, "autodiff": float | None}}``; ``None`` where
    there is nothing to differentiate (z, a and C come from the one forward pass).
    """
    with jax.enable_x64(True):
        net = jaxnn.Network((2, 1), ("sigmoid",), "quadratic")
        params = (jaxnn.Layer(W=jnp.array([[1.0, -1.0]]), b=jnp.array([-2.0])),)
        x = jnp.array([[4.0, 0.5]])  # one example, a batch of m = 1 row
        y = jnp.array([[1.0]])
        sigmoid = jaxnn.activations.get("sigmoid")
        quadratic = jaxnn.costs.get("quadratic")

        # Forward: z = w·x + b, a = σ(z), C = ½(y − a)².
        zs, acts = backprop.forward_pass(net, params, x)
        z, a = zs[-1], acts[-1]
        C = jaxnn.cost(net, params, x, y)

        # Hand-written: ∂C/∂a = a − y, ∂a/∂z = a(1 − a), δ = ∂C/∂z (BP1), ∇_w, ∇_b (BP3/4).
        dC_da = quadratic.grad(a, y)
        da_dz = sigmoid.deriv(z, a)
        (delta,) = backprop.deltas(net, params, x, y)
        _, grads = backprop.value_and_grad(net, params, x, y)
        opt = optimizers.sgd(1.0)
        (new_params, _) = opt.update(grads, opt.init(params), params)  # θ ← θ − α ∇C
        a_after = jaxnn.forward(net, new_params, x)

        # Autodiff beside it.
        ad_dC_da = jax.grad(lambda a_: quadratic.fn(a_, y).sum())(a)
        ad_da_dz = jax.grad(lambda z_: sigmoid.fn(z_).sum())(z)
        ad_dC_dz = jax.grad(lambda z_: quadratic.fn(sigmoid.fn(z_), y).sum())(z)
        ad_grads = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
        (ad_params, _) = opt.update(ad_grads, opt.init(params), params)
        ad_a_after = jaxnn.forward(net, ad_params, x)

        (gW, gb), (rW, rb) = grads[0], ad_grads[0]
        (W1, b1), (rW1, rb1) = new_params[0], ad_params[0]
        pairs = {
            "z": (z[0, 0], None),
            "a": (a[0, 0], None),
            "C": (C, None),
            "dC/da": (dC_da[0, 0], ad_dC_da[0, 0]),
            "da/dz": (da_dz[0, 0], ad_da_dz[0, 0]),
            "dC/dz": (delta[0, 0], ad_dC_dz[0, 0]),
            "dC/dw1": (gW[0, 0], rW[0, 0]),
            "dC/dw2": (gW[0, 1], rW[0, 1]),
            "dC/db": (gb[0], rb[0]),
            "w1 after": (W1[0, 0], rW1[0, 0]),
            "w2 after": (W1[0, 1], rW1[0, 1]),
            "b after": (b1[0], rb1[0]),
            "a after": (a_after[0, 0], ad_a_after[0, 0]),
        }
        dtype = str(gW.dtype)
        out = {
            k: {"manual": float(m), "autodiff": None if r is None else float(r)}
            for k, (m, r) in pairs.items()
        }
    out["_dtype"] = dtype  # type: ignore[assignment]
    return out


def run(quick: bool, seed: int) -> Result:
    del quick, seed  # one deterministic step: nothing to shorten, nothing random
    values = neuron_step()
    dtype = values.pop("_dtype")
    seed_cost_from_rounded_a = 0.5 * (1.0 - SEED_ROUNDED_A) ** 2

    rows = []
    for name, v in values.items():
        exact, seed_value = v["manual"], SEED_PRINTED[name]
        decimals = _printed_decimals(seed_value)
        agrees = round_sig(exact, SEED_SIGNIFICANT_FIGURES) == round_sig(
            seed_value, SEED_SIGNIFICANT_FIGURES
        )
        rows.append(
            {
                "quantity": name,
                "exact": exact,
                "autodiff": v["autodiff"],
                "manual_minus_autodiff": None
                if v["autodiff"] is None
                else abs(exact - v["autodiff"]),
                "seed": seed_value,
                "exact_at_seed_decimals": round(exact, decimals),
                "agrees_at_2_sig_figs": agrees,
            }
        )
    max_ad_diff = max(r["manual_minus_autodiff"] for r in rows if r["autodiff"] is not None)
    disagreeing = [r["quantity"] for r in rows if not r["agrees_at_2_sig_figs"]]
    # The slides' cost is explained by their rounded a iff ½(1 − 0.82)² rounds to 0.0162.
    cost_explained = round(seed_cost_from_rounded_a, 4) == SEED_PRINTED["C"]
    manual_equals_autodiff = max_ad_diff <= 1e-15
    held = manual_equals_autodiff and (
        disagreeing == [] or (disagreeing == ["C"] and cost_explained)
    )

    n_agree = len(rows) - len(disagreeing)
    summary = (
        f"{n_agree} of {len(rows)} quantities agree with the slides at 2 significant figures"
        + (
            f"; the slides' C = 0.0162 is ½(1 − 0.82)² from their rounded a "
            f"(exact C = {values['C']['manual']:.6f})"
            if "C" in disagreeing
            else ""
        )
        + f". After the step w = ({values['w1 after']['manual']:.6f}, "
        f"{values['w2 after']['manual']:.6f}), b = {values['b after']['manual']:.6f}, "
        f"a = {values['a after']['manual']:.6f}; manual − autodiff ≤ {max_ad_diff:.1e} "
        f"({dtype})."
    )
    results = {
        "table": rows,
        "max_abs_manual_minus_autodiff": max_ad_diff,
        "quantities_disagreeing_with_seed": disagreeing,
        "seed_cost_from_rounded_a": seed_cost_from_rounded_a,
        "seed_cost_explained_by_rounded_a": cost_explained,
        "dtype": dtype,
    }
    config = {
        "x": [4.0, 0.5],
        "w": [1.0, -1.0],
        "b": -2.0,
        "y": 1.0,
        "cost": "quadratic ½(y − a)²",
        "learning_rate": 1.0,
        "dtype": dtype,
        "seed_significant_figures": SEED_SIGNIFICANT_FIGURES,
    }
    title = (
        f"The AI Okinawa course slides' neuron, one step: {n_agree}/{len(rows)} values match "
        f"the slides (2 s.f.)"
        + ("; C differs: the slides rounded a to 0.82" if "C" in disagreeing else "")
        + f"\nmax |hand-written BP1–BP4 − jax.grad| = {max_ad_diff:.2g}"
    )

    def draw_table(path):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(10, 4.7))
        ax.axis("off")
        cells = [
            [
                r["quantity"],
                f"{r['exact']:.16g}",
                "—" if r["autodiff"] is None else f"{r['autodiff']:.16g}",
                f"{r['seed']:g}",
                "yes" if r["agrees_at_2_sig_figs"] else "NO",
            ]
            for r in rows
        ]
        table = ax.table(
            cellText=cells,
            colLabels=["quantity", f"exact (jaxnn, {dtype})", "autodiff (jax.grad)",
                       "the slides print", "agrees (2 s.f.)"],
            loc="center",
            cellLoc="right",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.35)
        for (i, j), cell in table.get_celld().items():
            if i == 0:
                cell.set_text_props(weight="bold")
            elif j == 4 and cells[i - 1][4] == "NO":
                cell.set_facecolor("#f6d5d5")
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held,
        config=config,
        results=results,
        figures={f"{NAME}_table.png": draw_table},
        summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
