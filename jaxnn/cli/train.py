"""``jaxnn train``: a training run and its directory.

A run directory (:mod:`jaxnn.cli.rundir`: created exclusively, locked while the run writes,
never someone else's folder) holds:

* ``config.json``: the jaxnn version, the command line, the flags, the network, the data
  (its class names and input shape), the split monitored each epoch, and the environment
  (Python, JAX, platform, device);
* ``metrics.jsonl``: one JSON line per finished epoch (with an ISO ``time``), appended
  after that epoch's checkpoint is on disk (so it is never ahead of the checkpoint);
* ``checkpoint.safetensors``: parameters, optimizer state and history after the last
  finished epoch, written atomically (temporary file, fsync, rename), so a crash at any
  moment leaves the previous complete checkpoint; ``best.safetensors`` with early stopping;
* ``summary.json``: ``test_accuracy``, ``test_cost``, ``epochs``, ``train_seconds``, …;
* ``learning_curve.png`` when matplotlib is installed (the ``plot`` extra).

The data is ``--dataset NAME`` or ``--data PATH`` (:mod:`jaxnn.cli.datasets`); without
``--sizes`` the network is ``n_in,256,n_out`` from the data.
``--hidden``, ``--output`` and ``--cost`` also take a user component as
``package.module:attribute`` (:mod:`jaxnn.cli.user`); ``--resume`` and ``jaxnn evaluate``
import it again from the module the run's config.json names. A multi-process run
(``--coordinator``) waits ``--coordinator-timeout`` seconds for its processes, then exits 2.

``--resume`` continues from ``checkpoint.safetensors`` and ends with exactly the
parameters of an uninterrupted run (epoch e always shuffles with ``fold_in(key, e)``). The
flags that decide what the run computes (:data:`MEANING`) come from the run when left out
and must agree with it when given; ``--epochs`` may change only under a schedule whose
horizon does not depend on it. SIGINT and SIGTERM stop the run between two epochs'
writes, say how to resume it and exit 130 or 143.
"""

from __future__ import annotations

import datetime
import json
import shlex
import sys
import time
from pathlib import Path

from jaxnn.cli import common, console, flags, interrupt, resume, rundir, session, user

# What `jaxnn train` with no flags trains.
DEFAULTS = {"sizes": None, "hidden": "relu", "output": "softmax",
            "cost": "cross_entropy", "init": "he_normal", "optimizer": "adam", "lr": 1e-3,
            "schedule": "constant", "epochs": 20, "batch_size": 32}
HELP = "train a network (MNIST's bundled 5,000-digit sample by default)"
DESCRIPTION = (
    "Train with the hand-written gradients, one compiled call per epoch. Writes a run "
    "directory: config.json, metrics.jsonl (one line per epoch), summary.json, "
    "checkpoint.safetensors (after every epoch, atomically) and learning_curve.png (with "
    "matplotlib). With no arguments: 784-256-10, {hidden} hidden, {output} output, {cost} "
    "cost, {init} init, {optimizer} {lr:g} ({schedule}), batch {batch_size}, {epochs} "
    "epochs on the bundled MNIST sample (4,000 train, 1,000 test)."
).format(**DEFAULTS)
# Flags that decide what a run computes (see jaxnn.cli.resume).
MEANING, ARCHITECTURE = resume.MEANING, resume.ARCHITECTURE


TEXTS = {
    "sizes": "n_0,…,n_L, e.g. 784,30,10; n_0 and n_L must match the data (default: "
             "n_in,256,n_out from the data, 784,256,10 for MNIST)",
    "epochs": "passes over the training set (default %(default)s)",
    "val_size": "hold out this many training examples for validation (default 0: the test "
                "set is monitored each epoch)",
    "patience": "early stopping: stop after this many epochs without a lower validation "
                "cost (needs --val-size; default: none, every epoch runs)",
    "seed": "in [0, 2^32) (default %(default)s)",
    "out": "run directory (default: a new runs/<timestamp>-<random>); an existing one must "
           "be empty",
    "force": "train into an --out that holds other files or another run (the run's own "
             "files are replaced)",
    "quiet": "print only the test accuracy",
}
COORDINATOR_TIMEOUT = 60  # seconds, the default of --coordinator-timeout
COORDINATOR_TIMEOUT_MAX = 86_400  # a day


def add_arguments(p) -> None:
    """The flags of ``jaxnn train``: the block shared with ``jaxnn sweep``
    (:func:`jaxnn.cli.common.add_arguments`) and its own."""
    common.add_arguments(p, DEFAULTS, TEXTS, own={
        "optimizer": _add_rate, "batch_size": _add_regularization,
        "out": lambda p: p.add_argument(
            "--resume", action="store_true", help="continue the run in --out from its "
            "checkpoint; flags left out are the run's, flags given must agree"),
        "force": lambda p: p.add_argument(
            "--x64", action="store_true", help="train in float64 (default float32)"),
        "quiet": _add_processes})


def _add_rate(p) -> None:
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                   help="learning rate (default %(default)s)")
    p.add_argument("--schedule", default=DEFAULTS["schedule"], help="learning-rate schedule "
                   f"over the run, one of: {flags.names(session.SCHEDULES)} (default "
                   "%(default)s)")


def _add_regularization(p) -> None:
    p.add_argument("--l2", type=float, default=0.0,
                   help="L2 strength λ, J += λ/2m Σ‖W‖² (default %(default)s)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="probability of dropping each hidden unit while training "
                   "(inverted dropout; default %(default)s: none)")
    common.add_layers(p)


def _add_processes(p) -> None:
    p.add_argument("--debug-nans", action="store_true", help="stop at the first operation "
                   "that produces a NaN (jax_debug_nans: slow, re-runs ops un-jitted to point "
                   "at the culprit)")
    p.add_argument("--devices", type=int, default=None, help="data-parallel over N devices "
                   "(batch size a multiple of N); default: one device")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, for a "
                   "multi-process run (jax.distributed; gloo collectives on CPU) (default: "
                   "none, one process)")
    p.add_argument("--num-processes", type=int, default=None,
                   help="P, with --coordinator (default: none)")
    p.add_argument("--process-id", type=int, default=None,
                   help="this process, 0..P-1, with --coordinator (default: none)")
    p.add_argument("--coordinator-timeout", type=int, default=COORDINATOR_TIMEOUT,
                   metavar="SECONDS", help="with --coordinator: how long to wait for process "
                   "0 to answer and for every process to join before giving up with exit "
                   "status 2 (default %(default)s)")


def check(args) -> None:
    """Every flag, before any JAX work (ValueError naming the flag)."""
    big = flags.INT32_MAX
    common.check(args, "a run directory")
    flags.integer(args, "devices", minimum=1, maximum=big, fix="e.g. --devices 2")
    flags.integer(args, "num_processes", minimum=1, maximum=big, fix="e.g. --num-processes 2")
    if args.process_id is not None and args.num_processes is not None:
        flags.integer(args, "process_id", minimum=0, maximum=args.num_processes - 1,
                      why="--num-processes − 1", fix="0 for the coordinator's process")
    flags.integer(args, "coordinator_timeout", minimum=1, maximum=COORDINATOR_TIMEOUT_MAX,
                  why="a day", fix=f"e.g. --coordinator-timeout {COORDINATOR_TIMEOUT}")
    flags.positive_real(args, "lr", fix="e.g. --lr 1e-3")
    flags.choose(args, "schedule", tuple(session.SCHEDULES), "schedule")
    multi = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in multi) and any(v is None for v in multi):
        raise ValueError("a multi-process run needs all three of --coordinator HOST:PORT, "
                         "--num-processes P and --process-id I.")
    if args.coordinator is None and "coordinator_timeout" in (getattr(args, "given", None)
                                                              or ()):
        raise ValueError("--coordinator-timeout is for a multi-process run; got it without "
                         "--coordinator. Fix: drop it, or add --coordinator HOST:PORT "
                         "--num-processes P --process-id I.")
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
    if args.resume and args.force:
        raise ValueError("--resume and --force contradict each other: --resume continues the "
                         "run in --out, --force starts a new one over it. Fix: drop one.")


def run(args) -> int:
    """``jaxnn train``: see the module docstring. Returns the exit status."""
    check(args)
    session.network(args)  # its checks, before a folder is made
    if args.coordinator is not None:  # before any other JAX work in the process
        from jaxnn.train import parallel

        parallel.initialize(args.coordinator, args.num_processes, args.process_id,
                            timeout=args.coordinator_timeout)
    import jax

    writer = jax.process_index() == 0  # in a multi-process run, process 0 writes the run
    with interrupt.handled():
        out, lock, created = _open(args, writer)
        try:
            return _run(args, out, writer, created)
        finally:
            rundir.unlock(lock)


def _open(args, writer: bool) -> tuple[Path | None, int | None, list[Path]]:
    """The run directory (made and locked by the writer), its lock, and the folders this
    run created. A fresh run's directory is checked to be free; nothing is written yet."""
    if not writer:
        return (Path(args.out) if args.out else None), None, []
    if args.out is None:
        out, created = rundir.create_default()
        return out, rundir.lock(out), created
    out = Path(args.out)
    if args.resume:
        if not (out / rundir.CHECKPOINT).is_file():
            raise FileNotFoundError(resume.no_checkpoint(out))
        return out, rundir.lock(out), []
    created = rundir.make(out)
    lock = rundir.lock(out)  # Busy: another process's run, left alone
    try:
        rundir.check_fresh(out, force=args.force)
    except BaseException:
        rundir.unlock(lock)
        raise
    return out, lock, created


def _run(args, out: Path | None, writer: bool, created: list[Path]) -> int:
    import jax


    saved, step = {}, 0
    if args.resume:
        with jax.enable_x64(True):  # read the run as it was saved, float64 included
            first = user.load_checkpoint(out / rundir.CHECKPOINT,
                                         rundir.read_json(out / rundir.CONFIG, {}), "train")
        saved = first.metadata.get("config", {}).get("flags", {})
        step = first.step
        resume.adopt(args, saved)
        check(args)
        resume.refuse_changes(args, saved, first.net, out)
        if resume.finished(args, out, step):
            print(f"jaxnn train: {out} is finished (epoch {step} of {args.epochs}); nothing "
                  f"to resume, {rundir.SUMMARY} is left as it is.", file=sys.stderr)
            return 0
    state = session.State(saved_epoch=step)  # until prepare() gives the whole state
    with jax.enable_x64(bool(args.x64)), jax.debug_nans(bool(args.debug_nans)):
        try:
            state = session.prepare(args, out)
            return _fit(args, state, out, writer)
        except interrupt.Interrupted as e:
            if state.saved_epoch == 0 and writer and not args.resume:
                rundir.discard(out, created)
                raise interrupt.Interrupted(
                    e.signum, "interrupted before the first epoch ended; nothing was kept"
                    + ("" if created else f" (the run's files in {out} were removed)")) from None
            raise interrupt.Interrupted(
                e.signum, f"interrupted at epoch {state.saved_epoch}; resume with: jaxnn train "
                f"--resume --out {shlex.quote(str(out))}") from None
        except FloatingPointError as e:  # TrainingDiverged: the last good epoch is kept
            raise FloatingPointError(
                f"{e} The run in {out} keeps the checkpoint of epoch {state.saved_epoch}; "
                "rerun it with other flags with --force, or into another --out.") from None
        except (ValueError, TypeError, OSError) as e:
            if state.saved_epoch == 0 and writer and not args.resume:
                rundir.discard(out, created)  # nothing to keep: no epoch finished
                raise
            if not isinstance(e, OSError) or not hasattr(state, "config"):
                raise
            raise OSError(  # a full disk, a folder removed under the run
                e.errno, f"{e.strerror or e} while writing the run in {out}; its checkpoint "
                f"of epoch {state.saved_epoch} is intact. Fix: free the space, then jaxnn "
                f"train --resume --out {shlex.quote(str(out))}.") from None


def _fit(args, state, out: Path | None, writer: bool) -> int:
    """Train from ``state`` (:func:`session.prepare`), writing the run as it goes."""
    import jax

    from jaxnn import checkpoint, train
    from jaxnn.train import parallel

    net, config = state.net, state.config
    if writer:
        if args.resume:  # the metrics of the epochs the checkpoint holds, none after
            rundir.drop_temporary_files(out)
        rundir.write_json(out / rundir.CONFIG, config)
        rundir.write_text(out / rundir.METRICS,
                          "".join(json.dumps(r) + "\n" for r in state.history))
    so_far = list(state.history)
    show = console.Printer(state.split, quiet=args.quiet)

    def on_epoch(epoch, params, opt_state, record):
        record = {**record, "seconds": round(record["seconds"], 4),
                  "time": datetime.datetime.now(datetime.UTC).isoformat(
                      timespec="seconds")}
        so_far.append(record)
        if not writer:  # in a multi-process run, process 0 reports
            return
        params, opt_state = parallel.to_host((params, opt_state))
        meta = {"config": config, "history": so_far}
        with interrupt.held():  # the checkpoint, then its metrics line: both or neither
            if args.patience and record["val_cost"] <= min(r["val_cost"] for r in so_far):
                checkpoint.save(out / rundir.BEST, params, None, net=net, step=epoch,
                                metadata=meta)
            checkpoint.save(out / rundir.CHECKPOINT, params, opt_state, net=net, step=epoch,
                            metadata=meta)
            state.saved_epoch = epoch
            rundir.append_line(out / rundir.METRICS, json.dumps(record))
        show.row(record)

    n_monitored = len(state.val_set[0])
    show.say(f"network {console.network(net)}")
    show.say(f"training {args.optimizer} lr {flags.number(args.lr)} ({args.schedule}), batch "
             f"{args.batch_size}, {flags.plural(args.epochs, 'epoch')} on "
             f"{flags.plural(state.n_train, 'training example')} of {state.data.name}; "
             f"{state.split}: {flags.plural(n_monitored, 'example')}"
             + (f"; resuming at epoch {state.start}" if args.resume else ""))
    show.say(f"run directory {out}")
    show.compiling()
    t0 = time.perf_counter()
    try:
        result = train.fit(
            net, state.params, state.opt, state.train_set, epochs=args.epochs,
            batch_size=args.batch_size, key=state.key, grad=args.grad,
            validation=state.val_set, patience=args.patience, opt_state=state.opt_state,
            start_epoch=state.start, history=list(state.history),
            best_params=state.best_params, on_epoch=on_epoch, progress=False,
            devices=args.devices)
    except BaseException:
        show.end_line()  # an error (or Ctrl-C) while compiling starts on a line of its own
        raise
    train_seconds = time.perf_counter() - t0
    if show.rows == 0:
        show.compiled(result.compile_seconds)
    final = parallel.to_host(result.params)
    summary = session.summarize(net, final, state.test_set, result, train_seconds,
                                state.split)
    if not writer:
        show.say(f"process {jax.process_index()}: test accuracy "
                 f"{summary['test_accuracy']:.4f}, parameters sha256 {summary['params_sha256']}")
        return 0
    with interrupt.held():
        rundir.write_json(out / rundir.SUMMARY, summary)
    from jaxnn.cli import plots

    plotted = plots.learning_curve(so_far, out / rundir.CURVE, state.split,
                                   best_epoch=summary["best_epoch"] if args.patience else None)
    show.say(f"parameters sha256 {summary['params_sha256']} (equal digests: bit-identical "
             "parameters)")
    show.say(console.result(summary, state.split, train_seconds) + f"; wrote {out}"
             + ("" if plotted else " (no learning_curve.png: install the 'plot' extra, "
                "matplotlib)"))
    if args.quiet:
        print(f"test accuracy {summary['test_accuracy']:.4f}")
    return 0
