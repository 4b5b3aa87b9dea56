"""How fit_many scales: K runs of 784-30-10 (batch 10, SGD) for one epoch of the bundled
4,000 digits, in one compiled program, against K sequential ``fit`` calls.

    python -m experiments.sweep_benchmark [--ks 1,8,32,128] [--repeats 3]

Writes ``experiments/results/sweep_benchmark.json`` and ``.md``: for each K the end-to-end
wall time of ``fit_many`` (compile included, as a user waits, with the persistent
compilation cache off), its steady-state epoch time (the median of epochs 2…6 of one
call), K sequential ``fit`` calls' wall time (K × one fit's), the steady-state epoch with
``order="shared"`` (one minibatch order for all runs) and with the runs kept on one core
(``jaxnn.train.spread.CORES = 1``: one program, no threads), and the ratios the issue's
goals name. By default ``fit_many`` deals its runs into one part per core
(:mod:`jaxnn.train.spread`) while one ``fit`` uses one core: the table says how many
parts ran, and the one-core column is the like-for-like batching gain. Timings are medians
of ``--repeats`` fresh measurements; the machine's load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import time

import jax

import jaxnn
from jaxnn import optimizers, train
from jaxnn.train import plan, spread

OUT = pathlib.Path(__file__).resolve().parent / "results"
NET = jaxnn.mlp((784, 30, 10), hidden="sigmoid", output="softmax", cost="cross_entropy")


def _data():
    d = jaxnn.data.load_mnist()
    return d.x_train, d.y_train


def _many(K: int, x, y, epochs: int, order: str = "per_run") -> tuple[float, float]:
    """(wall of fit_many with compile, seconds of its last epoch); ``order`` as fit_many's."""
    keys = jax.random.split(jax.random.key(K), K)
    t0 = time.perf_counter()
    params = jax.vmap(lambda k: jaxnn.init_params(k, NET))(keys)
    r = train.fit_many(NET, params, optimizers.sgd(0.5), (x, y), epochs=epochs,
                       batch_size=10, keys=keys, order=order)
    jax.block_until_ready(r.params)
    return time.perf_counter() - t0, _steady(r.histories[0])


def _one(x, y, epochs: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    params = jaxnn.init_params(jax.random.key(0), NET)
    r = train.fit(NET, params, optimizers.sgd(0.5), (x, y), epochs=epochs, batch_size=10,
                  key=jax.random.key(0))
    jax.block_until_ready(r.params)
    return time.perf_counter() - t0, _steady(r.history)


STEADY_EPOCHS = 6  # the steady-state epoch: the median of epochs 2…6 of one call


def _steady(history: list[dict]) -> float:
    """The median seconds of the epochs after the first (which may include warm-up)."""
    return statistics.median(h["seconds"] for h in history[1:] or history)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.sweep_benchmark")
    ap.add_argument("--ks", default="1,8,32,128")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    jaxnn.compile_cache.disable()
    x, y = _data()
    load_start = os.getloadavg()[0]
    single_wall, single_epoch = [], []
    for _ in range(args.repeats):
        jax.clear_caches()
        w, _ = _one(x, y, 1)
        single_wall.append(w)
        single_epoch.append(_one(x, y, STEADY_EPOCHS)[1])
    one_wall, one_epoch = statistics.median(single_wall), statistics.median(single_epoch)
    rows = []
    for K in ks:
        walls, epochs_, shared_epochs, one_core_epochs = [], [], [], []
        for _ in range(args.repeats):
            jax.clear_caches()
            walls.append(_many(K, x, y, 1)[0])
            epochs_.append(_many(K, x, y, STEADY_EPOCHS)[1])
            shared_epochs.append(_many(K, x, y, STEADY_EPOCHS, order="shared")[1])
            spread.CORES = 1
            try:
                one_core_epochs.append(_many(K, x, y, STEADY_EPOCHS)[1])
            finally:
                spread.CORES = None
        wall, epoch = statistics.median(walls), statistics.median(epochs_)
        shared = statistics.median(shared_epochs)
        one_core = statistics.median(one_core_epochs)
        rows.append({
            "K": K, "wall_seconds": wall, "epoch_seconds": epoch,
            "wall_vs_one_run": wall / one_wall,
            "run_epochs_per_second": K / epoch,
            "per_run_throughput_vs_single": (K / epoch) / (1 / one_epoch),
            "shared_order_epoch_seconds": shared,
            "shared_order_per_run_throughput_vs_single": (K / shared) / (1 / one_epoch),
            "parts": spread.parts_of(K // plan.run_group(K, False), jax.default_backend())[0],
            "one_core_epoch_seconds": one_core,
            "one_core_per_run_throughput_vs_single": (K / one_core) / (1 / one_epoch),
            "sequential_wall_seconds": K * one_wall,
        })
    result = {"command": "python -m experiments.sweep_benchmark --ks " + args.ks,
              "repeats": args.repeats, "load_average_start": load_start,
              "load_average_end": os.getloadavg()[0],
              "cores": spread.available_cores(), "backend": jax.default_backend(),
              "single_run": {"wall_seconds": one_wall, "epoch_seconds": one_epoch},
              "rows": rows, "jax": jax.__version__}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep_benchmark.json").write_text(json.dumps(result, indent=2))
    lines = [
        "<!-- generated by experiments/sweep_benchmark.py; do not edit by hand -->",
        f"Command: `{result['command']}`; medians of {args.repeats}; load average "
        f"{load_start:.1f} → {result['load_average_end']:.1f} (2-core shared machine).",
        f"One run (`fit`, compile included): {one_wall:.2f} s; its epoch {one_epoch:.3f} s.",
        f"Backend {result['backend']}, {result['cores']} cores: `fit_many` runs its K runs "
        "in one part per core, side by side (one `fit` keeps one core busy); the one-core "
        "columns keep all K in one program on one core.",
        "",
        "Per-run orders: each run shuffles with its own key (fit_many's default). Shared "
        "order (`order=\"shared\"`): every run takes the first key's minibatch order, so "
        "the first layer is one wide product over the K runs.",
        "",
        "| K runs | fit_many wall s | × one run | epoch s | run·epochs/s | per-run throughput "
        "× single | parts (cores used) | one core: epoch s | one core: per-run throughput × "
        "single | shared order: epoch s | shared order: per-run throughput × single | "
        "K sequential fits s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['K']} | {r['wall_seconds']:.2f} | {r['wall_vs_one_run']:.2f} | "
                     f"{r['epoch_seconds']:.3f} | {r['run_epochs_per_second']:.1f} | "
                     f"{r['per_run_throughput_vs_single']:.2f} | {r['parts']} | "
                     f"{r['one_core_epoch_seconds']:.3f} | "
                     f"{r['one_core_per_run_throughput_vs_single']:.2f} | "
                     f"{r['shared_order_epoch_seconds']:.3f} | "
                     f"{r['shared_order_per_run_throughput_vs_single']:.2f} | "
                     f"{r['sequential_wall_seconds']:.1f} |")
    (args.out / "sweep_benchmark.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
