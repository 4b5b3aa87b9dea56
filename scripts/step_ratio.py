"""jaxnn's training step against the plain-JAX ``lax.scan`` step, over fresh processes.

The benchmark (``python -m experiments.benchmark``) times every implementation in one
process. On a shared 2-core machine the ratio of two compiled programs moves by ±5–10 %
from one process to the next (where XLA's buffers land, which cores its threads get), so
one process cannot settle a goal like "≤ 1.02×". This script starts ``--processes`` fresh
processes per (size, optimizer); each builds the two cases of the benchmark
(:func:`jaxnn.cli.bench.cases.jaxnn_case`: ``make_epoch`` with its default per-step metrics,
shuffle and gather; :func:`experiments.benchmark.plain_jax_scan_case`: optax, no shuffle),
times them in ``--rounds`` interleaved rounds and reports the median ratio; the table gives
the median, min and max over the processes, and the load average.

    python scripts/step_ratio.py                   # 784-256-256-10 b128, 784-1024-1024-10 b1024
    python scripts/step_ratio.py --processes 3 --sizes 784-30-10:10:5000
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_SIZES = "784-256-256-10:128:50,784-1024-1024-10:1024:2"


def child(size_text: str, optimizer: str, rounds: int) -> float:
    """In a fresh process: the median over ``rounds`` of jaxnn's call time ÷ the peer's."""
    import time

    from experiments import benchmark
    from jaxnn.cli.bench import cases

    (size,) = cases.parse_sizes(size_text)
    problem = cases.make_problem(size, optimizer)
    jaxnn_case = cases.jaxnn_case(problem)
    peer = benchmark.plain_jax_scan_case(problem)
    for case in (jaxnn_case, peer):  # warm up: the first calls fault pages in
        case.call()
        case.call()
    ratios = []
    for _ in range(rounds):
        seconds = []
        for case in (jaxnn_case, peer):
            t = time.perf_counter()
            case.call()
            seconds.append(time.perf_counter() - t)
        ratios.append(seconds[0] / seconds[1])
    return statistics.median(ratios)


def run_child(size_text: str, optimizer: str, rounds: int) -> float:
    code = ("import json, sys; sys.path.insert(0, %r); from scripts.step_ratio import child; "
            "print('RATIO', json.dumps(child(%r, %r, %d)))" % (str(ROOT), size_text, optimizer,
                                                                rounds))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RATIO"))[6:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES,
                    help="sizes as the benchmark takes them (default %(default)s)")
    ap.add_argument("--optimizers", default="sgd,adam")
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    for size_text in args.sizes.split(","):
        for optimizer in args.optimizers.split(","):
            ratios = [run_child(size_text, optimizer, args.rounds)
                      for _ in range(args.processes)]
            rows.append((size_text, optimizer, ratios))
            print(f"{size_text} {optimizer}: " + ", ".join(f"{r:.3f}" for r in ratios),
                  file=sys.stderr)
    print(f"jaxnn manual step ÷ plain JAX lax.scan step, median of {args.rounds} interleaved "
          f"rounds per process, {args.processes} fresh processes each; load average "
          f"{load_before[0]:.2f} → {os.getloadavg()[0]:.2f}.\n")
    print("| size (sizes:batch:steps) | optimizer | median | min | max |")
    print("| --- | --- | ---: | ---: | ---: |")
    for size_text, optimizer, ratios in rows:
        print(f"| {size_text} | {optimizer} | {statistics.median(ratios):.3f} | "
              f"{min(ratios):.3f} | {max(ratios):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
