"""Regenerate README's generated blocks from the code and the committed results.

    python scripts/readme.py          # print every block
    python scripts/readme.py --write  # rewrite them inside README.md

Blocks (between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``):

* ``equations``: each seed equation and the line of jaxnn that implements it. Each row names
  a unique marker (a comment) in a source file; the line number is found, not typed, so
  the table stays true when the code moves.
* ``benchmark``: ``experiments/results/benchmark.md``, written by
  ``python -m experiments.benchmark``.
* ``experiments``: one row per ``experiments/results/<name>.json`` (written by
  ``python -m experiments.run_all``): the claim, whether it held, the finding.

tests/test_readme.py checks that README's blocks equal this script's output.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"

# (equation, seed and form, file, marker that appears on exactly one line of the file)
ROWS = [
    ("forward", "Z^l = A^{l−1} W^{lᵀ} + b^l (001, 004)", "jaxnn/network.py", "# Z^l = A^{l−1} W^{lᵀ} + b^l"),
    ("forward", "A^l = g(Z^l)", "jaxnn/network.py", "# A^l = g(Z^l)"),
    ("cost", "J = (1/m) Σ C(a_i, y_i) (003)", "jaxnn/network.py", "# J = (1/m) Σ_i C(a_i, y_i)"),
    ("L2", "+ λ/(2m) Σ ‖W^l‖² (000)", "jaxnn/network.py", "# (λ/2m) Σ ‖W^l‖²"),
    ("BP1", "Δ^L = ∇_A J ⊙ g'(Z^L) (general)", "jaxnn/backprop.py", "# (BP1) ∇_a C ⊙ g'(Z^L), or the softmax VJP"),
    ("BP1 fused", "sigmoid + BCE, identity + quadratic: Δ^L = (A − Y)/m (003)", "jaxnn/backprop.py", "# (BP1) Δ^L = (A − Y)/m"),
    ("BP1 fused", "softmax + CE: Δ^L = (P − Y)/m (001)", "jaxnn/backprop.py", "# (BP1) Δ^L = (P − Y)/m."),
    ("BP2", "Δ^l = (Δ^{l+1} W^{l+1}) ⊙ g'(Z^l)", "jaxnn/backprop.py", "# (BP2) Δ^{l−1} = (Δ^l W^l) ⊙ g'(Z^{l−1})"),
    ("BP3", "∂J/∂b^l = Σ_rows Δ^l", "jaxnn/backprop.py", "# (BP3) ∂J/∂b^l = Σ_rows Δ^l"),
    ("BP4", "∂J/∂W^l = Δ^{lᵀ} A^{l−1}", "jaxnn/backprop.py", "# (BP4) ∂J/∂W^l = Δ^{lᵀ} A^{l−1}"),
    ("BP4 + L2", "+ (λ/m) W^l (000)", "jaxnn/backprop.py", "# (BP4) + (λ/m) W^l"),
    ("σ'", "a(1 − a) (002)", "jaxnn/activations.py", '"""σ\'(z) = a(1 − a), seed 002."""'),
    ("tanh'", "1 − a²", "jaxnn/activations.py", '"""tanh\'(z) = 1 − a²."""'),
    ("ReLU'", "1[z > 0] (004's 'ReLU')", "jaxnn/activations.py", '"""ReLU\'(z) = 1 if z > 0 else 0'),
    ("softmax Jacobian", "a_i(δ_ij − a_j), as a VJP (001)", "jaxnn/activations.py", '"""Σ_i g_i ∂a_i/∂z_j = Σ_i g_i a_i (δ_ij − a_j)'),
    ("∇_a C quadratic", "a − y (002)", "jaxnn/costs.py", '"""∇_a C = a − y."""'),
    ("∇_a C binary CE", "−y/a + (1 − y)/(1 − a) (001, sign fixed)", "jaxnn/costs.py", '"""∇_a C = −y/a + (1 − y)/(1 − a)'),
    ("∇_a C cross entropy", "−y/a (001)", "jaxnn/costs.py", '"""∇_a C = −y / a."""'),
    ("momentum", "V = βV + (1 − β) dW; W = W − αV (001)", "jaxnn/optimizers.py", "# V = βV + (1 − β) g"),
    ("RMSprop", "S = βS + (1 − β) dW²; W = W − α dW/(√S + ε) (001)", "jaxnn/optimizers.py", "# S = βS + (1−β)g²"),
    ("Adam", "V̂ = V/(1 − β1^t), Ŝ = S/(1 − β2^t) (001)", "jaxnn/optimizers.py", "# V̂ = V / (1 − β1^t)"),
    ("gradient check", "(J(θ + ε) − J(θ − ε))/2ε (004, sign fixed)", "jaxnn/gradcheck.py", "# centred difference (seed 004's sign corrected)"),
]


def _line_of(path: str, marker: str) -> int:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    hits = [i for i, line in enumerate(lines, start=1) if marker in line]
    if not hits:
        raise SystemExit(f"marker not found in {path}: {marker!r}")
    return hits[0]


def render_equations() -> str:
    out = [
        "| equation | seed form (source) | implemented at |",
        "| --- | --- | --- |",
    ]
    for name, form, path, marker in ROWS:
        line = _line_of(path, marker)
        out.append(f"| {name} | {form} | [`{path}:{line}`]({path}#L{line}) |")
    return "\n".join(out)


def render_benchmark() -> str:
    path = RESULTS / "benchmark.md"
    if not path.exists():
        return "_No benchmark has been run yet: `python -m experiments.benchmark`._"
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


BLOCKS = {
    "equations": render_equations,
    "benchmark": render_benchmark,
    "experiments": render_experiments,
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
        path = ROOT / "README.md"
        path.write_text(render_all(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for name, render in BLOCKS.items():
            print(f"<!-- {name} -->\n{render()}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
