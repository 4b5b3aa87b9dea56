"""A steep sigmoid is a step; pairs of steps ("strips") approximate any continuous function.

Claim (the AI Okinawa course slides, "Approximating a function with strips"; the
backpropagation notebook cheat sheet's universal approximation statement): σ(wx + b) turns
into a step at x = −b/w as w grows (the slides' tables for w = 1, 10, 100 and
b = 0, 5, −5), and a one-hidden-layer sigmoid network built from pairs of steep units
approximates a continuous function on [0, 1] as closely as one likes by adding strips.

Part 1 recomputes the slides' tables with a one-unit jaxnn network (W = [[w]], b = [b]) in
float64 and compares each entry with the slides' printed value at the decimals they print
(at least two); it measures where σ(wx + b) crosses ½ (expected −b/w) and how wide the
1 % → 99 % transition is (expected 2 ln 99 / w).

Part 2 builds the network by hand, with no training: hidden unit pairs
σ(w(x − s_i)) and σ(w(x − s_{i+1})), output weights +f(m_i) and −f(m_i) with m_i the
strip's midpoint, identity output, so that a^L(x) = Σ_i f(m_i) [σ(w(x − s_i)) −
σ(w(x − s_{i+1}))] (Nielsen, "Neural Networks and Deep Learning", ch. 4). Steepness
w = 1000 · N for N strips (the transition is a small fraction of a strip); the outermost
steps sit outside [0, 1] (s_0 = −1, s_N = 2) so the ends are not half-height. The target
is Nielsen's f(x) = 0.2 + 0.4x² + 0.3x sin(15x).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from experiments._common import Result, exit_with, make_main, pyplot

NAME = "steep_sigmoid_and_strips"
CLAIM = (
    "σ(wx + b) becomes a step at x = −b/w as w grows (the AI Okinawa course slides' tables, "
    "w = 1, 10, 100), and a one-hidden-layer network of such steps, paired into strips, "
    "approximates a continuous function ever better as strips are added."
)

# The AI Okinawa course slides' tables, as printed: x grid and the activation column, per
# (w, b).
WEIGHT_TABLE_X = (-10.0, -5.0, -1.0, -0.1, -0.01, 0.0, 0.01, 0.1, 1.0, 5.0, 10.0)
BIAS_TABLE_X = (-10.0, -5.0, 0.0, 5.0, 10.0)
SEED_TABLES = (
    # (w, b, x grid, the slides' printed a = σ(wx + b))
    (1.0, 0.0, WEIGHT_TABLE_X,
     ("0", "0.01", "0.27", "0.48", "0.498", "0.5", "0.502", "0.52", "0.73", "0.99", "1")),
    (10.0, 0.0, WEIGHT_TABLE_X,
     ("0", "0", "0", "0.27", "0.48", "0.5", "0.502", "0.73", "1", "1", "1")),
    (100.0, 0.0, WEIGHT_TABLE_X,
     ("0", "0", "0", "0", "0.27", "0.5", "0.73", "1", "1", "1", "1")),
    (1.0, 0.0, BIAS_TABLE_X, ("0", "0.01", "0.5", "0.99", "1")),
    (1.0, 5.0, BIAS_TABLE_X, ("0.01", "0.5", "0.99", "1", "1")),
    (1.0, -5.0, BIAS_TABLE_X, ("0", "0", "0.01", "0.5", "0.99")),
)
STEP_WEIGHTS = (1.0, 10.0, 100.0, 1000.0)
STEP_BIASES = (-5.0, 0.0, 5.0)
STRIP_COUNTS = (5, 10, 20, 50, 100)
STEEPNESS_PER_STRIP = 1000.0  # w = 1000 · N
SMALL_ERROR = 0.05  # "small": max error of the 100-strip network below this

# jaxnn.forward compiled once per (network, input shape): one program instead of one
# per operation and shape.
forward = jax.jit(jaxnn.forward, static_argnums=0)


def target(x):
    """Nielsen's f(x) = 0.2 + 0.4x² + 0.3x sin(15x) (ch. 4)."""
    return 0.2 + 0.4 * x**2 + 0.3 * x * np.sin(15 * x)


def neuron(w: float, b: float, dtype) -> tuple[jaxnn.Network, tuple]:
    """One sigmoid unit a = σ(wx + b) as a jaxnn network (1 → 1)."""
    net = jaxnn.Network((1, 1), ("sigmoid",), "quadratic")
    return net, (jaxnn.Layer(W=jnp.array([[w]], dtype), b=jnp.array([b], dtype)),)


def strip_network(n_strips: int, steepness: float, dtype=jnp.float32):
    """The hand-built 1 → 2N → 1 network of N strips of ``target`` on [0, 1].

    Hidden unit i (i < N) steps up at s_i, unit N + i at s_{i+1}; the output weights are
    +f(m_i) and −f(m_i), so each pair adds the strip f(m_i) · 1[s_i < x < s_{i+1}].
    """
    edges = np.arange(n_strips + 1) / n_strips
    heights = target((edges[:-1] + edges[1:]) / 2)
    left, right = edges[:-1].copy(), edges[1:].copy()
    left[0], right[-1] = -1.0, 2.0  # the outer steps lie outside [0, 1]
    centres = np.concatenate([left, right])
    W1 = np.full((2 * n_strips, 1), steepness)  # z = w(x − s) = wx − ws
    b1 = -steepness * centres
    W2 = np.concatenate([heights, -heights])[None, :]
    net = jaxnn.mlp((1, 2 * n_strips, 1), hidden="sigmoid", output="identity", cost="quadratic")
    params = (
        jaxnn.Layer(jnp.asarray(W1, dtype), jnp.asarray(b1, dtype)),
        jaxnn.Layer(jnp.asarray(W2, dtype), jnp.zeros((1,), dtype)),
    )
    return net, params, edges, heights


def _crossing(xs: np.ndarray, a: np.ndarray, level: float) -> float:
    """The x where the increasing curve a(x) crosses ``level`` (linear interpolation)."""
    i = int(np.searchsorted(a, level))
    x0, x1, a0, a1 = xs[i - 1], xs[i], a[i - 1], a[i]
    return float(x0 + (level - a0) * (x1 - x0) / (a1 - a0))


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def seed_tables() -> tuple[list[dict], list[dict]]:
    """The slides' σ(wx + b) tables recomputed in float64; (rows, mismatches)."""
    rows, mismatches = [], []
    with jax.enable_x64(True):
        for w, b, grid, printed in SEED_TABLES:
            net, params = neuron(w, b, jnp.float64)
            a = np.asarray(forward(net, params, jnp.asarray(grid)[:, None]))[:, 0]
            for x, ai, text in zip(grid, a, printed):
                places = max(2, _decimals(text))
                ok = abs(float(ai) - float(text)) <= 0.5 * 10.0**-places
                row = {"w": w, "b": b, "x": x, "z": w * x + b, "a": float(ai),
                       "seed_prints": text, "agrees": ok}
                rows.append(row)
                if not ok:
                    mismatches.append(row)
    return rows, mismatches


def step_positions() -> list[dict]:
    """Where σ(wx + b) crosses ½, 1 % and 99 %, measured on a fine grid, vs −b/w."""
    out = []
    with jax.enable_x64(True):
        for w in STEP_WEIGHTS:
            for b in STEP_BIASES:
                # σ goes from 6e-6 to 1 − 6e-6 in the window; + 0.0 turns −0 into 0.
                centre, half_width = -b / w + 0.0, 12.0 / w
                xs = np.linspace(centre - half_width, centre + half_width, 20_001)
                net, params = neuron(w, b, jnp.float64)
                a = np.asarray(forward(net, params, jnp.asarray(xs)[:, None]))[:, 0]
                width = _crossing(xs, a, 0.99) - _crossing(xs, a, 0.01)
                out.append({
                    "w": w, "b": b,
                    "step_at": _crossing(xs, a, 0.5), "minus_b_over_w": centre,
                    "width_1_to_99": width, "expected_width": 2 * math.log(99) / w,
                })
    return out


def run(quick: bool, seed: int) -> Result:
    del seed  # nothing random: the network is built by hand
    table_rows, mismatches = seed_tables()
    steps = step_positions()
    step_error = max(abs(s["step_at"] - s["minus_b_over_w"]) for s in steps)
    width_error = max(abs(s["width_1_to_99"] / s["expected_width"] - 1) for s in steps)
    width_at = {s["w"]: s["width_1_to_99"] for s in steps if s["b"] == 0.0}

    # The curves of the figure, from the same one-unit networks.
    plot_x = np.linspace(-10.0, 10.0, 4001)
    sigmoid_curves = {}
    for w, b in [(1.0, 0.0), (10.0, 0.0), (100.0, 0.0), (1.0, 5.0), (1.0, -5.0)]:
        net, params = neuron(w, b, jnp.float32)
        sigmoid_curves[(w, b)] = np.asarray(
            forward(net, params, jnp.asarray(plot_x, jnp.float32)[:, None]))[:, 0]

    grid_points = 2001 if quick else 20_001
    xs = np.linspace(0.0, 1.0, grid_points)
    f = target(xs)
    strips = []
    curves = {}
    for n in STRIP_COUNTS:
        steepness = STEEPNESS_PER_STRIP * n
        net, params, edges, heights = strip_network(n, steepness)
        a = np.asarray(forward(net, params, jnp.asarray(xs, jnp.float32)[:, None]))[:, 0]
        # The ideal step network (w → ∞): the piecewise constant f(m_i) on each strip.
        ideal = heights[np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, n - 1)]
        strips.append({
            "strips": n, "hidden_units": 2 * n, "steepness_w": steepness,
            "max_error": float(np.max(np.abs(a - f))),
            "mean_abs_error": float(np.mean(np.abs(a - f))),
            "ideal_steps_max_error": float(np.max(np.abs(ideal - f))),
        })
        curves[n] = a
    errors = [s["max_error"] for s in strips]
    decreasing = all(e1 < e0 for e0, e1 in zip(errors, errors[1:]))
    slope = float(np.polyfit(np.log(STRIP_COUNTS), np.log(errors), 1)[0])
    steps_ok = step_error < 1e-6 and width_error < 1e-3
    held = steps_ok and decreasing and errors[-1] < SMALL_ERROR

    mismatch_text = "; ".join(
        f"w = {m['w']:g}, b = {m['b']:g}, x = {m['x']:g}: the slides print "
        f"{m['seed_prints']}, σ({m['z']:g}) = {m['a']:.4f}" for m in mismatches
    )
    summary = (
        f"σ(wx + b) crosses ½ at −b/w (max deviation {step_error:.1e}) and its 1–99 % "
        f"transition is 2 ln 99 / w wide (max relative deviation {width_error:.1e}): "
        f"{width_at[1.0]:.2f} at w = 1, {width_at[100.0]:.3f} at w = 100. "
        f"Hand-built strip networks: max error "
        + ", ".join(f"{s['max_error']:.3f}" for s in strips)
        + f" for {', '.join(map(str, STRIP_COUNTS))} strips (≈ N^{slope:.2f}). "
        f"{len(table_rows) - len(mismatches)} of {len(table_rows)} entries of the slides' "
        f"tables agree at the printed decimals"
        + (f"; the slides' typo: {mismatch_text}." if mismatches else ".")
    )
    results = {
        "seed_tables": table_rows,
        "seed_table_mismatches": mismatches,
        "step_positions": steps,
        "max_step_position_error": step_error,
        "max_relative_width_error": width_error,
        "strips": strips,
        "error_decreasing": decreasing,
        "loglog_slope_error_vs_strips": slope,
    }
    config = {
        "seed_tables": [{"w": w, "b": b, "x": list(g)} for w, b, g, _ in SEED_TABLES],
        "step_weights": STEP_WEIGHTS,
        "step_biases": STEP_BIASES,
        "target": "f(x) = 0.2 + 0.4x² + 0.3x sin(15x) on [0, 1]",
        "strip_counts": STRIP_COUNTS,
        "steepness": "w = 1000 · N",
        "evaluation_points": grid_points,
        "dtype": "float64 (tables, steps), float32 (strips)",
        "small_error_threshold": SMALL_ERROR,
    }

    def draw_steps(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for w in (1.0, 10.0, 100.0):
            ax1.plot(plot_x, sigmoid_curves[(w, 0.0)], label=f"w = {w:g}, b = 0")
        for _w, _b, grid, printed in SEED_TABLES[:3]:
            ax1.plot(grid, [float(t) for t in printed], "k.", ms=5)
        ax1.plot([], [], "k.", label="the slides' printed values")
        ax1.set_xlabel("x")
        ax1.set_ylabel("a = σ(wx + b)")
        ax1.set_title("larger w: a sharper step at x = 0")
        ax1.legend(fontsize=8)
        for b in STEP_BIASES:
            ax2.plot(plot_x, sigmoid_curves[(1.0, b)],
                     label=f"w = 1, b = {b:g}: step at {-b + 0.0:g}")
        for s in steps:
            if s["w"] == 1.0:
                ax2.axvline(s["step_at"], color="grey", lw=0.6, ls=":")
        ax2.set_xlabel("x")
        ax2.set_ylabel("a = σ(wx + b)")
        ax2.set_title("the bias moves the step to x = −b/w")
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"A steep sigmoid is a step: measured step at −b/w within {step_error:.0e}, "
            f"width 2 ln 99 / w within {width_error:.0e} (relative)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def draw_strips(path):
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2),
                                       gridspec_kw={"width_ratios": [1.6, 1]})
        ax1.plot(xs, f, "k", lw=2.2, label="f(x)")
        for n in (5, 10, 20, 100):
            ax1.plot(xs, curves[n], lw=1, label=f"{n} strips ({2 * n} hidden units)")
        ax1.set_xlabel("x")
        ax1.set_ylabel("network output a(x)")
        ax1.set_title("hand-built sigmoid networks of strips")
        ax1.legend(fontsize=8)
        ax2.loglog(STRIP_COUNTS, errors, "o-", label="steep-sigmoid network")
        ax2.loglog(STRIP_COUNTS, [s["ideal_steps_max_error"] for s in strips], "x--",
                   label="ideal steps (w → ∞)")
        ax2.set_xlabel("number of strips N")
        ax2.set_ylabel("max |a(x) − f(x)| on [0, 1]")
        ax2.set_title(f"max error ∝ N^({slope:.2f})")
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"Strips approximate f(x) = 0.2 + 0.4x² + 0.3x sin 15x: max error "
            f"{errors[0]:.3f} (5 strips) → {errors[-1]:.4f} (100 strips)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return Result(
        held=held,
        config=config,
        results=results,
        figures={f"{NAME}_steps.png": draw_steps, f"{NAME}_strips.png": draw_strips},
        summary=summary,
    )


main = make_main(NAME, CLAIM, run)

if __name__ == "__main__":
    exit_with(main)
