"""Shared plumbing for the experiments: flags, results JSON, figures, claims.

Every experiment module defines ``NAME``, ``CLAIM`` (the statement checked) and
``run(quick: bool, seed: int) -> Result``, and ends with ``main = make_main(NAME, run)``.
``python -m experiments.<name> [--quick] [--seed N] [--out DIR]`` then writes
``<out>/<name>.json`` and the figures the experiment draws into ``<out>``.

The JSON holds ``{"name", "claim": {"statement", "held"}, "config", "results", "figures",
"command", "seconds"}``. Nothing in it is typed by hand: every number comes from ``run``.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """What an experiment measured.

    Attributes:
      held: whether the claim held in this run.
      config: the settings used (sizes, epochs, seeds, …).
      results: the measured numbers (JSON-serialisable: floats, ints, lists, dicts).
      figures: callables ``draw(path)`` keyed by file name (``"<name>_….png"``); each
        writes one PNG.
      summary: one or two sentences for the report, stating the finding with numbers.
    """

    held: bool
    config: dict[str, Any]
    results: dict[str, Any]
    figures: dict[str, Callable[[pathlib.Path], None]] = field(default_factory=dict)
    summary: str = ""


def to_jsonable(obj):
    """numpy/jax scalars and arrays → Python floats/lists; NaN/Inf → strings."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(np.asarray(obj).tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def pyplot():
    """matplotlib.pyplot with the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write(name: str, claim: str, result: Result, out: pathlib.Path, command: str,
          seconds: float) -> dict:
    """Write ``<out>/<name>.json`` and the figures; return the JSON object."""
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, draw in result.figures.items():
        draw(out / fname)
        figures.append(fname)
    record = {
        "name": name,
        "claim": {"statement": claim, "held": bool(result.held)},
        "summary": result.summary,
        "config": to_jsonable(result.config),
        "results": to_jsonable(result.results),
        "figures": figures,
        "command": command,
        "seconds": round(seconds, 2),
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def run_and_write(name: str, claim: str, run: Callable[..., Result], *, quick: bool, seed: int,
                  out: pathlib.Path) -> dict:
    """Run one experiment and write its results; used by each module's main and run_all."""
    t0 = time.perf_counter()
    result = run(quick=quick, seed=seed)
    seconds = time.perf_counter() - t0
    command = f"python -m experiments.{name}" + (" --quick" if quick else "") + (
        f" --seed {seed}" if seed else "")
    return write(name, claim, result, out, command, seconds)


def make_main(name: str, claim: str, run: Callable[..., Result]):
    """The module's ``main(argv)``: ``--quick``, ``--seed``, ``--out``."""

    def main(argv=None) -> int:
        ap = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=claim)
        ap.add_argument("--quick", action="store_true", help="a few seconds (used by tests)")
        ap.add_argument("--seed", type=int, default=0)
        ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
        ap.add_argument("--no-compile-cache", action="store_true",
                        help="compile every program afresh (jaxnn.compile_cache is on by default)")
        args = ap.parse_args(argv)
        if not args.no_compile_cache:
            import jaxnn

            jaxnn.compile_cache.enable()
        record = run_and_write(name, claim, run, quick=args.quick, seed=args.seed, out=args.out)
        print(f"{name}: claim {'HELD' if record['claim']['held'] else 'NOT HELD'} — "
              f"{record['summary']} ({record['seconds']}s); wrote {args.out / (name + '.json')}")
        return 0

    return main


def exit_with(main) -> None:
    sys.exit(main())


def mean_std(values) -> dict:
    """Seed statistics of one measured quantity: ``{"per_seed": the K values, "mean": their
    mean, "std": their sample standard deviation (ddof = 1; 0.0 for a single value)}``."""
    v = np.asarray(values, np.float64).reshape(-1)
    return {"per_seed": v.tolist(), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0}


def one_std_above(a: dict, b: dict) -> bool:
    """``mean_a − std_a > mean_b + std_b`` (two :func:`mean_std` dicts): a's one-std band
    lies wholly above b's."""
    return bool(a["mean"] - a["std"] > b["mean"] + b["std"])
