"""The flags ``jaxnn train`` and ``jaxnn sweep`` share, and their checks.

:func:`add_arguments` adds the shared block (the network, the optimizer's name, epochs,
batches, the data, the validation split, early stopping, the seed, the run directory)
in one order; a command passes the help texts in which it differs (:data:`TEXTS`' keys)
and its own flags, each added right after a shared one (``own["optimizer"]``) or before
them all (``own[FIRST]``). :func:`check` range-checks the shared flags before any JAX
work. ``--hidden/--output/--cost`` also take ``package.module:attribute``, imported when
the network is built (:func:`jaxnn.cli.session.network`, :mod:`jaxnn.cli.user`).
"""

from __future__ import annotations

from pathlib import Path

import jaxnn
from jaxnn import architecture, optimizers
from jaxnn.cli import datasets, flags, user
from jaxnn.train import GRADS

FIRST = ""  # own[FIRST]: the command's flags before the shared ones
# The help texts that differ between the commands, by destination.
TEXTS = ("sizes", "epochs", "val_size", "patience", "seed", "out", "force", "quiet")


def add_arguments(p, defaults: dict, texts: dict[str, str], own: dict | None = None) -> None:
    """The shared flags, with ``defaults`` (sizes, hidden, output, cost, init, optimizer,
    epochs, batch_size) and ``texts`` (help for each of :data:`TEXTS`); ``own[name](p)``
    adds the command's own flags after the shared flag ``name``."""
    d, own = defaults, own or {}
    missing = set(TEXTS) - set(texts)
    if missing:
        raise KeyError(f"help texts missing for {sorted(missing)}")

    def then(name: str) -> None:
        if name in own:
            own[name](p)

    then(FIRST)
    p.add_argument("--sizes", type=flags.sizes, default=d["sizes"], help=texts["sizes"])
    user.add_arguments(p, d)
    p.add_argument("--init", default=d["init"],
                   help=f"init scheme, one of: {flags.names(jaxnn.SCHEMES)} (default %(default)s)")
    p.add_argument("--optimizer", default=d["optimizer"],
                   help=f"one of: {flags.names(optimizers.NAMES)} (default %(default)s)")
    then("optimizer")
    p.add_argument("--epochs", type=int, default=d["epochs"], help=texts["epochs"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help="examples per minibatch (default %(default)s)")
    then("batch_size")
    p.add_argument("--grad", choices=GRADS, default=GRADS[0],
                   help=f"one of: {flags.names(GRADS)} (default %(default)s)")
    datasets.add_arguments(p)
    p.add_argument("--val-size", type=int, default=0, help=texts["val_size"])
    p.add_argument("--patience", type=int, default=None, help=texts["patience"])
    p.add_argument("--seed", type=int, default=0, help=texts["seed"])
    p.add_argument("--out", default=None, help=texts["out"])
    then("out")
    p.add_argument("--force", action="store_true", help=texts["force"])
    then("force")
    p.add_argument("--quiet", action="store_true", help=texts["quiet"])
    then("quiet")


def check(args, folder: str) -> None:
    """The shared flags, before any JAX work (ValueError naming the flag); ``folder``
    names what ``--out`` is ("a run directory")."""
    big = flags.INT32_MAX
    flags.integer(args, "epochs", minimum=1, maximum=big, why="the optimizer's int32 step "
                  "counter", fix="e.g. --epochs 10")
    flags.integer(args, "batch_size", minimum=1, maximum=big, fix="e.g. --batch-size 32")
    flags.integer(args, "val_size", minimum=0, maximum=big, fix="e.g. --val-size 500")
    flags.seed(args)
    datasets.check(args)
    if args.patience is not None and (args.patience <= 0 or args.val_size == 0):
        raise ValueError(
            f"--patience needs a positive value and a validation split; got --patience "
            f"{args.patience} with --val-size {args.val_size}. Fix: e.g. --patience 3 "
            "--val-size 500."
        )
    flags.integer(args, "patience", minimum=1, maximum=big, fix="e.g. --patience 3")
    flags.choose(args, "init", tuple(jaxnn.SCHEMES), "init scheme")
    flags.choose(args, "optimizer", tuple(optimizers.NAMES), "optimizer")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file; {folder} is a folder. Fix: choose "
                         "another --out.")


def add_layers(p) -> None:
    """``--norm`` and ``--residual`` (``jaxnn train`` and ``jaxnn sweep``): the network's
    normalisation (:data:`jaxnn.architecture.NORMS`) and skip connections."""
    p.add_argument("--norm", default=None, choices=[n for n in architecture.NORMS if n],
                   help="normalise each hidden layer's pre-activation: over its units "
                   "(layer) or over the batch (batch; evaluation uses the training set's "
                   "statistics); default: none")
    p.add_argument("--residual", action="store_true",
                   help="skip connections A^l = g(Z^l) + A^{l-1} between hidden layers of "
                   "equal width (needs two hidden layers of one width in --sizes)")
