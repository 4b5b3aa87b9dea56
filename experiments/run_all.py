"""Run every experiment and write ``report.md``: the source documents' claims, checked.

``python -m experiments.run_all [--quick] [--seed N] [--out DIR] [--only a,b]`` imports
each module named in :data:`EXPERIMENTS` (lazily, so one that is not written yet is skipped
with a note), runs it through ``_common.run_and_write`` (its JSON and figures land in
``DIR``), and writes ``DIR/report.md``: the command, the machine, a table of claims with
✔/✘ and seconds, then per experiment its claim, summary, key numbers, figures and the
command that reproduces it. ``DIR`` defaults to ``experiments/results/``, or with
``--quick`` to ``experiments/results/quick/`` (git-ignored), so that a quick run never
overwrites the committed full-mode results.

Exit status: 0 when every experiment ran, whether or not its claim held (the report says
which did not); 1 when an experiment crashed (the report carries its traceback).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import pathlib
import platform
import sys
import time
import traceback

from experiments._common import DEFAULT_OUT, run_and_write

QUICK_OUT = DEFAULT_OUT / "quick"

# In the order of the claims as the source documents make them (docs/equations.md): the
# worked example first, the MNIST digits and the cubic last.
EXPERIMENTS = [
    "worked_example",
    "steep_sigmoid_and_strips",
    "linear_collapse",
    "logistic_regression",
    "vanishing_gradients",
    "deep_networks",
    "initialization",
    "normalization",
    "optimizers",
    "regularization",
    "dropout",
    "gradient_checking",
    "mnist",
    "fashion_mnist",
    "cubic_regression",
]

MAX_LIST = 12  # lists longer than this are summarised
MAX_ROWS = 25  # table rows shown
MAX_DEPTH = 3  # nesting shown in "key numbers"


# ----------------------------------------------------------------------------------------
# Rendering a results dict as compact markdown.


def _fmt(v) -> str:
    """A scalar for the report: floats with 4 significant digits, the rest as is."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if v != v or math.isinf(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v))
        if 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    if isinstance(v, str):
        return v
    return str(v)


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _cell(v) -> str:
    """A table cell: scalars, short lists inline, anything bigger elided."""
    if _is_scalar(v):
        text = _fmt(v)
    elif isinstance(v, list) and all(_is_scalar(x) for x in v) and len(v) <= 6:
        text = "[" + ", ".join(_fmt(x) for x in v) + "]"
    elif isinstance(v, list):
        text = f"[{len(v)} values]"
    else:
        text = "{…}"
    return text.replace("|", "\\|").replace("\n", " ")


def _list_text(v: list) -> str:
    if len(v) <= MAX_LIST:
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    nums = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    head = ", ".join(_fmt(x) for x in v[:3])
    tail = ", ".join(_fmt(x) for x in v[-3:])
    extra = ""
    if len(nums) == len(v):
        extra = f"; min {_fmt(min(nums))}, max {_fmt(max(nums))}"
    return f"[{head}, …, {tail}] ({len(v)} values{extra})"


def _table(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols and not str(k).startswith("_"))
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for r in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n*… {len(rows) - MAX_ROWS} more rows in the JSON.*")
    return lines


def _small_matrix(v) -> bool:
    return (isinstance(v, list) and v and all(isinstance(r, list) and all(_is_scalar(x) for x in r)
                                              for r in v)
            and sum(len(r) for r in v) <= MAX_LIST)


def render_results(results: dict, depth: int = 0, prefix: str = "") -> list[str]:
    """Markdown lines for ``results``: a bullet per scalar or short list; lists of dicts,
    and dicts whose values are all dicts, as tables (captioned with their key path)."""
    lines: list[str] = []
    pad = "  " * depth
    for key, v in results.items():
        if str(key).startswith("_"):
            continue
        path = f"{prefix}{key}"
        if _is_scalar(v):
            lines.append(f"{pad}- **{key}**: {_fmt(v)}")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            lines += ["", f"**{path}**:", "", *_table(v), ""]
        elif isinstance(v, dict) and len(v) > 1 and all(isinstance(x, dict) for x in v.values()):
            rows = [{"": k, **x} for k, x in v.items()]
            lines += ["", f"**{path}**:", "", *_table(rows), ""]
        elif _small_matrix(v):
            inner = ", ".join("[" + ", ".join(_fmt(x) for x in r) + "]" for r in v)
            lines.append(f"{pad}- **{key}**: [{inner}]")
        elif isinstance(v, list):
            if all(_is_scalar(x) for x in v):
                lines.append(f"{pad}- **{key}**: {_list_text(v)}")
            else:
                lines.append(f"{pad}- **{key}**: {len(v)} entries (see the JSON)")
        elif isinstance(v, dict):
            if depth + 1 >= MAX_DEPTH:
                lines.append(f"{pad}- **{key}**: {{…}} (see the JSON)")
            else:
                lines.append(f"{pad}- **{key}**:")
                lines.extend(render_results(v, depth + 1, f"{path}."))
        else:
            lines.append(f"{pad}- **{key}**: {_fmt(v)}")
    return lines


# ----------------------------------------------------------------------------------------
# The machine.


def machine() -> dict[str, str]:
    import jax

    devices = jax.devices()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": str(os.cpu_count()),
        "jax": jax.__version__,
        "device": f"{devices[0].platform}: {devices[0].device_kind}"
        + (f" × {len(devices)}" if len(devices) > 1 else ""),
    }


# ----------------------------------------------------------------------------------------
# Running.


def _command(args, explicit_out: bool) -> str:
    parts = ["python -m experiments.run_all"]
    if args.quick:
        parts.append("--quick")
    if args.seed:
        parts.append(f"--seed {args.seed}")
    if explicit_out:
        parts.append(f"--out {args.out}")
    if args.only:
        parts.append(f"--only {','.join(args.only)}")
    return " ".join(parts)


def run_one(name: str, *, quick: bool, seed: int, out: pathlib.Path) -> dict:
    """``{"name", "status": "ran" | "skipped" | "crashed", ...}`` for one experiment."""
    module_name = f"experiments.{name}"
    if importlib.util.find_spec(module_name) is None:
        return {"name": name, "status": "skipped",
                "note": f"module {module_name} does not exist yet"}
    t0 = time.perf_counter()
    module = None
    try:
        module = importlib.import_module(module_name)
        record = run_and_write(module.NAME, module.CLAIM, module.run, quick=quick, seed=seed,
                               out=out)
    except Exception:
        return {"name": name, "status": "crashed", "traceback": traceback.format_exc(),
                "seconds": round(time.perf_counter() - t0, 2),
                "claim": getattr(module, "CLAIM", "")}
    return {"name": name, "status": "ran", "record": record}


def write_report(entries: list[dict], out: pathlib.Path, command: str, total: float,
                 produced: str | None = None) -> str:
    """``out/report.md`` from the experiments' entries; returns the text."""
    info = machine()
    lines = [
        "# jaxnn experiments: the source documents' claims, checked",
        "",
        produced or f"Produced by `{command}` in {total:.1f} s.",
        "",
        f"Machine: {info['platform']}, Python {info['python']}, {info['cpu_count']} CPUs, "
        f"jax {info['jax']}, device {info['device']}.",
        "",
        "| experiment | claim | held | seconds |",
        "| --- | --- | --- | --- |",
    ]
    for e in entries:
        name = e["name"]
        if e["status"] == "ran":
            r = e["record"]
            mark = "✔" if r["claim"]["held"] else "✘"
            lines.append(f"| [{name}](#{name}) | {_cell(r['claim']['statement'])} | {mark} | "
                         f"{r['seconds']:.1f} |")
        elif e["status"] == "crashed":
            lines.append(f"| [{name}](#{name}) | {_cell(e.get('claim', ''))} | crashed | "
                         f"{e['seconds']:.1f} |")
        else:
            lines.append(f"| {name} | skipped: {e['note']} | — | — |")
    ran = [e for e in entries if e["status"] == "ran"]
    held = sum(e["record"]["claim"]["held"] for e in ran)
    crashed = sum(e["status"] == "crashed" for e in entries)
    skipped = sum(e["status"] == "skipped" for e in entries)
    lines += ["", f"{held} of {len(ran)} claims held"
              + (f"; {crashed} experiment(s) crashed" if crashed else "")
              + (f"; {skipped} skipped (not written yet)" if skipped else "") + ".", ""]

    for e in entries:
        if e["status"] == "skipped":
            continue
        name = e["name"]
        lines += [f'<a id="{name}"></a>', "", f"## {name}", ""]
        if e["status"] == "crashed":
            lines += ["**The experiment crashed:**", "", "```", e["traceback"].rstrip(), "```",
                      ""]
            continue
        r = e["record"]
        held_text = "**held** ✔" if r["claim"]["held"] else "**did not hold** ✘"
        lines += [
            f"**Claim** ({held_text}): {r['claim']['statement']}",
            "",
            f"**Summary**: {r['summary']}",
            "",
            "**Key numbers**:",
            "",
            *render_results(r["results"]),
            "",
        ]
        for fig in r["figures"]:
            lines += [f"![{fig}]({fig})", ""]
        lines += [f"Reproduce: `{r['command']}` ({r['seconds']:.1f} s here).", ""]
    text = "\n".join(lines).rstrip() + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def report_from_files(names: list[str], out: pathlib.Path) -> int:
    """``out/report.md`` from the records each experiment last wrote (``out/<name>.json``),
    running nothing; the header names the command of each record instead of one run's.
    Exit status 1 when a record is missing."""
    entries, missing = [], []
    for name in names:
        path = out / f"{name}.json"
        if not path.exists():
            missing.append(name)
            entries.append({"name": name, "status": "skipped",
                            "note": f"no {path.name} (run python -m experiments.{name})"})
            continue
        entries.append({"name": name, "status": "ran",
                        "record": json.loads(path.read_text(encoding="utf-8"))})
    total = sum(e["record"]["seconds"] for e in entries if e["status"] == "ran")
    write_report(entries, out, "", total, produced=(
        "Collected by `python -m experiments.run_all --report-only` from each experiment's "
        f"last record (their runs took {total:.1f} s in all; each one's command is under it)."))
    print(f"[run_all] wrote {out / 'report.md'} from {len(entries) - len(missing)} records"
          + (f"; missing: {', '.join(missing)}" if missing else ""))
    return 1 if missing else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.run_all",
                                 description="Run the experiments and write report.md.")
    ap.add_argument("--quick", action="store_true", help="seconds per experiment")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help=f"default {DEFAULT_OUT} (with --quick: {QUICK_OUT}, git-ignored, so a "
                    "quick run never overwrites the committed full-mode results)")
    ap.add_argument("--only", type=lambda s: [n.strip() for n in s.split(",") if n.strip()],
                    default=None, help="comma-separated experiment names, e.g. "
                    "worked_example,linear_collapse")
    ap.add_argument("--no-compile-cache", action="store_true",
                    help="compile every program afresh (jaxnn.compile_cache is on by default)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rebuild report.md from the <name>.json files already in "
                    "the output folder (e.g. after re-running some experiments with --only)")
    args = ap.parse_args(argv)
    if not args.no_compile_cache:
        import jaxnn

        jaxnn.compile_cache.enable()
    explicit_out = args.out is not None
    if not explicit_out:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    names = args.only or EXPERIMENTS
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        ap.error(f"unknown experiment(s) {', '.join(unknown)}; choose from "
                 f"{', '.join(EXPERIMENTS)}.")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        return report_from_files(names, args.out)

    t0 = time.perf_counter()
    entries = []
    for name in names:
        print(f"[run_all] {name} …", flush=True)
        entry = run_one(name, quick=args.quick, seed=args.seed, out=args.out)
        if entry["status"] == "ran":
            r = entry["record"]
            print(f"[run_all] {name}: {'HELD' if r['claim']['held'] else 'NOT HELD'} "
                  f"({r['seconds']:.1f} s)", flush=True)
        elif entry["status"] == "crashed":
            print(f"[run_all] {name}: CRASHED\n{entry['traceback']}", file=sys.stderr,
                  flush=True)
        else:
            print(f"[run_all] {name}: skipped ({entry['note']})", flush=True)
        entries.append(entry)
    total = time.perf_counter() - t0
    write_report(entries, args.out, _command(args, explicit_out), total)
    print(f"[run_all] wrote {args.out / 'report.md'} ({total:.1f} s)")
    return 1 if any(e["status"] == "crashed" for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
