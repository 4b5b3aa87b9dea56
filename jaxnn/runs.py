"""``jaxnn train`` and ``jaxnn evaluate``: a training run and its directory.

A run directory holds:

* ``config.json``: the flags, the network, the data, the JAX version and device;
* ``metrics.jsonl``: one JSON line per finished epoch (appended as the run goes);
* ``checkpoint.safetensors``: parameters, optimizer state and history after the last
  finished epoch, written atomically (temporary file, then rename), so a crash at any
  moment leaves the previous complete checkpoint; ``best.safetensors`` with early stopping;
* ``summary.json``: ``test_accuracy``, ``test_cost``, ``epochs``, ``train_seconds``, …;
* ``learning_curve.png`` when matplotlib is installed (the ``plot`` extra).

``--resume`` continues from ``checkpoint.safetensors`` and ends with exactly the
parameters of an uninterrupted run (epoch e always shuffles with ``fold_in(key, e)``).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from jaxnn import checkpoint, data, optimizers, parallel, schedules, train

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
SCHEDULES = ("constant", "exponential", "cosine")
# Flags that must agree between a run and its resumption (epochs may grow).
_SAME_ON_RESUME = ("sizes", "hidden", "output", "cost", "init", "optimizer", "lr", "schedule",
                   "batch_size", "l2", "grad", "data", "val_size", "patience", "seed", "x64")
# Flags that describe how, not what: a run may resume on other hardware.
_NOT_CONFIG = ("run", "command", "quiet", "resume", "out", "coordinator", "num_processes",
               "process_id", "debug_nans")


def _check_args(args) -> None:
    """Every flag, before any JAX work."""
    for name in ("epochs", "batch_size"):
        value = getattr(args, name)
        if value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer; got {value}.")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a finite number > 0; got {args.lr}. Fix: e.g. --lr 1e-3.")
    if args.val_size < 0:
        raise ValueError(f"--val-size must be ≥ 0; got {args.val_size}.")
    if args.patience is not None and (args.patience <= 0 or args.val_size == 0):
        raise ValueError(
            f"--patience needs a positive value and a validation split; got --patience "
            f"{args.patience} with --val-size {args.val_size}. Fix: e.g. --patience 3 "
            "--val-size 500."
        )
    if args.init not in jaxnn.SCHEMES:
        raise ValueError(
            f"unknown init scheme {args.init!r}; expected one of: {', '.join(jaxnn.SCHEMES)}."
        )
    if args.schedule not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {args.schedule!r}; expected one of: {', '.join(SCHEDULES)}."
        )
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
    if not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be an integer in [0, 2^63); got {args.seed}.")
    if args.out is not None and pathlib.Path(args.out).exists() and \
            not pathlib.Path(args.out).is_dir():
        raise ValueError(
            f"--out {args.out} is a file; a run directory is a folder. Fix: choose another "
            "--out."
        )


def _optimizer(args, steps_per_epoch: int):
    total = max(1, args.epochs * steps_per_epoch)
    if args.schedule == "constant":
        rate = args.lr
    elif args.schedule == "exponential":
        rate = schedules.exponential_decay(args.lr, 0.1, total)  # ×0.1 over the whole run
    else:
        rate = schedules.cosine_decay(args.lr, total, warmup_steps=min(total // 20, 500))
    return optimizers.get(args.optimizer, rate)


def _load_data(args, net):
    mnist = data.load_mnist(args.data)
    x_train, y_train, x_test, y_test = mnist
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
        train_set = (split.x_train, split.y_train)
        val_set = (split.x_val, split.y_val)
        val_name = f"{args.val_size} held-out training examples"
    else:
        train_set = (x_train, y_train)
        val_set, val_name = (x_test, y_test), "the test set (monitoring only)"
    return train_set, val_set, val_name, (x_test, y_test)


def _config(args, net, n_train, val_name) -> dict:
    flags = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
             if k not in _NOT_CONFIG}
    return {
        "flags": flags,
        "network": net.to_dict(),
        "data": {"source": args.data or "bundled 5,000-digit MNIST sample",
                 "train_examples": n_train, "validation": val_name},
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
        "devices": args.devices or 1,
        "processes": jax.process_count(),
        "dtype": "float64" if args.x64 else "float32",
    }


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


def train_command(args) -> int:
    """``jaxnn train``: see the module docstring."""
    _check_args(args)
    if args.devices is None and jax.process_count() > 1:
        args.devices = jax.device_count()  # a multi-process run spans every device
    net = jaxnn.mlp(args.sizes, hidden=args.hidden, output=args.output, cost=args.cost,
                    l2=args.l2)
    train_set, val_set, val_name, test_set = _load_data(args, net)
    n_train = len(train_set[0])
    if args.batch_size > n_train:
        raise ValueError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train} "
            f"examples). Fix: --batch-size ≤ {n_train}."
        )
    opt = _optimizer(args, n_train // args.batch_size)
    dtype = jnp.float64 if args.x64 else jnp.float32
    key_init, key_train = jax.random.split(jax.random.key(args.seed))
    params = jaxnn.init_params(key_init, net, args.init, dtype=dtype)
    config = _config(args, net, n_train, val_name)

    writer = jax.process_index() == 0  # in a multi-process run, process 0 writes the run
    out = pathlib.Path(args.out or pathlib.Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    ckpt_path = out / CHECKPOINT
    opt_state, start, history, best_params = None, 0, [], None
    if args.resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}.")
        ckpt = checkpoint.load(ckpt_path, net=net, opt_state_like=opt.init(params))
        saved = ckpt.metadata.get("config", {}).get("flags", {})
        differ = [k for k in _SAME_ON_RESUME if k in saved and saved[k] != config["flags"][k]]
        if differ:
            raise ValueError(
                f"--resume: the checkpoint in {out} was made with other flags: "
                + ", ".join(f"--{k.replace('_', '-')} {saved[k]!r} (now {config['flags'][k]!r})"
                            for k in differ)
                + ". Fix: repeat the original flags, or train into a new --out."
            )
        if ckpt.step > args.epochs:
            raise ValueError(f"--resume: the checkpoint is at epoch {ckpt.step}, past --epochs "
                             f"{args.epochs}.")
        params, opt_state, start = ckpt.params, ckpt.opt_state, ckpt.step
        if writer:  # temporary files of writes a crash interrupted: never read, now dropped
            for name in (CHECKPOINT, BEST):
                for stale in out.glob(f".{name}.*.tmp"):
                    stale.unlink(missing_ok=True)
        history = list(ckpt.metadata.get("history", []))
        if args.patience and (out / BEST).exists():
            best_params = checkpoint.load(out / BEST, net=net).params
        _say(args, f"resuming {out} at epoch {start}")
    elif ckpt_path.exists() and writer:
        raise FileExistsError(
            f"{out} already holds a run ({CHECKPOINT}); nothing was overwritten. Fix: "
            "--resume to continue it, or choose another --out."
        )
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", config)
        # The checkpoint's history, atomically: a crash here keeps the old lines.
        _write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))

    so_far = list(history)

    def on_epoch(epoch, params, opt_state, record):
        so_far.append(record)
        if not writer:
            return
        params, opt_state = parallel.to_host((params, opt_state))
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        meta = {"config": config, "history": so_far}
        if args.patience and record["val_cost"] <= min(r["val_cost"] for r in so_far):
            checkpoint.save(out / BEST, params, None, net=net, step=epoch, metadata=meta)
        checkpoint.save(ckpt_path, params, opt_state, net=net, step=epoch, metadata=meta)
        if not interactive:
            _say(args, "epoch {epoch:3d}  train cost {train_cost:.4f}  acc {train_accuracy:.4f}  "
                 "val cost {val_cost:.4f}  acc {val_accuracy:.4f}  {seconds:.2f}s".format(**record))

    interactive = not args.quiet and sys.stderr.isatty()
    _say(args, f"network {net.sizes} {net.activations} cost {net.cost}, {args.optimizer} lr "
         f"{args.lr:g}, batch {args.batch_size}, {n_train} training examples; run dir {out}")
    t0 = time.perf_counter()
    result = train.fit(
        net, params, opt, train_set, epochs=args.epochs, batch_size=args.batch_size,
        key=key_train, grad=args.grad, validation=val_set, patience=args.patience,
        opt_state=opt_state, start_epoch=start, history=history, best_params=best_params,
        on_epoch=on_epoch, progress=interactive, devices=args.devices,
    )
    train_seconds = time.perf_counter() - t0
    final = parallel.to_host(result.params)
    test = train.evaluate(net, final, *test_set)
    summary = {
        "test_accuracy": test["accuracy"],
        "test_cost": test["cost"],
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": train_seconds,
        "compile_seconds": result.compile_seconds,
        "final_train_cost": result.history[-1]["train_cost"] if result.history else None,
        "params_sha256": _digest(final),
    }
    if not writer:
        _say(args, f"process {jax.process_index()}: test accuracy {test['accuracy']:.4f}  "
             f"params sha256 {summary['params_sha256']}")
        return 0
    _write_json(out / "summary.json", summary)
    plotted = _plot(result.history, out / "learning_curve.png", val_name)
    _say(args, f"params sha256 {summary['params_sha256']}")
    _say(args, f"test accuracy {test['accuracy']:.4f}  test cost {test['cost']:.4f}  "
         f"({summary['epochs']} epochs, {train_seconds:.1f}s); wrote {out}"
         + ("" if plotted else " (no learning_curve.png: install the 'plot' extra, matplotlib)"))
    if args.quiet:
        print(f"test accuracy {test['accuracy']:.4f}")
    return 0


def _digest(params) -> str:
    """sha256 of the parameters' bytes, layer by layer: equal digests, equal bits."""
    import hashlib

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


def _write_json(path: pathlib.Path, obj) -> None:
    _write_text(path, json.dumps(obj, indent=2) + "\n")


def _write_text(path: pathlib.Path, text: str) -> None:
    """Temporary file, then rename: a reader sees the old file or the new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _plot(history: list[dict], path: pathlib.Path, val_name: str) -> bool:
    """A learning-curve PNG (cost and accuracy per epoch); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [r["train_cost"] for r in history], label="train")
    ax1.plot(epochs, [r["val_cost"] for r in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="cost J", title="cost")
    ax2.plot(epochs, [r["train_accuracy"] for r in history], label="train")
    ax2.plot(epochs, [r["val_accuracy"] for r in history], label="validation")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax1, ax2):
        ax.legend()
        ax.grid(alpha=0.3)
    best = max(r["val_accuracy"] for r in history) if history else float("nan")
    fig.suptitle(f"validation accuracy reaches {best:.3f} (validation: {val_name})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def evaluate_command(args) -> int:
    """``jaxnn evaluate CHECKPOINT``: accuracy and cost on the test set."""
    path = pathlib.Path(args.checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT
    with jax.enable_x64(True):  # a float64 checkpoint loads as float64, float32 as float32
        ckpt = checkpoint.load(path)
    with jax.enable_x64(ckpt.params[0].W.dtype == np.float64):
        mnist = data.load_mnist(args.data)
        if ckpt.net.n_in != mnist.x_test.shape[1] or ckpt.net.n_out != 10:
            raise ValueError(f"the checkpoint's network {ckpt.net.sizes} does not fit MNIST "
                             "(784 inputs, 10 classes).")
        result = train.evaluate(ckpt.net, ckpt.params, mnist.x_test, mnist.y_test)
    print(f"{path}: epoch {ckpt.step}, test accuracy {result['accuracy']:.4f}, test cost "
          f"{result['cost']:.4f} on {len(mnist.x_test)} digits")
    return 0
