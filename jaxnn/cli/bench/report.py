"""The benchmark's results as markdown: a table per problem, the machine, a summary."""

from __future__ import annotations

from typing import Any


def _fmt(value, spec: str, none: str = "—") -> str:
    return none if value is None else format(value, spec)


def format_group(group: dict[str, Any]) -> str:
    """One problem's markdown table: ms/step, ratio (only with a reference row), GFLOP/s,
    % of roofline, compile s."""
    ref = group.get("reference")
    head = (f"**{group['size']}, batch {group['batch']}, {group['optimizer']}** — "
            f"{group['flops_per_step'] / 1e6:.3g} MFLOP/step, {group['steps_per_call']} "
            f"steps/call, matmul {group['matmul_gflops']:.0f} GFLOP/s\n\n")
    ratio_head = [f"× {ref}"] if ref else []
    columns = ["implementation", "ms/step", *ratio_head, "GFLOP/s", "% roofline",
               "best ms/step", "CPU ms/step", "compile s"]
    lines = ["| " + " | ".join(columns) + " |",
             "| --- |" + " ---: |" * (len(columns) - 1)]
    for r in group["rows"]:
        ratio = [_fmt(r.get("ratio_to_reference"), ".2f")] if ref else []
        cells = [r["name"], format(r["ms_per_step"], ".4g"), *ratio, f"{r['gflops']:.1f}",
                 f"{r['pct_roofline']:.0f}", _fmt(r.get("ms_per_step_min"), ".4g"),
                 _fmt(r.get("cpu_ms_per_step"), ".4g"), _fmt(r.get("compile_seconds"), ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def format_summary(result: dict[str, Any]) -> str:
    """Compile time and memory, as markdown bullet points."""
    lines = []
    c = result["compile"]
    if c["jaxnn_epoch_compile_seconds_max"] is not None:
        lines.append(f"- jaxnn epoch compile (trace + XLA, `make_epoch(...).lower().compile()`): "
                     f"at most {c['jaxnn_epoch_compile_seconds_max']:.2f} s over "
                     f"{len(c['jaxnn_epoch_compile_seconds'])} programs")
    m = result["memory"]
    lines.append(f"- peak RSS of the benchmark process: {m['process_peak_rss_mb']:.0f} MiB "
                 f"(device memory stats: {m['device_memory_stats'] or 'not kept by this backend'})")
    fit = m.get("fit")
    if fit:
        lines.append(
            f"- `fit` of {fit['network']}, batch {fit['batch']}, on {fit['n']:,} × 784 "
            f"synthetic float32 + {fit['n_val']:,} validation, {fit['epochs']} epochs, in a "
            f"fresh process: peak RSS {fit['peak_rss_mb']:.0f} MiB (after imports "
            f"{fit['rss_after_import_mb']:.0f}, after the numpy data "
            f"{fit['rss_after_data_mb']:.0f}); "
            f"epoch compile {fit['fit_compile_seconds']:.2f} s; epochs "
            + ", ".join(f"{s:.2f}" for s in fit["epoch_seconds"])
            + f" s; XLA compilations after epoch 1: {fit['compilations_after_epoch_1']}"
        )
    return "\n".join(lines) + "\n"


def format_machine(info: dict[str, Any]) -> str:
    """One line: CPU, cores, memory, versions."""
    return (f"{info['cpu']} ({', '.join(info['cpu_flags'])}), {info['cores']} cores, "
            f"{info['memory_gb']} GB; Python {info['python']}, jax {info['jax']}, "
            f"jaxlib {info['jaxlib']}, numpy {info['numpy']}, backend {info['jax_backend']}")


QUICK_CAUTION = ("Caution: --quick is a smoke run (small sizes, one round, no warm-up): its "
                 "numbers are not meaningful; run without --quick to measure.")


def format_report(result: dict[str, Any], caution: bool = True) -> str:
    """Machine, every group's table, and the compile/memory summary (after a caution for a
    ``--quick`` run, unless ``caution`` is False)."""
    parts = [f"{QUICK_CAUTION}\n"] if caution and result["config"].get("quick") else []
    parts += [f"Machine: {format_machine(result['machine'])}.\n",
              f"Network: {result['config']['architecture']}; float32.\n"]
    parts += [format_group(g) for g in result["groups"]]
    parts.append(format_summary(result))
    return "\n".join(parts)
