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

A sweep is never all-or-nothing. ``runs.csv`` and the summaries are rewritten atomically
after every epoch (runs still training marked "running", ``summary.json``'s ``complete``
false), and nothing written is ever deleted: Ctrl-C keeps the finished epochs (marked
"interrupted") and says so; an error or Ctrl-C while ``curves.png`` is drawn keeps the
complete results and names the file. Only a sweep stopped before its first epoch ended
removes its directory. A row's train, validation and test numbers are those of one epoch,
the one whose parameters the run keeps. When output is not a terminal, one line per epoch
says how the runs go. A sweep where every run diverged exits 1; a grid whose parameters
and optimizer state would not fit the memory limit is refused before anything is built.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NamedTuple

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
                   action=flags.Once,
                   help="learning rates, comma-separated, e.g. 0.01,0.1,1 (default "
                   f"{','.join(map(flags.number, d['lr']))})")
    p.add_argument("--l2", type=flags.real_list, default=d["l2"], metavar="LIST",
                   action=flags.Once,
                   help="L2 strengths λ, comma-separated, e.g. 0,1e-4 (default "
                   f"{','.join(map(flags.number, d['l2']))})")
    p.add_argument("--order", choices=jaxnn.train.many.ORDERS, default=d["order"],
                   help="minibatch order: per_run (each run shuffles as `jaxnn train --seed "
                   "s` does) or shared (every run takes the first seed's order, so the "
                   "first layer is one wide product over the runs: faster per run; the "
                   "runs then differ only in their start and settings) (default "
                   "%(default)s)")
    common.add_layers(p)


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


# The copies of one run's parameters a sweep holds at once: the parameters, the next
# epoch's, the best ones (early stopping), a gradient and an optimizer's two moments.
COPIES = 6


class Plan(NamedTuple):
    """What the files of a sweep are written from, besides its results."""

    runs: list  # grid.Run per run
    split: str  # the split monitored each epoch: "test" or "validation"
    seeds: int
    epochs: int
    command: str


class Progress:
    """What a sweep has written so far: its plan (None until the data is read), the last
    epoch whose results are on disk (0: none yet), that epoch's
    :class:`jaxnn.train.ManyResult`, and whether the results are complete."""

    def __init__(self):
        self.plan, self.epoch, self.result, self.done = None, 0, None, False


def run(args) -> int:
    """``jaxnn sweep``: see the module docstring. Returns the exit status."""
    check(args)
    progress = Progress()
    with interrupt.handled():
        if args.out is None:
            out, created = rundir.create_default()
        else:
            out = Path(args.out)
            created = rundir.make(out)
        lock = rundir.lock(out)
        try:
            rundir.check_fresh(out, force=args.force, resumable=False,
                               writes=rundir.SWEEP_FILES)
            try:
                return _sweep(args, out, progress)
            except BaseException as e:
                _stopped(args, out, created, progress, e)
                raise
        finally:
            rundir.unlock(lock)


def _stopped(args, out: Path, created: list[Path], progress: Progress, e) -> None:
    """A sweep that ends in an error or a signal: before any epoch finished, its directory
    is removed; after, every file it wrote is kept (marked "interrupted") and the message
    says what is there."""
    if progress.done:
        return  # the results are complete; the error is about curves.png and says so
    kept = (f"it keeps the results of the {flags.plural(progress.epoch, 'finished epoch')}"
            if progress.epoch else "it kept nothing")
    if progress.epoch == 0:
        rundir.discard(out, created)  # nothing but config.json was written
        if isinstance(e, interrupt.Interrupted):
            raise interrupt.Interrupted(e.signum, "interrupted before the first epoch ended; "
                                        "the sweep kept nothing") from None
    if isinstance(e, OSError) and not isinstance(e, rundir.Busy):  # a full disk, say
        raise OSError(e.errno, f"{e.strerror or e} while writing the sweep in {out}; {kept}. "
                      "Fix: free the space, then run the sweep again") from None
    if progress.epoch == 0:
        return
    if isinstance(e, interrupt.Interrupted):
        with interrupt.held():
            _write(progress.plan, out, progress.result, progress.epoch, None, "interrupted")
        raise interrupt.Interrupted(
            e.signum, f"interrupted after epoch {progress.epoch} of {args.epochs}; {out} "
            f"keeps {rundir.RUNS_CSV}, {rundir.SUMMARY} and {rundir.SUMMARY_MD} of the "
            f"{flags.plural(progress.epoch, 'finished epoch')} (runs still training are "
            "marked \"interrupted\"; test metrics are computed at the end, so a "
            "validation sweep's test cells are empty)") from None


def _sweep(args, out: Path, progress: Progress) -> int:
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
    check_memory(net, len(runs), len(args.lr) * len(args.l2_grid), args.seeds)
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
    plan = progress.plan = Plan(runs, split_name, args.seeds, args.epochs, config["command"])
    terminal = show.stream.isatty()

    def on_epoch(partial) -> None:  # the results so far, on disk before the next epoch
        with interrupt.held():
            _write(plan, out, partial, progress.epoch + 1, None, "running")
            progress.epoch, progress.result = progress.epoch + 1, partial
        if not terminal:  # a terminal shows tqdm's bar; a pipe or a file gets one line
            show.say(_progress_line(progress.epoch, args.epochs, partial, runs, split_name))

    t0 = time.perf_counter()
    result = train.fit_many(
        net, params, lambda learning_rate: optimizers.get(args.optimizer, learning_rate),
        train_set, epochs=args.epochs, batch_size=args.batch_size, keys=stacked_keys,
        grad=args.grad, validation=val_set, patience=args.patience,
        hyperparams={"learning_rate": [r.lr for r in runs], "l2": [r.l2 for r in runs]},
        order=args.order, progress=not args.quiet and terminal, on_epoch=on_epoch)
    seconds = time.perf_counter() - t0
    show.say(f"compiled in {result.compile_seconds:.1f} s, trained in "
             f"{max(0.0, seconds - result.compile_seconds):.1f} s")
    tests = []
    for k, r in enumerate(runs):  # each run's kept parameters on the test set
        one = jax.tree.map(lambda leaf, k=k: leaf[k], result.params)
        tests.append(train.evaluate(net.replace(l2=r.l2), one, x_test, y_test))
    with interrupt.held():
        settings_summary, md = _write(plan, out, result, progress.epoch, tests, None,
                                      seconds)
        progress.done = True
    written = f"{rundir.RUNS_CSV}, {rundir.SUMMARY_MD}, {rundir.SUMMARY}"
    plotted = _curves(result, runs, settings_summary, out, split_name, written)
    print(md, end="", flush=True)
    show.say(f"wrote {out}: {written}"
             + (f", {rundir.CURVES}" if plotted else
                f" (no {rundir.CURVES}: install the 'plot' extra, matplotlib)"))
    diverged = sum(s == "diverged" for s in result.stopped)
    if diverged == len(runs):
        print(f"jaxnn sweep: error: every run diverged ({diverged} of {len(runs)}); no "
              "setting has a result. Fix: smaller --lr values (e.g. a tenth), or a "
              "smaller --l2.", file=sys.stderr)
        return 1
    return 0


def check_memory(net, runs: int, settings: int, seeds: int) -> None:
    """ValueError before the K runs' parameters are built when :data:`COPIES` copies of
    them would not fit the memory limit (:func:`jaxnn.memory.limit`)."""
    from jaxnn import memory

    needed = runs * COPIES * memory.param_bytes(net, "float32")
    allowed, how = memory.limit()
    if allowed is None or needed <= allowed:
        return
    fit = max(1, allowed // (COPIES * memory.param_bytes(net, "float32") * settings))
    raise ValueError(
        f"{flags.plural(runs, 'run')} ({flags.plural(settings, 'setting')} × "
        f"{flags.plural(seeds, 'seed')}) of a {flags.dashed(net.sizes)} network hold about "
        f"{memory.format_bytes(needed)} of parameters and optimizer state at once; the "
        f"memory limit is {memory.format_bytes(allowed)} ({how}); nothing was allocated. "
        f"Fix: --seeds {fit} or fewer (or fewer --lr/--l2 values), or, if it does fit, "
        f"{memory.ENV}=64G (say).")


def _write(plan: Plan, out: Path, result, epochs: int, tests, unfinished: str | None,
           seconds: float | None = None):
    """runs.csv, summary.json and summary.md of ``result`` after ``epochs`` epochs
    (atomically, each): the whole sweep (``tests`` given, ``unfinished`` None), or the
    epochs finished so far (``tests`` None; runs still training are marked
    ``unfinished``). Returns the settings' summary and the markdown table."""
    split, runs = plan.split, plan.runs
    table = grid.rows(runs, result, tests, split, unfinished)
    settings = grid.summarize(table, split)
    rundir.write_text(out / rundir.RUNS_CSV, grid.to_csv(table))
    rundir.write_json(out / rundir.SUMMARY, _summary(settings, split, table, result,
                                                     seconds, epochs, unfinished))
    md = grid.markdown(settings, split, plan.seeds)
    state = "" if unfinished is None else (
        f"\n\n**{unfinished}: {flags.plural(epochs, 'epoch')} of {plan.epochs} finished**"
        " (the metrics of each run's kept epoch so far).")
    rundir.write_text(out / rundir.SUMMARY_MD, f"# jaxnn sweep\n\n`{plan.command}`"
                      f"{state}\n\n{md}")
    return settings, md


def _curves(result, runs, settings, out: Path, split: str, written: str) -> bool:
    """curves.png; an error or a signal while drawing it keeps the results, and says so."""
    from jaxnn.cli import plots

    kept = f"the sweep's results are complete in {out} ({written})"
    try:
        return plots.sweep_curves(result.histories, runs, settings, out / rundir.CURVES,
                                  split)
    except interrupt.Interrupted as e:
        raise interrupt.Interrupted(e.signum, f"interrupted while drawing "
                                    f"{out / rundir.CURVES}; {kept}") from None
    except OSError as e:
        raise OSError(e.errno, f"cannot write {out / rundir.CURVES}: "
                      f"{e.strerror or e}; {kept}. Fix: free space, then draw it again from "
                      f"{rundir.RUNS_CSV}, or rerun") from None


def _progress_line(epoch: int, epochs: int, partial, runs, split: str) -> str:
    """``"epoch 3/10: 46 runs training, 2 diverged; best mean validation accuracy 0.9123
    (lr 0.1, l2 0)"``: one line per epoch, for output that is not a terminal."""
    training = sum(s == "completed" for s in partial.stopped)
    line = f"epoch {epoch}/{epochs}: {flags.plural(training, 'run')} training"
    for what in ("diverged", "early"):
        n = sum(s == what for s in partial.stopped)
        if n:
            line += f", {n} {'stopped early' if what == 'early' else what}"
    scores = {}
    for r, h, s in zip(runs, partial.histories, partial.stopped, strict=True):
        if h and s != "diverged":
            scores.setdefault((r.lr, r.l2), []).append(h[-1]["val_accuracy"])
    if scores:
        (lr, l2), accs = max(scores.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
        line += (f"; best mean {split} accuracy {sum(accs) / len(accs):.4f} "
                 f"({grid.label({'lr': lr, 'l2': l2})})")
    return line


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


def _summary(settings: list[dict], split: str, table, result, seconds: float | None,
             epochs: int, unfinished: str | None) -> dict:
    top = grid.best(settings, split)
    return {
        "complete": unfinished is None,
        "epochs_finished": epochs,
        "monitored": split,
        "runs": len(table),
        "diverged": sum(r["stopped"] == "diverged" for r in table),
        "settings": settings,
        "best": None if top is None else {"lr": top["lr"], "l2": top["l2"],
                                          "by": f"mean {split} accuracy"},
        "train_seconds": None if seconds is None else round(seconds, 3),
        "compile_seconds": round(result.compile_seconds, 3),
    }
