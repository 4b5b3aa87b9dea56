"""An epoch of K independent runs, each shuffling with its own key: a prototype to port.

Issue 22. ``fit_many``'s default order today is ``jax.vmap`` of the one-run epoch; this
module holds the formulations measured against it by ``scripts/many_layouts.py`` and, in
:func:`many_epoch`, the one that won. It is plain JAX with no jaxnn internals, so it can be
read (and ported into ``jaxnn.train``) on its own.

Contract of :func:`many_epoch` (``epoch = many_epoch(opt, batch, n)``)::

    params, state = epoch(params, state, x, y, keys)

- ``params``: a pytree whose every leaf has a leading run axis K (here a tuple of
  ``Layer(W: (K, n_l, n_{l-1}), b: (K, n_l))``); ``state``: ``jax.vmap(opt.init)(params)``.
- ``x: (n, n_0)``, ``y: (n,)`` int labels: ONE copy of the data, shared by every run.
- ``keys: (K,)`` typed PRNG keys, one per run.
- ``opt``: any ``Optimizer(init, update)`` with ``update(grads, state, params) -> (params,
  state)`` pure, for ONE run; it is ``vmap``-ed over the runs here.

Invariant (checked in float64 by ``python scripts/many_layouts.py --check``): run k of the
result equals ``one_epoch(opt, batch, n)(params[k], state[k], x, y, keys[k])`` to 1e-10:
the same permutation ``shuffle(keys[k], n)``, the same ``⌊n/b⌋`` minibatches in order, the
same updates. The K runs are only computed side by side.

What the winning layout does differently from ``vmap(one_epoch)`` (``fit_many`` today):

1. **BP4 with Δᵀ materialised** (``grads(..., bp4="transposed")``). Written as ``delta.T @
   a``, XLA folds the transpose into the dot, whose lhs then contracts its leading axis:
   XLA's CPU backend does not hand that form to YNNPACK and runs its generic dot, which is
   slow once batched over runs. A ``(n_l, b)`` copy of Δᵀ behind ``optimization_barrier``
   (XLA cannot fold it away) makes all five dots of the step YNNPACK fusions. One run gains
   too (~1.1–1.2× by CPU time).
2. **Runs in chunks of ``CHUNK`` = 4** (``lax.map`` over K/4 groups, each ``vmap``-ed). The
   working set of all K runs (784-30-10: 94 kB of weights per run and per copy: W, ∇W,
   optimizer moments) leaves the 2 MB L2 cache at K ≳ 16, and the batched dots then slow
   down per run (vmap at K = 128 runs at 0.40× one run). A chunk's runs stay in cache.
3. The K permutations are drawn at once, and each chunk of ``GATHER`` steps gathers the
   runs' minibatches into one contiguous ``(G, K, b, n_0)`` block (step axis first).

Measured (``python scripts/many_layouts.py --runs 8,32,128 --forms
one,one_t,vmap,map4_t,map2_t,map4u2_t --rounds 5``; 784-30-10, SGD, batch 10, 4,000
digits, float32; 2 shared cores at load average 13.7 → 17.9, so the ratios use CPU time
(``time.process_time``), medians of 5 interleaved rounds; per-run throughput ÷ one run's):

======  ==========  ========  =========================  ========  ========
K       one_t       vmap      **map4_t (this module)**   map2_t    map4u2_t
======  ==========  ========  =========================  ========  ========
8       0.98×       0.69×     0.88×                      0.91×     0.95×
32      1.11×       0.56×     1.11×                      1.15×     1.09×
128     1.16×       0.40×     1.07×                      1.01×     1.06×
======  ==========  ========  =========================  ========  ========

Adam 1e-3 at K = 32 (``--optimizer adam --forms one,one_t,vmap,map4_t``, load 18): one_t
1.17×, vmap 0.81×, map4_t 0.99×. Raw rows: ``experiments/results/benchmark_many_layouts.json``.

So against ``fit_many`` today (``vmap``) the chunked, transposed form is 1.3× faster at
K = 8, 2.0× at K = 32 and 2.7× at K = 128; against ONE run it is only level (0.9–1.15×),
and so is one run given the same BP4 (``one_t``). Batching does not make a run's small
GEMMs (10×784×30) cheaper on one CPU core: XLA runs the batched dot as K of them, and
per-op overhead is a small share of a step. Where the time goes in one vmapped epoch
(``--ablate``, CPU time saved by removing one part, K = 8 / 32): the backward pass and the
update ~30–37 % (the epoch with the forward pass only costs 0.63–0.70 of it), of which the
SGD update ~5 %; the per-run shuffle (a sort of n 64-bit keys) ~18–22 %; the gather of the
minibatches ~19–28 %. The rest is the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

GATHER = 20  # minibatches gathered at once (one gather of GATHER·b rows per run)
CHUNK = 4  # runs trained side by side (vmap); chunks one after the other (lax.map)


class Layer(NamedTuple):
    """One layer: ``W: (n_l, n_{l-1})``, ``b: (n_l,)`` (jaxnn's layout)."""

    W: Any
    b: Any


class Optimizer(NamedTuple):
    """``init(params) -> state``; ``update(grads, state, params) -> (params, state)``."""

    init: Callable
    update: Callable


class AdamState(NamedTuple):
    count: Any  # int32 step counter t
    m: Any  # first moment estimate
    v: Any  # second moment estimate


def sgd(learning_rate: float) -> Optimizer:
    """θ ← θ − η ∇J."""

    def init(params):
        return ()

    def update(grads, state, params):
        return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads), state

    return Optimizer(init, update)


def adam(learning_rate: float, b1=0.9, b2=0.999, eps=1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(grads, state, params):
        t = state.count + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)  # first moment
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)  # second
        tf = t.astype(jax.tree.leaves(params)[0].dtype)
        c1, c2 = 1 - b1 ** tf, 1 - b2 ** tf  # bias corrections
        params = jax.tree.map(
            lambda p, m, v: p - learning_rate * (m / c1) / (jnp.sqrt(v / c2) + eps),
            params, m, v)
        return params, AdamState(t, m, v)

    return Optimizer(init, update)


def shuffle(key, n: int):
    """A random permutation of ``0..n−1``: the indices sorted by 64 random bits (jaxnn's
    ``train.core.shuffle`` up to 0.2; 0.3 shuffles by swap-or-not)."""
    bits = jax.random.bits(key, (2, n), jnp.uint32)
    iota = jax.lax.iota(jnp.int32, n)
    return jax.lax.sort((bits[0], bits[1], iota), num_keys=2, is_stable=False)[2]


def grads(params, x, labels, bp4: str = "folded"):
    """∇J of the mean cross entropy of a sigmoid-hidden, softmax-output MLP on ``x: (b,
    n_0)``, by BP1–BP4; returns a pytree like ``params``.

    ``bp4``: how ∇W^l = Δ^lᵀ A^{l−1} reaches XLA. ``"folded"``: as written; XLA folds the
    transpose into the dot, whose lhs then contracts its leading axis, a form the CPU
    backend's YNNPACK fusion does not take (it falls back to a generic dot). ``"transposed"``:
    Δ^lᵀ is materialised (a (n_l, b) copy behind an optimization barrier, which XLA cannot
    fold away), so the dot is a plain row-major product that YNNPACK runs.
    """
    acts, zs = [x], []
    for layer in params[:-1]:
        zs.append(acts[-1] @ layer.W.T + layer.b)
        acts.append(jax.nn.sigmoid(zs[-1]))
    z_out = acts[-1] @ params[-1].W.T + params[-1].b
    a_out = jax.nn.softmax(z_out, axis=-1)
    m = x.shape[0]
    # (BP1, softmax + cross entropy) Δ^L = (A^L − Y) / m
    delta = (a_out - jax.nn.one_hot(labels, a_out.shape[-1], dtype=a_out.dtype)) / m
    out = []
    for l in range(len(params) - 1, -1, -1):
        # (BP4) ∇W^l = Δ^lᵀ A^{l−1};  (BP3) ∇b^l = Σ_rows Δ^l
        delta_t = delta.T if bp4 == "folded" else jax.lax.optimization_barrier(delta.T)
        out.append(Layer(delta_t @ acts[l], jnp.sum(delta, axis=0)))
        if l:
            a = acts[l]
            # (BP2) Δ^{l−1} = (Δ^l W^l) ⊙ σ'(Z^{l−1}),  σ' = a (1 − a)
            delta = (delta @ params[l].W) * (a * (1 - a))
    return tuple(reversed(out))


def _steps(n: int, batch: int) -> tuple[int, int]:
    steps = n // batch
    g = max(d for d in range(1, min(GATHER, steps) + 1) if steps % d == 0)
    return steps, g


def one_epoch(opt: Optimizer, batch: int, n: int, unroll: int = 1, bp4: str = "folded"):
    """ONE run's epoch ``(params, state, x, y, key) -> (params, state)``: shuffle with
    ``key``, then ``⌊n/batch⌋`` SGD/Adam steps, gathered ``GATHER`` steps at a time."""
    steps, g = _steps(n, batch)

    def step(carry, xy):
        params, state = carry
        return opt.update(grads(params, *xy, bp4=bp4), state, params), None

    def epoch(params, state, x, y, key):
        order = shuffle(key, n)[: steps * batch].reshape(steps // g, g * batch)

        def gathered(carry, idx):
            xs = jnp.take(x, idx, axis=0).reshape(g, batch, x.shape[1])
            ys = jnp.take(y, idx, axis=0).reshape(g, batch)
            return jax.lax.scan(step, carry, (xs, ys), unroll=unroll)[0], None

        return jax.lax.scan(gathered, (params, state), order)[0]

    return epoch


def many_epoch(opt: Optimizer, batch: int, n: int, chunk: int | None = CHUNK,
               unroll: int = 1, layout: str = "steps_major", bp4: str = "transposed",
               grad_fn: Callable = grads):
    """K runs' epoch ``(params, state, x, y, keys) -> (params, state)``, leaves (K, …).

    The defaults are the winning formulation (see the module docstring).

    Args:
      opt: ONE run's optimizer; its ``update(grads, state, params)`` is ``vmap``-ed.
      batch, n: the minibatch size b and the number of examples (static).
      chunk: train the runs ``chunk`` at a time (``lax.map`` over K/chunk groups, each
        group ``vmap``-ed); K must then be a multiple of ``chunk`` (K ≤ chunk: one group).
        ``None``: all K together (``vmap`` only).
      layout: ``"steps_major"`` gathers a ``(G, K, b, n_0)`` block (step axis first),
        ``"T"`` keeps the run axis first, ``(K, G, b, n_0)``, and lets the scan slice it.
      bp4: passed to ``grad_fn`` (see :func:`grads`).
      grad_fn: ``(params, x (b, n_0), labels (b,), bp4) -> grads`` for ONE run.
    Returns:
      ``epoch(params, state, x, y, keys) -> (params, state)``.
    """
    steps, g = _steps(n, batch)
    vstep = jax.vmap(lambda p, s, xb, yb: opt.update(grad_fn(p, xb, yb, bp4), s, p))

    def step(carry, xy):
        params, state = carry
        return vstep(params, state, *xy), None

    def together(params, state, x, y, keys):
        K = keys.shape[0]
        orders = jax.vmap(lambda k: shuffle(k, n))(keys)[:, : steps * batch]
        # (chunks of steps, K, G·b): each run's indices for the next G steps side by side
        idx = orders.reshape(K, steps // g, g * batch).transpose(1, 0, 2)

        def gathered(carry, idx):  # idx: (K, G·b)
            xs = jnp.take(x, idx, axis=0).reshape(K, g, batch, x.shape[1])
            ys = jnp.take(y, idx, axis=0).reshape(K, g, batch)
            if layout == "steps_major":
                xs, ys = xs.transpose(1, 0, 2, 3), ys.transpose(1, 0, 2)
                return jax.lax.scan(step, carry, (xs, ys), unroll=unroll)[0], None

            def step_t(carry, i):
                xb = jax.lax.dynamic_index_in_dim(xs, i, 1, keepdims=False)
                yb = jax.lax.dynamic_index_in_dim(ys, i, 1, keepdims=False)
                return step(carry, (xb, yb))
            return jax.lax.scan(step_t, carry, jnp.arange(g), unroll=unroll)[0], None

        return jax.lax.scan(gathered, (params, state), idx)[0]

    if chunk is None:
        return together

    def chunked(params, state, x, y, keys):
        K = keys.shape[0]
        if K <= chunk:
            return together(params, state, x, y, keys)
        if K % chunk:
            raise ValueError(f"K = {K} runs is not a multiple of chunk = {chunk}")
        split = lambda a: a.reshape(K // chunk, chunk, *a.shape[1:])  # noqa: E731
        out = jax.lax.map(lambda a: together(*a[:2], x, y, a[2]),
                          (jax.tree.map(split, params), jax.tree.map(split, state),
                           split(keys)))
        return jax.tree.map(lambda a: a.reshape(K, *a.shape[2:]), out)

    return chunked


ABLATIONS = ("full", "fixed batch (no gather)", "identity order (no shuffle)",
             "no update (grads only)", "forward only")


def ablation_epoch(opt: Optimizer, batch: int, n: int, part: str):
    """``one_epoch`` with a part removed, for ``vmap``-ed timing (results are wrong)."""
    steps, g = _steps(n, batch)

    def epoch(params, state, x, y, key):
        if part == "identity order (no shuffle)":
            order = jnp.arange(steps * batch, dtype=jnp.int32)
        else:
            order = shuffle(key, n)[: steps * batch]
        order = order.reshape(steps // g, g * batch)

        def step(carry, xy):
            params, state, acc = carry
            if part == "forward only":
                h = xy[0]
                for layer in params:
                    h = jax.nn.sigmoid(h @ layer.W.T + layer.b)
                return (params, state, acc + jnp.sum(h)), None
            gr = grads(params, *xy)
            if part == "no update (grads only)":
                return (params, state, acc + sum(jnp.sum(a) for a in jax.tree.leaves(gr))), None
            return (*opt.update(gr, state, params), acc), None

        def gathered(carry, idx):
            if part == "fixed batch (no gather)":  # the first G·b rows, every time
                xs = x[: g * batch].reshape(g, batch, x.shape[1])
                ys = y[: g * batch].reshape(g, batch)
            else:
                xs = jnp.take(x, idx, axis=0).reshape(g, batch, x.shape[1])
                ys = jnp.take(y, idx, axis=0).reshape(g, batch)
            return jax.lax.scan(step, carry, (xs, ys))[0], None

        acc = jnp.zeros((), x.dtype)
        return jax.lax.scan(gathered, (params, state, acc), order)[0]

    return epoch
