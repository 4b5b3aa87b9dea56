"""Timing jaxnn's training step: ``jaxnn bench``, and the harness that
``experiments/benchmark.py`` drives with its peers (plain JAX, flax, PyTorch, NumPy).

What is timed is the ``fit`` path: :func:`jaxnn.train.make_epoch`, compiled ahead of time,
one call = ``steps`` minibatch steps inside ``lax.scan`` (shuffle, gather, BP1–BP4 or
autodiff, optimizer update, per-batch metrics). One timed call runs ``steps`` steps and
blocks until they are done; ms per step = call time / ``steps``.

**Interleaving.** For each problem (sizes, batch, optimizer) every implementation, the
1024³ matmul of the roofline included, is built and compiled first; then each round calls
every implementation once, in a fresh random order, 0.15 s apart (so the spinning BLAS or
OpenMP threads of one do not slow the next), and a burst of load from another process
lands on all of them alike. The reported time is the median of the rounds (after
``warmup`` untimed calls); every sample is kept in the results, with the process CPU
time per call (steadier than the wall clock on a shared machine).

**FLOPs and the roofline.** :func:`step_flops` counts the matrix products of one training
step, m the batch and layer l mapping n_{l−1} → n_l::

    forward    2 m n_{l−1} n_l                       (Z^l = A^{l−1} W^{lᵀ})
    backward   4 m n_{l−1} n_l  for l ≥ 2            (BP4 Δ^{lᵀ} A^{l−1}, BP2 Δ^l W^l)
               2 m n_0 n_1      for l = 1            (BP4 only: no input gradient)

Element-wise work (activations, the cost, the optimizer) is not counted. The roofline time
of a step is its FLOPs divided by the rate of a jitted float32 1024×1024×1024 matmul
measured in the same rounds; "% of roofline" is an implementation's FLOP rate over it.

Everything here uses jax, numpy and jaxnn only; peers are passed in as case factories.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# The sizes of the issue, each with its batch and the steps per timed call (each call
# ≥ ~50 ms on a 2-core CPU; 5000 × 10 is one 50,000-example epoch of Nielsen's network).
DEFAULT_SIZES_TEXT = "784-30-10:10:5000,784-256-256-10:128:50,784-1024-1024-10:1024:2"
QUICK_SIZES_TEXT = "784-30-10:10:20"
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}
ARCHITECTURE = "sigmoid hidden layers, softmax output, cross-entropy cost (mean over the batch)"
MATMUL_N = 1024  # the roofline's matmul: (N, N) @ (N, N), float32
MATMUL_REPEATS = 5  # matmuls per timed call of the roofline case

# Row names every result has (the peers add their own).
MANUAL = "jaxnn manual (BP1–BP4)"
AUTODIFF = "jaxnn autodiff"
MATMULS_ONLY = "matmuls only (step shapes)"
ROOFLINE = "roofline (1024³ matmul rate)"


@dataclass(frozen=True)
class Size:
    """One problem size: ``sizes`` (n_0, …, n_L), the batch m, the steps per timed call."""

    sizes: tuple[int, ...]
    batch: int
    steps: int

    @property
    def label(self) -> str:
        """``"784-30-10 b10"``."""
        return "-".join(map(str, self.sizes)) + f" b{self.batch}"


def parse_sizes(text: str) -> tuple[Size, ...]:
    """``"784-30-10:10:5000,784-256-256-10:128"`` → sizes. Each item is
    ``n0-n1-…-nL[:batch[:steps]]``; a missing batch is 32, missing steps are chosen so a
    call does ~50 ms of matmuls at 20 GFLOP/s (at least 1, at most 5000)."""
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if not parts[0] or len(parts) > 3:
            raise ValueError(
                f"a size is n0-n1-…-nL[:batch[:steps]] such as 784-30-10:10:5000; got {item!r}."
            )
        try:
            sizes = tuple(int(s) for s in parts[0].split("-"))
            batch = int(parts[1]) if len(parts) > 1 else 32
            steps = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise ValueError(
                f"a size is n0-n1-…-nL[:batch[:steps]] with integers, such as "
                f"784-30-10:10:5000; got {item!r}."
            ) from None
        if len(sizes) < 2 or min(sizes) <= 0 or batch <= 0 or steps < 0:
            raise ValueError(
                f"a size needs ≥ 2 positive widths joined by '-' (784-30-10; ',' separates "
                f"sizes), a positive batch and steps ≥ 0; got {item!r}."
            )
        if steps == 0:
            steps = int(min(5000, max(1, math.ceil(0.05 * 20e9 / step_flops(sizes, batch)))))
        out.append(Size(sizes, batch, steps))
    return tuple(out)


def step_flops(sizes: Sequence[int], batch: int) -> int:
    """FLOPs of the matrix products of one training step (forward + backward, no input
    gradient), for widths ``sizes = (n_0, …, n_L)`` and batch m (see the module docstring).

    >>> step_flops((2, 3, 1), 4)  # forward 2·4·(2·3 + 3·1) = 72; backward 2·4·6 + 4·4·3 = 96
    168
    """
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        mnk = batch * n_in * n_out
        total += 2 * mnk  # forward: Z^l = A^{l−1} W^{lᵀ}
        total += (4 if l > 1 else 2) * mnk  # BP4 (+ BP2 above the first layer)
    return total


# ---------------------------------------------------------------------------------------
# The machine and the memory.


def cpu_model() -> str:
    """The CPU's ``model name`` from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-unit flags of /proc/cpuinfo that matter for a matmul (avx2, avx512f, …)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                    return [x for x in wanted if x in flags]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, load, and the versions of Python, jax, jaxlib, numpy."""
    import jax
    import jaxlib

    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(mem_gb, 1) if mem_gb else None,
        "load_average_1min_at_start": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB: ``VmHWM`` of
    /proc/self/status where there is one, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` survives ``fork`` + ``exec``: a child started by a 2 GB parent
    reports ≥ 2 GB whatever it does itself. ``VmHWM`` belongs to the process's own address
    space, which ``exec`` replaces, so a fresh child measures only itself."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (inherited across fork + exec on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def device_memory_stats() -> dict | None:
    """``jax.devices()[0].memory_stats()`` (None on the CPU backend, which keeps none)."""
    import jax

    try:
        return jax.devices()[0].memory_stats()
    except Exception:  # some backends raise instead of returning None
        return None


# ---------------------------------------------------------------------------------------
# Problems and cases.


class Problem(NamedTuple):
    """One benchmark problem, shared by every implementation.

    Attributes:
      size: widths, batch and steps per call.
      optimizer: ``"sgd"`` or ``"adam"``; learning_rate: its α.
      x: ``(steps · batch, n_0)`` float32, standard normal; labels: ``(steps · batch,)``
        int32 in [0, n_L).
      init: ``[(W^l, b^l)]`` numpy float32, ``W^l: (n_l, n_{l−1})`` ~ N(0, 1/n_{l−1}),
        ``b^l = 0``: every implementation starts from these.
    """

    size: Size
    optimizer: str
    learning_rate: float
    x: np.ndarray
    labels: np.ndarray
    init: list[tuple[np.ndarray, np.ndarray]]


def make_problem(size: Size, optimizer: str, seed: int = 0) -> Problem:
    """Synthetic data and initial parameters for ``size`` (numpy, float32)."""
    if optimizer not in LEARNING_RATES:
        raise ValueError(
            f"optimizer must be one of {', '.join(LEARNING_RATES)}; got {optimizer!r}."
        )
    rng = np.random.default_rng(seed)
    n = size.steps * size.batch
    x = rng.standard_normal((n, size.sizes[0]), dtype=np.float32)
    labels = rng.integers(0, size.sizes[-1], n, dtype=np.int32)
    init = []
    for n_in, n_out in zip(size.sizes[:-1], size.sizes[1:]):
        W = (rng.standard_normal((n_out, n_in), dtype=np.float32) / np.float32(math.sqrt(n_in)))
        init.append((W, np.zeros(n_out, np.float32)))
    return Problem(size, optimizer, LEARNING_RATES[optimizer], x, labels, init)


@dataclass
class Case:
    """One implementation, ready to time.

    Attributes:
      name: the row name.
      call: runs ``steps`` training steps and returns when they are done.
      steps: steps per call (0 for the roofline's matmul, whose rate is what counts).
      compile_seconds: tracing + compilation, for jitted implementations.
      memory: XLA's ``memory_analysis()`` of the compiled program (bytes), if any.
      note: how it was built (e.g. the optimizer's library).
      set_steps: for implementations stepped from a Python loop, sets the steps of the
        next calls (≤ the problem's); the harness sizes their calls to ~0.25 s, so a slow
        peer does not take minutes per call. ``None``: the steps are fixed (``lax.scan``).
      params: the current parameters as ``[(W^l: (n_l, n_{l−1}), b^l)]`` numpy arrays
        (for checking that every implementation takes the same step).
    """

    name: str
    call: Callable[[], Any]
    steps: int
    compile_seconds: float | None = None
    memory: dict | None = None
    note: str = ""
    set_steps: Callable[[int], None] | None = None
    params: Callable[[], list[tuple[np.ndarray, np.ndarray]]] | None = None


class Skip(Exception):
    """A peer that cannot run here (not installed); the message says why."""


def _memory(compiled) -> dict | None:
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if m is None:
        return None
    return {
        "argument_bytes": int(m.argument_size_in_bytes),
        "output_bytes": int(m.output_size_in_bytes),
        "temp_bytes": int(m.temp_size_in_bytes),
    }


def jaxnn_case(problem: Problem, grad: str = "manual") -> Case:
    """The ``fit`` path: ``make_epoch`` for the problem's network and optimizer, compiled
    ahead of time (timed), called with the state it returned last time."""
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import optimizers, train

    size = problem.size
    net = jaxnn.mlp(size.sizes, hidden="sigmoid", output="softmax", cost="cross_entropy")
    opt = optimizers.get(problem.optimizer, problem.learning_rate)
    params = tuple(jaxnn.Layer(jnp.asarray(W), jnp.asarray(b)) for W, b in problem.init)
    opt_state = opt.init(params)
    x, y = jnp.asarray(problem.x), jnp.asarray(problem.labels)
    key = jax.random.key(0)
    keys = [jax.random.fold_in(key, e) for e in range(16)]
    epoch = train.make_epoch(
        net, opt, batch_size=size.batch, num_examples=x.shape[0], grad=grad
    )
    t0 = time.perf_counter()
    compiled = epoch.lower(params, opt_state, x, y, keys[0], None, None).compile()
    compile_seconds = time.perf_counter() - t0
    state = {"params": params, "opt_state": opt_state, "epoch": 0}

    def call():
        e = state["epoch"]
        out = compiled(state["params"], state["opt_state"], x, y, keys[e % len(keys)], None, None)
        jax.block_until_ready(out)
        state["params"], state["opt_state"], _ = out
        state["epoch"] = e + 1

    return Case(
        MANUAL if grad == "manual" else AUTODIFF,
        call,
        size.steps,
        compile_seconds,
        _memory(compiled),
        f"train.make_epoch(grad={grad!r}): shuffle + lax.scan, "
        f"jaxnn.optimizers.{problem.optimizer}",
        params=lambda: [(np.asarray(W), np.asarray(b)) for W, b in state["params"]],
    )


def matmuls_only_case(problem: Problem) -> Case:
    """The step's matrix products alone, in the step's shapes and layouts (``A Wᵀ``,
    ``Δᵀ A``, ``Δ W``), in a ``lax.scan`` of ``steps`` steps: a linear network's step with
    nothing else, the floor for the step's dot shapes on this machine."""
    import jax
    import jax.numpy as jnp

    size = problem.size
    xs = jnp.asarray(problem.x).reshape(size.steps, size.batch, -1)
    Ws = tuple(jnp.asarray(W) for W, _ in problem.init)

    def body(Ws, xb):
        acts = [xb]
        for W in Ws:
            acts.append(acts[-1] @ W.T)
        delta = acts[-1] * 1e-3
        new = [None] * len(Ws)
        for l in range(len(Ws), 0, -1):
            new[l - 1] = Ws[l - 1] - 1e-6 * (delta.T @ acts[l - 1])
            if l > 1:
                delta = delta @ Ws[l - 1]
        return tuple(new), None

    @jax.jit
    def run(Ws, xs):
        return jax.lax.scan(body, Ws, xs)[0]

    t0 = time.perf_counter()
    compiled = run.lower(Ws, xs).compile()
    compile_seconds = time.perf_counter() - t0

    def call():
        jax.block_until_ready(compiled(Ws, xs))

    return Case(MATMULS_ONLY, call, size.steps, compile_seconds, _memory(compiled),
                "linear network, same dot shapes, lax.scan")


def matmul_rate_case(n: int = MATMUL_N, repeats: int = MATMUL_REPEATS) -> Case:
    """The roofline's matmul: ``repeats`` float32 (n, n) @ (n, n) products in one jitted
    ``lax.scan`` (as the step's dots run: inside one program, into reused buffers; five
    separate jitted calls measured ~25% slower here, paying a fresh output buffer each)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.uniform(jax.random.key(1), (n, n), jnp.float32)
    bs = jax.random.uniform(jax.random.key(2), (repeats, n, n), jnp.float32)

    def products(a, bs):
        def body(total, b):
            return total + (a @ b)[0, 0], None  # keeps each product live

        return jax.lax.scan(body, jnp.zeros((), jnp.float32), bs)[0]

    compiled = jax.jit(products).lower(a, bs).compile()

    def call():
        jax.block_until_ready(compiled(a, bs))

    case = Case(ROOFLINE, call, 0,
                note=f"({n}×{n}) @ ({n}×{n}) float32, {repeats} per call in one jitted lax.scan")
    case.flops_per_call = 2 * n**3 * repeats  # type: ignore[attr-defined]
    return case


# A factory builds a Case for a problem, or raises Skip.
Factory = Callable[[Problem], Case]


def jaxnn_factories() -> list[tuple[str, Factory]]:
    """The rows ``jaxnn bench`` times: manual, autodiff, and the matmuls-only floor."""
    return [
        (MANUAL, lambda p: jaxnn_case(p, "manual")),
        (AUTODIFF, lambda p: jaxnn_case(p, "autodiff")),
        (MATMULS_ONLY, matmuls_only_case),
    ]


# ---------------------------------------------------------------------------------------
# Timing.


def process_cpu_seconds() -> float:
    """User + system CPU time of this process, all threads together."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_interleaved(cases: Sequence[Case], rounds: int, warmup: int = 1, pause: float = 0.0,
                     seed: int = 0) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and process-CPU seconds per call of every case: ``warmup`` untimed
    rounds, then ``rounds`` timed ones, each calling every case once in a fresh random
    order (so no case always runs after the same one), ``pause`` seconds between calls.

    The pause matters: OpenBLAS and OpenMP worker threads keep spinning for a while after
    NumPy's or PyTorch's last call returns (OpenBLAS ~0.1 s), stealing a core from the
    next case (a 1024³ matmul ran at 131 GFLOP/s right after NumPy, 179 after a 0.15 s
    pause, 186 alone). The CPU time (all threads) does not count time spent waiting for a
    core, so it is steadier than the wall clock on a loaded machine; it does count
    threads that spin."""
    if rounds < 1:
        raise ValueError(f"rounds must be ≥ 1; got {rounds}.")
    for _ in range(warmup):
        for case in cases:
            case.call()
            time.sleep(pause)
    wall: dict[str, list[float]] = {c.name: [] for c in cases}
    cpu: dict[str, list[float]] = {c.name: [] for c in cases}
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        for i in rng.permutation(len(cases)):
            case = cases[i]
            c0, t0 = process_cpu_seconds(), time.perf_counter()
            case.call()
            wall[case.name].append(time.perf_counter() - t0)
            cpu[case.name].append(process_cpu_seconds() - c0)
            time.sleep(pause)
    return wall, cpu


PAUSE_SECONDS = 0.15  # between timed calls (see time_interleaved); none with quick
TARGET_CALL_SECONDS = 0.25  # the call length a Python-loop implementation is sized to
CALIBRATION_STEPS = 5


def _build(factories: Sequence[tuple[str, Factory]], problem: Problem, skipped: dict,
           log) -> list[Case]:
    """Build every case; size the calls of the adjustable ones to ~0.25 s (one short
    untimed call each)."""
    cases = []
    for name, factory in factories:
        try:
            case = factory(problem)
        except Skip as e:
            skipped.setdefault(name, str(e))
            log(f"  skipped {name}: {e}")
            continue
        if case.set_steps is not None:
            most = case.steps
            k = min(most, CALIBRATION_STEPS)
            case.set_steps(k)
            t0 = time.perf_counter()
            case.call()
            per_step = (time.perf_counter() - t0) / k
            case.steps = int(min(most, max(1, math.ceil(TARGET_CALL_SECONDS / per_step))))
            case.set_steps(case.steps)
        cases.append(case)
    return cases


def run_group(problem: Problem, factories: Sequence[tuple[str, Factory]], *, rounds: int,
              warmup: int, reference: str | None, skipped: dict, pause: float = 0.0,
              log=print) -> dict[str, Any]:
    """Build every case of one problem, time them interleaved with the roofline matmul,
    and return the group's rows (ms per step, ratio to ``reference``, GFLOP/s, % roofline)."""
    size = problem.size
    flops = step_flops(size.sizes, size.batch)
    cases = _build(factories, problem, skipped, log)
    mm = matmul_rate_case()
    samples, cpu_samples = time_interleaved([*cases, mm], rounds, warmup, pause)
    mm_seconds = float(np.median(samples[mm.name]))
    rate = mm.flops_per_call / mm_seconds  # FLOP/s
    rows = []
    for case in cases:
        per_step = np.asarray(samples[case.name]) / case.steps
        median = float(np.median(per_step))
        rows.append({
            "name": case.name,
            "ms_per_step": median * 1e3,
            "ms_per_step_min": float(per_step.min()) * 1e3,
            "ms_per_step_iqr": [float(np.percentile(per_step, q)) * 1e3 for q in (25, 75)],
            "cpu_ms_per_step": float(np.median(cpu_samples[case.name])) / case.steps * 1e3,
            "gflops": flops / median / 1e9,
            "pct_roofline": 100 * flops / median / rate,
            "compile_seconds": case.compile_seconds,
            "memory": case.memory,
            "seconds_per_call": float(np.median(samples[case.name])),
            "steps_per_call": case.steps,
            "samples_ms_per_step": [s * 1e3 for s in per_step.tolist()],
            "note": case.note,
        })
    ref = next((r for r in rows if r["name"] == reference), None)
    for row in rows:
        row["ratio_to_reference"] = row["ms_per_step"] / ref["ms_per_step"] if ref else None
    roof_ms = flops / rate * 1e3
    rows.append({
        "name": ROOFLINE, "ms_per_step": roof_ms, "gflops": rate / 1e9, "pct_roofline": 100.0,
        "ms_per_step_min": flops / (mm.flops_per_call / min(samples[mm.name])) * 1e3,
        "ratio_to_reference": roof_ms / ref["ms_per_step"] if ref else None,
        "compile_seconds": None, "note": mm.note,
        "samples_gflops": [mm.flops_per_call / s / 1e9 for s in samples[mm.name]],
    })
    return {
        "size": "-".join(map(str, size.sizes)),
        "sizes": list(size.sizes),
        "batch": size.batch,
        "steps_per_call": size.steps,
        "optimizer": problem.optimizer,
        "learning_rate": problem.learning_rate,
        "flops_per_step": flops,
        "matmul_gflops": rate / 1e9,
        "matmul_gflops_iqr": [mm.flops_per_call / float(np.percentile(samples[mm.name], q)) / 1e9
                              for q in (75, 25)],
        "reference": reference if ref else None,
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------
# fit() on MNIST-sized data in a fresh process: peak memory, compile time, recompilation.


def _fit_child(n: int, n_val: int, epochs: int, batch: int) -> dict[str, Any]:
    """Run in a subprocess: ``fit`` of the ``jaxnn train`` default network (784-256-10,
    ReLU, softmax + cross entropy, He init, Adam 1e-3, batch 32) on ``n`` × 784 synthetic
    float32 examples with ``n_val`` validation examples, counting XLA compilations."""
    import jax
    import jax.monitoring

    import jaxnn
    from jaxnn import optimizers, train

    compiles = []

    def on_event(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(on_event)
    rss_import = peak_rss_mb()
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n, dtype=np.int32)
    x_val = rng.random((n_val, 784), dtype=np.float32)
    y_val = rng.integers(0, 10, n_val, dtype=np.int32)
    rss_data = peak_rss_mb()
    net = jaxnn.mlp((784, 256, 10), hidden="relu", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(0), net, "he_normal")
    compiles_at_epoch_end = []
    result = train.fit(
        net, params, optimizers.adam(1e-3), (x, y), epochs=epochs, batch_size=batch,
        key=jax.random.key(1), validation=(x_val, y_val),
        on_epoch=lambda e, p, s, r: compiles_at_epoch_end.append(len(compiles)),
    )
    return {
        "n": n, "n_val": n_val, "epochs": epochs, "batch": batch,
        "network": "784-256-10 relu/softmax/cross_entropy, adam 1e-3",
        "rss_after_import_mb": rss_import,
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
        "fit_compile_seconds": result.compile_seconds,
        "xla_compile_seconds_in_epoch_1": sum(compiles[: compiles_at_epoch_end[0]]),
        "epoch_seconds": [h["seconds"] for h in result.history],
        "compilations_in_epoch_1": compiles_at_epoch_end[0],
        "compilations_after_epoch_1": compiles_at_epoch_end[-1] - compiles_at_epoch_end[0],
    }


def start_fit_memory(n: int = 60_000, n_val: int = 10_000, epochs: int = 3,
                     batch: int = 32) -> subprocess.Popen:
    """Start :func:`_fit_child` in a fresh Python process (so ``ru_maxrss`` is fit's own);
    :func:`finish_fit_memory` collects its result."""
    code = (
        "import json; from jaxnn.bench import _fit_child; "
        f"print('RESULT ' + json.dumps(_fit_child({n}, {n_val}, {epochs}, {batch})))"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_fit_memory(proc: subprocess.Popen, timeout: float = 600) -> dict[str, Any]:
    """Wait for a :func:`start_fit_memory` process and return its measurements."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the fit-memory subprocess failed (exit {proc.returncode}):\n"
                       f"{stderr[-2000:]}")


def fit_memory(n: int = 60_000, n_val: int = 10_000, epochs: int = 3,
               batch: int = 32) -> dict[str, Any]:
    """Peak RSS, compile time and recompilations of ``fit`` on ``n`` × 784 examples,
    measured in a fresh process (see :func:`_fit_child`)."""
    return finish_fit_memory(start_fit_memory(n, n_val, epochs, batch))


# ---------------------------------------------------------------------------------------
# The whole run.


def run_jaxnn_benchmark(
    sizes: Sequence[Size] | None = None,
    optimizers: Sequence[str] = OPTIMIZERS,
    *,
    rounds: int = 7,
    warmup: int = 1,
    quick: bool = False,
    peers: Sequence[tuple[str, Factory]] = (),
    reference: str | None = None,
    fit_memory_run: bool = True,
    seed: int = 0,
    log=print,
) -> dict[str, Any]:
    """Time jaxnn (manual and autodiff), the matmuls-only floor, ``peers`` and the
    roofline at every size × optimizer, interleaved; measure compile time and memory.

    Args:
      sizes: the problems (default :data:`DEFAULT_SIZES_TEXT`, or
        :data:`QUICK_SIZES_TEXT` with ``quick``).
      optimizers: names in :data:`OPTIMIZERS` (``quick`` alone defaults to SGD only).
      rounds, warmup: timed and untimed rounds per problem.
      quick: a smoke run: small sizes, one warm-up-free round pair, a small fit.
      peers: extra ``(name, factory)`` rows, timed in the same rounds.
      reference: the row the ratio column divides by (``None``: no ratio).
      fit_memory_run: run :func:`fit_memory` (60,000 × 784; 2,000 with ``quick``).
    Returns:
      a JSON-ready dict: ``machine``, ``config``, ``groups`` (one per problem, with
      ``rows``), ``skipped``, ``compile``, ``memory``.
    """
    t_start = time.perf_counter()
    if sizes is None:
        sizes = parse_sizes(QUICK_SIZES_TEXT if quick else DEFAULT_SIZES_TEXT)
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizers must be among {', '.join(OPTIMIZERS)}; got {name!r}.")
    info = machine_info()
    # A smoke run overlaps the fit subprocess with its timings (which mean little anyway);
    # a real run measures it afterwards, so it cannot disturb them.
    child = start_fit_memory(2_000, 500, 2) if (quick and fit_memory_run) else None
    factories = [*jaxnn_factories(), *peers]
    skipped: dict[str, str] = {}
    groups = []
    for size in sizes:
        for opt_name in optimizers:
            log(f"{size.label} {opt_name}: {size.steps} steps per call, {rounds} rounds")
            problem = make_problem(size, opt_name, seed)
            group = run_group(problem, factories, rounds=rounds, warmup=warmup,
                              reference=reference, skipped=skipped,
                              pause=0.0 if quick else PAUSE_SECONDS, log=log)
            groups.append(group)
            log(format_group(group))
    jaxnn_compiles = [r["compile_seconds"] for g in groups for r in g["rows"]
                      if r["name"] in (MANUAL, AUTODIFF)]
    memory: dict[str, Any] = {
        "process_peak_rss_mb": peak_rss_mb(),
        "device_memory_stats": device_memory_stats(),
    }
    if fit_memory_run:
        log("fit() in a subprocess (peak memory, compile time, recompilation)…")
        memory["fit"] = finish_fit_memory(child) if child is not None else fit_memory()
    return {
        "machine": info,
        "config": {
            "sizes": [{"sizes": list(s.sizes), "batch": s.batch, "steps_per_call": s.steps}
                      for s in sizes],
            "optimizers": list(optimizers),
            "learning_rates": {k: LEARNING_RATES[k] for k in optimizers},
            "rounds": rounds,
            "warmup": warmup,
            "quick": quick,
            "architecture": ARCHITECTURE,
            "dtype": "float32",
            "data": "synthetic: x ~ N(0, 1), uniform random labels",
            "init": "W ~ N(0, 1/n_in), b = 0, the same arrays for every implementation",
            "timing": "median over rounds of (call time / steps per call); each round calls "
                      "every implementation and the roofline's matmul once, in a random order, "
                      f"{0.0 if quick else PAUSE_SECONDS} s apart",
            "flops": "the matmuls only, forward 2·m·n_in·n_out per layer, backward 4·m·n_in·n_out "
                     "(2·m·n_0·n_1 for the first layer: no input gradient)",
            "seed": seed,
        },
        "groups": groups,
        "skipped": skipped,
        "compile": {
            "jaxnn_epoch_compile_seconds_max": max(jaxnn_compiles) if jaxnn_compiles else None,
            "jaxnn_epoch_compile_seconds": jaxnn_compiles,
        },
        "memory": memory,
        "seconds": time.perf_counter() - t_start,
    }


# ---------------------------------------------------------------------------------------
# Tables.


def _fmt(value, spec: str, none: str = "—") -> str:
    return none if value is None else format(value, spec)


def format_group(group: dict[str, Any]) -> str:
    """One problem's markdown table: ms/step, ratio, GFLOP/s, % of roofline, compile s."""
    ref = group.get("reference")
    ratio_head = f"× {ref}" if ref else "× reference"
    head = (f"**{group['size']}, batch {group['batch']}, {group['optimizer']}** — "
            f"{group['flops_per_step'] / 1e6:.3g} MFLOP/step, {group['steps_per_call']} "
            f"steps/call, matmul {group['matmul_gflops']:.0f} GFLOP/s\n\n")
    lines = [
        f"| implementation | ms/step | {ratio_head} | GFLOP/s | % roofline | best ms/step | "
        "CPU ms/step | compile s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in group["rows"]:
        lines.append(
            f"| {r['name']} | {r['ms_per_step']:.4g} | "
            f"{_fmt(r.get('ratio_to_reference'), '.2f')} | {r['gflops']:.1f} | "
            f"{r['pct_roofline']:.0f} | {_fmt(r.get('ms_per_step_min'), '.4g')} | "
            f"{_fmt(r.get('cpu_ms_per_step'), '.4g')} | "
            f"{_fmt(r.get('compile_seconds'), '.2f')} |"
        )
    return head + "\n".join(lines) + "\n"


def format_summary(result: dict[str, Any]) -> str:
    """Compile time and memory, as markdown bullet points."""
    lines = []
    c = result["compile"]
    if c["jaxnn_epoch_compile_seconds_max"] is not None:
        lines.append(f"- jaxnn epoch compile (trace + XLA, `make_epoch(...).lower().compile()`): "
                     f"at most {c['jaxnn_epoch_compile_seconds_max']:.2f} s over "
                     f"{len(c['jaxnn_epoch_compile_seconds'])} programs")
    m = result["memory"]
    lines.append(f"- peak RSS of the benchmark process: {m['process_peak_rss_mb']:.0f} MiB "
                 f"(device memory stats: {m['device_memory_stats'] or 'not kept by this backend'})")
    fit = m.get("fit")
    if fit:
        lines.append(
            f"- `fit` of {fit['network']}, batch {fit['batch']}, on {fit['n']:,} × 784 "
            f"synthetic float32 + {fit['n_val']:,} validation, {fit['epochs']} epochs, in a "
            f"fresh process: peak RSS {fit['peak_rss_mb']:.0f} MiB (after imports "
            f"{fit['rss_after_import_mb']:.0f}, after the numpy data "
            f"{fit['rss_after_data_mb']:.0f}); "
            f"epoch compile {fit['fit_compile_seconds']:.2f} s; epochs "
            + ", ".join(f"{s:.2f}" for s in fit["epoch_seconds"])
            + f" s; XLA compilations after epoch 1: {fit['compilations_after_epoch_1']}"
        )
    return "\n".join(lines) + "\n"


def format_machine(info: dict[str, Any]) -> str:
    """One line: CPU, cores, memory, versions."""
    return (f"{info['cpu']} ({', '.join(info['cpu_flags'])}), {info['cores']} cores, "
            f"{info['memory_gb']} GB; Python {info['python']}, jax {info['jax']}, "
            f"jaxlib {info['jaxlib']}, numpy {info['numpy']}, backend {info['jax_backend']}")


def format_report(result: dict[str, Any]) -> str:
    """Machine, every group's table, and the compile/memory summary."""
    parts = [f"Machine: {format_machine(result['machine'])}.\n",
             f"Network: {result['config']['architecture']}; float32.\n"]
    parts += [format_group(g) for g in result["groups"]]
    parts.append(format_summary(result))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# The command.


def build_parser(prog: str = "jaxnn bench",
                 description: str | None = None) -> argparse.ArgumentParser:
    """The flags shared by ``jaxnn bench`` and ``python -m experiments.benchmark``."""
    ap = argparse.ArgumentParser(prog=prog, description=description or (
        "Time jaxnn's training step (the fit path: make_epoch, lax.scan over minibatches) "
        "with hand-written and autodiff gradients, against the machine's matmul rate."))
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK_SIZES_TEXT}, SGD, 1 round, small fit")
    ap.add_argument("--sizes", default=None,
                    help=f"comma-separated n0-…-nL[:batch[:steps]] (default {DEFAULT_SIZES_TEXT})")
    ap.add_argument("--optimizers", default=None,
                    help="comma-separated, from sgd,adam (default both; sgd with --quick)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7; 1 quick)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 1; 0 quick)")
    ap.add_argument("--no-fit-memory", action="store_true",
                    help="skip the fit() subprocess (peak memory, recompilation)")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def resolve_args(args) -> dict[str, Any]:
    """Parsed flags → keyword arguments of :func:`run_jaxnn_benchmark` (ValueError on bad ones)."""
    sizes = parse_sizes(args.sizes) if args.sizes else None
    if args.optimizers:
        optimizers = tuple(o.strip() for o in args.optimizers.split(",") if o.strip())
    else:
        optimizers = ("sgd",) if args.quick else OPTIMIZERS
    for o in optimizers:
        if o not in OPTIMIZERS:
            raise ValueError(f"--optimizers takes names from {','.join(OPTIMIZERS)}; got {o!r}.")
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 7)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    if rounds < 1 or warmup < 0:
        raise ValueError(f"--rounds must be ≥ 1 and --warmup ≥ 0; got {rounds}, {warmup}.")
    return {"sizes": sizes, "optimizers": optimizers, "rounds": rounds, "warmup": warmup,
            "quick": args.quick, "fit_memory_run": not args.no_fit_memory, "seed": args.seed}


def main(argv=None) -> int:
    """``jaxnn bench [--quick] [--sizes …] [--optimizers …] [--rounds N] [--json PATH]``:
    print the tables; exit 2 on bad flags."""
    ap = build_parser()
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    try:
        kwargs = resolve_args(args)
    except ValueError as e:
        print(f"jaxnn bench: {e}", file=sys.stderr)
        return 2
    result = run_jaxnn_benchmark(**kwargs, log=lambda s: print(s, file=sys.stderr))
    print(format_report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
