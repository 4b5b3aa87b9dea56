"""Compiled training programs: one step (:func:`make_step`) and one epoch (:func:`make_epoch`).

* :func:`make_step` returns a compiled pure ``step(params, opt_state, x, y) -> (params,
  opt_state, metrics)``: the hand-written gradient (or autodiff's, ``grad="autodiff"``),
  then the optimizer update, fused into one XLA program. ``params`` and ``opt_state`` are
  donated: after a call, the arrays passed in are deleted and must not be used again
  (``params, state, m = step(params, state, x, y)`` is the pattern).
* :func:`make_epoch` returns a compiled ``epoch(params, opt_state, x, y, key, x_val,
  y_val)``: a shuffle of the training set on the device with ``key``, then ``lax.scan``
  over the minibatches, then the validation cost and accuracy: ONE call per epoch, no
  host round trip per batch.

Both run :func:`jaxnn.train.core.minibatch_step`, the one step every path shares.

**The last partial batch.** An epoch takes ``⌊n / batch_size⌋`` full minibatches from a
fresh permutation and leaves out the ``n mod batch_size`` examples at its end. The
permutation changes every epoch, so a different few are left out each time and every
example is used about equally often; all shapes stay static, so nothing recompiles.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn import _checks
from jaxnn import optimizers as optim
from jaxnn.architecture import Network, check_net
from jaxnn.network import dropout_masks, population_statistics
from jaxnn.train import core, tally


def check_opt(opt):
    """``opt`` as a jaxnn :class:`~jaxnn.optimizers.Optimizer`: a jaxnn optimizer as it
    is, an optax-style ``(init, update)`` transformation wrapped
    (:func:`jaxnn.optimizers.as_optimizer`); TypeError for anything else."""
    return optim.as_optimizer(opt)


def make_step(net: Network, opt, grad: str = "manual"):
    """A compiled training step ``step(params, opt_state, x, y, key=None) -> (params,
    opt_state, metrics)`` with ``metrics = {"cost", "grad_norm", "accuracy"}`` of the batch;
    ``key`` draws the dropout masks (needed when ``net.dropout > 0``).

    Args:
      net: the architecture (closed over: static).
      opt: a :class:`jaxnn.optimizers.Optimizer`.
      grad: ``"manual"`` (BP1–BP4) or ``"autodiff"`` (``jax.value_and_grad``).
    ``x: (m, n_0)``, ``y: (m, n_L)`` targets or ``(m,)`` integer labels. ``params`` and
    ``opt_state`` are donated (deleted by the call).
    """
    check_net(net)
    opt = check_opt(opt)
    gradient = core.gradient_fn(grad)

    def step(params, opt_state, x, y, key=None):
        # Shapes and dtypes, in Python at trace time (values are tracers here): a wrong
        # batch is our ValueError, not an XLA shape error from deep inside the step.
        core.check_batch_shapes(net, params, x, y, "x, y")
        if net.dropout and key is None:
            raise ValueError(_checks.message(
                "key", f"a jax.random key: the network drops hidden units (dropout = "
                f"{net.dropout:g}) while training", "None",
                "step(params, opt_state, x, y, key) with a fresh key per step"))
        masks = dropout_masks(net, key, x.shape[0], x.dtype)
        params, opt_state, (J, norm, correct, _, _) = core.minibatch_step(
            net, opt, gradient, params, opt_state, x, y, masks=masks
        )
        metrics = {"cost": J, "grad_norm": norm, "accuracy": correct / x.shape[0]}
        return params, opt_state, metrics

    return jax.jit(step, donate_argnums=(0, 1))


def make_epoch(net: Network, opt, *, batch_size: int, num_examples: int, grad: str = "manual",
               dp=None):
    """A jit-compiled epoch: shuffle on the device, ``lax.scan`` over minibatches, evaluate.

    Returns ``epoch(params, opt_state, x, y, key, x_val, y_val) -> (params, opt_state,
    metrics)``; ``x: (num_examples, n_0)``, ``y`` targets or labels; ``x_val, y_val`` may be
    ``None`` (no validation metrics). ``⌊num_examples / batch_size⌋`` steps per call.
    ``dp``: :class:`jaxnn.privacy.DPSGD` settings for DP-SGD gradients (per-example
    clipping and noise, the noise keys drawn from ``fold_in(key, 1)``), or ``None``.
    """
    check_net(net)
    opt = check_opt(opt)
    gradient = core.gradient_fn(grad)
    num_examples, batch_size = check_epoch_sizes(num_examples, batch_size)
    if dp is not None and grad != "manual":
        raise ValueError(f"DP-SGD uses the hand-written per-example gradients; got {grad=}.")
    run = epoch_program(net, opt, gradient, batch_size=batch_size,
                        num_examples=num_examples, dp=dp)

    def epoch(params, opt_state, x, y, key, x_val, y_val):
        core.check_batch_shapes(net, params, x, y, "x, y")  # at trace time: shapes only
        if x.shape[0] != num_examples:
            raise ValueError(
                f"this epoch was built for num_examples={num_examples}; got x with "
                f"{x.shape[0]} rows. Fix: make_epoch(..., num_examples=len(x)).")
        if x_val is not None:
            core.check_batch_shapes(net, params, x_val, y_val, "x_val, y_val")
        return run(params, opt_state, x, y, key, x_val, y_val)

    return jax.jit(epoch)


def check_epoch_sizes(num_examples, batch_size) -> tuple[int, int]:
    """``(num_examples, batch_size)`` as ints with 1 ≤ batch_size ≤ num_examples."""
    num_examples = _checks.integer("num_examples", num_examples, minimum=1,
                                   fix="the number of rows of x")
    batch_size = _checks.integer("batch_size", batch_size, minimum=1, fix="e.g. batch_size=32")
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({num_examples} "
            f"examples). Fix: batch_size ≤ {num_examples}."
        )
    return num_examples, batch_size


def epoch_program(net: Network, opt, gradient, *, batch_size: int, num_examples: int,
                  dp=None, l2=None, keep=None):
    """The epoch as a pure, un-jitted function of checked arguments (raw): shuffle, scan
    over ``⌊num_examples / batch_size⌋`` minibatches, then the epoch's metrics and (when
    ``x_val`` is not ``None``) the validation cost and accuracy.

    ``l2``: λ as a (possibly traced) scalar in place of ``net.l2``; ``keep``: 1 − p of
    dropout likewise (:func:`jaxnn.network.dropout_masks`): the inputs of a plan's compiled
    epoch (:mod:`jaxnn.train.plan`), one per run in ``fit_many``. ``None``: the network's.
    """
    num_batches = num_examples // batch_size

    def epoch(params, opt_state, x, y, key, x_val, y_val):
        # Minibatches are gathered `per_gather` at a time (one gather of per_gather · m
        # rows, then per_gather steps over slices of it): a gather per step costs as much
        # as the step's own arithmetic at small sizes (core.per_gather).
        per_gather = core.per_gather(num_batches, batch_size, _row_bytes(x) + _row_bytes(y))
        # Shuffle on the device; the n mod batch_size examples at the end sit this one out.
        order = core.shuffle(key, num_examples)[: num_batches * batch_size]
        chunks = order.reshape(num_batches // per_gather, per_gather * batch_size)
        def per_step(keys):  # one key per minibatch, laid out like the chunks
            return None if keys is None else keys.reshape(  # raw keys keep their (2,)
                num_batches // per_gather, per_gather, *keys.shape[1:])
        noise_keys = None if dp is None else per_step(
            jax.random.split(jax.random.fold_in(key, 1), num_batches))
        drop_keys = per_step(core.step_keys(net, key, num_batches))

        def body(carry, xs):
            params, opt_state, sums = carry
            xb, yb, k, kd = xs
            g = gradient if dp is None else core.private_gradient(dp, k)
            if l2 is not None:  # the data term on net without λ, then λ's terms once
                g = core.with_l2(g, l2)
            masks = dropout_masks(net, kd, batch_size, xb.dtype, keep)
            params, opt_state, stats = core.minibatch_step(net, opt, g, params, opt_state,
                                                           xb, yb, masks=masks)
            return (params, opt_state, tally.add_step(sums, stats)), None

        def gathered(carry, xs):
            idx, k, kd = xs  # idx: (per_gather · m,) rows of per_gather minibatches
            # A permutation's rows are in range: "clip" is XLA's plain gather, without the
            # mask and fill of jnp.take's default mode (3 % faster at batch 10).
            xs_ = jnp.take(x, idx, axis=0, mode="clip").reshape(
                per_gather, batch_size, *x.shape[1:])
            ys_ = jnp.take(y, idx, axis=0, mode="clip").reshape(
                per_gather, batch_size, *y.shape[1:])
            return jax.lax.scan(body, carry, (xs_, ys_, k, kd))

        (params, opt_state, sums), _ = jax.lax.scan(
            gathered, (params, opt_state, tally.no_steps(net, params, x)),
            (chunks, noise_keys, drop_keys))
        # Batch norm: the population statistics of the epoch's final parameters, in one
        # pass over the training set, for evaluation (identity without batch norm).
        params = population_statistics(net, params, x)
        metrics = tally.epoch_metrics(sums, num_batches * batch_size, params, opt_state)
        if x_val is not None:
            metrics["val_cost"], metrics["val_accuracy"] = core.evaluate_in_chunks(
                net, params, x_val, y_val, l2=l2)
        return params, opt_state, metrics

    return epoch


def _row_bytes(a) -> int:
    """Bytes of one row of ``a``."""
    return a.dtype.itemsize * math.prod(a.shape[1:])
