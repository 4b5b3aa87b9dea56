"""jaxnn's training step against its peers, side by side in one process.

``python -m experiments.benchmark [--quick] [--sizes …] [--optimizers …] [--rounds N]
[--no-peers] [--no-digits] [--no-loop] [--out DIR]`` times, at every size × optimizer,
interleaved in the same rounds (each round calls every implementation once, in a random order; see
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
alone.

Then, end to end on a real small problem (:func:`digits_comparison`): jaxnn's ``train.fit``
against scikit-learn's ``MLPClassifier`` on scikit-learn's ``load_digits`` (1,437 training /
360 test images, 64-64-10 ReLU, Adam, batch 32, 50 epochs): the wall time of the first run
in a fresh process (compile included), of a second identical run (compile cached), the
training time after compile and the test accuracy, medians over fresh processes.

Writes ``<out>/benchmark.json``, ``<out>/benchmark.md`` and the figure
``<out>/benchmark.png`` (ms/step and % of roofline per implementation and size, and the
digits timings), and checks the goals. Without timing anything, ``--figure-only`` redraws
the figure and rewrites the markdown from an existing ``benchmark.json``, and
``--digits-only`` measures the digits comparison alone and puts it into that JSON.

Each jaxnn digits process also logs every XLA program its first ``fit`` compiles, with the
seconds of tracing, lowering and XLA's compile (``jax.monitoring``), into the JSON's
``digits.compiles`` and a table. scikit-learn runs in its own process with
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from its environment, and the BLAS
kernel it then runs (threadpoolctl) is recorded.

Last, issue 19's research loop (:func:`research_loop`; ``--loop-only`` alone, ``--no-loop``
to skip): 10 seeds × 3 learning rates of ``train.fit`` on 784-30-10 (SGD, batch 10, 2
epochs of the bundled 4,000 digits) in one fresh process, against the same loop in eager
PyTorch in another; total wall time of each.
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from experiments._common import DEFAULT_OUT, pyplot, to_jsonable
from jaxnn.cli import bench

NAME = "benchmark"
JAX_LOOP = "plain JAX, jit step in a Python loop"
JAX_SCAN = "plain JAX, lax.scan"
JAX_SHUFFLED_SCAN = "plain JAX, lax.scan, shuffled"
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


def plain_jax_shuffled_scan_case(problem: bench.Problem) -> bench.Case:
    """:func:`plain_jax_scan_case` with the work of an epoch that shuffles, written the
    plain JAX way: ``jax.random.permutation`` of the rows from a fresh key per call, then
    each step takes its minibatch's rows (``x[idx]``). Not a row of the tables:
    ``scripts/step_ratio.py`` times it to show what shuffling costs by itself."""
    import jax

    params, loss, tx = _plain_jax_parts(problem)
    train_step = _jax_train_step(loss, tx)
    size = problem.size

    @jax.jit
    def run(params, opt_state, x, y, key):
        order = jax.random.permutation(key, x.shape[0])[: size.steps * size.batch]

        def body(carry, idx):
            params, opt_state, value = train_step(*carry, x[idx], y[idx])
            return (params, opt_state), value

        (params, opt_state), values = jax.lax.scan(
            body, (params, opt_state), order.reshape(size.steps, size.batch))
        return params, opt_state, values

    x, y = jax.numpy.asarray(problem.x), jax.numpy.asarray(problem.labels)
    keys = [jax.random.fold_in(jax.random.key(0), e) for e in range(16)]
    state = {"params": params, "opt_state": tx.init(params), "epoch": 0}
    t0 = time.perf_counter()
    compiled = run.lower(state["params"], state["opt_state"], x, y, keys[0]).compile()
    compile_seconds = time.perf_counter() - t0

    def call():
        e = state["epoch"]
        out = compiled(state["params"], state["opt_state"], x, y, keys[e % len(keys)])
        jax.block_until_ready(out)
        state["params"], state["opt_state"], _ = out
        state["epoch"] = e + 1

    return bench.Case(JAX_SHUFFLED_SCAN, call, size.steps, compile_seconds,
                      bench.memory_analysis(compiled),
                      note=f"optax.{problem.optimizer}, W: (n_in, n_out), "
                      "jax.random.permutation per call",
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
# End to end on scikit-learn's digits: jaxnn's fit against MLPClassifier.

DIGITS_JAXNN = "jaxnn train.fit (BP1–BP4)"
DIGITS_SKLEARN = "scikit-learn MLPClassifier"
DIGITS = {
    "data": "scikit-learn's load_digits: 8×8 images scaled to [0, 1], split stratified "
            "(random_state 0) into 1,437 training and 360 test images",
    "network": "64-64-10, ReLU hidden, softmax output, cross entropy, no L2",
    "optimizer": "adam", "learning_rate": 1e-3, "batch": 32, "epochs": 50, "test_size": 360,
    "repeats": 3,
}
DIGITS_QUICK = {"epochs": 2, "repeats": 1}


def digits_split():
    """``(x_train, x_test, y_train, y_test)``: 1,437 / 360 digits, float32 in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split((x / 16.0).astype(np.float32), y.astype(np.int32),
                            test_size=DIGITS["test_size"], stratify=y, random_state=0)


def _digits_jaxnn(data, epochs: int, seed: int) -> dict[str, Any]:
    """One ``train.fit`` from scratch (init, compile, train, test accuracy), timed."""
    import jax

    import jaxnn
    from jaxnn import optimizers, train

    x, x_test, y, y_test = data
    t0 = time.perf_counter()
    net = jaxnn.mlp((64, 64, 10), hidden="relu", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(seed), net, "he_normal")
    r = train.fit(net, params, optimizers.adam(DIGITS["learning_rate"]), (x, y),
                  epochs=epochs, batch_size=DIGITS["batch"], key=jax.random.key(seed + 1))
    accuracy = float(jaxnn.accuracy(net, r.params, x_test, y_test))
    return {"wall_seconds": time.perf_counter() - t0, "compile_seconds": r.compile_seconds,
            "train_seconds": sum(h["seconds"] for h in r.history), "test_accuracy": accuracy,
            "epochs": len(r.history)}


def _digits_sklearn(data, epochs: int, seed: int) -> dict[str, Any]:
    """One ``MLPClassifier.fit`` from scratch and its test accuracy, timed; every epoch
    runs (no early stop on a flat loss)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, x_test, y, y_test = data
    t0 = time.perf_counter()
    clf = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", solver="adam", alpha=0.0,
                        batch_size=DIGITS["batch"], learning_rate_init=DIGITS["learning_rate"],
                        max_iter=epochs, shuffle=True, random_state=seed, tol=0.0,
                        n_iter_no_change=epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: intended
        clf.fit(x, y)
    train_seconds = time.perf_counter() - t0
    accuracy = float(clf.score(x_test, y_test))
    return {"wall_seconds": time.perf_counter() - t0, "compile_seconds": None,
            "train_seconds": train_seconds, "test_accuracy": accuracy, "epochs": clf.n_iter_}


# Each library runs in its own fresh process. scikit-learn's runs without the OpenBLAS
# variables below: on some machines they are set in the environment, and they pin a current
# NumPy's OpenBLAS to another kernel and cache size than it would pick (issue 22).
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# The jax.monitoring duration events of one compiled program, by the stage they time.
COMPILE_STAGES = {"/jax/core/compile/jaxpr_trace_duration": "trace",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
                  "/jax/core/compile/backend_compile_duration": "compile"}
CACHE_HIT = "/jax/compilation_cache/cache_hits"


class CompileLog:
    """Every XLA program compiled while it is open, from ``jax.monitoring``: per program
    (``fun_name``, in order) the seconds of tracing, lowering and XLA's backend compile,
    and the persistent-cache hits. ``with CompileLog() as log: …; log.programs``."""

    def __init__(self):
        self.events: list[tuple[str, str, float]] = []
        self.cache_hits = 0

    def _duration(self, event, seconds, **kwargs):
        if event in COMPILE_STAGES:
            name = kwargs.get("fun_name", "?")
            name = name[4:-1] if name.startswith("jit(") and name.endswith(")") else name
            self.events.append((COMPILE_STAGES[event], name, seconds))

    def _event(self, event, **kwargs):
        if event == CACHE_HIT:
            self.cache_hits += 1

    def __enter__(self):
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(self._duration)
        monitoring.register_event_listener(self._event)
        return self

    def __exit__(self, *exc):
        from jax import monitoring

        monitoring.unregister_event_duration_listener(self._duration)
        monitoring.unregister_event_listener(self._event)

    @property
    def programs(self) -> list[dict[str, Any]]:
        """One dict per backend compile (a program XLA compiled or read from the cache),
        with the trace and lower seconds of the same function before it."""
        out, pending = [], {}
        for stage, name, seconds in self.events:
            if stage == "compile":
                out.append({"program": name, **pending.pop(name, {}), "compile": seconds})
            else:
                pending.setdefault(name, {})[stage] = seconds
        return out


def _blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS libraries loaded: kernel (core type), threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl is not installed"}]
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                    "threading_layer", "prefix")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


def digits_child(library: str, epochs: int, seed: int, cache: str | None,
                 import_seconds: float) -> dict[str, Any]:
    """Run in a fresh process: ``library`` trains twice on the digits, the two runs
    identical. jaxnn's persistent compilation cache is ``cache`` (``None``: off); the
    parent gives the first jaxnn process an empty folder and a second process the same
    folder, filled. Returns the runs; jaxnn's with the programs each run compiled
    (:class:`CompileLog`), scikit-learn's with its BLAS (threadpoolctl) and the OpenBLAS
    variables it saw."""
    if library == DIGITS_JAXNN:
        import jaxnn

        cached = cache is not None and jaxnn.compile_cache.enable(cache) is not None
        data = digits_split()
        runs, compiles = [], []
        for _ in range(2):
            with CompileLog() as log:
                runs.append(_digits_jaxnn(data, epochs, seed))
            compiles.append({"programs": log.programs, "cache_hits": log.cache_hits})
        return {"runs": runs, "compiles": compiles, "compile_cache": cached,
                "import_seconds": import_seconds}
    data = digits_split()
    runs = [_digits_sklearn(data, epochs, seed) for _ in range(2)]
    return {"runs": runs, "import_seconds": import_seconds, "blas": _blas_info(),
            "environment": {v: os.environ.get(v) for v in OPENBLAS_VARIABLES}}


def start_digits_child(library: str, epochs: int, seed: int,
                       cache: str | None) -> subprocess.Popen:
    """:func:`digits_child` in a fresh Python process (its first fit is the process's);
    scikit-learn's with :data:`OPENBLAS_VARIABLES` removed from its environment."""
    root = str(pathlib.Path(__file__).resolve().parents[1])
    imports = "import jax, jaxnn" if library == DIGITS_JAXNN else "import sklearn.neural_network"
    code = (
        f"import json, time; t = time.perf_counter(); {imports}; "
        "t = time.perf_counter() - t; from experiments.benchmark import digits_child; "
        f"print('RESULT ' + json.dumps(digits_child({library!r}, {epochs}, {seed}, "
        f"{cache!r}, t)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    if library != DIGITS_JAXNN:
        for name in OPENBLAS_VARIABLES:  # as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`
            env.pop(name, None)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=root)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _repeat(epochs: int, seed: int, peers: bool, log) -> dict[str, Any]:
    """One repeat: jaxnn in a fresh process with an empty cache folder, jaxnn again in a
    fresh process with that folder filled, and scikit-learn in its own process (first on
    odd seeds, last on even ones)."""
    import shutil
    import tempfile

    cache = None if bench_cache_disabled() else tempfile.mkdtemp(prefix="jaxnn-digits-xla-")
    try:
        out: dict[str, Any] = {}
        steps = [("first", DIGITS_JAXNN), ("cached", DIGITS_JAXNN)]
        if peers:
            steps.insert(0 if seed % 2 else 2, ("sklearn", DIGITS_SKLEARN))
        for what, library in steps:
            log(f"digits: repeat {seed + 1}, {library} ({what}) in a fresh process")
            out[what] = _finish_child(start_digits_child(library, epochs, seed, cache))
        out["order"] = [what for what, _ in steps]
        return out
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def bench_cache_disabled() -> bool:
    """``JAXNN_COMPILE_CACHE=0`` in the environment: every jaxnn process compiles."""
    import jaxnn

    return jaxnn.compile_cache.disabled_by_environment()


def compile_table(repeats: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per program of a first ``fit`` (in the order compiled; a name compiled n times is
    one row with ``count`` n): median over the repeats of the summed trace, lower and
    backend-compile seconds."""
    rows: dict[str, dict[str, Any]] = {}
    for programs in repeats:
        seen: dict[str, dict[str, float]] = {}
        for p in programs:
            s = seen.setdefault(p["program"], {"count": 0, "trace": 0.0, "lower": 0.0,
                                               "compile": 0.0})
            s["count"] += 1
            for stage in ("trace", "lower", "compile"):
                s[stage] += p.get(stage, 0.0)
        for name, s in seen.items():
            row = rows.setdefault(name, {"program": name, "samples": []})
            row["samples"].append(s)
    table = []
    for name, row in rows.items():
        samples = row["samples"]
        table.append({"program": name,
                      "count": max(s["count"] for s in samples),
                      **{f"{stage}_seconds": _median([s[stage] for s in samples])
                         for stage in ("trace", "lower", "compile")}})
    return table


def digits_comparison(quick: bool = False, peers: bool = True, repeats: int | None = None,
                      log=print) -> dict[str, Any]:
    """jaxnn's ``fit`` and scikit-learn's ``MLPClassifier`` on the digits, end to end.

    Each repeat (seed = its index) runs :func:`_repeat`: three fresh processes. Every
    number reported is the median over the repeats. Returns a JSON-ready dict with
    ``rows`` (one per library), ``compiles`` (the programs of jaxnn's first fit, with their
    seconds), scikit-learn's BLAS, and the load averages.
    """
    try:
        import sklearn  # noqa: F401  (load_digits comes from it)
    except ImportError:
        return {"skipped": "scikit-learn is not installed (pip install -e '.[bench]'); "
                           "it provides the digits"}
    epochs = DIGITS_QUICK["epochs"] if quick else DIGITS["epochs"]
    repeats = repeats or (DIGITS_QUICK["repeats"] if quick else DIGITS["repeats"])
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    results = [_repeat(epochs, i, peers, log) for i in range(repeats)]
    rows = []
    names = [DIGITS_JAXNN] + ([DIGITS_SKLEARN] if peers else [])
    for name in names:
        key = "first" if name == DIGITS_JAXNN else "sklearn"
        firsts = [r[key]["runs"][0] for r in results]
        seconds = [r[key]["runs"][1] for r in results]
        cached = [r["cached"]["runs"][0] for r in results] if name == DIGITS_JAXNN else []
        rows.append({
            "name": name,
            "first_wall_seconds": _median([f["wall_seconds"] for f in firsts]),
            "second_wall_seconds": _median([s["wall_seconds"] for s in seconds]),
            "cached_wall_seconds": _median([c["wall_seconds"] for c in cached]),
            "first_compile_seconds": _median([f["compile_seconds"] for f in firsts]),
            "second_compile_seconds": _median([s["compile_seconds"] for s in seconds]),
            "cached_compile_seconds": _median([c["compile_seconds"] for c in cached]),
            "train_seconds": _median([run["train_seconds"] for pair in zip(firsts, seconds)
                                      for run in pair]),
            "test_accuracy": _median([f["test_accuracy"] for f in firsts]),
            "test_accuracy_range": [min(f["test_accuracy"] for f in firsts),
                                    max(f["test_accuracy"] for f in firsts)],
            "epochs": firsts[0]["epochs"],
            "import_seconds": _median([r[key]["import_seconds"] for r in results]),
            "samples": {"first": firsts, "second": seconds, "cached": cached},
        })
    first = [r["first"]["compiles"][0]["programs"] for r in results]
    compiles = {
        "first_run": compile_table(first),
        "programs_first_run": _median([len(p) for p in first]),
        "programs_second_run": _median([len(r["first"]["compiles"][1]["programs"])
                                        for r in results]),
        "programs_cached_process": _median([len(r["cached"]["compiles"][0]["programs"])
                                            for r in results]),
        "cache_hits_cached_process": _median([r["cached"]["compiles"][0]["cache_hits"]
                                              for r in results]),
    }
    out = {
        "config": {**DIGITS, "epochs": epochs, "repeats": len(results), "quick": quick,
                   "jaxnn_init": "he_normal", "sklearn_init": "Glorot uniform (its own)",
                   "compile_cache": results[0]["first"]["compile_cache"]},
        "rows": rows,
        "compiles": compiles,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
        "seconds": time.perf_counter() - t0,
    }
    if peers:
        out["sklearn_blas"] = results[0]["sklearn"]["blas"]
        out["sklearn_environment"] = results[0]["sklearn"]["environment"]
        out["parent_environment"] = {v: os.environ.get(v) for v in OPENBLAS_VARIABLES}
    return out


def _finish_child(proc: subprocess.Popen, timeout: float = 600) -> dict[str, Any]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:  # a timeout or Ctrl-C: no orphan process left behind
        proc.kill()
        proc.wait()
        raise
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the benchmark subprocess failed (exit {proc.returncode}):\n"
                       f"{stderr[-2000:]}")


def format_digits(digits: dict[str, Any]) -> str:
    """The digits comparison as a markdown paragraph and tables."""
    if "skipped" in digits:
        return f"Digits end to end: skipped ({digits['skipped']}).\n"
    cfg = digits["config"]
    la, lb = digits["load_average_start"], digits["load_average_end"]
    lines = [
        f"**Digits end to end: jaxnn's `train.fit` against scikit-learn's `MLPClassifier`** — "
        f"{cfg['data']}; {cfg['network']}; Adam α = {cfg['learning_rate']}, batch "
        f"{cfg['batch']}, {cfg['epochs']} epochs. Each of {cfg['repeats']} repeat(s) runs "
        "three fresh processes (seed = the repeat): jaxnn with an empty compile cache, jaxnn "
        "again with that cache filled, and scikit-learn; in each, the library trains twice "
        "from scratch. Medians over the repeats. Load average (1, 5, 15 min) "
        f"{la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f} at the start, {lb[0]:.2f}, {lb[1]:.2f}, "
        f"{lb[2]:.2f} at the end."
        + (f" Measured apart from the tables above, by `{digits['command']}`."
           if digits.get("command") else "")
        + (" **A --quick smoke run: the numbers mean little.**" if cfg.get("quick") else ""),
        "",
        "| implementation | first run s (fresh process, empty cache) | second run s (same "
        "process) | fresh process, cache filled s | compile s, first / second | training s "
        "after compile | test accuracy (min–max) | imports s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in digits["rows"]:
        compile_ = ("—" if r["first_compile_seconds"] is None else
                    f"{r['first_compile_seconds']:.2f} / {r['second_compile_seconds']:.2f}")
        lo, hi = r["test_accuracy_range"]
        lines.append(
            f"| {r['name']} | {r['first_wall_seconds']:.2f} | {r['second_wall_seconds']:.2f} | "
            f"{_fmt_opt(r.get('cached_wall_seconds'))} | "
            f"{compile_} | {r['train_seconds']:.2f} | {r['test_accuracy']:.4f} "
            f"({lo:.4f}–{hi:.4f}) | {_fmt_opt(r['import_seconds'])} |")
    cache = ("jaxnn's persistent compilation cache in a temporary folder, empty for the "
             "first process and filled for the second" if cfg["compile_cache"] else
             "jaxnn's persistent compilation cache off (JAXNN_COMPILE_CACHE=0): every run "
             "compiles")
    lines += ["", f"A run's wall time is from building the network to the test accuracy; "
              f"imports (jax and jaxnn; scikit-learn) are not in it. {cache}; scikit-learn "
              "compiles nothing. Training s: the epochs alone (jaxnn: the sum of `fit`'s "
              "per-epoch seconds; scikit-learn: `fit`), median over both runs. jaxnn leaves "
              "out the last 1,437 mod 32 = 29 examples of each epoch's permutation (44 "
              "batches), scikit-learn trains on a last batch of 29 (45 batches); jaxnn "
              f"initialises with {cfg['jaxnn_init']}, scikit-learn with "
              f"{cfg['sklearn_init']}."]
    if digits.get("sklearn_blas"):
        blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} kernel "
                         f"{b.get('architecture')}, {b.get('num_threads')} thread(s)"
                         for b in digits["sklearn_blas"])
        env = digits.get("parent_environment") or {}
        set_ = ", ".join(f"{k}={v}" for k, v in env.items() if v) or "neither was set"
        lines += ["", f"scikit-learn ran with {' and '.join(OPENBLAS_VARIABLES)} removed from "
                  f"its environment (in the benchmark's own environment: {set_}); "
                  f"threadpoolctl: {blas}."]
    compiles = digits.get("compiles")
    if compiles and compiles.get("first_run"):
        lines += ["", format_compiles(compiles)]
    return "\n".join(lines) + "\n"


def format_compiles(compiles: dict[str, Any]) -> str:
    """The programs a first ``fit`` compiles, with their seconds, as markdown."""
    rows = compiles["first_run"]
    total = {s: sum(r[f"{s}_seconds"] or 0 for r in rows) for s in ("trace", "lower", "compile")}
    lines = [
        f"**What jaxnn's first `fit` compiles** (fresh process, empty cache; "
        f"`jax.monitoring` duration events, medians over the repeats): "
        f"{compiles['programs_first_run']:g} XLA programs in the first run, "
        f"{compiles['programs_second_run']:g} in a second identical run in the same process, "
        f"{compiles['programs_cached_process']:g} in a fresh process with the cache filled "
        f"({compiles['cache_hits_cached_process']:g} read from the cache).",
        "",
        "| program (jitted function) | compiles | trace s | lower s | XLA compile s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| `{r['program']}` | {r['count']} | {r['trace_seconds']:.3f} | "
                     f"{r['lower_seconds']:.3f} | {r['compile_seconds']:.3f} |")
    lines.append(f"| total | {sum(r['count'] for r in rows)} | {total['trace']:.3f} | "
                 f"{total['lower']:.3f} | {total['compile']:.3f} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# The research loop (issue 19): seeds × learning rates of `fit`, against eager PyTorch.

LOOP_JAXNN = "jaxnn train.fit in a Python loop"
LOOP_TORCH = "PyTorch eager in a Python loop"
LOOP = {"sizes": (784, 30, 10), "network": "784-30-10, sigmoid hidden, softmax output, "
        "cross entropy", "optimizer": "sgd", "learning_rates": (0.1, 0.3, 1.0), "seeds": 10,
        "batch": 10, "epochs": 2, "init": "lecun_normal (jaxnn.init_params' default)",
        "data": "jaxnn.data.load_mnist(): the bundled 4,000 training digits"}
LOOP_QUICK = {"seeds": 2, "learning_rates": (0.3,), "epochs": 1}


def _loop_config(quick: bool) -> dict[str, Any]:
    return {**LOOP, **(LOOP_QUICK if quick else {}), "quick": quick}


def _loop_jaxnn(cfg: dict[str, Any]) -> dict[str, Any]:
    """The loop a user writes: for each seed and rate, ``init_params`` then ``train.fit``;
    per fit its wall time, the seconds of its epochs and the programs it compiled."""
    import jax

    import jaxnn
    from jaxnn import optimizers, train

    data = jaxnn.data.load_mnist()
    x, y = data.x_train, data.y_train
    fits = []
    with CompileLog() as log:
        t0 = time.perf_counter()
        for seed in range(cfg["seeds"]):
            for rate in cfg["learning_rates"]:
                t, compiled = time.perf_counter(), len(log.programs)
                net = jaxnn.mlp(cfg["sizes"], hidden="sigmoid", output="softmax",
                                cost="cross_entropy")
                params = jaxnn.init_params(jax.random.key(seed), net)
                r = train.fit(net, params, optimizers.sgd(rate), (x, y), epochs=cfg["epochs"],
                              batch_size=cfg["batch"], key=jax.random.key(1000 + seed))
                jax.block_until_ready(r.params)
                fits.append({"seed": seed, "learning_rate": rate,
                             "wall_seconds": time.perf_counter() - t,
                             "epoch_seconds": sum(h.get("seconds", 0.0) for h in r.history),
                             "programs_compiled": len(log.programs) - compiled,
                             "final_cost": r.history[-1].get("cost")})
        total = time.perf_counter() - t0
    return {"total_seconds": total, "fits": fits}


def _loop_torch(cfg: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """The same loop in eager PyTorch: the same initial weights (jaxnn's ``init_params``,
    drawn before the clock starts), ``nn.Linear`` + ``Sigmoid``, ``CrossEntropyLoss``,
    ``torch.optim.SGD``, a fresh ``randperm`` per epoch, ``set_num_threads(threads)``
    (``None``: the cores this process may use)."""
    import jax
    import torch

    import jaxnn

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = threads or cores
    torch.set_num_threads(cores)
    data = jaxnn.data.load_mnist()
    x = torch.from_numpy(np.asarray(data.x_train, np.float32))
    y = torch.from_numpy(np.asarray(data.y_train, np.int64))
    net = jaxnn.mlp(cfg["sizes"], hidden="sigmoid", output="softmax", cost="cross_entropy")
    inits = {seed: [(np.asarray(W), np.asarray(b))
                    for W, b in jaxnn.init_params(jax.random.key(seed), net)]
             for seed in range(cfg["seeds"])}
    n, batch = len(x), cfg["batch"]
    steps = n // batch
    fits = []
    t0 = time.perf_counter()
    for seed in range(cfg["seeds"]):
        for rate in cfg["learning_rates"]:
            t = time.perf_counter()
            layers: list = []
            for i, (W, b) in enumerate(inits[seed]):
                linear = torch.nn.Linear(W.shape[1], W.shape[0])
                with torch.no_grad():  # nn.Linear keeps W as (n_out, n_in), like jaxnn
                    linear.weight.copy_(torch.from_numpy(W))
                    linear.bias.copy_(torch.from_numpy(b))
                layers += [linear] + ([torch.nn.Sigmoid()] if i < len(inits[seed]) - 1 else [])
            model = torch.nn.Sequential(*layers)
            loss_fn = torch.nn.CrossEntropyLoss()
            opt = torch.optim.SGD(model.parameters(), lr=rate)
            generator = torch.Generator().manual_seed(1000 + seed)
            for _ in range(cfg["epochs"]):
                order = torch.randperm(n, generator=generator)[: steps * batch]
                for idx in order.view(steps, batch):
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(x[idx]), y[idx])
                    loss.backward()
                    opt.step()
            fits.append({"seed": seed, "learning_rate": rate,
                         "wall_seconds": time.perf_counter() - t,
                         "final_cost": float(loss)})
    return {"total_seconds": time.perf_counter() - t0, "fits": fits,
            "torch": torch.__version__, "threads": cores}


def loop_child(library: str, quick: bool, threads: int | None = None) -> dict[str, Any]:
    """Run in a fresh process: the research loop of ``library`` (PyTorch with ``threads``
    threads, ``None``: the cores)."""
    cfg = _loop_config(quick)
    return _loop_jaxnn(cfg) if library == LOOP_JAXNN else _loop_torch(cfg, threads)


def start_loop_child(library: str, quick: bool, threads: int | None = None) -> subprocess.Popen:
    """:func:`loop_child` in a fresh Python process."""
    root = str(pathlib.Path(__file__).resolve().parents[1])
    code = ("import json; from experiments.benchmark import loop_child; "
            f"print('RESULT ' + json.dumps(loop_child({library!r}, {quick}, {threads!r})))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=root)


def research_loop(quick: bool = False, peers: bool = True, torch_threads=(None,),
                  log=print) -> dict[str, Any]:
    """Issue 19's research loop: ``seeds × learning rates`` calls of ``train.fit`` in one
    fresh process, and the same loop in eager PyTorch in another per entry of
    ``torch_threads`` (``None``: the cores; skipped without torch); the total wall time of
    each (imports and the data load are not in it; jaxnn's persistent compile cache is
    off, as in a user's notebook). ``ratio_jaxnn_to_torch``: against the fastest torch."""
    import importlib.util

    cfg = _loop_config(quick)
    load_start = os.getloadavg()
    rows = []
    runs: list[tuple[str, int | None]] = [(LOOP_JAXNN, None)]
    if peers and importlib.util.find_spec("torch") is not None:
        runs += [(LOOP_TORCH, t) for t in torch_threads]
    for library, threads in runs:
        log(f"research loop: {library} in a fresh process")
        r = _finish_child(start_loop_child(library, quick, threads))
        fits = r.pop("fits")
        overheads = [f["wall_seconds"] - f["epoch_seconds"] for f in fits
                     if "epoch_seconds" in f]
        name = library if library == LOOP_JAXNN else f"{library}, {r['threads']} thread(s)"
        rows.append({"name": name, **r, "fits": len(fits),
                     "median_fit_seconds": _median([f["wall_seconds"] for f in fits]),
                     "median_overhead_seconds": _median(overheads),
                     "programs_compiled_first_fit": fits[0].get("programs_compiled"),
                     "programs_compiled_later_fits": _median(
                         [f.get("programs_compiled") for f in fits[1:]]),
                     "samples": fits})
    out = {"config": cfg, "rows": rows, "load_average_start": list(load_start),
           "load_average_end": list(os.getloadavg())}
    if len(rows) > 1:
        fastest = min(r["total_seconds"] for r in rows[1:])
        out["ratio_jaxnn_to_torch"] = rows[0]["total_seconds"] / fastest
    return out


def format_loop(loop: dict[str, Any]) -> str:
    """The research loop as a markdown paragraph and table."""
    cfg = loop["config"]
    la, lb = loop["load_average_start"], loop["load_average_end"]
    lines = [
        f"**A research loop (issue 19)**: {cfg['seeds']} seeds × "
        f"{len(cfg['learning_rates'])} learning rates {tuple(cfg['learning_rates'])} of one "
        f"`fit` each, {cfg['network']}, SGD, batch {cfg['batch']}, {cfg['epochs']} epoch(s) "
        f"of {cfg['data']}; each library's whole loop in one fresh process, one after the "
        "other. Load average (1 min) "
        f"{la[0]:.2f} → {lb[0]:.2f}."
        + (f" Measured by `{loop['command']}`." if loop.get("command") else "")
        + (" **A --quick smoke run: the numbers mean little.**" if cfg.get("quick") else ""),
        "",
        "| implementation | loop s | fits | median s per fit | median s per fit beyond its "
        "epochs | programs compiled: first fit / later fits (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in loop["rows"]:
        compiled = ("—" if r.get("programs_compiled_first_fit") is None else
                    f"{r['programs_compiled_first_fit']} / "
                    f"{r['programs_compiled_later_fits']:g}")
        lines.append(f"| {r['name']} | {r['total_seconds']:.2f} | {r['fits']} | "
                     f"{r['median_fit_seconds']:.3f} | "
                     f"{_fmt_opt(r.get('median_overhead_seconds'))} | {compiled} |")
    if "ratio_jaxnn_to_torch" in loop:
        lines += ["", f"jaxnn's loop takes {loop['ratio_jaxnn_to_torch']:.2f}× PyTorch's "
                  "fastest (goal of issue 19: < 1×)."]
    before = loop.get("before")
    if before:  # the same loop measured on an earlier jaxnn, kept for comparison
        r = before["row"]
        lines += ["", f"Before ({before['note']}; load average {before['load_average'][0]:.2f}"
                  f" → {before['load_average'][1]:.2f}): jaxnn's loop {r['total_seconds']:.2f} s, "
                  f"median {r['median_fit_seconds']:.3f} s per fit, "
                  f"{_fmt_opt(r.get('median_overhead_seconds'))} s beyond its epochs; programs "
                  f"compiled {r['programs_compiled_first_fit']} / "
                  f"{r['programs_compiled_later_fits']:g}."]
    return "\n".join(lines) + "\n"


def _fmt_opt(value) -> str:
    return "—" if value is None else f"{value:.2f}"


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
# The figure.


def draw_figure(result: dict[str, Any], path: pathlib.Path) -> None:
    """``path`` (a PNG): ms/step (log) and % of the matmul roofline (log) per implementation,
    grouped by size × optimizer; and, when the result has them, the digits timings."""
    plt = pyplot()
    groups = result["groups"]
    names: list[str] = []
    for g in groups:
        names += [r["name"] for r in g["rows"] if r["name"] not in names]
    digits = result.get("digits") or {}
    panels = 3 if digits.get("rows") else 2
    fig, axes = plt.subplots(panels, 1, figsize=(12, 3.6 * panels + 1.2), squeeze=False)
    axes = axes[:, 0]
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    colors = {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    width = 0.8 / max(len(names), 1)
    labels = [f"{g['size']}\nbatch {g['batch']}, {g['optimizer']}" for g in groups]
    for ax, key, ylabel in ((axes[0], "ms_per_step", "ms per step (log)"),
                            (axes[1], "pct_roofline", "% of the 1024³ matmul rate (log)")):
        for j, name in enumerate(names):
            xs, ys = [], []
            for i, g in enumerate(groups):
                row = _row(g, name)
                if row is not None and row.get(key) is not None and row[key] > 0:
                    xs.append(i - 0.4 + (j + 0.5) * width)
                    ys.append(row[key])
            if key == "pct_roofline" and name == bench.ROOFLINE:
                continue  # 100 % by definition: the dashed line
            ax.bar(xs, ys, width, color=colors[name], label=name if key == "ms_per_step"
                   else None)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_xticks(range(len(groups)), labels, fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_xlim(-0.5, len(groups) - 0.5)
    axes[1].axhline(100, color="k", ls="--", lw=0.8)
    axes[0].legend(fontsize=7, ncol=2, loc="upper left", framealpha=0.9)
    quick = " (a --quick smoke run: the numbers mean little)" if result["config"].get(
        "quick") else ""
    axes[0].set_title(f"One training step, median over {result['config']['rounds']} "
                      f"interleaved round(s){quick}", fontsize=10)
    if panels == 3:
        ax = axes[2]
        metrics = [("first_wall_seconds", "first run (compile included)"),
                   ("second_wall_seconds", "second run (compile cached)"),
                   ("train_seconds", "training after compile")]
        rows = digits["rows"]
        w = 0.8 / len(rows)
        for j, r in enumerate(rows):
            xs = [i - 0.4 + (j + 0.5) * w for i in range(len(metrics))]
            ys = [r[k] for k, _ in metrics]
            bars = ax.bar(xs, ys, w, color=f"C{j}",
                          label=f"{r['name']}: test accuracy {r['test_accuracy']:.3f}")
            ax.bar_label(bars, [f"{y:.2f} s" for y in ys], fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(range(len(metrics)), [m for _, m in metrics], fontsize=8)
        ax.set_ylabel("seconds (log)")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        cfg = digits["config"]
        ax.set_title(f"Digits (1,437 / 360), 64-64-10, Adam, batch {cfg['batch']}, "
                     f"{cfg['epochs']} epochs: medians over {cfg['repeats']} fresh process(es); "
                     f"load average {digits['load_average_start'][0]:.1f} → "
                     f"{digits['load_average_end'][0]:.1f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_figure(out: pathlib.Path, log=print) -> pathlib.Path | None:
    """Draw ``<out>/benchmark.png`` from ``<out>/benchmark.json``; ``None`` (and a note) when
    matplotlib is not installed."""
    result = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    path = out / f"{NAME}.png"
    try:
        draw_figure(result, path)
    except ImportError:
        log("benchmark: matplotlib is not installed (pip install -e '.[plot]'); no figure")
        return None
    return path


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
        f"load average {_load_text(result)} (the machine is "
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
    if "digits" in result:
        lines.append(format_digits(result["digits"]))
    if "research_loop" in result:
        lines.append(format_loop(result["research_loop"]))
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


def _load_text(result: dict[str, Any]) -> str:
    load = result.get("load_average")
    if not load:  # results written before the 1/5/15-minute averages were kept
        return f"{result['machine']['load_average_1min_at_start']:.2f} at the start"
    a, b = load["start"], load["end"]
    return (f"(1, 5, 15 min) {a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f} at the start, {b[0]:.2f}, "
            f"{b[1]:.2f}, {b[2]:.2f} at the end")


def _threads(args) -> tuple[int | None, ...]:
    """``--loop-torch-threads`` as thread counts, ``None`` for 'cores'."""
    return tuple(None if t.strip() == "cores" else int(t)
                 for t in args.loop_torch_threads.split(","))


def run(args, log=print) -> dict[str, Any]:
    """Run the benchmark for parsed ``args``; returns the JSON-ready result with goals."""
    kwargs = bench.resolve_args(args)
    peers = [] if args.no_peers else PEERS
    load_start = os.getloadavg()
    digits = not args.no_digits
    result = bench.run_jaxnn_benchmark(**kwargs, peers=peers,
                                       reference=None if args.no_peers else REFERENCE, log=log)
    if digits:  # after the tables, so that its fresh processes cannot disturb them
        result["digits"] = digits_comparison(args.quick, peers=not args.no_peers, log=log)
        result["seconds"] += result["digits"].get("seconds", 0.0)
    if not args.no_loop:
        result["research_loop"] = research_loop(args.quick, peers=not args.no_peers,
                                                torch_threads=_threads(args), log=log)
    result["load_average"] = {"start": list(load_start), "end": list(os.getloadavg())}
    result["goals"] = check_goals(result)
    return result


def _write(out: pathlib.Path, result: dict[str, Any], log=print) -> str:
    """Write the JSON, then the markdown and the figure from it; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{NAME}.json").write_text(json.dumps(to_jsonable(result), indent=2) + "\n",
                                      encoding="utf-8")
    return regenerate(out, log=log)


def regenerate(out: pathlib.Path = DEFAULT_OUT, log=print) -> str:
    """Rewrite ``<out>/benchmark.md`` and redraw ``<out>/benchmark.png`` from
    ``<out>/benchmark.json``, timing nothing (``--figure-only``; ``scripts/readme.py
    --write``); return the markdown."""
    result = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    markdown = to_markdown(result, result["command"])
    (out / f"{NAME}.md").write_text(markdown, encoding="utf-8")
    write_figure(out, log=log)
    return markdown


def main(argv=None) -> int:
    ap = bench.build_parser(prog="python -m experiments.benchmark", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--no-peers", action="store_true", help="time jaxnn alone")
    ap.add_argument("--no-digits", action="store_true",
                    help="skip the digits comparison with scikit-learn (fresh processes)")
    ap.add_argument("--digits-only", action="store_true",
                    help="measure only the digits comparison and put it into <out>/benchmark.json")
    ap.add_argument("--no-loop", action="store_true",
                    help="skip the research loop against PyTorch (fresh processes)")
    ap.add_argument("--loop-torch-threads", default="cores,1",
                    help="the PyTorch loops' thread counts, comma-separated ('cores': "
                    "set_num_threads(cores)); default: cores,1")
    ap.add_argument("--loop-only", action="store_true",
                    help="measure only the research loop and put it into <out>/benchmark.json")
    ap.add_argument("--figure-only", action="store_true",
                    help="time nothing: redraw <out>/benchmark.png and rewrite <out>/benchmark.md "
                    "from <out>/benchmark.json")
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help="the results folder (default experiments/results, or its quick/ "
                    "subfolder, which git ignores, with --quick)")
    args = ap.parse_args(argv)
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT
    try:
        bench.resolve_args(args)
    except ValueError as e:
        print(f"benchmark: {e}", file=sys.stderr)
        return 2
    command = " ".join(["python -m experiments.benchmark",
                        *map(str, argv if argv is not None else sys.argv[1:])])
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    path = args.out / f"{NAME}.json"
    only = [f for f in ("figure_only", "digits_only", "loop_only") if getattr(args, f)]
    if only:
        if len(only) > 1:
            print("benchmark: --figure-only, --digits-only and --loop-only exclude each other",
                  file=sys.stderr)
            return 2
        if not path.exists():
            print(f"benchmark: {path} does not exist; run python -m experiments.benchmark "
                  "first", file=sys.stderr)
            return 2
        if args.figure_only:
            markdown = regenerate(args.out, log=log)
        else:
            result = json.loads(path.read_text(encoding="utf-8"))
            if args.digits_only:
                result["digits"] = digits_comparison(args.quick, peers=not args.no_peers,
                                                     log=log)
                result["digits"]["command"] = command
            else:
                result["research_loop"] = research_loop(
                    args.quick, peers=not args.no_peers, torch_threads=_threads(args), log=log)
                result["research_loop"]["command"] = command
            markdown = _write(args.out, result, log=log)
    else:
        result = run(args, log=log)
        result["command"] = command
        markdown = _write(args.out, result, log=log)
    print(markdown)
    print(f"wrote {path}, {args.out / (NAME + '.md')} and {args.out / (NAME + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
