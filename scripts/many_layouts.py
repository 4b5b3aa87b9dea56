"""Where the time of K vmapped runs goes, and which layout of the K-run epoch is fastest.

A standalone study for issue 22 in plain JAX: 784-30-10 (sigmoid hidden, softmax + cross
entropy), batch 10, 2 epochs… of the bundled 4,000 MNIST digits (``jaxnn.data.load_mnist``),
SGD 0.5 or Adam 1e-3, every run shuffling with its own key (``fit_many``'s default order).
The epoch is built here, by hand, so that its layout can vary; every formulation computes
exactly the same thing, and ``--check`` proves it: run k of each formulation equals the one
run with key k to 1e-10 in float64.

Formulations (``FORMULATIONS``):

- ``one``: ONE run (the denominator): shuffle, then ``lax.scan`` over the minibatches,
  gathered ``GATHER`` steps at a time (as ``jaxnn.train.steps`` did up to 0.2; since
  0.3 it gathers blocks of at most ``train.core.GATHER_BYTES``).
- ``vmap``: ``jax.vmap`` of ``one`` over the runs: what ``fit_many`` does today.
- ``block``: the K runs' minibatches gathered together once per chunk of steps into a
  contiguous ``(steps, K, b, n0)`` block, then a scan whose step is ``vmap`` of one step.
- ``map<C>``: ``lax.map`` over chunks of C runs, each chunk ``vmap``-ed (fits the caches);
  ``map<C>u<U>``: the same with the step scan unrolled U times.
- a ``_t`` suffix on any of them: BP4's Δᵀ materialised (``bp4="transposed"``), so that
  XLA's CPU backend runs ∇W = ΔᵀA through YNNPACK instead of its generic dot.
- ``unroll<U>``: ``vmap`` with the step scan unrolled U times.
- ``threads<T>``: the K runs split into T groups, each group's (vmapped) epoch dispatched
  from its own Python thread, so that the groups run on different cores.

``python scripts/many_layouts.py [--runs 8,32,128] [--forms one,vmap,...] [--rounds 5]
[--optimizer sgd|adam] [--check] [--ablate]`` prints a table of per-run throughput
relative to ``one`` (median of interleaved rounds, in one process) and the load.
``--ablate`` times the vmapped step with parts removed (the forward and backward dots, the
per-run shuffle and gather, the optimizer update) to show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import many_epoch_prototype as proto  # noqa: E402  (a sibling script)

SIZES = (784, 30, 10)
BATCH = 10


def load(dtype):
    """``(x (4000, 784), labels (4000,) int32)`` of the bundled digits in ``dtype``."""
    from jaxnn.data import load_mnist

    d = load_mnist()
    return jnp.asarray(d.x_train, dtype), jnp.asarray(d.y_train, jnp.int32)


def init(key, K, dtype):
    """K runs' parameters stacked on a leading axis: W ~ N(0, 1/n_in), b ~ N(0, 1)."""
    keys = jax.random.split(key, K)

    def one(k):
        params = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            k, kw, kb = jax.random.split(k, 3)
            params.append(proto.Layer(
                jax.random.normal(kw, (n_out, n_in), dtype) / np.sqrt(n_in),
                jax.random.normal(kb, (n_out,), dtype)))
        return tuple(params)

    return jax.vmap(one)(keys)


def optimizer(name, dtype):
    if name == "sgd":
        return proto.sgd(0.5)
    return proto.adam(1e-3)


def build(form: str, opt, batch: int, n: int):
    """``epoch(params, state, x, y, keys) -> (params, state)`` for K runs of ``form``; a
    ``_t`` suffix computes BP4 with Δᵀ materialised (``bp4="transposed"``)."""
    bp4 = "folded"
    if form.endswith("_t"):
        form, bp4 = form[:-2], "transposed"
    if form == "one":
        one = jax.jit(proto.one_epoch(opt, batch, n, bp4=bp4))
        return lambda p, s, x, y, k: one(jax.tree.map(lambda a: a[0], p),
                                         jax.tree.map(lambda a: a[0], s), x, y, k[0])
    if form == "vmap":
        return jax.jit(jax.vmap(proto.one_epoch(opt, batch, n, bp4=bp4),
                                in_axes=(0, 0, None, None, 0)))
    if form.startswith("unroll"):
        u = int(form[6:])
        return jax.jit(jax.vmap(proto.one_epoch(opt, batch, n, unroll=u, bp4=bp4),
                                in_axes=(0, 0, None, None, 0)))
    if form == "block":
        return jax.jit(proto.many_epoch(opt, batch, n, chunk=None, bp4=bp4))
    if form.startswith("blockT"):
        return jax.jit(proto.many_epoch(opt, batch, n, chunk=None, layout="T", bp4=bp4))
    if form.startswith("map"):  # map<C> or map<C>u<U>: chunks of C runs, scan unrolled U×
        c, _, u = form[3:].partition("u")
        return jax.jit(proto.many_epoch(opt, batch, n, chunk=int(c), unroll=int(u or 1),
                                        bp4=bp4))
    if form.startswith("threads"):
        t = int(form[7:])
        ep = jax.jit(proto.many_epoch(opt, batch, n, chunk=None, bp4=bp4))

        def run(p, s, x, y, k):
            K = k.shape[0]
            bounds = np.linspace(0, K, t + 1).astype(int)
            parts = [None] * t

            def go(i):
                sl = slice(bounds[i], bounds[i + 1])
                out = ep(jax.tree.map(lambda a: a[sl], p), jax.tree.map(lambda a: a[sl], s),
                         x, y, k[sl])
                parts[i] = jax.block_until_ready(out)

            ths = [threading.Thread(target=go, args=(i,)) for i in range(t)]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            return jax.tree.map(lambda *a: jnp.concatenate(a), *parts)
        return run
    raise ValueError(f"unknown formulation {form!r}")


def time_forms(forms, K, opt_name, rounds, dtype=jnp.float32, x=None, y=None):
    """Median seconds per epoch of each formulation at K runs, interleaved rounds."""
    x, y = load(dtype) if x is None else (x, y)
    n = x.shape[0]
    opt = optimizer(opt_name, dtype)
    params = init(jax.random.key(1), K, dtype)
    state = jax.vmap(opt.init)(params)
    keys = jax.random.split(jax.random.key(2), K)
    fns, compile_s = {}, {}
    for f in forms:
        fn = build(f, opt, BATCH, n)
        t = time.perf_counter()
        jax.block_until_ready(fn(params, state, x, y, keys))
        compile_s[f] = time.perf_counter() - t
        fns[f] = fn
    times = {f: [] for f in forms}
    cpu = {f: [] for f in forms}
    for r in range(rounds):
        order = list(forms)
        np.random.default_rng(r).shuffle(order)
        for f in order:
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(fns[f](params, state, x, y, keys))
            times[f].append(time.perf_counter() - t)
            cpu[f].append(time.process_time() - c)
    return ({f: statistics.median(v) for f, v in times.items()},
            {f: statistics.median(v) for f, v in cpu.items()}, compile_s)


def check(forms, K=4, opt_names=("sgd", "adam")):
    """Run k of every formulation == the one run with key k, float64, to 1e-10."""
    x, y = load(jnp.float64)
    x, y = x[:400], y[:400]
    worst = 0.0
    for opt_name in opt_names:
        opt = optimizer(opt_name, jnp.float64)
        params = init(jax.random.key(1), K, jnp.float64)
        state = jax.vmap(opt.init)(params)
        keys = jax.random.split(jax.random.key(2), K)
        one = jax.jit(proto.one_epoch(opt, BATCH, x.shape[0]))
        ref = [one(*(jax.tree.map(lambda a, k=k: a[k], t) for t in (params, state)),
                   x, y, keys[k]) for k in range(K)]
        for f in forms:
            if f == "one":
                continue
            out = build(f, opt, BATCH, x.shape[0])(params, state, x, y, keys)
            for k in range(K):
                got = jax.tree.map(lambda a, k=k: a[k], out)
                err = max(float(jnp.max(jnp.abs(a - b)))
                          for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref[k])))
                worst = max(worst, err)
                if not err <= 1e-10:
                    raise AssertionError(f"{f} {opt_name}: run {k} differs by {err:.3g}")
            print(f"check {opt_name:4s} {f:10s} runs 0..{K - 1} == one run: ok", flush=True)
    print(f"check: worst |Δ| over every leaf = {worst:.3g} (float64)")
    return worst


def ablate(K, opt_name, rounds):
    """Seconds per epoch of the vmapped step with parts removed (see --ablate)."""
    x, y = load(jnp.float32)
    n = x.shape[0]
    opt = optimizer(opt_name, jnp.float32)
    params = init(jax.random.key(1), K, jnp.float32)
    state = jax.vmap(opt.init)(params)
    keys = jax.random.split(jax.random.key(2), K)
    variants = {p: jax.jit(jax.vmap(proto.ablation_epoch(opt, BATCH, n, p),
                                    in_axes=(0, 0, None, None, 0)))
                for p in proto.ABLATIONS}
    for fn in variants.values():
        jax.block_until_ready(fn(params, state, x, y, keys))
    times = {p: [] for p in variants}
    cpu = {p: [] for p in variants}
    for r in range(rounds):
        order = list(variants)
        np.random.default_rng(r).shuffle(order)
        for p in order:
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(variants[p](params, state, x, y, keys))
            times[p].append(time.perf_counter() - t)
            cpu[p].append(time.process_time() - c)
    return ({p: statistics.median(v) for p, v in times.items()},
            {p: statistics.median(v) for p, v in cpu.items()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="8,32,128")
    ap.add_argument("--forms", default="one,vmap,block,map8,unroll2,threads2")
    ap.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--ablate", action="store_true")
    ap.add_argument("--json", default=None, help="append the results as one JSON line here")
    args = ap.parse_args(argv)
    forms = args.forms.split(",")
    if args.check:
        jax.config.update("jax_enable_x64", True)
        check([f for f in forms])
        return 0
    load_start = os.getloadavg()
    rows = []
    for K in map(int, args.runs.split(",")):
        if args.ablate:
            t, cpu = ablate(K, args.optimizer, args.rounds)
            for p in t:
                print(f"K={K:4d} ablation {p:28s} {t[p] * 1e3:8.1f} ms/epoch (cpu "
                      f"{cpu[p] * 1e3:8.1f} ms = {cpu[p] / cpu['full']:5.2f} of full)",
                      flush=True)
            rows.append({"K": K, "ablation": t, "ablation_cpu": cpu})
            continue
        fs = forms if "one" in forms else ["one", *forms]
        t, cpu, c = time_forms(fs, K, args.optimizer, args.rounds)
        for f in fs:
            runs = 1 if f.startswith("one") else K
            print(f"K={K:4d} {f:10s} {t[f] * 1e3:9.1f} ms/epoch (cpu {cpu[f] * 1e3:9.1f} ms)"
                  f"  per-run throughput {t['one'] * runs / t[f]:5.2f}× one run"
                  f" (by cpu time {cpu['one'] * runs / cpu[f]:5.2f}×)"
                  f"   first call {c[f]:.2f} s", flush=True)
        rows.append({"K": K, "seconds": t, "cpu_seconds": cpu, "first_call": c})
    print(f"load average {load_start[0]:.2f} → {os.getloadavg()[0]:.2f}; "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps({"optimizer": args.optimizer, "rows": rows,
                                 "load": [load_start[0], os.getloadavg()[0]],
                                 "xla_flags": os.environ.get("XLA_FLAGS", "")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
