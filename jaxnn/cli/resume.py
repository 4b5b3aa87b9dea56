"""``jaxnn train --resume``: which flags a resumed run takes from the run, which it refuses.

The flags that decide what a run computes (:data:`MEANING`) come from the run when left
out and must agree with it when given; ``--epochs`` may change only under a schedule whose
horizon does not depend on it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from jaxnn.cli import console, datasets, flags, rundir, session

# Flags that decide what a run computes: on --resume, taken from the run when left out,
# refused when given with another value (the architecture's through the network).
MEANING = ("sizes", "hidden", "output", "cost", "l2", "dropout", "norm", "residual", "init",
           "optimizer", "lr", "schedule", "batch_size", "grad", "dataset", "data", "val_size",
           "patience", "seed", "x64")
ARCHITECTURE = ("sizes", "hidden", "output", "cost", "l2", "dropout", "norm", "residual")


def no_checkpoint(out: Path) -> str:
    """The message for ``--resume`` into a folder without a checkpoint."""
    text = f"--resume: no checkpoint at {out / rundir.CHECKPOINT}."
    if (out / rundir.CHECKPOINT).exists():
        text += (" That path is a directory (or another thing that is not a file); a "
                 "checkpoint is a file that jaxnn train writes. Fix: move it aside, or choose "
                 "the run directory that holds the checkpoint as --out.")
    elif rundir.holds_sweep(out):
        text += (" It holds a jaxnn sweep, which has no checkpoints to resume. Fix: choose "
                 "a training run's folder as --out.")
    elif rundir.holds_run(out):
        text += (" The run stopped before its first epoch ended. Fix: start it over with "
                 f"--force --out {shlex.quote(str(out))}.")
    return text


def adopt(args, saved: dict) -> None:
    """Flags left out take the run's values (its meaning, and its --epochs)."""
    given = getattr(args, "given", None)
    given = set(vars(args)) if given is None else given
    for dest in (*MEANING, "epochs"):
        if dest not in given and dest in saved:
            value = saved[dest]
            setattr(args, dest, tuple(value) if isinstance(value, list) else value)
    if "dataset" not in saved and "dataset" not in given and saved.get("data"):
        args.dataset = datasets.DEFAULT  # a run from before --dataset: --data was MNIST's


def refuse_changes(args, saved: dict, saved_net, out: Path) -> None:
    """ValueError naming every given flag that would change what the run computes."""
    if args.sizes is None:  # a run whose flags lack its sizes: its network's
        args.sizes = saved_net.sizes
    net = session.network(args)
    if net != saved_net:
        raise ValueError(
            f"--resume: the checkpoint in {out} belongs to another network: it holds "
            f"{_describe(saved_net)}, the flags describe {_describe(net)}. Fix: leave out "
            f"{', '.join(map(flags.flag, ARCHITECTURE))} (the run's are used), or train "
            "into a new --out."
        )
    differ = [k for k in MEANING if k not in ARCHITECTURE and k in saved
              and saved[k] != _jsonable(getattr(args, k))]
    if differ:
        raise ValueError(
            f"--resume: the checkpoint in {out} was made with other flags: "
            + ", ".join(f"{flags.flag(k)} {shown(saved[k])} (now "
                        f"{shown(_jsonable(getattr(args, k)))})" for k in differ)
            + ". Fix: leave them out (the run's are used), or train into a new --out."
        )
    horizon = session.SCHEDULES[args.schedule].horizon
    if horizon and "epochs" in saved and args.epochs != saved["epochs"]:
        raise ValueError(
            f"--resume: --epochs {args.epochs} differs from the run's --epochs "
            f"{saved['epochs']}, and the {args.schedule} schedule decays over the whole run, "
            "so the resumed run would not equal an uninterrupted one. Fix: leave out "
            f"--epochs, or start a new run with --epochs {args.epochs} and another --out."
        )


def _describe(net) -> str:
    return console.network(net)


def shown(value) -> str:
    """A flag's value in a message: floats rounded for people, strings quoted."""
    return flags.number(value) if isinstance(value, float) else repr(value)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def finished(args, out: Path, step: int) -> bool:
    """Whether the run in ``out`` has done all it will do (ValueError if past --epochs)."""
    if step > args.epochs:
        raise ValueError(f"--resume: the checkpoint is at epoch {step}, past --epochs "
                         f"{args.epochs}.")
    summary = rundir.read_json(out / rundir.SUMMARY) if out else None
    if not summary or summary.get("epochs") != step:
        return False  # the summary is missing or of an earlier stage: finish the run
    return step == args.epochs or bool(summary.get("stopped_early"))
