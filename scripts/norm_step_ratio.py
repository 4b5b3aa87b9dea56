"""The hand-written step against autodiff's on normalised and residual networks (issue 20).

For each network variant — plain, layer norm, batch norm, layer norm + residual — the
compiled epoch of ``jaxnn.train.make_epoch`` (shuffle, ``lax.scan`` over minibatches,
Adam) is timed with ``grad="manual"`` (BP1–BP4 and the normalisation equations N1–N3)
and with ``grad="autodiff"`` (``jax.value_and_grad`` of the same cost), in one process,
interleaved round by round; each variant's ratio is the median manual epoch over the
median autodiff epoch (< 1: the hand-written step is faster). The goal: ≤ 1.05.

    python scripts/norm_step_ratio.py [--rounds 7] [--out experiments/results]

writes ``norm_step_ratio.json`` with every time, the ratios and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import time

import jax
import numpy as np

import jaxnn
from jaxnn import optimizers, train

SIZES = (784, 256, 256, 256, 10)
BATCH, STEPS = 128, 40
VARIANTS = {"plain": {}, "layer norm": {"norm": "layer"}, "batch norm": {"norm": "batch"},
            "layer norm + residual": {"norm": "layer", "residual": True}}
GOAL = 1.05


def _epoch(net, grad):
    n = BATCH * STEPS
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, SIZES[0]), np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int32)
    params = jaxnn.init_params(jax.random.key(0), net)
    opt = optimizers.adam(1e-3)
    epoch = train.make_epoch(net, opt, batch_size=BATCH, num_examples=n, grad=grad)
    state = opt.init(params)
    args = [params, state, x, y, jax.random.key(1), None, None]

    def once() -> float:
        t = time.perf_counter()
        out = epoch(*args)
        jax.block_until_ready(out)
        return time.perf_counter() - t

    once()  # compile
    return once


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("experiments/results"))
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    runs = {name: {grad: _epoch(jaxnn.mlp(SIZES, hidden="tanh", output="softmax",
                                          cost="cross_entropy", **kw), grad)
                   for grad in ("manual", "autodiff")} for name, kw in VARIANTS.items()}
    times = {name: {"manual": [], "autodiff": []} for name in VARIANTS}
    for _ in range(args.rounds):
        for name, grads in runs.items():
            for grad, once in grads.items():
                times[name][grad].append(once())
    rows = []
    for name, t in times.items():
        manual, auto = statistics.median(t["manual"]), statistics.median(t["autodiff"])
        rows.append({"network": name, "manual_s": manual, "autodiff_s": auto,
                     "ratio": manual / auto, "goal_met": manual / auto <= GOAL})
        print(f"{name:24s} manual {manual * 1e3 / STEPS:7.3f} ms/step  autodiff "
              f"{auto * 1e3 / STEPS:7.3f} ms/step  ratio {manual / auto:.3f}")
    result = {"sizes": list(SIZES), "hidden": "tanh", "batch": BATCH, "steps": STEPS,
              "optimizer": "adam 1e-3", "rounds": args.rounds, "goal": GOAL, "rows": rows,
              "times": times, "load_average": [load_before, os.getloadavg()[0]],
              "device": jax.devices()[0].device_kind, "command":
              "python scripts/norm_step_ratio.py" + (f" --rounds {args.rounds}"
                                                     if args.rounds != 7 else "")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "norm_step_ratio.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f}; wrote "
          f"{args.out / 'norm_step_ratio.json'}")
    return result


if __name__ == "__main__":
    main()
