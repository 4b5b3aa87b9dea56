"""What a ``jaxnn train`` run is made of, from its flags: the network, the data, the
optimizer and its schedule, the initial (or resumed) state, the recorded config, and the
summary at the end."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any, NamedTuple

import jaxnn
from jaxnn import schedules
from jaxnn.cli import datasets, flags, rundir, user


class Schedule(NamedTuple):
    """A ``--schedule``: ``build(lr, total_steps)`` gives the rate or schedule; ``horizon``
    says whether it depends on the run's length (then a resumed run keeps --epochs)."""

    build: Any
    horizon: bool


SCHEDULES: dict[str, Schedule] = {
    "constant": Schedule(lambda lr, total: lr, horizon=False),
    # ×0.1 over the whole run.
    "exponential": Schedule(lambda lr, total: schedules.exponential_decay(lr, 0.1, total),
                            horizon=True),
    # A linear warm-up over the first 5% of the steps (at most 500), then cosine to 0.
    "cosine": Schedule(lambda lr, total: schedules.cosine_decay(
        lr, total, warmup_steps=min(total // 20, 500)), horizon=True),
}
# Flags that say how a run goes, not what it computes: not recorded in config.json.
NOT_CONFIG = ("run", "command", "argv", "given", "quiet", "resume", "force", "out", "coordinator",
              "num_processes", "process_id", "coordinator_timeout", "debug_nans")


class State:
    """Everything :func:`jaxnn.train.fit` needs, and what the run has saved so far."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# Sizes that stand in for the data's n_0 and n_L when the network's flags are checked
# before the data is read (--sizes left out: n_in,256,n_out from the data).
PLACEHOLDER_SIZES = (2, 2, 2)


def network(args):
    """The network of the flags ``--sizes --hidden --output --cost --l2`` (with ``--sizes``
    left out, a stand-in network: the flags' checks, before the data gives the sizes).
    A ``package.module:attribute`` component is imported (:mod:`jaxnn.cli.user`)."""
    residual = getattr(args, "residual", False)
    if args.sizes is None:  # a skip needs two hidden layers of one width
        sizes = PLACEHOLDER_SIZES + (2,) * residual
    else:
        sizes = args.sizes
    return jaxnn.mlp(sizes, **user.pieces(args), l2=args.l2,
                     dropout=getattr(args, "dropout", 0.0), norm=getattr(args, "norm", None),
                     residual=residual)


def load_data(args):
    """``(tt, train_set, val_set, test_set)``: the data of ``--dataset``/``--data``
    (:mod:`jaxnn.cli.datasets`), with ``--val-size`` examples held out of the training set
    (without it the test set is monitored each epoch). Sets ``args.sizes`` from the data
    when it was left out; ValueError when it disagrees with the data."""
    from jaxnn import data

    tt = datasets.load(args)
    args.sizes = datasets.fit_network(args.sizes, tt)
    x_train, y_train, x_test, y_test = tt
    if args.val_size >= len(x_train):
        raise ValueError(
            f"--val-size {args.val_size} leaves no training data ({len(x_train)} examples)."
            f" Fix: --val-size ≤ {len(x_train) - 1}, e.g. --val-size {len(x_train) // 5}."
        )
    if args.val_size:
        split = data.train_val_split(x_train, y_train, val_size=args.val_size, seed=args.seed)
        return (tt, (split.x_train, split.y_train), (split.x_val, split.y_val),
                (x_test, y_test))
    return tt, (x_train, y_train), (x_test, y_test), (x_test, y_test)


def optimizer(args, steps_per_epoch: int):
    """The ``--optimizer`` with the ``--lr`` under the ``--schedule`` over the whole run."""
    from jaxnn import optimizers

    total = args.epochs * steps_per_epoch
    if total > flags.INT32_MAX:
        raise ValueError(
            f"--epochs {args.epochs} × {steps_per_epoch} steps per epoch = {total} optimizer "
            f"steps, more than its int32 step counter holds ({flags.INT32_MAX}). Fix: "
            f"--epochs ≤ {flags.INT32_MAX // steps_per_epoch}."
        )
    return optimizers.get(args.optimizer, SCHEDULES[args.schedule].build(args.lr, max(1, total)))


def environment() -> dict:
    """Where the run ran, without git: Python, JAX, jaxlib, NumPy, the platform, the device."""
    import platform

    import jax
    import jaxlib
    import numpy as np

    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "machine": platform.machine(),
            "device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind,
            "device_count": jax.device_count(), "process_count": jax.process_count()}


def command_line(args) -> str:
    """The command as typed: ``jaxnn train --epochs 3 …`` (shell-quoted)."""
    argv = getattr(args, "argv", None)
    return shlex.join(["jaxnn", *argv]) if argv is not None else "jaxnn " + args.command


def flags_of(args) -> dict:
    """The flags that define the run (not :data:`NOT_CONFIG`), JSON-ready."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
            if k not in NOT_CONFIG}


def config(args, net, tt, n_train: int, n_val: int, previous: dict | None = None) -> dict:
    """What config.json records: the jaxnn version, the command line, the flags that
    define the run, the network, the data (class names, input shape), the split monitored
    each epoch, and where it ran. ``previous``: the run's config before a ``--resume``
    (its command is kept, this one is added to ``resumed_with``)."""
    import jax

    previous = previous or {}
    command = command_line(args)
    resumed = list(previous.get("resumed_with", []))
    if args.resume and previous.get("command"):
        resumed.append(command)
        command = previous["command"]
    split = datasets.split_name(args.val_size)
    return {
        "format": rundir.FORMAT,
        "jaxnn_version": jaxnn.__version__,
        "command": command,
        **({"resumed_with": resumed} if resumed else {}),
        "flags": flags_of(args),
        "network": net.to_dict(),
        "data": {**datasets.describe(tt), "train_examples": n_train,
                 "monitored": split, "monitored_examples": n_val},
        "environment": environment(),
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
        "devices": args.devices or 1,
        "processes": jax.process_count(),
        "dtype": "float64" if args.x64 else "float32",
    }


def prepare(args, out: Path | None) -> State:
    """The network, data, optimizer and starting state of the run (the checkpoint's with
    ``--resume``). Runs inside the run's ``jax.enable_x64`` setting."""
    import jax

    from jaxnn import checkpoint

    previous = rundir.read_json(out / rundir.CONFIG, {}) if (args.resume and out) else {}
    if args.devices is None and jax.process_count() > 1:
        args.devices = jax.device_count()  # a multi-process run spans every device
    compile_ahead(args)  # the epoch compiles on a thread while the data loads
    tt, train_set, val_set, test_set = load_data(args)
    net = network(args)
    n_train = len(train_set[0])
    if args.batch_size > n_train:
        raise ValueError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train} "
            f"examples). Fix: --batch-size ≤ {n_train}."
        )
    opt, params, key_train = start(args, net, n_train)
    state = State(net=net, opt=opt, params=params, opt_state=None, start=0, history=[],
                  best_params=None, key=key_train, train_set=train_set, val_set=val_set,
                  split=datasets.split_name(args.val_size), test_set=test_set,
                  n_train=n_train, data=tt, saved_epoch=0,
                  config=config(args, net, tt, n_train, len(val_set[0]), previous))
    if args.resume:
        ckpt = checkpoint.load(out / rundir.CHECKPOINT, net=net, opt_state_like=opt.init(params))
        state.params, state.opt_state, state.start = ckpt.params, ckpt.opt_state, ckpt.step
        state.saved_epoch = ckpt.step
        state.history = list(ckpt.metadata.get("history", []))[: ckpt.step]
        if args.patience and (out / rundir.BEST).exists():
            state.best_params = checkpoint.load(out / rundir.BEST, net=net).params
    return state


def start(args, net, n_train: int):
    """``(optimizer, initial parameters, training key)`` of the flags for ``net`` and
    ``n_train`` training examples (the schedule spans the run's steps)."""
    import jax
    import jax.numpy as jnp

    opt = optimizer(args, n_train // args.batch_size)
    key_init, key_train = jax.random.split(jax.random.key(args.seed))
    params = jaxnn.init_params(key_init, net, args.init,
                              dtype=jnp.float64 if args.x64 else jnp.float32)
    return opt, params, key_train


def compile_ahead(args):
    """Start compiling the run's epoch on a thread before the data is read
    (:func:`jaxnn.train.precompile`), when the data's shapes are known from its files'
    headers (:func:`jaxnn.data.peek`: ``--dataset mnist`` or ``fashion-mnist``): a fresh
    run on one device. Returns the compile's future, or ``None`` when nothing was started.
    It never raises: a problem with the flags or the files is reported by the steps that
    follow, and a compile that does not match what ``fit`` gets is not used (``fit``
    compiles its own)."""
    import argparse

    import jax
    import jax.numpy as jnp

    from jaxnn import data, train

    if args.resume or args.devices is not None or args.debug_nans or jax.process_count() > 1:
        return None
    try:
        dataset, path = datasets.source(args)
        shapes = None if dataset is None else data.peek(dataset, path)
        if shapes is None:
            return None
        n_train = shapes.n_train - args.val_size
        n_val = args.val_size or shapes.n_test
        if not 1 <= args.batch_size <= n_train:
            return None
        x = (jax.ShapeDtypeStruct((n_train, shapes.n_in), jnp.float32),
             jax.ShapeDtypeStruct((n_train,), jnp.int32))
        x_val = (jax.ShapeDtypeStruct((n_val, shapes.n_in), jnp.float32),
                 jax.ShapeDtypeStruct((n_val,), jnp.int32))
        sized = argparse.Namespace(**{**vars(args),
                                      "sizes": datasets.fit_network(args.sizes, shapes)})
        net = network(sized)
        opt, params, key_train = start(args, net, n_train)
        return train.precompile(net, params, opt, x, batch_size=args.batch_size,
                                key=key_train, grad=args.grad, validation=x_val)
    except Exception:  # noqa: BLE001 - a head start, never an error of its own
        return None


def summarize(net, params, test_set, result, train_seconds: float, split: str) -> dict:
    """summary.json: the test accuracy and cost of ``params`` (full precision), how the run
    went, and the split monitored each epoch (``split``: "test" or "validation") with its
    metrics at the epoch whose parameters were kept. Times are rounded to milliseconds."""
    from jaxnn import train

    test = train.evaluate(net, params, *test_set)
    kept = next((r for r in result.history if r["epoch"] == result.best_epoch), None)
    summary = {
        "test_accuracy": test["accuracy"],
        "test_cost": test["cost"],
        "monitored": split,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": round(train_seconds, 3),
        "compile_seconds": round(result.compile_seconds, 3),
        "final_train_cost": result.history[-1]["train_cost"] if result.history else None,
        "params_sha256": digest(params),
    }
    if split != datasets.TEST and kept is not None:
        summary[f"{split}_accuracy"] = kept.get("val_accuracy")
        summary[f"{split}_cost"] = kept.get("val_cost")
    return summary


def digest(params) -> str:
    """sha256 of the parameters' bytes, layer by layer: equal digests, equal bits."""
    import jax
    import numpy as np

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()
