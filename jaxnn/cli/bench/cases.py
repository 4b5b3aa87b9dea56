"""The benchmark's problems and the implementations it times (as :class:`Case`).

What is timed is the ``fit`` path: :func:`jaxnn.train.make_epoch`, compiled ahead of time,
one call = ``steps`` minibatch steps inside ``lax.scan`` (shuffle, gather, BP1–BP4 or
autodiff, optimizer update, per-batch metrics). One timed call runs ``steps`` steps and
blocks until they are done; ms per step = call time / ``steps``.

**FLOPs.** :func:`step_flops` counts the matrix products of one training step, m the batch
and layer l mapping n_{l−1} → n_l::

    forward    2 m n_{l−1} n_l                       (Z^l = A^{l−1} W^{lᵀ})
    backward   4 m n_{l−1} n_l  for l ≥ 2            (BP4 Δ^{lᵀ} A^{l−1}, BP2 Δ^l W^l)
               2 m n_0 n_1      for l = 1            (BP4 only: no input gradient)

Element-wise work (activations, the cost, the optimizer) is not counted. The roofline is a
jitted float32 1024×1024×1024 matmul (:func:`matmul_rate_case`), timed in the same rounds.

Everything here uses jax, numpy and jaxnn only; peers are passed in as case factories.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# The sizes of the issue, each with its batch and the steps per timed call (each call
# ≥ ~50 ms on a 2-core CPU; 5000 × 10 is one 50,000-example epoch of Nielsen's network).
DEFAULT_SIZES_TEXT = "784-30-10:10:5000,784-256-256-10:128:50,784-1024-1024-10:1024:2"
QUICK_SIZES_TEXT = "784-30-10:10:20"
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}
ARCHITECTURE = "sigmoid hidden layers, softmax output, cross-entropy cost (mean over the batch)"
INT32_MAX = 2**31 - 1  # the largest width, batch or steps × batch a size may have
MATMUL_N = 1024  # the roofline's matmul: (N, N) @ (N, N), float32
MATMUL_REPEATS = 5  # matmuls per timed call of the roofline case

# Row names every result has (the peers add their own).
MANUAL = "jaxnn manual (BP1–BP4)"
AUTODIFF = "jaxnn autodiff"
MATMULS_ONLY = "matmuls only (step shapes)"
ROOFLINE = "roofline (1024³ matmul rate)"


@dataclass(frozen=True)
class Size:
    """One problem size: ``sizes`` (n_0, …, n_L), the batch m, the steps per timed call."""

    sizes: tuple[int, ...]
    batch: int
    steps: int

    @property
    def label(self) -> str:
        """``"784-30-10 b10"``."""
        return "-".join(map(str, self.sizes)) + f" b{self.batch}"


def parse_sizes(text: str) -> tuple[Size, ...]:
    """``"784-30-10:10:5000,784-256-256-10:128"`` → sizes. Each item is
    ``n0-n1-…-nL[:batch[:steps]]``; a missing batch is 32, missing steps are chosen so a
    call does ~50 ms of matmuls at 20 GFLOP/s (at least 1, at most 5000)."""
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if not parts[0] or len(parts) > 3:
            raise ValueError(
                f"a size is n0-n1-…-nL[:batch[:steps]] such as 784-30-10:10:5000; got {item!r}."
            )
        try:
            sizes = tuple(int(s) for s in parts[0].split("-"))
            batch = int(parts[1]) if len(parts) > 1 else 32
            steps = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise ValueError(
                f"a size is n0-n1-…-nL[:batch[:steps]] with integers, such as "
                f"784-30-10:10:5000; got {item!r}."
            ) from None
        if len(sizes) < 2 or min(sizes) <= 0 or batch <= 0 or steps < 0:
            raise ValueError(
                f"a size needs ≥ 2 positive widths joined by '-' (784-30-10; ',' separates "
                f"sizes), a positive batch and steps ≥ 0; got {item!r}."
            )
        if max(sizes) > INT32_MAX or batch > INT32_MAX or steps * batch > INT32_MAX:
            raise ValueError(
                f"a size's widths, its batch and its steps × batch must each be at most "
                f"2^31 − 1; got {item!r}."
            )
        if steps == 0:
            steps = int(min(5000, max(1, math.ceil(0.05 * 20e9 / step_flops(sizes, batch)))))
        out.append(Size(sizes, batch, steps))
    return tuple(out)


def step_flops(sizes: Sequence[int], batch: int) -> int:
    """FLOPs of the matrix products of one training step (forward + backward, no input
    gradient), for widths ``sizes = (n_0, …, n_L)`` and batch m (see the module docstring).

    >>> step_flops((2, 3, 1), 4)  # forward 2·4·(2·3 + 3·1) = 72; backward 2·4·6 + 4·4·3 = 96
    168
    """
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        mnk = batch * n_in * n_out
        total += 2 * mnk  # forward: Z^l = A^{l−1} W^{lᵀ}
        total += (4 if l > 1 else 2) * mnk  # BP4 (+ BP2 above the first layer)
    return total



# ---------------------------------------------------------------------------------------
# Problems and cases.


class Problem(NamedTuple):
    """One benchmark problem, shared by every implementation.

    Attributes:
      size: widths, batch and steps per call.
      optimizer: ``"sgd"`` or ``"adam"``; learning_rate: its α.
      x: ``(steps · batch, n_0)`` float32, standard normal; labels: ``(steps · batch,)``
        int32 in [0, n_L).
      init: ``[(W^l, b^l)]`` numpy float32, ``W^l: (n_l, n_{l−1})`` ~ N(0, 1/n_{l−1}),
        ``b^l = 0``: every implementation starts from these.
    """

    size: Size
    optimizer: str
    learning_rate: float
    x: np.ndarray
    labels: np.ndarray
    init: list[tuple[np.ndarray, np.ndarray]]


def make_problem(size: Size, optimizer: str, seed: int = 0) -> Problem:
    """Synthetic data and initial parameters for ``size`` (numpy, float32)."""
    if optimizer not in LEARNING_RATES:
        raise ValueError(
            f"optimizer must be one of {', '.join(LEARNING_RATES)}; got {optimizer!r}."
        )
    rng = np.random.default_rng(seed)
    n = size.steps * size.batch
    x = rng.standard_normal((n, size.sizes[0]), dtype=np.float32)
    labels = rng.integers(0, size.sizes[-1], n, dtype=np.int32)
    init = []
    for n_in, n_out in zip(size.sizes[:-1], size.sizes[1:]):
        W = (rng.standard_normal((n_out, n_in), dtype=np.float32) / np.float32(math.sqrt(n_in)))
        init.append((W, np.zeros(n_out, np.float32)))
    return Problem(size, optimizer, LEARNING_RATES[optimizer], x, labels, init)


@dataclass
class Case:
    """One implementation, ready to time.

    Attributes:
      name: the row name.
      call: runs ``steps`` training steps and returns when they are done.
      steps: steps per call (0 for the roofline's matmul, whose rate is what counts).
      compile_seconds: tracing + compilation, for jitted implementations.
      memory: XLA's ``memory_analysis()`` of the compiled program (bytes), if any.
      note: how it was built (e.g. the optimizer's library).
      set_steps: for implementations stepped from a Python loop, sets the steps of the
        next calls (≤ the problem's); the harness sizes their calls to ~0.25 s, so a slow
        peer does not take minutes per call. ``None``: the steps are fixed (``lax.scan``).
      params: the current parameters as ``[(W^l: (n_l, n_{l−1}), b^l)]`` numpy arrays
        (for checking that every implementation takes the same step).
    """

    name: str
    call: Callable[[], Any]
    steps: int
    compile_seconds: float | None = None
    memory: dict | None = None
    note: str = ""
    set_steps: Callable[[int], None] | None = None
    params: Callable[[], list[tuple[np.ndarray, np.ndarray]]] | None = None


class Skip(Exception):
    """A peer that cannot run here (not installed); the message says why."""


def memory_analysis(compiled) -> dict | None:
    """XLA's ``memory_analysis()`` of a compiled program in bytes (None where the backend
    has none)."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if m is None:
        return None
    return {
        "argument_bytes": int(m.argument_size_in_bytes),
        "output_bytes": int(m.output_size_in_bytes),
        "temp_bytes": int(m.temp_size_in_bytes),
    }


def jaxnn_case(problem: Problem, grad: str = "manual") -> Case:
    """The ``fit`` path: ``make_epoch`` for the problem's network and optimizer, compiled
    ahead of time (timed), called with the state it returned last time."""
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import optimizers, train

    size = problem.size
    net = jaxnn.mlp(size.sizes, hidden="sigmoid", output="softmax", cost="cross_entropy")
    opt = optimizers.get(problem.optimizer, problem.learning_rate)
    params = tuple(jaxnn.Layer(jnp.asarray(W), jnp.asarray(b)) for W, b in problem.init)
    opt_state = opt.init(params)
    x, y = jnp.asarray(problem.x), jnp.asarray(problem.labels)
    key = jax.random.key(0)
    keys = [jax.random.fold_in(key, e) for e in range(16)]
    epoch = train.make_epoch(
        net, opt, batch_size=size.batch, num_examples=x.shape[0], grad=grad
    )
    t0 = time.perf_counter()
    compiled = epoch.lower(params, opt_state, x, y, keys[0], None, None).compile()
    compile_seconds = time.perf_counter() - t0
    state = {"params": params, "opt_state": opt_state, "epoch": 0}

    def call():
        e = state["epoch"]
        out = compiled(state["params"], state["opt_state"], x, y, keys[e % len(keys)], None, None)
        jax.block_until_ready(out)
        state["params"], state["opt_state"], _ = out
        state["epoch"] = e + 1

    return Case(
        MANUAL if grad == "manual" else AUTODIFF,
        call,
        size.steps,
        compile_seconds,
        memory_analysis(compiled),
        f"train.make_epoch(grad={grad!r}): shuffle + lax.scan, "
        f"jaxnn.optimizers.{problem.optimizer}",
        params=lambda: [(np.asarray(W), np.asarray(b)) for W, b in state["params"]],
    )


def matmuls_only_case(problem: Problem) -> Case:
    """The step's matrix products alone, in the step's shapes and layouts (``A Wᵀ``,
    ``Δᵀ A``, ``Δ W``), in a ``lax.scan`` of ``steps`` steps: a linear network's step with
    nothing else, the floor for the step's dot shapes on this machine."""
    import jax
    import jax.numpy as jnp

    size = problem.size
    xs = jnp.asarray(problem.x).reshape(size.steps, size.batch, -1)
    Ws = tuple(jnp.asarray(W) for W, _ in problem.init)

    def body(Ws, xb):
        acts = [xb]
        for W in Ws:
            acts.append(acts[-1] @ W.T)
        delta = acts[-1] * 1e-3
        new = [None] * len(Ws)
        for l in range(len(Ws), 0, -1):
            new[l - 1] = Ws[l - 1] - 1e-6 * (delta.T @ acts[l - 1])
            if l > 1:
                delta = delta @ Ws[l - 1]
        return tuple(new), None

    @jax.jit
    def run(Ws, xs):
        return jax.lax.scan(body, Ws, xs)[0]

    t0 = time.perf_counter()
    compiled = run.lower(Ws, xs).compile()
    compile_seconds = time.perf_counter() - t0

    def call():
        jax.block_until_ready(compiled(Ws, xs))

    return Case(MATMULS_ONLY, call, size.steps, compile_seconds, memory_analysis(compiled),
                "linear network, same dot shapes, lax.scan")


def matmul_rate_case(n: int = MATMUL_N, repeats: int = MATMUL_REPEATS) -> Case:
    """The roofline's matmul: ``repeats`` float32 (n, n) @ (n, n) products in one jitted
    ``lax.scan`` (as the step's dots run: inside one program, into reused buffers; five
    separate jitted calls measured ~25% slower here, paying a fresh output buffer each)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.uniform(jax.random.key(1), (n, n), jnp.float32)
    bs = jax.random.uniform(jax.random.key(2), (repeats, n, n), jnp.float32)

    def products(a, bs):
        def body(total, b):
            return total + (a @ b)[0, 0], None  # keeps each product live

        return jax.lax.scan(body, jnp.zeros((), jnp.float32), bs)[0]

    compiled = jax.jit(products).lower(a, bs).compile()

    def call():
        jax.block_until_ready(compiled(a, bs))

    case = Case(ROOFLINE, call, 0,
                note=f"({n}×{n}) @ ({n}×{n}) float32, {repeats} per call in one jitted lax.scan")
    case.flops_per_call = 2 * n**3 * repeats  # type: ignore[attr-defined]
    return case


# A factory builds a Case for a problem, or raises Skip.
Factory = Callable[[Problem], Case]


def jaxnn_factories() -> list[tuple[str, Factory]]:
    """The rows ``jaxnn bench`` times: manual, autodiff, and the matmuls-only floor."""
    return [
        (MANUAL, lambda p: jaxnn_case(p, "manual")),
        (AUTODIFF, lambda p: jaxnn_case(p, "autodiff")),
        (MATMULS_ONLY, matmuls_only_case),
    ]


