"""jaxnn's training step against its peers, side by side in one process.

``python -m experiments.benchmark [--quick] [--sizes …] [--optimizers …] [--rounds N]
[--no-peers] [--out DIR]`` times, at every size × optimizer, interleaved in the same
rounds (each round calls every implementation once, in a random order; see
:mod:`jaxnn.cli.bench` for the harness, the FLOP count and the roofline):

- jaxnn, manual gradients and autodiff gradients: ``make_epoch``, the ``fit`` path;
- the matmuls alone in the step's shapes (a floor), and the 1024³ matmul roofline;
- plain JAX written as a user would: an MLP as a list of ``(W, b)`` with ``W: (n_in,
  n_out)``, ``jit(value_and_grad)`` + optax, stepped in a Python loop, and the same step
  inside ``lax.scan`` (the reference of the ratio column);
- flax.linen + optax, a jitted step in a Python loop;
- PyTorch eager on the CPU (``torch.set_num_threads(cores)``), ``torch.optim``;
- NumPy, vectorised: Nielsen's algorithm over whole minibatches, BP1–BP4 by hand, the
  optimizer by hand.

All of them train the same network (sigmoid hidden layers, softmax + cross entropy, float32)
from the same initial weights on the same synthetic data with the same optimizer (SGD 0.1 or
Adam 1e-3). Peers that are not installed are skipped with a note; ``--no-peers`` times jaxnn
alone. Writes ``<out>/benchmark.json`` and ``<out>/benchmark.md`` and checks the goals.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from typing import Any

import numpy as np

from experiments._common import DEFAULT_OUT, to_jsonable
from jaxnn.cli import bench

NAME = "benchmark"
JAX_LOOP = "plain JAX, jit step in a Python loop"
JAX_SCAN = "plain JAX, lax.scan"
FLAX = "flax.linen + optax, jit step in a Python loop"
TORCH = "PyTorch eager"
TORCH_1 = "PyTorch eager, 1 thread"
NUMPY = "NumPy, vectorised (Nielsen, BP1–BP4)"
REFERENCE = JAX_SCAN


# ---------------------------------------------------------------------------------------
# Plain JAX: what a user writes first.


def _optax():
    try:
        import optax
    except ImportError:
        raise bench.Skip("optax is not installed (pip install -e '.[bench]')") from None
    return optax


def _optax_optimizer(problem: bench.Problem):
    optax = _optax()
    if problem.optimizer == "sgd":
        return optax.sgd(problem.learning_rate)
    return optax.adam(problem.learning_rate, b1=0.9, b2=0.999, eps=1e-8)


def _plain_jax_parts(problem: bench.Problem):
    """(params, loss, optax optimizer): an MLP as a list of (W, b), W: (n_in, n_out)."""
    import jax
    import jax.numpy as jnp

    tx = _optax_optimizer(problem)
    params = [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in problem.init]

    def loss(params, x, y):
        h = x
        for W, b in params[:-1]:
            h = jax.nn.sigmoid(h @ W + b)
        W, b = params[-1]
        log_p = jax.nn.log_softmax(h @ W + b)
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    return params, loss, tx


def _jax_train_step(loss, tx):
    import jax
    import optax

    def train_step(params, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return train_step


def _batches(problem: bench.Problem):
    """The problem's data as ``steps`` device-resident minibatches (made before timing)."""
    import jax.numpy as jnp

    size = problem.size
    xs = jnp.asarray(problem.x).reshape(size.steps, size.batch, -1)
    ys = jnp.asarray(problem.labels).reshape(size.steps, size.batch)
    return xs, ys


def plain_jax_loop_case(problem: bench.Problem) -> bench.Case:
    """``jax.jit(train_step)`` called once per minibatch from Python."""
    import jax

    params, loss, tx = _plain_jax_parts(problem)
    step = jax.jit(_jax_train_step(loss, tx))
    xs, ys = _batches(problem)
    batches = list(zip(list(xs), list(ys)))
    state = {"params": params, "opt_state": tx.init(params), "steps": len(batches)}
    compile_seconds = _compile_time(step, state, batches[0])

    def call():
        params, opt_state = state["params"], state["opt_state"]
        for xb, yb in batches[: state["steps"]]:
            params, opt_state, _ = step(params, opt_state, xb, yb)
        jax.block_until_ready(params)
        state["params"], state["opt_state"] = params, opt_state

    return bench.Case(JAX_LOOP, call, problem.size.steps, compile_seconds,
                      note=f"optax.{problem.optimizer}, W: (n_in, n_out), no shuffle",
                      set_steps=lambda k: state.update(steps=k),
                      params=lambda: [(np.asarray(W).T, np.asarray(b))
                                      for W, b in state["params"]])


def _compile_time(step, state, batch) -> float:
    """Seconds of the first call of a jitted step (trace + compile + one run), the call
    leaving ``state`` unchanged."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(step(state["params"], state["opt_state"], *batch))
    return time.perf_counter() - t0


def plain_jax_scan_case(problem: bench.Problem) -> bench.Case:
    """The same step inside ``lax.scan`` over the minibatches, one jitted call."""
    import jax

    params, loss, tx = _plain_jax_parts(problem)
    train_step = _jax_train_step(loss, tx)

    @jax.jit
    def run(params, opt_state, xs, ys):
        def body(carry, batch):
            params, opt_state, value = train_step(*carry, *batch)
            return (params, opt_state), value

        (params, opt_state), values = jax.lax.scan(body, (params, opt_state), (xs, ys))
        return params, opt_state, values

    xs, ys = _batches(problem)
    state = {"params": params, "opt_state": tx.init(params)}
    t0 = time.perf_counter()
    compiled = run.lower(state["params"], state["opt_state"], xs, ys).compile()
    compile_seconds = time.perf_counter() - t0

    def call():
        out = compiled(state["params"], state["opt_state"], xs, ys)
        jax.block_until_ready(out)
        state["params"], state["opt_state"], _ = out

    return bench.Case(JAX_SCAN, call, problem.size.steps, compile_seconds,
                      bench.memory_analysis(compiled),
                      note=f"optax.{problem.optimizer}, W: (n_in, n_out), no shuffle",
                      params=lambda: [(np.asarray(W).T, np.asarray(b))
                                      for W, b in state["params"]])


# ---------------------------------------------------------------------------------------
# flax.linen.


def flax_case(problem: bench.Problem) -> bench.Case:
    """``flax.linen`` Dense layers, optax, ``jax.jit`` step in a Python loop."""
    try:
        import flax.linen as nn
    except ImportError:
        raise bench.Skip("flax is not installed (pip install -e '.[bench]')") from None
    import jax
    import jax.numpy as jnp

    optax = _optax()
    tx = _optax_optimizer(problem)
    widths = problem.size.sizes[1:]

    class MLP(nn.Module):
        features: tuple[int, ...]

        @nn.compact
        def __call__(self, x):
            for f in self.features[:-1]:
                x = nn.sigmoid(nn.Dense(f)(x))
            return nn.Dense(self.features[-1])(x)

    model = MLP(tuple(widths))
    # The shared initial weights: a Dense kernel is W^T, (n_in, n_out).
    params = {"params": {f"Dense_{i}": {"kernel": jnp.asarray(W.T), "bias": jnp.asarray(b)}
                         for i, (W, b) in enumerate(problem.init)}}
    shapes = jax.eval_shape(model.init, jax.random.key(0), problem.x[:1])
    assert jax.tree.structure(shapes) == jax.tree.structure(params)  # internal invariant

    @jax.jit
    def step(params, opt_state, x, y):
        def loss(params):
            logits = model.apply(params, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    xs, ys = _batches(problem)
    batches = list(zip(list(xs), list(ys)))
    state = {"params": params, "opt_state": tx.init(params), "steps": len(batches)}
    compile_seconds = _compile_time(step, state, batches[0])

    def call():
        params, opt_state = state["params"], state["opt_state"]
        for xb, yb in batches[: state["steps"]]:
            params, opt_state, _ = step(params, opt_state, xb, yb)
        jax.block_until_ready(params)
        state["params"], state["opt_state"] = params, opt_state

    def current():
        layers = state["params"]["params"]
        return [(np.asarray(layers[f"Dense_{i}"]["kernel"]).T,
                 np.asarray(layers[f"Dense_{i}"]["bias"])) for i in range(len(layers))]

    import flax

    return bench.Case(FLAX, call, problem.size.steps, compile_seconds,
                      note=f"flax {flax.__version__}, optax.{problem.optimizer}",
                      set_steps=lambda k: state.update(steps=k), params=current)


# ---------------------------------------------------------------------------------------
# PyTorch.


def torch_case(problem: bench.Problem, threads: int | None = None) -> bench.Case:
    """``nn.Sequential`` of Linear + Sigmoid, ``nn.CrossEntropyLoss``, ``torch.optim``,
    ``torch.set_num_threads(threads)`` (default: the cores this process may use)."""
    try:
        import torch
    except ImportError:
        raise bench.Skip("PyTorch is not installed (pip install torch==2.13.0, CPU)") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = TORCH if threads is None else TORCH_1
    threads = threads or cores
    torch.set_num_threads(threads)  # global: each call sets its own before stepping
    layers: list = []
    for i, (W, b) in enumerate(problem.init):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():  # nn.Linear keeps W as (n_out, n_in), like jaxnn
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(problem.init) - 1:
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    if problem.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=problem.learning_rate)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=problem.learning_rate, betas=(0.9, 0.999),
                               eps=1e-8)
    size = problem.size
    xs = torch.from_numpy(problem.x).reshape(size.steps, size.batch, -1)
    ys = torch.from_numpy(problem.labels.astype(np.int64)).reshape(size.steps, size.batch)
    batches = list(zip(xs, ys))
    state = {"steps": len(batches)}

    def call():
        torch.set_num_threads(threads)
        for xb, yb in batches[: state["steps"]]:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    def current():
        linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        return [(lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy())
                for lin in linears]

    return bench.Case(name, call, size.steps,
                      note=f"torch {torch.__version__}, {threads} thread(s), "
                           f"torch.optim.{type(opt).__name__}",
                      set_steps=lambda k: state.update(steps=k), params=current)


# ---------------------------------------------------------------------------------------
# NumPy: Nielsen's network.py, vectorised over the minibatch.


def numpy_case(problem: bench.Problem) -> bench.Case:
    """Forward pass, BP1–BP4 and the optimizer in NumPy, whole minibatches at once."""
    size = problem.size
    weights = [W.copy() for W, _ in problem.init]  # W^l: (n_l, n_{l−1}), as in Nielsen
    biases = [b.copy() for _, b in problem.init]
    lr = np.float32(problem.learning_rate)
    L = len(weights)
    xs = problem.x.reshape(size.steps, size.batch, -1)
    ys = problem.labels.reshape(size.steps, size.batch)
    eye = np.eye(size.sizes[-1], dtype=np.float32)
    adam = problem.optimizer == "adam"
    moments = [[np.zeros_like(p) for p in weights + biases] for _ in range(2)] if adam else None
    count = [0]

    def step(x, labels):
        m = x.shape[0]
        activations = [x]
        for l in range(L):
            z = activations[-1] @ weights[l].T + biases[l]  # Z^l = A^{l−1} W^{lᵀ} + b^l
            if l < L - 1:
                with np.errstate(over="ignore"):
                    activations.append(1 / (1 + np.exp(-z)))  # σ(z)
            else:
                e = np.exp(z - z.max(axis=1, keepdims=True))
                activations.append(e / e.sum(axis=1, keepdims=True))  # softmax
        delta = (activations[-1] - eye[labels]) / np.float32(m)  # (BP1) Δ^L = (P − Y)/m
        nabla_w, nabla_b = [None] * L, [None] * L
        for l in range(L - 1, -1, -1):
            nabla_w[l] = delta.T @ activations[l]  # (BP4) Δ^{lᵀ} A^{l−1}
            nabla_b[l] = delta.sum(axis=0)  # (BP3)
            if l > 0:
                a = activations[l]
                delta = (delta @ weights[l]) * a * (1 - a)  # (BP2) (Δ W) ⊙ σ'
        params, grads = weights + biases, nabla_w + nabla_b
        if not adam:
            for p, g in zip(params, grads):
                p -= lr * g  # W = W − α g
            return
        count[0] += 1
        t = count[0]
        c1, c2 = np.float32(1 - 0.9**t), np.float32(1 - 0.999**t)
        for p, g, v, s in zip(params, grads, *moments):
            v *= np.float32(0.9)
            v += np.float32(0.1) * g  # V = β1 V + (1 − β1) g
            s *= np.float32(0.999)
            s += np.float32(0.001) * g * g  # S = β2 S + (1 − β2) g²
            p -= lr * (v / c1) / (np.sqrt(s / c2) + np.float32(1e-8))  # W −= α V̂/(√Ŝ + ε)

    state = {"steps": size.steps}

    def call():
        for x, labels in zip(xs[: state["steps"]], ys[: state["steps"]]):
            step(x, labels)

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # the config's layout is not a stable API
        blas = "its BLAS"
    return bench.Case(NUMPY, call, size.steps,
                      note=f"numpy {np.__version__} ({blas}), hand-written {problem.optimizer}",
                      set_steps=lambda k: state.update(steps=k),
                      params=lambda: [(W.copy(), b.copy()) for W, b in zip(weights, biases)])


PEERS = [
    (JAX_LOOP, plain_jax_loop_case),
    (JAX_SCAN, plain_jax_scan_case),
    (FLAX, flax_case),
    (TORCH, torch_case),
    (TORCH_1, lambda problem: torch_case(problem, threads=1)),
    (NUMPY, numpy_case),
]


# ---------------------------------------------------------------------------------------
# The goals of the issue, checked against one run.


def _row(group: dict, name: str) -> dict | None:
    return next((r for r in group["rows"] if r["name"] == name), None)


def _goal(statement: str, checks: list[tuple[str, bool | None, str]]) -> dict[str, Any]:
    """``checks``: (where, met or None for not measured, the bounding measurement)."""
    results = [c[1] for c in checks]
    if any(r is False for r in results):
        met = False
    elif results and all(r is True for r in results):
        met = True
    else:
        met = None  # nothing measured, or only part of it and all of that part met
    return {"goal": statement, "met": met,
            "checks": [{"where": w, "met": m, "measured": s} for w, m, s in checks]}


def check_goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal: met (True/False) or not measured (None), with the numbers that decide."""
    groups = result["groups"]
    goals = []

    def ratio_checks(other: str, bound: float, sizes=None):
        checks = []
        for g in groups:
            if sizes and g["size"] not in sizes:
                continue
            mine, ref = _row(g, bench.MANUAL), _row(g, other)
            where = f"{g['size']} {g['optimizer']}"
            if mine is None or ref is None:
                checks.append((where, None, f"{other} not measured"))
                continue
            r = mine["ms_per_step"] / ref["ms_per_step"]
            checks.append((where, r <= bound, f"{mine['ms_per_step']:.4g} / "
                           f"{ref['ms_per_step']:.4g} ms = {r:.2f}×"))
        return checks

    goals.append(_goal("jaxnn manual step ≤ 1.0× the plain JAX scan reference at every size",
                       ratio_checks(JAX_SCAN, 1.0)))
    goals.append(_goal("jaxnn manual step ≤ 0.25× the plain JAX Python-loop reference at "
                       "784-30-10", ratio_checks(JAX_LOOP, 0.25, {"784-30-10"})))
    goals.append(_goal("jaxnn manual step ≥ 1.8× faster than PyTorch eager at every size",
                       ratio_checks(TORCH, 1 / 1.8)))
    # The same against one torch thread: on a loaded machine OpenMP's spinning threads
    # make torch with set_num_threads(cores) far slower than it is alone.
    goals.append(_goal("(the same against PyTorch eager with 1 thread)",
                       ratio_checks(TORCH_1, 1 / 1.8)))
    for size, pct in (("784-1024-1024-10", 85), ("784-256-256-10", 65)):
        checks = []
        for g in groups:
            if g["size"] == size and (row := _row(g, bench.MANUAL)):
                checks.append((f"{size} {g['optimizer']}", row["pct_roofline"] >= pct,
                               f"{row['gflops']:.1f} of {g['matmul_gflops']:.1f} GFLOP/s = "
                               f"{row['pct_roofline']:.0f}%"))
        goals.append(_goal(f"≥ {pct}% of the measured matmul rate at {size}", checks))
    checks = []
    for g in groups:
        if g["size"] == "784-30-10" and g["batch"] == 10 and (row := _row(g, bench.MANUAL)):
            seconds = row["ms_per_step"] * 5000 / 1e3
            checks.append((f"784-30-10 b10 {g['optimizer']}", seconds <= 0.1,
                           f"{row['ms_per_step'] * 1e3:.1f} µs/step × 5000 = {seconds:.3f} s"))
    goals.append(_goal("an epoch of 50,000 samples at batch 10 (784-30-10) in ≤ 0.1 s", checks))
    compiles = result["compile"]["jaxnn_epoch_compile_seconds"]
    fit = result["memory"].get("fit")
    checks = []
    if compiles:
        checks.append(("benchmark epochs", max(compiles) <= 2.0,
                       f"max {max(compiles):.2f} s over {len(compiles)} epoch programs"))
    if fit:
        checks.append(("fit() 784-256-10 with validation", fit["fit_compile_seconds"] <= 2.0,
                       f"{fit['fit_compile_seconds']:.2f} s"))
        checks.append(("no recompilation across epochs", fit["compilations_after_epoch_1"] == 0,
                       f"{fit['compilations_after_epoch_1']} XLA compilations after epoch 1 of "
                       f"{fit['epochs']}"))
    goals.append(_goal("compilation of a training epoch ≤ 2 s; no recompilation across epochs",
                       checks))
    checks = []
    if fit:
        checks.append((f"fit() on {fit['n']:,} × 784", fit["peak_rss_mb"] < 1024,
                       f"peak RSS {fit['peak_rss_mb']:.0f} MiB"))
    goals.append(_goal("peak memory of jaxnn train on 60,000 × 784 below 1 GB", checks))
    return goals


# ---------------------------------------------------------------------------------------
# Output.


def _met(met) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def to_markdown(result: dict[str, Any], command: str) -> str:
    """The markdown report: machine, one table per size × optimizer, memory, goals."""
    m = result["machine"]
    cfg = result["config"]
    lines = [
        "<!-- generated by experiments/benchmark.py; do not edit by hand -->",
        f"Command: `{command}` ({result['seconds']:.0f} s). Machine: {bench.format_machine(m)}; "
        f"load average {m['load_average_1min_at_start']:.2f} at the start (the machine is "
        "shared, so absolute times are noisy; ratios come from interleaved rounds).",
        "",
        f"Every implementation trains the same network ({cfg['architecture']}, float32) "
        f"from the same initial weights on the same synthetic data with the same optimizer "
        f"(SGD α = {cfg['learning_rates'].get('sgd', '—')}, Adam α = "
        f"{cfg['learning_rates'].get('adam', '—')}). Times are the median over "
        f"{cfg['rounds']} interleaved round(s) (after {cfg['warmup']} warm-up) of call time / "
        f"steps per call; each round calls every implementation once in a random order, "
        f"with a pause between calls so one library's spinning threads do not slow the next. "
        f"FLOPs: {cfg['flops']}; the roofline divides "
        "them by a jitted float32 1024³ matmul timed in the same rounds. The ratio column is "
        f"time / time of `{REFERENCE}` (lower is faster).",
        "",
    ]
    if cfg["quick"]:
        lines.append("**A --quick smoke run: few steps, no warm-up; the numbers mean little.**\n")
    for g in result["groups"]:
        lines.append(bench.format_group(g))
    if result["skipped"]:
        lines.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in result["skipped"].items())
                     + ".\n")
    lines.append("Compile time and memory:\n")
    lines.append(bench.format_summary(result))
    lines.append("Goals:\n")
    lines.append("| goal | status | measured |")
    lines.append("| --- | --- | --- |")
    for goal in result["goals"]:
        measured = "; ".join(f"{c['where']}: {c['measured']}" for c in goal["checks"]) or "—"
        lines.append(f"| {goal['goal']} | {_met(goal['met'])} | {measured} |")
    lines.append("")
    lines.append("Notes: " + "; ".join(
        sorted({f"{r['name']}: {r['note']}" for g in result["groups"] for r in g["rows"]
                if r.get("note")})) + ".")
    return "\n".join(lines) + "\n"


def run(args, log=print) -> dict[str, Any]:
    """Run the benchmark for parsed ``args``; returns the JSON-ready result with goals."""
    kwargs = bench.resolve_args(args)
    peers = [] if args.no_peers else PEERS
    result = bench.run_jaxnn_benchmark(**kwargs, peers=peers,
                                       reference=None if args.no_peers else REFERENCE, log=log)
    result["goals"] = check_goals(result)
    return result


def main(argv=None) -> int:
    ap = bench.build_parser(prog="python -m experiments.benchmark", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--no-peers", action="store_true", help="time jaxnn alone")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    try:
        bench.resolve_args(args)
    except ValueError as e:
        print(f"benchmark: {e}", file=sys.stderr)
        return 2
    command = " ".join(["python -m experiments.benchmark",
                        *map(str, argv if argv is not None else sys.argv[1:])])
    result = run(args, log=lambda s: print(s, file=sys.stderr, flush=True))
    result["command"] = command
    markdown = to_markdown(result, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(to_jsonable(result), indent=2) + "\n",
                                           encoding="utf-8")
    (args.out / f"{NAME}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {args.out / (NAME + '.json')} and {args.out / (NAME + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
