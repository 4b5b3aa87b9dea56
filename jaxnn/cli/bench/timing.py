"""Timing: every implementation of a problem and the roofline matmul, interleaved; and
``fit`` on MNIST-sized data in a fresh process (peak memory, compile time, recompilation).

**Interleaving.** For each problem (sizes, batch, optimizer) every implementation, the
1024³ matmul of the roofline included, is built and compiled first; then each round calls
every implementation once, in a fresh random order, 0.15 s apart (so the spinning BLAS or
OpenMP threads of one do not slow the next), and a burst of load from another process
lands on all of them alike. The reported time is the median of the rounds (after
``warmup`` untimed calls); every sample is kept in the results, with the process CPU
time per call (steadier than the wall clock on a shared machine).

**The roofline.** The roofline time of a step is its FLOPs (:func:`cases.step_flops`)
divided by the rate of a jitted float32 1024×1024×1024 matmul measured in the same rounds;
"% of roofline" is an implementation's FLOP rate over it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn.cli.bench import report
from jaxnn.cli.bench.cases import (
    ARCHITECTURE,
    AUTODIFF,
    DEFAULT_SIZES_TEXT,
    LEARNING_RATES,
    MANUAL,
    OPTIMIZERS,
    QUICK_SIZES_TEXT,
    ROOFLINE,
    Case,
    Factory,
    Problem,
    Size,
    Skip,
    jaxnn_factories,
    make_problem,
    matmul_rate_case,
    parse_sizes,
    step_flops,
)
from jaxnn.cli.bench.machine import (
    device_memory_stats,
    machine_info,
    peak_rss_mb,
    process_cpu_seconds,
    ru_maxrss_mb,
)


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


def build_cases(factories: Sequence[tuple[str, Factory]], problem: Problem, skipped: dict,
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
    cases = build_cases(factories, problem, skipped, log)
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


def fit_child(n: int, n_val: int, epochs: int, batch: int) -> dict[str, Any]:
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
    """Start :func:`fit_child` in a fresh Python process (so ``ru_maxrss`` is fit's own);
    :func:`finish_fit_memory` collects its result."""
    code = (
        "import json; from jaxnn.cli.bench.timing import fit_child; "
        f"print('RESULT ' + json.dumps(fit_child({n}, {n_val}, {epochs}, {batch})))"
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
    except BaseException:  # Ctrl-C while waiting: the child goes too
        proc.kill()
        proc.wait()
        raise
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the fit-memory subprocess failed (exit {proc.returncode}):\n"
                       f"{stderr[-2000:]}")


def fit_memory(n: int = 60_000, n_val: int = 10_000, epochs: int = 3,
               batch: int = 32) -> dict[str, Any]:
    """Peak RSS, compile time and recompilations of ``fit`` on ``n`` × 784 examples,
    measured in a fresh process (see :func:`fit_child`)."""
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
    log_tables: bool = True,
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
      log, log_tables: progress lines go to ``log``; each problem's table too, unless
        ``log_tables`` is False (the caller prints the tables once, at the end).
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
    try:
        for size in sizes:
            for opt_name in optimizers:
                log(f"{size.label} {opt_name}: {size.steps} steps per call, {rounds} rounds")
                problem = make_problem(size, opt_name, seed)
                group = run_group(problem, factories, rounds=rounds, warmup=warmup,
                                  reference=reference, skipped=skipped,
                                  pause=0.0 if quick else PAUSE_SECONDS, log=log)
                groups.append(group)
                if log_tables:
                    log(report.format_group(group))
    except BaseException:  # Ctrl-C, a failing peer: no orphan process left behind
        if child is not None:
            child.kill()
            child.wait()
        raise
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


