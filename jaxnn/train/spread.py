"""``fit_many``'s runs spread over the CPU's cores: one compiled part per core, called from
one thread each.

XLA's CPU backend runs a program's ops one after another on the calling thread, and a
small network's ops are too small to split over cores: one run, or K runs ``vmap``-ed side
by side, keeps one core busy. Two executions called from two threads do run at once (JAX
releases the GIL while XLA runs). So on the CPU :func:`fit_many` deals its groups of runs
(the runs ``vmap``-ed side by side, :func:`jaxnn.train.plan.run_group`) into equal parts
(:func:`parts_of`: one per core, the last padded with copies of run 0 when the cores do
not divide the groups), compiles the epoch of one part once, and calls the parts from a
thread pool, one part per thread. Each run is computed in a group of the same size as in
one program, to the last bit, so run k is still ``fit(params[k], key=keys[k])``; only the
wall time changes.

On a GPU or TPU the K runs stay one program: batching them is the accelerator's job.

:data:`CORES` (``None``: the cores this process may run on) caps the number of parts; set
``jaxnn.train.spread.CORES = 1`` to keep every run in one program on one core.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import os
import threading

import jax
import jax.numpy as jnp

CORES: int | None = None  # parts at most; None: the cores this process may run on

# Below this much arithmetic per epoch for all K runs (6 · examples · parameters per run,
# ~5 ms of one core), the runs stay in one program: threads and the parts' split and
# join would cost more than a second core saves.
MIN_SPREAD_FLOPS = 2e8

_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_WORKERS = 0
_POOL_LOCK = threading.Lock()


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def parts_of(units: int, platform: str, flops_per_unit: float = math.inf) -> tuple[int, int]:
    """``(parts, units per part)`` for ``units`` groups of runs: one part off the CPU, on
    one core or under ``jax_debug_nans``/``jax_debug_infs``, or for less than
    :data:`MIN_SPREAD_FLOPS` of arithmetic per epoch (``flops_per_unit``: one group's
    epoch), else parts of ``⌈units / cores⌉``, as few as hold them all. Equal parts share
    one compiled program; the units that pad the last part are copies, computed and
    dropped."""
    cores = CORES if CORES is not None else available_cores()
    if (jax.config.jax_debug_nans or jax.config.jax_debug_infs
            or units * flops_per_unit < MIN_SPREAD_FLOPS):
        cores = 1  # NaN hunting re-runs a program on the calling thread; tiny jobs
    size = -(-units // max(1, cores)) if platform == "cpu" else units
    return -(-units // size), size  # e.g. 9 groups on 8 cores: 5 parts of 2, one padding


@functools.partial(jax.jit, static_argnums=(1, 2))
def split(tree, parts: int, size: int) -> list:
    """``tree`` (leaves with a leading run axis of K ≤ parts · size) cut into ``parts``
    trees of ``size`` runs, the last padded with copies of run 0 (one compiled program)."""
    def cut(a):
        pad = parts * size - a.shape[0]
        if pad:
            a = jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)])
        return [a[i * size:(i + 1) * size] for i in range(parts)]

    cuts = jax.tree.map(cut, tree)
    return [jax.tree.map(lambda c, i=i: c[i], cuts, is_leaf=lambda c: isinstance(c, list))
            for i in range(parts)]


@functools.partial(jax.jit, static_argnums=1)
def join(trees, runs: int):
    """The parts' trees put back together along the leading run axis, the padding dropped
    (one compiled program)."""
    return jax.tree.map(lambda *parts: jnp.concatenate(parts)[:runs], *trees)


def call_parts(compiled, args_parts):
    """``[compiled(*args) for args in args_parts]``, each part in its own thread (the first
    in the calling thread) under the caller's ``jax_enable_x64`` (a thread-local setting
    that decides how the arguments are read)."""
    x64 = jax.config.jax_enable_x64
    pool = _pool(len(args_parts) - 1)
    futures = [pool.submit(_run, compiled, args, x64) for args in args_parts[1:]]
    first = _run(compiled, args_parts[0], x64)
    return [first] + [f.result() for f in futures]


def _run(compiled, args, x64: bool):
    """One part's call, waited for (so its thread is busy while XLA runs it)."""
    with jax.enable_x64(x64):
        return jax.block_until_ready(compiled(*args))


def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """A thread pool of at least ``workers`` threads, made once and kept."""
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        if _POOL is None or _POOL_WORKERS < workers:
            _POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="jaxnn-runs")
            _POOL_WORKERS = workers
        return _POOL
