"""What ``jaxnn train`` and ``jaxnn sweep`` print for people: the header, a compiling line,
one table row per epoch (kept on the terminal, unlike a progress bar), and the result.

Numbers are rounded for reading (:func:`jaxnn.cli.flags.number`); the files keep full
precision. The split monitored each epoch has one name everywhere: "test" when it is the
test set, "validation" when it was carved from the training set.
"""

from __future__ import annotations

import sys
import time

from jaxnn import activations, costs
from jaxnn.cli import flags


def network(net) -> str:
    """``"784-256-10, relu hidden, softmax output, cross_entropy cost"`` (and the L2 λ and
    dropout rate when set). A user component shows by its name."""
    *hidden, output = (activations.name_of(a) for a in net.activations)
    parts = [flags.dashed(net.sizes)]
    if hidden:
        kinds = list(dict.fromkeys(hidden))
        parts.append(f"{'/'.join(kinds)} hidden")
    parts += [f"{output} output", f"{costs.name_of(net.cost)} cost"]
    if net.l2:
        parts.append(f"L2 λ {net.l2:g}")
    if net.dropout:
        parts.append(f"dropout {net.dropout:g}")
    if net.norm:
        parts.append(f"{net.norm} norm")
    if net.residual:
        parts.append("residual")
    return ", ".join(parts)


class Printer:
    """Prints a run's progress to stdout (nothing with ``quiet``); :meth:`compiling` then
    :meth:`row` once per epoch."""

    COLUMNS = ("epoch", "train cost", "train acc", "{split} cost", "{split} acc", "seconds")

    def __init__(self, split: str, *, quiet: bool = False, stream=None):
        self.split = split
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.t0 = None
        self.rows = 0
        self.open_line = False

    def say(self, text: str = "") -> None:
        if not self.quiet:
            self.end_line()
            try:
                print(text, file=self.stream, flush=True)
            except BrokenPipeError:  # `jaxnn train | head`: the run goes on, silently
                self.quiet = True

    def end_line(self) -> None:
        """Close an open "compiling…" line (before an error is printed)."""
        if self.open_line:
            print(file=self.stream, flush=True)
            self.open_line = False

    def compiling(self) -> None:
        """Start the clock; on a terminal, show "compiling…" at once (its time follows)."""
        self.t0 = time.perf_counter()
        if not self.quiet and self.stream.isatty():
            print("compiling…", end="", file=self.stream, flush=True)
            self.open_line = True

    def compiled(self, seconds: float) -> None:
        """The end of the "compiling… (N.N s)" line."""
        if self.quiet:
            return
        if self.open_line:
            print(f" ({seconds:.1f} s)", file=self.stream, flush=True)
            self.open_line = False
        else:
            print(f"compiling… ({seconds:.1f} s)", file=self.stream, flush=True)

    def row(self, record: dict) -> None:
        """One epoch's line of the table (the header before the first)."""
        if self.quiet:
            return
        if self.rows == 0:
            if self.t0 is not None:  # time to the first epoch's end, less the epoch itself
                self.compiled(max(0.0, time.perf_counter() - self.t0 - record["seconds"]))
            heads = [c.format(split=self.split) for c in self.COLUMNS]
            widths = [max(len(h), 7) for h in heads]
            self.widths = widths
            self.say("  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)))
        self.rows += 1
        cells = [str(record["epoch"]), f"{record['train_cost']:.4f}",
                 f"{record['train_accuracy']:.4f}", _cell(record, "val_cost"),
                 _cell(record, "val_accuracy"), f"{record['seconds']:.2f}"]
        self.say("  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True)))


def _cell(record: dict, key: str) -> str:
    return f"{record[key]:.4f}" if key in record else "—"


def result(summary: dict, split: str, seconds: float) -> str:
    """The final line: test accuracy and cost, epochs, time (and the kept epoch with a
    validation split)."""
    text = (f"test accuracy {summary['test_accuracy']:.4f}, test cost "
            f"{summary['test_cost']:.4f} after {flags.plural(summary['epochs'], 'epoch')} "
            f"({seconds:.1f} s)")
    if split != "test" and summary.get(f"{split}_accuracy") is not None:
        text += (f"; parameters of epoch {summary['best_epoch']} kept ({split} accuracy "
                 f"{summary[f'{split}_accuracy']:.4f})")
    return text
