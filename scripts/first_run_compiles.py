"""What a first ``fit`` on the digits compiles, and what cheaper PRNGs and XLA flags change.

Issue 22. Each variant runs ``experiments.benchmark.digits_child`` for jaxnn (64-64-10 ReLU,
softmax / cross entropy, Adam 1e-3, batch 32, 50 epochs, float32, scikit-learn's digits)
in a fresh process with an empty persistent cache, and reports the first ``fit``'s wall
time, the XLA compile seconds summed over its programs (``jax.monitoring``), the epoch
program's own compile, and the steady state (the median epoch of the second, already
compiled run, in the same process). Variants (``VARIANTS``): the PRNG implementation
(``jax_default_prng_impl``: threefry2x32, rbg, unsafe_rbg), XLA CPU flags (optimization
level, LLVM passes, the FAST_COMPILE preset, more of the program handed to YNNPACK), and
the cores the process may run on (``os.sched_setaffinity``; XLA sizes its compile and run
thread pools from them). Repeats are interleaved (round r runs every variant once, in a
shuffled order); medians.

    python scripts/first_run_compiles.py [--repeats 3] [--variants default,rbg,...] [--stats]

``--stats`` checks the draws of each PRNG implementation instead (no timing of fit): the
mean, variance, skewness and kurtosis of 10⁶ normal draws (as ``jaxnn.init_params``
uses), a Kolmogorov–Smirnov distance, and the uniformity of the permutations of jaxnn's
shuffle up to 0.2, a sort by 64 random bits (chi-square of the position of each element
over 20,000 shuffles of 10; 0.3's swap-or-not shuffle: ``tests/test_shuffle.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "benchmark_first_run.json"

# name: (jax_default_prng_impl or None, XLA_FLAGS to add, cores to run on or None: all)
VARIANTS = {
    "default": (None, "", None),
    "1_core": (None, "", 1),
    "rbg": ("rbg", "", None),
    "unsafe_rbg": ("unsafe_rbg", "", None),
    "O1": (None, "--xla_backend_optimization_level=1", None),
    "O0": (None, "--xla_backend_optimization_level=0", None),
    "no_expensive_llvm": (None, "--xla_llvm_disable_expensive_passes=true", None),
    "unsafe_rbg+no_expensive_llvm": ("unsafe_rbg", "--xla_llvm_disable_expensive_passes=true",
                                     None),
    "fast_compile_preset": (None, "--xla_cpu_opt_preset=FAST_COMPILE", None),
    "ynn_dot_eltwise_reduce": (None, "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce",
                               None),
}


def child(prng: str | None, epochs: int) -> dict:
    """In a fresh process: two digits fits (empty cache), with the compile log."""
    import tempfile

    import jax

    if prng:
        jax.config.update("jax_default_prng_impl", prng)
    from experiments import benchmark

    t = time.perf_counter()
    benchmark.digits_split()  # how long the data takes to load (compiles could overlap it)
    load = time.perf_counter() - t
    r = benchmark.digits_child(benchmark.DIGITS_JAXNN, epochs, 0,
                               tempfile.mkdtemp(prefix="jaxnn-first-run-"), 0.0)
    return {"data_load_seconds": load, **r}


def run_variant(name: str, epochs: int) -> dict:
    prng, flags, cores = VARIANTS[name]
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), flags]))}
    code = ("import json; from scripts.first_run_compiles import child; "
            f"print('RESULT ' + json.dumps(child({prng!r}, {epochs})))")
    allowed = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=900,
                       preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{name}: exit {p.returncode}\n{p.stderr[-3000:]}")


def summarize(samples: list[dict]) -> dict:
    med = statistics.median
    first = [s["runs"][0] for s in samples]
    second = [s["runs"][1] for s in samples]
    progs = [s["compiles"][0]["programs"] for s in samples]
    return {
        "first_fit_seconds": med(f["wall_seconds"] for f in first),
        "xla_compile_seconds": med(sum(p["compile"] for p in ps) for ps in progs),
        "trace_lower_seconds": med(sum(p.get("trace", 0) + p.get("lower", 0) for p in ps)
                                   for ps in progs),
        "epoch_compile_seconds": med(sum(p["compile"] for p in ps if p["program"] == "epoch")
                                     for ps in progs),
        "init_compile_seconds": med(sum(p["compile"] for p in ps
                                        if p["program"] in ("_sample", "_threefry_seed"))
                                    for ps in progs),
        "programs": med(len(ps) for ps in progs),
        "steady_train_seconds": med(s["train_seconds"] for s in second),
        "test_accuracy": med(f["test_accuracy"] for f in first),
        "data_load_seconds": med(s["data_load_seconds"] for s in samples),
        "samples": samples,
    }


def stats() -> dict:
    """Moments and KS distance of normal draws, and permutation uniformity, per PRNG."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    out = {}
    for impl in ("threefry2x32", "rbg", "unsafe_rbg"):
        key = jax.random.key(0, impl=impl)
        z = np.asarray(jax.random.normal(key, (1_000_000,), jnp.float32), np.float64)
        zs = np.sort(z)
        from math import erf, sqrt
        cdf = 0.5 * (1 + np.vectorize(erf)(zs[::100] / sqrt(2)))
        ks = float(np.max(np.abs(cdf - (np.arange(len(cdf)) * 100 + 1) / len(z))))
        m, v = z.mean(), z.var()
        skew = float(((z - m) ** 3).mean() / v ** 1.5)
        kurt = float(((z - m) ** 4).mean() / v ** 2 - 3)
        n, trials = 10, 20_000
        keys = jax.random.split(jax.random.key(1, impl=impl), trials)

        def shuffle(k, n=n):
            bits = jax.random.bits(k, (2, n), jnp.uint32)
            return jax.lax.sort((bits[0], bits[1], jax.lax.iota(jnp.int32, n)), num_keys=2)[2]

        perms = np.asarray(jax.vmap(shuffle)(keys))
        counts = np.zeros((n, n))
        for pos in range(n):
            counts[:, pos] = np.bincount(perms[:, pos], minlength=n)
        expected = trials / n
        chi2 = float(((counts - expected) ** 2 / expected).sum())  # df = (n-1)^2 = 81
        out[impl] = {"mean": float(m), "var": float(v), "skew": skew, "excess_kurtosis": kurt,
                     "ks_distance": ks, "ks_critical_1pct": 1.63 / sqrt(len(cdf)),
                     "perm_chi2": chi2, "perm_chi2_df": (n - 1) ** 2,
                     "perm_chi2_critical_1pct": 113.5}
        print(impl, json.dumps(out[impl]), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args(argv)
    if args.stats:
        result = json.loads(args.out.read_text()) if args.out.exists() else {}
        result["prng_statistics"] = stats()
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    import random

    names = args.variants.split(",")
    load_start = os.getloadavg()
    samples: dict[str, list] = {n: [] for n in names}
    for r in range(args.repeats):
        order = list(names)
        random.Random(r).shuffle(order)
        for name in order:
            print(f"round {r + 1}: {name}", file=sys.stderr, flush=True)
            samples[name].append(run_variant(name, args.epochs))
    table = {n: summarize(s) for n, s in samples.items()}
    print("| variant | first fit s | XLA compile s (all programs) | trace+lower s | epoch "
          "compile s | init compile s | programs | steady 50 epochs s | test accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, t in table.items():
        print(f"| {n} | {t['first_fit_seconds']:.2f} | {t['xla_compile_seconds']:.2f} | "
              f"{t['trace_lower_seconds']:.2f} | {t['epoch_compile_seconds']:.2f} | "
              f"{t['init_compile_seconds']:.2f} | {t['programs']:g} | "
              f"{t['steady_train_seconds']:.3f} | {t['test_accuracy']:.4f} |")
    load = [load_start[0], os.getloadavg()[0]]
    print(f"load average {load[0]:.2f} → {load[1]:.2f}")
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.pop("note", None)  # a note on an earlier run's table
    result.update({"command": "python scripts/first_run_compiles.py "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
                   "variants": {n: {"prng": VARIANTS[n][0], "xla_flags": VARIANTS[n][1],
                                    "cores": VARIANTS[n][2] or len(os.sched_getaffinity(0))}
                                for n in names},
                   "table": table, "load_average": load})
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
