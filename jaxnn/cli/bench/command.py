"""``jaxnn bench``: its flags (shared with ``python -m experiments.benchmark``) and the
command, which prints the tables and exits 2 on a bad flag before anything is timed."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from jaxnn import _checks
from jaxnn.cli import flags, rundir
from jaxnn.cli.bench import cases, report, timing

HELP = "time jaxnn's training step against the matmul roofline"
DESCRIPTION = (
    "Time jaxnn's training step (the fit path: make_epoch, lax.scan over minibatches) with "
    "hand-written and autodiff gradients, against the machine's matmul rate."
)


def shared_arguments(ap) -> None:
    """The flags of ``jaxnn bench`` that ``python -m experiments.benchmark`` takes too."""
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {cases.QUICK_SIZES_TEXT}, {cases.OPTIMIZERS[0]}, 1 round, "
                    "small fit")
    ap.add_argument("--sizes", default=None, help="comma-separated n0-…-nL[:batch[:steps]] "
                    f"(default {cases.DEFAULT_SIZES_TEXT})")
    ap.add_argument("--optimizers", default=None,
                    help=f"comma-separated, from {','.join(cases.OPTIMIZERS)} (default all; "
                    f"{cases.OPTIMIZERS[0]} with --quick)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7; 1 quick)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 1; 0 quick)")
    ap.add_argument("--no-fit-memory", action="store_true",
                    help="skip the fit() subprocess (peak memory, recompilation)")
    ap.add_argument("--seed", type=int, default=0, help="in [0, 2^32) (default %(default)s)")


def add_arguments(ap) -> None:
    """The flags of ``jaxnn bench``."""
    shared_arguments(ap)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file "
                    "(checked before the benchmark runs; default: none)")


def build_parser(prog: str = "jaxnn bench",
                 description: str | None = None) -> argparse.ArgumentParser:
    """A parser with the shared flags, for a script of its own (experiments/benchmark.py)."""
    ap = flags.Parser(prog=prog, description=description or DESCRIPTION)
    shared_arguments(ap)
    return ap


def resolve_args(args) -> dict[str, Any]:
    """Parsed flags → keyword arguments of :func:`timing.run_jaxnn_benchmark` (ValueError
    on a bad one, before anything is timed)."""
    sizes = cases.parse_sizes(args.sizes) if args.sizes else None
    if args.optimizers:
        optimizers = tuple(o.strip() for o in args.optimizers.split(",") if o.strip())
    else:
        optimizers = cases.OPTIMIZERS[:1] if args.quick else cases.OPTIMIZERS
    for o in optimizers:
        if o not in cases.OPTIMIZERS:
            raise ValueError(f"--optimizers takes names from {','.join(cases.OPTIMIZERS)}; "
                             f"got {o!r}.")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 7
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    flags.integer(args, "rounds", minimum=1, maximum=flags.INT32_MAX, fix="e.g. --rounds 7")
    flags.integer(args, "warmup", minimum=0, maximum=flags.INT32_MAX, fix="e.g. --warmup 1")
    flags.seed(args)
    return {"sizes": sizes, "optimizers": optimizers, "rounds": args.rounds,
            "warmup": args.warmup, "quick": args.quick,
            "fit_memory_run": not args.no_fit_memory, "seed": args.seed}


def check_output(text: str) -> Path:
    """``--json PATH``: a file that can be written (ValueError otherwise, before the run)."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise ValueError(_checks.message("--json", "a file path", f"{text!r}, a folder",
                                         f"e.g. --json {path / 'bench.json'}"))
    if not folder.is_dir():
        raise ValueError(_checks.message(
            "--json", "a file in an existing folder", f"{text!r}; {str(folder)!r} is not a folder",
            "create the folder first, or choose another path"))
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(_checks.message("--json", "a file this user can write",
                                         f"{text!r} (permission denied)", "choose another path"))
    return path


def run(args) -> int:
    """``jaxnn bench``: print the tables (progress on stderr); 0 on success."""
    import sys

    kwargs = resolve_args(args)
    out = check_output(args.json) if args.json else None
    if args.quick:
        print(report.QUICK_CAUTION, file=sys.stderr, flush=True)
    # On a terminal, stdout and stderr are one screen: each table (and the caution) once.
    one_screen = sys.stdout.isatty() and sys.stderr.isatty()
    result = timing.run_jaxnn_benchmark(**kwargs, log=lambda s: print(s, file=sys.stderr),
                                        log_tables=not one_screen)
    print(report.format_report(result, caution=not one_screen))
    if out is not None:
        rundir.write_text(out, json.dumps(result, indent=2) + "\n")
    return 0
