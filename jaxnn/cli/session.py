"""What a ``jaxnn train`` run is made of, from its flags: the network, the data, the
optimizer and its schedule, the initial (or resumed) state, the recorded config, and the
summary at the end."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

import jaxnn
from jaxnn import schedules
from jaxnn.cli import flags, rundir


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
NOT_CONFIG = ("run", "command", "given", "quiet", "resume", "force", "out", "coordinator",
              "num_processes", "process_id", "debug_nans")


class State:
    """Everything :func:`jaxnn.train.fit` needs, and what the run has saved so far."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def network(args):
    """The network of the flags ``--sizes --hidden --output --cost --l2``."""
    return jaxnn.mlp(args.sizes, hidden=args.hidden, output=args.output, cost=args.cost,
                     l2=args.l2)


def load_data(args, net):
    """``(train_set, val_set, val_name, test_set)`` for the flags: MNIST (``--data`` or the
    bundled sample), with ``--val-size`` examples held out of the training set."""
    from jaxnn import data

    x_train, y_train, x_test, y_test = data.load_mnist(args.data)
    if net.n_in != x_train.shape[1] or net.n_out != 10:
        raise ValueError(
            f"the data and the network sizes disagree: MNIST has {x_train.shape[1]} inputs and "
            f"10 classes, the network {net.sizes} has n_0 = {net.n_in} and n_L = {net.n_out}. "
            f"Fix: --sizes {x_train.shape[1]},…,10."
        )
    if args.val_size >= len(x_train):
        raise ValueError(
            f"--val-size {args.val_size} leaves no training data ({len(x_train)} examples)."
        )
    if args.val_size:
        split = data.train_val_split(x_train, y_train, val_size=args.val_size, seed=args.seed)
        return ((split.x_train, split.y_train), (split.x_val, split.y_val),
                f"{args.val_size} held-out training examples", (x_test, y_test))
    return ((x_train, y_train), (x_test, y_test), "the test set (monitoring only)",
            (x_test, y_test))


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


def config(args, net, n_train: int, val_name: str) -> dict:
    """What config.json records: the flags that define the run, the network, the data, and
    where it ran."""
    import jax

    run_flags = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
                 if k not in NOT_CONFIG}
    return {
        "format": rundir.FORMAT,
        "flags": run_flags,
        "network": net.to_dict(),
        "data": {"source": args.data or "bundled 5,000-digit MNIST sample",
                 "train_examples": n_train, "validation": val_name},
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
    import jax.numpy as jnp

    from jaxnn import checkpoint

    if args.devices is None and jax.process_count() > 1:
        args.devices = jax.device_count()  # a multi-process run spans every device
    net = network(args)
    train_set, val_set, val_name, test_set = load_data(args, net)
    n_train = len(train_set[0])
    if args.batch_size > n_train:
        raise ValueError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train} "
            f"examples). Fix: --batch-size ≤ {n_train}."
        )
    opt = optimizer(args, n_train // args.batch_size)
    key_init, key_train = jax.random.split(jax.random.key(args.seed))
    params = jaxnn.init_params(key_init, net, args.init,
                              dtype=jnp.float64 if args.x64 else jnp.float32)
    state = State(net=net, opt=opt, params=params, opt_state=None, start=0, history=[],
                  best_params=None, key=key_train, train_set=train_set, val_set=val_set,
                  val_name=val_name, test_set=test_set, n_train=n_train, saved_epoch=0,
                  config=config(args, net, n_train, val_name))
    if args.resume:
        ckpt = checkpoint.load(out / rundir.CHECKPOINT, net=net, opt_state_like=opt.init(params))
        state.params, state.opt_state, state.start = ckpt.params, ckpt.opt_state, ckpt.step
        state.saved_epoch = ckpt.step
        state.history = list(ckpt.metadata.get("history", []))[: ckpt.step]
        if args.patience and (out / rundir.BEST).exists():
            state.best_params = checkpoint.load(out / rundir.BEST, net=net).params
    return state


def summarize(net, params, test_set, result, train_seconds: float) -> dict:
    """summary.json: the test accuracy and cost of ``params``, and how the run went."""
    from jaxnn import train

    test = train.evaluate(net, params, *test_set)
    return {
        "test_accuracy": test["accuracy"],
        "test_cost": test["cost"],
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": train_seconds,
        "compile_seconds": result.compile_seconds,
        "final_train_cost": result.history[-1]["train_cost"] if result.history else None,
        "params_sha256": digest(params),
    }


def digest(params) -> str:
    """sha256 of the parameters' bytes, layer by layer: equal digests, equal bits."""
    import jax
    import numpy as np

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()
