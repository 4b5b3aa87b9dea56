"""The swap-or-not shuffle's round bit and its speed.

The bit: how often the top bits of the hash agree for two inputs one XOR-difference apart
(:func:`jaxnn.train.core._hash32`, against the two-multiply "lowbias32" it replaced). An
unbiased bit agrees 50 % of the time; the table gives, per hash, the four differences (of
1…64) furthest from 50 %, in standard errors.

    python scripts/shuffle_hash_bias.py            # 2^24 random (input, key) pairs
    python scripts/shuffle_hash_bias.py --time     # and the shuffle's time against a sort

``--time``: the median over 40 calls of the compiled :func:`jaxnn.train.core.shuffle` and
of the sort of n indices by 64 random bits that jaxnn used up to 0.2, at n = 1,437, 6,400
and 60,000, with the load average.
"""

from __future__ import annotations

import argparse

import numpy as np

U = np.uint32


def lowbias32(x):
    x = (x ^ (x >> U(16))) * U(0x7FEB352D)
    x = (x ^ (x >> U(15))) * U(0x846CA68B)
    return x ^ (x >> U(16))


def triple32(x):  # the same constants as jaxnn.train.core._hash32, in numpy
    x = (x ^ (x >> U(17))) * U(0xED5AD4BB)
    x = (x ^ (x >> U(11))) * U(0xAC4C1B51)
    x = (x ^ (x >> U(15))) * U(0x31848BAB)
    return x ^ (x >> U(14))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2-samples", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time", action="store_true", help="also time the shuffle")
    args = ap.parse_args(argv)
    n = 1 << args.log2_samples
    rng = np.random.default_rng(args.seed)
    v = rng.integers(0, 1 << 16, n, dtype=np.uint32)
    k = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    print(f"{n:,} (input, key) pairs; an agreement's standard error {50 / np.sqrt(n):.4f} %")
    print("| hash | furthest differences: agreement % (standard errors) |\n| --- | --- |")
    with np.errstate(over="ignore"):
        for name, h in (("triple32 (jaxnn)", triple32), ("lowbias32", lowbias32)):
            top = h(v ^ k) >> U(31)
            rows = []
            for d in range(1, 65):
                agree = float(np.mean(top == (h(v ^ U(d) ^ k) >> U(31))))
                rows.append((abs(agree - 0.5) / (0.5 / np.sqrt(n)), d, agree))
            rows.sort(reverse=True)
            print(f"| {name} | " + ", ".join(f"d = {d}: {100 * a:.3f} ({z:.1f})"
                                               for z, d, a in rows[:4]) + " |")
    if args.time:
        time_shuffles()
    return 0


def time_shuffles(sizes=(1437, 6400, 60_000), calls: int = 40) -> None:
    import os
    import statistics
    import time

    import jax
    import jax.numpy as jnp

    from jaxnn.train import core

    def sort64(key, n):
        bits = jax.random.bits(key, (2, n), jnp.uint32)
        iota = jax.lax.iota(jnp.int32, n)
        return jax.lax.sort((bits[0], bits[1], iota), num_keys=2, is_stable=False)[2]

    print(f"\nload average {os.getloadavg()[0]:.2f}; ms per call, median of {calls}")
    print("| n | swap-or-not (jaxnn) | sort by 64 random bits (≤ 0.2) |\n| ---: | ---: | ---: |")
    for n in sizes:
        row = []
        for fn in (core.shuffle, sort64):
            compiled = jax.jit(fn, static_argnums=1).lower(jax.random.key(0), n).compile()
            compiled(jax.random.key(0)).block_until_ready()
            seconds = []
            for r in range(calls):
                t = time.perf_counter()
                compiled(jax.random.key(r)).block_until_ready()
                seconds.append(time.perf_counter() - t)
            row.append(1e3 * statistics.median(seconds))
        print(f"| {n:,} | {row[0]:.2f} | {row[1]:.2f} |")


if __name__ == "__main__":
    raise SystemExit(main())
