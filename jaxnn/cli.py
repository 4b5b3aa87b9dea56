"""The ``jaxnn`` command: ``jaxnn verify`` (more subcommands join as they are built).

Every subcommand validates its arguments before any JAX work and exits with status 2 and
a one-line message on bad input, 1 on a failed check, 0 on success.
"""

from __future__ import annotations

import argparse
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
    if not eps > 0:
        raise ValueError(f"--eps must be > 0; got {eps}.")
    if args.batch <= 0:
        raise ValueError(f"--batch must be a positive integer; got {args.batch}.")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxnn", description="Backpropagation by hand in JAX (BP1–BP4)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_verify(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
