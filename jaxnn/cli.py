"""The ``jaxnn`` command: ``train``, ``evaluate``, ``verify``, ``bench``.

Every subcommand validates its arguments before any JAX work and exits with status 2 and
a one-line message on bad input, 1 on a failed check, 0 on success.
"""

from __future__ import annotations

import argparse
import math
import sys


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes are comma-separated integers such as 784,30,10; got {text!r}"
        ) from None
    return sizes


def _add_verify(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check the hand-written gradients against jax.grad and finite differences",
        description=(
            "Build a network, draw random data, and compare the hand-written gradient "
            "(BP1–BP4) with jax.grad and with centred finite differences. Prints a table "
            "per check and exits non-zero on any failure."
        ),
    )
    p.add_argument("--sizes", type=_sizes, default=(4, 5, 3), help="e.g. 4,5,3")
    p.add_argument("--hidden", default="tanh", help="hidden activation")
    p.add_argument("--output", default="softmax", help="output activation")
    p.add_argument("--cost", default="cross_entropy", help="cost name")
    p.add_argument("--l2", type=float, default=0.0, help="L2 strength λ")
    p.add_argument("--init", default="lecun_normal", help="init scheme")
    p.add_argument("--batch", type=int, default=16, help="number of random examples m")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64",
        help="float64 (default, enables jax_enable_x64) or float32",
    )
    p.add_argument(
        "--eps", type=float, default=None,
        help="finite-difference step ε (default 1e-6 in float64, 1e-3 in float32)",
    )
    p.add_argument(
        "--max-fd-params", type=int, default=5000,
        help="use every-entry finite differences up to this many parameters, random "
        "directional derivatives above",
    )
    p.set_defaults(run=_run_verify)


def _run_verify(args) -> int:
    import jax

    with jax.enable_x64(args.dtype == "float64"):
        return _verify(args)


def _verify(args) -> int:
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import gradcheck

    eps = args.eps if args.eps is not None else (1e-6 if args.dtype == "float64" else 1e-3)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"--eps must be a finite number > 0; got {eps}.")
    if args.batch <= 0:
        raise ValueError(f"--batch must be a positive integer; got {args.batch}.")
    if args.max_fd_params < 0:
        raise ValueError(f"--max-fd-params must be ≥ 0; got {args.max_fd_params}.")
    net = jaxnn.mlp(args.sizes, hidden=args.hidden, output=args.output, cost=args.cost, l2=args.l2)
    dtype = jnp.dtype(args.dtype)
    kp, kx, ky, kd = jax.random.split(jax.random.key(args.seed), 4)
    params = jaxnn.init_params(kp, net, args.init, dtype=dtype)
    x = jax.random.normal(kx, (args.batch, net.n_in), dtype)
    if args.cost == "cross_entropy" and args.output == "softmax":
        y = jax.random.randint(ky, (args.batch,), 0, net.n_out)
    else:
        y = jax.random.uniform(ky, (args.batch, net.n_out), dtype)

    print(f"network: sizes {net.sizes}, activations {net.activations}, cost {net.cost}, "
          f"l2 {net.l2}, {jaxnn.num_params(net)} parameters, batch {args.batch}, {dtype}")
    report = gradcheck.manual_vs_autodiff(net, params, x, y)
    print(report.table())
    ok = report.passed
    print()
    if jaxnn.num_params(net) <= args.max_fd_params:
        fd = gradcheck.manual_vs_finite_differences(net, params, x, y, eps=eps)
        print(fd.table())
        ok = ok and fd.passed
    else:
        tol = gradcheck.FINITE_DIFFERENCE_RTOL.get(str(dtype), 1e-2)
        worst, _, _ = gradcheck.directional_check(net, params, x, y, kd, 16, eps)
        passed = worst <= tol
        print(f"manual (BP1–BP4) vs 16 random directional derivatives (ε={eps:g}): "
              f"max rel diff {worst:.3e}, tol {tol:.1e}  {'PASS' if passed else 'FAIL'}")
        ok = ok and passed
    print()
    print("verify: PASS" if ok else "verify: FAIL")
    return 0 if ok else 1


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on MNIST (the bundled 5,000-digit sample by default)",
        description=(
            "Train with the hand-written gradients, one compiled call per epoch. Writes a run "
            "directory: config.json, metrics.jsonl (one line per epoch), summary.json, "
            "checkpoint.safetensors (after every epoch, atomically) and learning_curve.png "
            "(with matplotlib). With no arguments: 784-256-10 ReLU/softmax, cross entropy, "
            "Adam 1e-3, batch 32, 20 epochs on the bundled sample (4,000 train, 1,000 test)."
        ),
    )
    p.add_argument("--sizes", type=_sizes, default=(784, 256, 10), help="e.g. 784,30,10")
    p.add_argument("--hidden", default="relu", help="hidden activation (default relu)")
    p.add_argument("--output", default="softmax", help="output activation (default softmax)")
    p.add_argument("--cost", default="cross_entropy", help="cost (default cross_entropy)")
    p.add_argument("--init", default="he_normal", help="init scheme (default he_normal)")
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, rmsprop, "
                   "adam, adamw (default adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--schedule", default="constant", help="constant, exponential, cosine")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--l2", type=float, default=0.0, help="L2 strength λ (J += λ/2m Σ‖W‖²)")
    p.add_argument("--grad", choices=("manual", "autodiff"), default="manual")
    p.add_argument("--data", default=None, help="folder with the four MNIST IDX files "
                   "(raw or .gz); default: the bundled sample")
    p.add_argument("--val-size", type=int, default=0, help="hold out this many training "
                   "examples for validation (default 0: the test set is monitored each epoch)")
    p.add_argument("--patience", type=int, default=None, help="early stopping patience "
                   "(needs --val-size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in "
                   "--out; the flags must describe the same run")
    p.add_argument("--x64", action="store_true", help="train in float64")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--debug-nans", action="store_true", help="stop at the first operation "
                   "that produces a NaN (jax_debug_nans: slow, re-runs ops un-jitted to point "
                   "at the culprit)")
    p.add_argument("--devices", type=int, default=None, help="data-parallel over N devices "
                   "(batch size a multiple of N); default: one device")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, for a "
                   "multi-process run (jax.distributed; gloo collectives on CPU)")
    p.add_argument("--num-processes", type=int, default=None, help="P, with --coordinator")
    p.add_argument("--process-id", type=int, default=None, help="this process, 0..P-1")
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    import jax

    multi = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in multi):
        if any(v is None for v in multi):
            raise ValueError(
                "a multi-process run needs all three of --coordinator HOST:PORT, "
                "--num-processes P and --process-id I."
            )
        from jaxnn import parallel

        parallel.initialize(args.coordinator, args.num_processes, args.process_id)
    with jax.enable_x64(bool(args.x64)), jax.debug_nans(bool(args.debug_nans)):
        from jaxnn import runs

        return runs.train_command(args)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="report a checkpoint's accuracy and cost on MNIST")
    p.add_argument("checkpoint", help="a checkpoint.safetensors (or a run directory)")
    p.add_argument("--data", default=None, help="MNIST IDX folder (default: bundled sample)")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from jaxnn import runs

    return runs.evaluate_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxnn", description="Backpropagation by hand in JAX (BP1–BP4)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_verify(sub)
    sub.add_parser(
        "bench", add_help=False,
        help="time jaxnn's training step against the matmul roofline (jaxnn bench --help)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own flags: jaxnn/bench.py
        from jaxnn import bench

        return bench.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FloatingPointError as e:  # TrainingDiverged: the run directory keeps its last good state
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as e:  # OSError: missing, unreadable, a folder
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
