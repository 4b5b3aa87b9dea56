"""``jaxnn sweep``: a grid of learning rates × L2 strengths × seeds, as ONE compiled program.

``jaxnn sweep --seeds 8 --lr 0.01,0.1,1 --l2 0,1e-4`` trains 3 × 2 settings × 8 seeds = 48
runs with :func:`jaxnn.train.fit_many` (the per-run hyper-parameters ``learning_rate`` and
``l2``; the optimizer built by ``lambda learning_rate: optimizers.get(name,
learning_rate)``). Run (lr, l2, seed s) is the run ``jaxnn train --lr lr --l2 l2 --seed s``
makes (its initialization and shuffles), computed side by side with the others.

It writes a run directory (created exclusively and locked as ``jaxnn train``'s; one that
holds anything needs ``--force``):

* ``config.json``: the jaxnn version, the command line, the flags, the grid, the data,
  the environment;
* ``runs.csv``: one row per run: seed, lr, l2, epochs, best_epoch, stopped
  (completed / early / diverged), diverged_at, the final train (and validation) metrics
  and the test metrics of its parameters;
* ``summary.json`` (full precision) and ``summary.md`` (a table): mean ± std per setting,
  over the seeds;
* ``curves.png``: the monitored accuracy and cost per epoch, a mean line and a ±1 std
  band per setting (with matplotlib; without it the sweep says so and goes on).
"""

from __future__ import annotations

import time
from pathlib import Path

import jaxnn
from jaxnn import optimizers
from jaxnn.cli import common, console, datasets, flags, grid, interrupt, rundir, session

HELP = "train a grid of learning rates × L2 strengths × seeds in one compiled program"
DESCRIPTION = (
    "Train every --lr × --l2 setting with --seeds seeds as one compiled program "
    "(jaxnn.train.fit_many), and write runs.csv (one row per run), summary.json and "
    "summary.md (mean ± std per setting over the seeds) and curves.png into a new run "
    "directory. Example: jaxnn sweep --seeds 8 --lr 0.01,0.1,1 --l2 0,1e-4 --epochs 10."
)
DEFAULTS = {"seeds": 3, "lr": (1e-3,), "l2": (0.0,), "epochs": 10, "batch_size": 32,
            "sizes": None, "hidden": "relu", "output": "softmax", "cost": "cross_entropy",
            "init": "he_normal", "optimizer": "adam", "order": "per_run"}


TEXTS = {
    "sizes": "n_0,…,n_L; n_0 and n_L must match the data (default: n_in,256,n_out from the "
             "data)",
    "epochs": "epochs per run (default %(default)s)",
    "val_size": "hold out this many training examples for validation, the same for every "
                "run (split with --seed) (default 0: the test set is monitored each epoch)",
    "patience": "early stopping per run (needs --val-size; default: none, every epoch runs)",
    "seed": "the first seed, in [0, 2^32) (default %(default)s)",
    "out": "the sweep's directory (default: a new runs/<timestamp>-<random>); an existing "
           "one must be empty",
    "force": "write into an --out that holds other files or another run (the run's own "
             "files are replaced)",
    "quiet": "print only the summary table",
}


def add_arguments(p) -> None:
    """The flags of ``jaxnn sweep``: its grid, then the block shared with ``jaxnn train``
    (:func:`jaxnn.cli.common.add_arguments`)."""
    common.add_arguments(p, DEFAULTS, TEXTS, own={common.FIRST: _add_grid})


def _add_grid(p) -> None:
    d = DEFAULTS
    p.add_argument("--seeds", type=int, default=d["seeds"], help="seeds per setting: --seed, "
                   "--seed+1, …, --seed+N−1 (default %(default)s)")
    p.add_argument("--lr", type=flags.real_list, default=d["lr"], metavar="LIST",
                   help="learning rates, comma-separated, e.g. 0.01,0.1,1 (default "
                   f"{','.join(map(flags.number, d['lr']))})")
    p.add_argument("--l2", type=flags.real_list, default=d["l2"], metavar="LIST",
                   help="L2 strengths λ, comma-separated, e.g. 0,1e-4 (default "
                   f"{','.join(map(flags.number, d['l2']))})")
    p.add_argument("--order", choices=jaxnn.train.many.ORDERS, default=d["order"],
                   help="minibatch order: per_run (each run shuffles as `jaxnn train --seed "
                   "s` does) or shared (every run takes the first seed's order, so the "
                   "first layer is one wide product over the runs: faster per run; the "
                   "runs then differ only in their start and settings) (default "
                   "%(default)s)")


def check(args) -> None:
    """Every flag, before any JAX work (ValueError naming the flag)."""
    common.check(args, "a sweep's directory")
    flags.integer(args, "seeds", minimum=1, maximum=flags.INT32_MAX, fix="e.g. --seeds 8")
    if args.seed + args.seeds > flags.SEED_LIMIT:
        raise ValueError(flags.message(
            "--seed + --seeds", "at most 2^32 (every seed in [0, 2^32))",
            f"{args.seed} + {args.seeds}", "a smaller --seed"))
    for name, positive in (("lr", True), ("l2", False)):
        values = getattr(args, name)
        if not values:
            raise ValueError(f"the grid is empty: --{name} has no values. Fix: e.g. "
                             + ("--lr 0.01,0.1,1." if positive else "--l2 0,1e-4."))
        for v in values:
            if not (v == v and abs(v) != float("inf")) or (v <= 0 if positive else v < 0):
                raise ValueError(flags.message(
                    f"every --{name} value", "a finite number > 0" if positive else
                    "a finite number ≥ 0", f"{v:g} in {','.join(map(flags.number, values))}",
                    "e.g. --lr 0.01,0.1,1" if positive else "e.g. --l2 0,1e-4"))
        if len(set(values)) != len(values):
            shown = ",".join(map(flags.number, values))
            raise ValueError(f"--{name} lists a value twice ({shown}); each setting runs "
                             "once per seed. Fix: drop the repeat.")
    args.l2_grid, args.l2 = args.l2, 0.0  # the network's own λ; the grid's go per run
    session.network(args)


def run(args) -> int:
    """``jaxnn sweep``: see the module docstring. Returns the exit status."""
    check(args)
    with interrupt.handled():
        if args.out is None:
            out, created = rundir.create_default()
        else:
            out = Path(args.out)
            created = rundir.make(out)
        lock = rundir.lock(out)
        try:
            rundir.check_fresh(out, force=args.force, resumable=False)
            try:
                return _sweep(args, out)
            except BaseException as e:
                rundir.discard(out, created)  # a sweep keeps nothing until it is done
                if isinstance(e, interrupt.Interrupted):
                    raise interrupt.Interrupted(e.signum, "interrupted; the sweep kept "
                                                "nothing") from None
                raise
        finally:
            rundir.unlock(lock)


def _sweep(args, out: Path) -> int:
    import jax
    import jax.numpy as jnp

    from jaxnn import train

    show = console.Printer("", quiet=args.quiet)
    tt = datasets.load(args)
    args.sizes = datasets.fit_network(args.sizes, tt)
    net = session.network(args)
    x_train, y_train, x_test, y_test = tt
    if args.val_size >= len(x_train):
        raise ValueError(f"--val-size {args.val_size} leaves no training data "
                         f"({len(x_train)} examples).")
    train_set, val_set = (x_train, y_train), (x_test, y_test)
    if args.val_size:
        from jaxnn import data

        split = data.train_val_split(x_train, y_train, val_size=args.val_size, seed=args.seed)
        train_set, val_set = (split.x_train, split.y_train), (split.x_val, split.y_val)
    if args.batch_size > len(train_set[0]):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the training set "
                         f"({len(train_set[0])} examples). Fix: --batch-size ≤ "
                         f"{len(train_set[0])}.")
    split_name = datasets.split_name(args.val_size)
    seeds = list(range(args.seed, args.seed + args.seeds))
    runs = grid.runs(args.lr, args.l2_grid, seeds)
    config = _config(args, net, tt, len(train_set[0]), len(val_set[0]), split_name, runs)
    rundir.write_json(out / rundir.CONFIG, config)

    inits, keys = {}, {}
    for s in seeds:  # as `jaxnn train --seed s`: one key for the init, one for the shuffles
        key_init, keys[s] = jax.random.split(jax.random.key(s))
        inits[s] = jaxnn.init_params(key_init, net, args.init)
    params = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[inits[r.seed] for r in runs])
    stacked_keys = jnp.stack([keys[r.seed] for r in runs])
    settings = len(args.lr) * len(args.l2_grid)
    show.say(f"network {console.network(net)}; {args.optimizer}, batch {args.batch_size}, "
             f"{flags.plural(args.epochs, 'epoch')} on "
             f"{flags.plural(len(train_set[0]), 'training example')} of {tt.name}; "
             f"{split_name}: {flags.plural(len(val_set[0]), 'example')}")
    show.say(f"run directory {out}")
    show.say(f"compiling and training {flags.plural(len(runs), 'run')} "
             f"({flags.plural(settings, 'setting')} × {flags.plural(len(seeds), 'seed')}) "
             "in one program…")
    t0 = time.perf_counter()
    result = train.fit_many(
        net, params, lambda learning_rate: optimizers.get(args.optimizer, learning_rate),
        train_set, epochs=args.epochs, batch_size=args.batch_size, keys=stacked_keys,
        grad=args.grad, validation=val_set, patience=args.patience,
        hyperparams={"learning_rate": [r.lr for r in runs], "l2": [r.l2 for r in runs]},
        order=args.order, progress=not args.quiet and show.stream.isatty())
    seconds = time.perf_counter() - t0
    show.say(f"compiled in {result.compile_seconds:.1f} s, trained in "
             f"{max(0.0, seconds - result.compile_seconds):.1f} s")
    tests = []
    for k, r in enumerate(runs):  # each run's kept parameters on the test set
        one = jax.tree.map(lambda leaf, k=k: leaf[k], result.params)
        tests.append(train.evaluate(net.replace(l2=r.l2), one, x_test, y_test))
    table = grid.rows(runs, result, tests, split_name)
    settings_summary = grid.summarize(table, split_name)
    with interrupt.held():
        rundir.write_text(out / rundir.RUNS_CSV, grid.to_csv(table))
        rundir.write_json(out / rundir.SUMMARY, _summary(settings_summary, split_name, table,
                                                         result, seconds))
        md = grid.markdown(settings_summary, split_name, len(seeds))
        rundir.write_text(out / rundir.SUMMARY_MD, f"# jaxnn sweep\n\n`{config['command']}`"
                          f"\n\n{md}")
    from jaxnn.cli import plots

    plotted = plots.sweep_curves(result.histories, runs, settings_summary,
                                 out / rundir.CURVES, split_name)
    print(md, end="", flush=True)
    show.say(f"wrote {out}: {rundir.RUNS_CSV}, {rundir.SUMMARY_MD}, {rundir.SUMMARY}"
             + (f", {rundir.CURVES}" if plotted else
                f" (no {rundir.CURVES}: install the 'plot' extra, matplotlib)"))
    return 0


def _config(args, net, tt, n_train: int, n_val: int, split: str, runs) -> dict:
    flags_ = session.flags_of(args)
    flags_["l2"] = list(flags_.pop("l2_grid"))
    return {
        "format": rundir.SWEEP_FORMAT,
        "jaxnn_version": jaxnn.__version__,
        "command": session.command_line(args),
        "flags": flags_,
        "grid": {"lr": list(args.lr), "l2": list(args.l2_grid),
                 "seeds": list(range(args.seed, args.seed + args.seeds)), "runs": len(runs)},
        "network": net.to_dict(),
        "data": {**datasets.describe(tt), "train_examples": n_train, "monitored": split,
                 "monitored_examples": n_val},
        "environment": session.environment(),
    }


def _summary(settings: list[dict], split: str, table, result, seconds: float) -> dict:
    top = grid.best(settings, split)
    return {
        "monitored": split,
        "runs": len(table),
        "diverged": sum(r["stopped"] == "diverged" for r in table),
        "settings": settings,
        "best": None if top is None else {"lr": top["lr"], "l2": top["l2"],
                                          "by": f"mean {split} accuracy"},
        "train_seconds": round(seconds, 3),
        "compile_seconds": round(result.compile_seconds, 3),
    }
