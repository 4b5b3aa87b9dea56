"""A sweep's grid and its results: the settings × seeds, one row per run (``runs.csv``),
and mean ± std over seeds per setting (``summary.json``, ``summary.md``).

Pure Python on the host; :mod:`jaxnn.cli.sweep` runs the grid and writes the files.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from typing import NamedTuple

from jaxnn.cli import flags

# The metrics per run and per setting, after "seed, lr, l2"; {split} is "test" or
# "validation" (the split monitored each epoch).
TRAIN_METRICS = ("train_cost", "train_accuracy")
TEST_METRICS = ("test_cost", "test_accuracy")


class Run(NamedTuple):
    """One run of the grid: its setting and seed."""

    lr: float
    l2: float
    seed: int


def runs(lrs, l2s, seeds) -> list[Run]:
    """Every (lr, l2) setting × every seed, setting by setting (the runs of a setting are
    adjacent)."""
    return [Run(lr, l2, s) for lr, l2 in itertools.product(lrs, l2s) for s in seeds]


def metric_names(split: str) -> tuple[str, ...]:
    """The metric columns: train, the monitored validation split (when it is not the test
    set), test."""
    middle = (f"{split}_cost", f"{split}_accuracy") if split != "test" else ()
    return (*TRAIN_METRICS, *middle, *TEST_METRICS)


def rows(grid: list[Run], result, tests: list[dict] | None, split: str,
         unfinished: str | None = None) -> list[dict]:
    """One dict per run: seed, lr, l2, epochs, best_epoch, stopped, diverged_at and the
    metrics of the epoch whose parameters the run keeps (``best_epoch``: the last finished
    one, or with early stopping the one of lowest validation cost), so that a row's
    train, validation and test numbers all belong to one set of parameters.

    ``tests``: each run's kept parameters on the test set (the end of a sweep); ``None``
    while the sweep runs, when the test cells come from the history where the monitored
    split is the test set and are empty otherwise. ``unfinished``: what ``stopped`` says
    of a run that is still training ("running", "interrupted"); ``None`` at the end.
    """
    out = []
    for k, run in enumerate(grid):
        history = result.histories[k]
        kept = next((r for r in history if r["epoch"] == result.best_epochs[k]), {})
        stopped = result.stopped[k]
        if unfinished is not None and stopped == "completed":
            stopped = unfinished
        row = {"seed": run.seed, "lr": run.lr, "l2": run.l2, "epochs": len(history),
               "best_epoch": result.best_epochs[k] if kept else None, "stopped": stopped,
               "diverged_at": result.diverged_at[k]}
        row["train_cost"] = kept.get("train_cost")
        row["train_accuracy"] = kept.get("train_accuracy")
        if split != "test":
            row[f"{split}_cost"] = kept.get("val_cost")
            row[f"{split}_accuracy"] = kept.get("val_accuracy")
        if tests is not None:
            row["test_cost"] = tests[k]["cost"]
            row["test_accuracy"] = tests[k]["accuracy"]
        else:  # the monitored split, when it is the test set; unknown until the end if not
            row["test_cost"] = kept.get("val_cost") if split == "test" else None
            row["test_accuracy"] = kept.get("val_accuracy") if split == "test" else None
        out.append(row)
    return out


def to_csv(table: list[dict]) -> str:
    """``runs.csv``: a header and one line per run (empty cells for None)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return text.getvalue()


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return {"mean": mean, "std": math.sqrt(var), "n": len(values)}


def summarize(table: list[dict], split: str) -> list[dict]:
    """Per (lr, l2) setting: its runs, how many diverged or stopped early, and mean ± std
    (sample std, over the seeds that did not diverge) of every metric."""
    settings = []
    for (lr, l2), group in itertools.groupby(table, key=lambda r: (r["lr"], r["l2"])):
        group = list(group)
        kept = [r for r in group if r["stopped"] != "diverged"]
        settings.append({
            "lr": lr, "l2": l2, "runs": len(group), "seeds": [r["seed"] for r in group],
            "diverged": len(group) - len(kept),
            "stopped_early": sum(r["stopped"] == "early" for r in group),
            "metrics": {m: _mean_std([r[m] for r in kept]) for m in metric_names(split)},
        })
    return settings


def best(settings: list[dict], split: str) -> dict | None:
    """The setting with the highest mean accuracy on the monitored split."""
    key = f"{split}_accuracy"
    scored = [s for s in settings if s["metrics"][key]["mean"] is not None]
    return max(scored, key=lambda s: s["metrics"][key]["mean"]) if scored else None


def _pm(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}"


def label(setting: dict) -> str:
    """``"lr 0.1, l2 0"``: a setting, for people."""
    return f"lr {flags.number(float(setting['lr']))}, l2 {flags.number(float(setting['l2']))}"


def markdown(settings: list[dict], split: str, seeds: int) -> str:
    """``summary.md``'s table: one line per setting, mean ± std over the seeds."""
    names = metric_names(split)
    heads = ["lr", "l2", "runs", "diverged", *[n.replace("_", " ") for n in names]]
    lines = ["| " + " | ".join(heads) + " |", "| " + " | ".join(
        ["---:"] * len(heads)) + " |"]
    for s in settings:
        cells = [flags.number(float(s["lr"])), flags.number(float(s["l2"])), str(s["runs"]),
                 str(s["diverged"]), *[_pm(s["metrics"][n]) for n in names]]
        lines.append("| " + " | ".join(cells) + " |")
    top = best(settings, split)
    note = (f"Mean ± sample standard deviation over {flags.plural(seeds, 'seed')} per "
            "setting; diverged runs are counted, not averaged.")
    if top is not None:
        note += (f" Highest mean {split} accuracy: {label(top)} "
                 f"({_pm(top['metrics'][f'{split}_accuracy'])}).")
    return "\n".join(lines) + "\n\n" + note + "\n"
