"""Regenerate the generated blocks of README.md and docs/equations.md from the code and
the committed results.

    python scripts/readme.py          # print every block
    python scripts/readme.py --write  # rewrite them inside README.md and docs/equations.md
    mkdocs build --strict             # the site's generated pages, from the same files

Nothing is run: the blocks are rendered from the source files and from what the
experiments last wrote under ``experiments/results/``.

Blocks (between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``) of README.md:

* ``equations``: each equation of the source documents (see docs/equations.md), linked to
  its place on the site's equations page, and the file and marker (the start of a comment
  or docstring, usually the equation's tag such as ``# (BP2)``) of the line that
  implements it. No line number is printed: a line that moves changes nothing, and a
  marker that disappears is an error.
* ``default_run``: the default network's test accuracy over seeds, from
  ``experiments/results/mnist.json`` (``python -m experiments.mnist``).
* ``headline_performance``: the benchmark's figure and which of its goals were met, from
  ``experiments/results/benchmark.json`` (``python -m experiments.benchmark``); ``--write``
  first redraws the figure and rewrites ``benchmark.md`` from that JSON (as ``python -m
  experiments.benchmark --figure-only`` does).
* ``headline_experiments``: one figure and whether each claim held, one row per
  ``experiments/results/<name>.json`` (``python -m experiments.run_all``).

and of docs/equations.md:

* ``worked_example``: the single-neuron worked example to full precision, from
  ``experiments/results/worked_example.json`` (``python -m experiments.worked_example``),
  so that no number in it is typed by hand.

The site's results pages (benchmark, sweep benchmark, step ratio, the experiments' report)
are not committed: scripts/docs_hooks.py renders them with ``render_benchmark``,
``render_sweep_benchmark``, ``render_step_ratio`` and the report itself at every
``mkdocs build``, so after new results ``python scripts/readme.py --write && mkdocs build
--strict`` brings README and the site up to date.

tests/test_readme.py checks that README's blocks equal this script's output.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
# The files whose blocks --write rewrites; each holds only some of the blocks.
TARGETS = ("README.md", "docs/equations.md")

# The five source documents, by short name (docs/equations.md describes each).
NOTEBOOK = "backpropagation notebook cheat sheet"
MATHS_MD = "maths.md cheat sheet"
SLIDES = "AI Okinawa course slides"
NG_NOTES = "notes after Andrew Ng's course"
NN_NOTES = "neural-network notes"

# (equation, form and source, file, marker). The row links the first line of the file that
# holds the marker. A marker is the stable start of a comment or docstring (or a piece of
# code), so that rewording the rest of that line does not break the table.
ROWS = [
    ("forward", f"Z^l = A^{{l−1}} W^{{lᵀ}} + b^l ({MATHS_MD}; {NN_NOTES})",
     "jaxnn/network.py", "# Z^l = A^{l−1} W^{lᵀ} + b^l"),
    ("forward", "A^l = g(Z^l)",
     "jaxnn/network.py", "# A^l = g(Z^l)"),
    ("cost", f"J = (1/m) Σ C(a_i, y_i) ({NG_NOTES})",
     "jaxnn/network.py", "# J = (1/m) Σ_i C(a_i, y_i)"),
    ("L2", f"+ λ/(2m) Σ ‖W^l‖² ({NOTEBOOK})",
     "jaxnn/network.py", "# (λ/2m) Σ ‖W^l‖²"),
    ("BP1", "Δ^L = ∇_A J ⊙ g'(Z^L) (general)",
     "jaxnn/backprop.py", "# (BP1) ∇_a C ⊙ g'(Z^L), or the softmax VJP"),
    ("BP1 fused", f"sigmoid + BCE, identity + quadratic: Δ^L = (A − Y)/m ({NG_NOTES})",
     "jaxnn/backprop.py", "# (BP1) Δ^L = (A − Y)/m"),
    ("BP1 fused", f"softmax + CE: Δ^L = (P − Y)/m ({MATHS_MD})",
     "jaxnn/backprop.py", "# (BP1) Δ^L = (P − Y)/m."),
    ("BP2", "Δ^l = (Δ^{l+1} W^{l+1}) ⊙ g'(Z^l)",
     "jaxnn/backprop.py", "# (BP2) Δ^{l−1} = (Δ^l W^l) ⊙ g'(Z^{l−1})"),
    ("BP3", "∂J/∂b^l = Σ_rows Δ^l",
     "jaxnn/backprop.py", "# (BP3) ∂J/∂b^l = Σ_rows Δ^l"),
    ("BP4", "∂J/∂W^l = Δ^{lᵀ} A^{l−1}",
     "jaxnn/backprop.py", "# (BP4) ∂J/∂W^l = Δ^{lᵀ} A^{l−1}"),
    ("BP4 + L2", f"+ (λ/m) W^l ({NOTEBOOK})",
     "jaxnn/backprop.py", "# (BP4) + (λ/m) W^l"),
    ("norm", "Ẑ = (Z − μ)/√(σ² + ε) over a row (layer norm) or the batch (batch norm)",
     "jaxnn/normalization.py", "# Ẑ = (Z − μ) / σ"),
    ("norm", "Z̃ = γ ⊙ Ẑ + β, A = g(Z̃)",
     "jaxnn/normalization.py", "# Z̃ = γ ⊙ Ẑ + β"),
    ("skip", "A^l = g(Z̃^l) + Ã^{l−1} (hidden layers of one width)",
     "jaxnn/network.py", "# A^l = g(Z̃^l) + Ã^{l−1}"),
    ("BP2 + skip", "∂J/∂Ã^{l−1} = Δ^l W^l + ∂J/∂A^l",
     "jaxnn/backprop.py", "# (BP2, skip)"),
    ("N1", "Δ^l = (1/σ)(Δ_Ẑ − mean(Δ_Ẑ) − Ẑ ⊙ mean(Δ_Ẑ ⊙ Ẑ)), Δ_Ẑ = Δ̃ ⊙ γ",
     "jaxnn/normalization.py", "# (N1) Δ = (1/σ)"),
    ("N2", "∂J/∂γ = Σ_rows Δ̃ ⊙ Ẑ",
     "jaxnn/normalization.py", "# (N2) ∂J/∂γ"),
    ("N3", "∂J/∂β = Σ_rows Δ̃",
     "jaxnn/normalization.py", "# (N3) ∂J/∂β"),
    ("σ'", f"a(1 − a) ({SLIDES})",
     "jaxnn/activations.py", '"""σ\'(z) = a(1 − a)'),
    ("tanh'", "1 − a²",
     "jaxnn/activations.py", '"""tanh\'(z) = 1 − a²."""'),
    ("ReLU'", f"1[z > 0] (what the {NN_NOTES} print as ReLU)",
     "jaxnn/activations.py", '"""ReLU\'(z) = 1 if z > 0 else 0'),
    ("softmax Jacobian", f"a_i(δ_ij − a_j), as a VJP ({MATHS_MD})",
     "jaxnn/activations.py", '"""Σ_i g_i ∂a_i/∂z_j = Σ_i g_i a_i (δ_ij − a_j)'),
    ("∇_a C quadratic", f"a − y ({SLIDES})",
     "jaxnn/costs.py", '"""∇_a C = a − y."""'),
    ("∇_a C binary CE", f"−y/a + (1 − y)/(1 − a) ({MATHS_MD}, sign fixed)",
     "jaxnn/costs.py", '"""∇_a C = −y/a + (1 − y)/(1 − a)'),
    ("∇_a C cross entropy", f"−y/a ({MATHS_MD})",
     "jaxnn/costs.py", '"""∇_a C = −y / a."""'),
    ("momentum", f"V = βV + (1 − β) dW; W = W − αV ({MATHS_MD})",
     "jaxnn/optimizers/algorithms.py", "# V = βV + (1 − β) g"),
    ("RMSprop", f"S = βS + (1 − β) dW²; W = W − α dW/(√S + ε) ({MATHS_MD})",
     "jaxnn/optimizers/algorithms.py", "# S = βS + (1 − β) g²"),
    ("Adam", f"V̂ = V/(1 − β1^t), Ŝ = S/(1 − β2^t) ({MATHS_MD})",
     "jaxnn/optimizers/algorithms.py", "# V̂ = V / (1 − β1^t)"),
    ("gradient check", f"(J(θ + ε) − J(θ − ε))/2ε ({NN_NOTES}, sign fixed)",
     "jaxnn/gradcheck.py", "(plus - minus) / (2 * eps)"),
]


def line_of(path: str, marker: str) -> int:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    hits = [i for i, line in enumerate(lines, start=1) if marker in line]
    if not hits:
        raise SystemExit(f"marker not found in {path}: {marker!r}")
    return hits[0]


def anchors() -> list[str]:
    """The site anchor of each row of ROWS (``code-<name>``, numbered when a name repeats):
    docs/equations.md shows each equation beside its code under that anchor when the site
    is built (scripts/docs_hooks.py)."""
    seen: dict[str, int] = {}
    out = []
    for name, *_ in ROWS:
        slug = "code-" + "".join(c if c.isalnum() else "-" for c in name.lower())
        slug = "-".join(filter(None, slug.split("-")))
        seen[slug] = seen.get(slug, 0) + 1
        out.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return out


def render_equations() -> str:
    """The table: each equation linked to its place on the equations page, and the file
    and marker (the tag) of the line that implements it; no line number, so a line that
    moves changes nothing here. A marker that is gone fails (``line_of``)."""
    out = [
        "| equation | form (source) | implemented in (marker) |",
        "| --- | --- | --- |",
    ]
    for (name, form, path, marker), anchor in zip(ROWS, anchors()):
        line_of(path, marker)  # the marker must still be there
        shown = marker.replace("`", "").replace("|", "\\|").strip('"')
        out.append(f"| [{name}](docs/equations.md#{anchor}) | {form} | "
                   f"[`{path}`]({path}) `{shown}` |")
    return "\n".join(out)


BENCHMARK_FIGURE = ("![One training step per implementation and size: ms/step and % of the "
                    "matmul roofline; the digits end to end]"
                    "(experiments/results/benchmark.png)")


def render_benchmark() -> str:
    json_path, md_path = RESULTS / "benchmark.json", RESULTS / "benchmark.md"
    if json_path.exists():
        from experiments import benchmark

        result = json.loads(json_path.read_text(encoding="utf-8"))
        text = benchmark.to_markdown(result, result["command"]).strip()
    elif md_path.exists():
        text = md_path.read_text(encoding="utf-8").strip()
    else:
        return "_No benchmark has been run yet: `python -m experiments.benchmark`._"
    if (RESULTS / "benchmark.png").exists():
        head, _, rest = text.partition("\n")  # after the "generated by" comment
        text = f"{head}\n{BENCHMARK_FIGURE}\n\n{rest}"
    return text


def redraw_benchmark() -> None:
    """benchmark.md and benchmark.png from benchmark.json (nothing is timed)."""
    if (RESULTS / "benchmark.json").exists():
        from experiments import benchmark

        benchmark.regenerate(RESULTS, log=lambda s: print(s, file=sys.stderr))


def render_sweep_benchmark() -> str:
    path = RESULTS / "sweep_benchmark.md"
    if not path.exists():
        return "_Not measured yet: `python -m experiments.sweep_benchmark`._"
    return path.read_text(encoding="utf-8").strip()


def render_step_ratio() -> str:
    path = RESULTS / "step_ratio.md"
    if not path.exists():
        return "_Not measured yet: `python scripts/step_ratio.py`._"
    return path.read_text(encoding="utf-8").strip()


def render_experiments() -> str:
    from experiments.run_all import EXPERIMENTS  # the report's order

    rows = ["| experiment | claim | held | finding |", "| --- | --- | --- | --- |"]
    for name in EXPERIMENTS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            rows.append(f"| {name} | (not run yet) | | |")
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        held = "✔" if r["claim"]["held"] else "✘"
        finding = r.get("summary", "").replace("|", "\\|").replace("\n", " ")
        claim = r["claim"]["statement"].replace("|", "\\|")
        rows.append(f"| [{name}](experiments/results/report.md#{name}) | {claim} | {held} | "
                    f"{finding} |")
    return "\n".join(rows)


def render_default_run() -> str:
    """One sentence from experiments/results/mnist.json: the default network over seeds."""
    path = RESULTS / "mnist.json"
    head = "<!-- generated by scripts/readme.py from experiments/results/mnist.json -->"
    if not path.exists():
        return f"{head}\n_Not run yet: `python -m experiments.mnist`._"
    record = json.loads(path.read_text(encoding="utf-8"))
    r, config = record["results"]["default"], record["config"]
    label = config["runs"]["default"]["label"].removeprefix("default ")
    return (f"{head}\nThe default network, {label}, reaches a test accuracy of "
            f"{r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f} (mean ± std over "
            f"{r['seeds']} seeds, {r['epochs']} epochs, {config['n_train']:,} training "
            f"digits) on {config['n_test']:,} digits it has not seen.")


def render_headline_performance() -> str:
    """README's performance headline: the benchmark's figure and which goals it met, from
    experiments/results/benchmark.json; the tables are on the site's results pages."""
    json_path = RESULTS / "benchmark.json"
    lines = ["<!-- generated by scripts/readme.py from experiments/results/benchmark.json -->"]
    if (RESULTS / "benchmark.png").exists():
        lines.append(BENCHMARK_FIGURE)
        lines.append("")
    if not json_path.exists():
        lines.append("_No benchmark has been run yet: `python -m experiments.benchmark`._")
        return "\n".join(lines)
    result = json.loads(json_path.read_text(encoding="utf-8"))
    lines += [
        f"`{result['command']}` times one training step of jaxnn and its peers (flax, optax, "
        "PyTorch, NumPy) side by side, and the digits end to end against scikit-learn. "
        "Its goals:",
        "",
        "| goal | status |",
        "| --- | --- |",
    ]
    for goal in result.get("goals", []):
        text = goal["goal"].replace("|", "\\|")
        lines.append(f"| {text} | {'met' if goal['met'] else 'NOT met'} |")
    lines += _many_runs_headline()
    lines += [
        "",
        "Full tables: [benchmark](docs/results/benchmark.md), [many runs in one program]"
        "(docs/results/sweep-benchmark.md), [step ratio over fresh processes]"
        "(docs/results/step-ratio.md).",
    ]
    return "\n".join(lines)


def _many_runs_headline() -> list[str]:
    """One line per K of experiments/results/sweep_benchmark.json: fit_many's per-run
    throughput against one fit, with the cores it used and on one core."""
    path = RESULTS / "sweep_benchmark.json"
    if not path.exists():
        return []
    result = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in result["rows"] if "parts" in r and r["K"] > 1]
    if not rows:
        return []
    lines = ["", f"`{result['command']}` (784-30-10, batch 10, SGD, each run its own "
             f"minibatch order; {result.get('backend', 'cpu')}, {result.get('cores', '?')} "
             f"cores, load {result['load_average_start']:.1f}): `fit_many`'s per-run "
             "throughput against one `fit`:", ""]
    for r in rows:
        lines.append(f"- K = {r['K']}: {r['per_run_throughput_vs_single']:.2f}× with "
                     f"{r['parts']} part(s) side by side; "
                     f"{r['one_core_per_run_throughput_vs_single']:.2f}× on one core.")
    return lines


EXPERIMENTS_FIGURE = ("![Speed of learning per layer: Nielsen's deep sigmoid network against "
                      "ReLU with He initialisation]"
                      "(experiments/results/vanishing_gradients_speed.png)")


def render_headline_experiments() -> str:
    """README's experiments headline: one figure and whether each claim held, from
    experiments/results/<name>.json; the numbers are on the site's experiments page."""
    from experiments.run_all import EXPERIMENTS  # the report's order

    lines = ["<!-- generated by scripts/readme.py from experiments/results/*.json -->",
             "`python -m experiments.run_all` runs every experiment and writes the report; "
             "the [experiments page](docs/results/experiments.md) has each one's numbers "
             "and figures."]
    if (RESULTS / "vanishing_gradients_speed.png").exists():
        lines += ["", EXPERIMENTS_FIGURE]
    lines += ["", "| experiment | the source documents' claim held |", "| --- | :---: |"]
    for name in EXPERIMENTS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            lines.append(f"| {name} | (not run yet) |")
            continue
        held = "✔" if json.loads(path.read_text(encoding="utf-8"))["claim"]["held"] else "✘"
        lines.append(f"| [{name}](docs/results/experiments.md#{name}) | {held} |")
    return "\n".join(lines)


# The worked example's quantities, as docs/equations.md names them.
WORKED_EXAMPLE_LABELS = {
    "z": "z = w₁x₁ + w₂x₂ + b",
    "a": "a = σ(z)",
    "C": "C = ½(y − a)²",
    "dC/da": "∂C/∂a = a − y",
    "da/dz": "∂a/∂z = a(1 − a)",
    "dC/dz": "δ = ∂C/∂z = (a − y) a(1 − a)",
    "dC/dw1": "∂C/∂w₁ = δ x₁",
    "dC/dw2": "∂C/∂w₂ = δ x₂",
    "dC/db": "∂C/∂b = δ",
    "w1 after": "w₁ − α ∂C/∂w₁",
    "w2 after": "w₂ − α ∂C/∂w₂",
    "b after": "b − α ∂C/∂b",
    "a after": "a after the step",
}


def render_worked_example() -> str:
    path = RESULTS / "worked_example.json"
    if not path.exists():
        return "_Not run yet: `python -m experiments.worked_example`._"
    r = json.loads(path.read_text(encoding="utf-8"))
    res = r["results"]
    rows = [
        f"| quantity | jaxnn ({res['dtype']}) | the slides print "
        "| equal at 2 significant figures |",
        "| --- | ---: | ---: | :---: |",
    ]
    printed_a = None
    for row in res["table"]:
        if row["quantity"] == "a":
            printed_a = row["seed"]
        label = WORKED_EXAMPLE_LABELS.get(row["quantity"], row["quantity"])
        agrees = "yes" if row["agrees_at_2_sig_figs"] else "**no**"
        rows.append(f"| {label} | {row['exact']!r} | {row['seed']:g} | {agrees} |")
    explained = (
        f"The slides' C is ½(1 − {printed_a:g})² = {res['seed_cost_from_rounded_a']:.4f}: "
        "the cost of the rounded a, not of a."
        if res["seed_cost_explained_by_rounded_a"]
        else f"½(1 − {printed_a:g})² = {res['seed_cost_from_rounded_a']:.4f} does not explain "
        "the slides' C."
    )
    rows += [
        "",
        f"Largest |hand-written − `jax.grad`| over the derivatives and the step: "
        f"{res['max_abs_manual_minus_autodiff']:.1e} ({res['dtype']}). {explained} "
        f"Generated from `experiments/results/worked_example.json` (`{r['command']}`).",
    ]
    return "\n".join(rows)


BLOCKS = {
    "equations": render_equations,
    "default_run": render_default_run,
    "headline_performance": render_headline_performance,
    "headline_experiments": render_headline_experiments,
    "benchmark": render_benchmark,
    "sweep_benchmark": render_sweep_benchmark,
    "step_ratio": render_step_ratio,
    "experiments": render_experiments,
    "worked_example": render_worked_example,
}


def replace_in(readme: str, name: str, text: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{text}\n{end}{tail}"


def render_all(readme: str) -> str:
    for name, render in BLOCKS.items():
        if f"<!-- {name}:start -->" in readme:
            readme = replace_in(readme, name, render())
    return readme


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    args = ap.parse_args(argv)
    if args.write:
        redraw_benchmark()
        for target in TARGETS:
            path = ROOT / target
            if path.exists():
                path.write_text(render_all(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for name, render in BLOCKS.items():
            print(f"<!-- {name} -->\n{render()}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
