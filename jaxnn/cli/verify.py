"""``jaxnn verify``: the hand-written gradient (BP1–BP4) against ``jax.grad`` and centred
finite differences, on a network and random data built from the flags.

First each component of the network on its own (:func:`jaxnn.gradcheck.check_activation`,
:func:`jaxnn.gradcheck.check_cost`: the hand-written derivative against ``jax.grad`` of
the function over a grid from 0 to ±1e300 and random points drawn with ``--seed``, in
float64; at a kink any value between the one-sided derivatives passes), then the whole
network.
``--hidden``, ``--output`` and ``--cost`` take a built-in's name or a user component as
``package.module:attribute`` (imported; built with ``jaxnn.activations.custom`` /
``jaxnn.costs.custom``). Exit 0 when every check passes, 1 when one fails (a wrong
derivative, with the report that names the worst point), 2 for a bad flag or a component
that cannot be imported.
"""

from __future__ import annotations

import jaxnn
from jaxnn import activations, components, costs
from jaxnn.cli import common, flags, user

HELP = "check the hand-written gradients against jax.grad and finite differences"
DESCRIPTION = (
    "Check each component's hand-written derivative against jax.grad of its function, then "
    "build a network, draw random data, and compare the hand-written gradient (BP1–BP4) "
    "with jax.grad and with centred finite differences. Prints a table per check and exits "
    "non-zero on any failure. --hidden/--output/--cost also take a user component as "
    "package.module:attribute."
)
DTYPES = ("float64", "float32")
SIZES = (4, 5, 3)


def add_arguments(p) -> None:
    """The flags of ``jaxnn verify``; valid names come from the registries."""
    p.add_argument("--sizes", type=flags.sizes, default=SIZES,
                   help=f"n_0,…,n_L (default {','.join(map(str, SIZES))})")
    user.add_arguments(p, {"hidden": "tanh", "output": "softmax", "cost": "cross_entropy"})
    p.add_argument("--l2", type=float, default=0.0, help="L2 strength λ (default %(default)s)")
    common.add_layers(p)
    p.add_argument("--init", default="lecun_normal",
                   help=f"one of: {flags.names(jaxnn.SCHEMES)} (default %(default)s)")
    p.add_argument("--batch", type=int, default=16,
                   help="number of random examples m (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="in [0, 2^32) (default %(default)s)")
    p.add_argument("--dtype", choices=DTYPES, default=DTYPES[0],
                   help="float64 (default, enables jax_enable_x64) or float32")
    p.add_argument("--eps", type=float, default=None,
                   help="finite-difference step ε (default 1e-6 in float64, 1e-3 in float32)")
    p.add_argument("--max-fd-params", type=int, default=5000,
                   help="use every-entry finite differences up to this many parameters, "
                   "random directional derivatives above (default %(default)s)")


def check(args) -> None:
    """Every flag, before any JAX work."""
    flags.integer(args, "batch", minimum=1, maximum=flags.INT32_MAX, fix="e.g. --batch 16")
    flags.integer(args, "max_fd_params", minimum=0, fix="e.g. --max-fd-params 5000")
    flags.seed(args)
    if args.eps is None:
        args.eps = 1e-6 if args.dtype == "float64" else 1e-3
    flags.positive_real(args, "eps", fix="e.g. --eps 1e-6")
    flags.choose(args, "init", tuple(jaxnn.SCHEMES), "init scheme")


def run(args) -> int:
    """``jaxnn verify``: 0 when every check passes, 1 otherwise."""
    import jax

    check(args)
    net = jaxnn.mlp(args.sizes, **user.pieces(args), l2=args.l2, norm=args.norm,
                    residual=args.residual)
    ok = _check_components(net, args.seed)
    with jax.enable_x64(args.dtype == "float64"):
        return _verify(args, net, ok)


def _check_components(net, seed: int) -> bool:
    """Each distinct activation of the network, then its cost, on its own (float64; the
    random points of each check drawn with ``seed``)."""
    from jaxnn import gradcheck

    print("Each component on its own: the hand-written derivative vs jax.grad of its function, "
          "worst points first\n")
    ok = True
    seen = []
    checks = [(gradcheck.check_activation, a) for a in net.activations] + [
        (gradcheck.check_cost, net.cost)]
    for check_fn, piece in checks:
        if piece in seen:
            continue
        seen.append(piece)
        try:
            report = check_fn(piece, seed=seed)
        except components.ComponentError as e:
            print(f"FAIL: {e}\n")
            ok = False
            continue
        print(f"{report}\n")
        ok = ok and report.ok
    return ok


def _verify(args, net, ok: bool = True) -> int:
    import jax
    import jax.numpy as jnp

    from jaxnn import gradcheck

    eps = args.eps
    dtype = jnp.dtype(args.dtype)
    kp, kx, ky, kd = jax.random.split(jax.random.key(args.seed), 4)
    params = jaxnn.init_params(kp, net, args.init, dtype=dtype)
    x = jax.random.normal(kx, (args.batch, net.n_in), dtype)
    if net.cost == "cross_entropy" and net.activations[-1] == "softmax":
        y = jax.random.randint(ky, (args.batch,), 0, net.n_out)
    else:
        y = jax.random.uniform(ky, (args.batch, net.n_out), dtype)

    names = tuple(activations.name_of(a) for a in net.activations)
    print(f"network: sizes {net.sizes}, activations {names}, cost {costs.name_of(net.cost)}, "
          f"l2 {net.l2}, {jaxnn.num_params(net)} parameters, batch {args.batch}, {dtype}")
    report = gradcheck.manual_vs_autodiff(net, params, x, y)
    print(report.table())
    ok = ok and report.passed
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
