"""Timing jaxnn's training step: ``jaxnn bench``, and the harness that
``experiments/benchmark.py`` drives with its peers (plain JAX, flax, PyTorch, NumPy).

* :mod:`~jaxnn.cli.bench.cases`: problem sizes, the FLOP count, and the implementations
  timed (:class:`Case`; a peer is a factory ``Problem -> Case`` that may raise
  :class:`Skip`);
* :mod:`~jaxnn.cli.bench.machine`: the CPU, memory and versions, peak RSS, CPU time;
* :mod:`~jaxnn.cli.bench.timing`: interleaved rounds against the roofline matmul, and
  ``fit`` in a fresh process (:func:`run_jaxnn_benchmark` runs it all);
* :mod:`~jaxnn.cli.bench.report`: markdown tables;
* :mod:`~jaxnn.cli.bench.command`: the flags and the command.
"""

from jaxnn.cli.bench.cases import (
    ARCHITECTURE,
    AUTODIFF,
    DEFAULT_SIZES_TEXT,
    LEARNING_RATES,
    MANUAL,
    MATMUL_N,
    MATMUL_REPEATS,
    MATMULS_ONLY,
    OPTIMIZERS,
    QUICK_SIZES_TEXT,
    ROOFLINE,
    Case,
    Factory,
    Problem,
    Size,
    Skip,
    jaxnn_case,
    jaxnn_factories,
    make_problem,
    matmul_rate_case,
    matmuls_only_case,
    memory_analysis,
    parse_sizes,
    step_flops,
)
from jaxnn.cli.bench.command import add_arguments, build_parser, resolve_args, run
from jaxnn.cli.bench.machine import (
    cpu_flags,
    cpu_model,
    device_memory_stats,
    machine_info,
    peak_rss_mb,
    process_cpu_seconds,
    ru_maxrss_mb,
)
from jaxnn.cli.bench.report import format_group, format_machine, format_report, format_summary
from jaxnn.cli.bench.timing import (
    CALIBRATION_STEPS,
    PAUSE_SECONDS,
    TARGET_CALL_SECONDS,
    build_cases,
    finish_fit_memory,
    fit_child,
    fit_memory,
    run_group,
    run_jaxnn_benchmark,
    start_fit_memory,
    time_interleaved,
)

__all__ = [
    "ARCHITECTURE", "AUTODIFF", "CALIBRATION_STEPS", "DEFAULT_SIZES_TEXT", "LEARNING_RATES",
    "MANUAL", "MATMULS_ONLY", "MATMUL_N", "MATMUL_REPEATS", "OPTIMIZERS", "PAUSE_SECONDS",
    "QUICK_SIZES_TEXT", "ROOFLINE", "TARGET_CALL_SECONDS", "Case", "Factory", "Problem",
    "Size", "Skip", "add_arguments", "build_cases", "build_parser", "cpu_flags", "cpu_model",
    "device_memory_stats", "finish_fit_memory", "fit_child", "fit_memory", "format_group",
    "format_machine", "format_report", "format_summary", "jaxnn_case", "jaxnn_factories",
    "machine_info", "make_problem", "matmul_rate_case", "matmuls_only_case",
    "memory_analysis", "parse_sizes", "peak_rss_mb", "process_cpu_seconds", "resolve_args",
    "ru_maxrss_mb", "run", "run_group", "run_jaxnn_benchmark", "start_fit_memory",
    "step_flops", "time_interleaved",
]
