"""The one training core: a minibatch step, the epoch's shuffle, evaluation.

Single-device training (:mod:`jaxnn.train.steps`), data-parallel training
(:mod:`jaxnn.train.parallel`) and DP-SGD all run :func:`minibatch_step`; they differ only
in the *gradient function* they hand it, ``gradient(net, params, x, targets, masks) -> (J,
grads, A^L)`` (``masks``: the step's dropout scales, or ``None``):

* ``"manual"``: BP1–BP4 (:func:`jaxnn.backprop.value_grad_and_output`);
* ``"autodiff"``: ``jax.value_and_grad`` of the same cost;
* DP-SGD: per-example clipping plus noise (:func:`jaxnn.privacy.private_value_grad_and_output`);
* data parallel: each device's share, summed over devices (``lax.psum``), with the L2 term
  added once.

Everything here is raw (inside ``jit``; the public functions check their arguments first),
except :func:`check_batch_shapes`, the trace-time check a compiled step or epoch runs. The
epoch's metrics, from the steps' statistics, are :mod:`jaxnn.train.tally`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, backprop, inputs, memory, privacy
from jaxnn import optimizers as optim
from jaxnn.network import (
    Network,
    Params,
    cost_from_pass,
    forward_layers,
    l2_term,
    labels_of,
    predict_from_output,
)

Array = jax.Array

GRADS = ("manual", "autodiff")

# The largest number of rows evaluated in one piece (bounds the activations' memory).
EVAL_CHUNK = 10_000

# The most bytes one gather of minibatches takes (inputs and targets). A block this size
# stays in a core's L2 cache between the gather and the steps that read it (an epoch that
# gathered 2,048 rows of 784 float32 columns, 6.4 MB, at once ran 3 % slower at batch 128
# than one gathering per step), while small minibatches still share one gather.
GATHER_BYTES = 1 << 19


def autodiff_value_grad_and_output(net: Network, params: Params, x: Array, y: Array,
                                   masks=None):
    """J, ∂J/∂θ by ``jax.value_and_grad`` of the cost, and A^L (the manual one's twin)."""
    def J(p):
        zs, acts = forward_layers(net, p, x, masks)
        return cost_from_pass(net, p, zs, acts, y), acts[-1]

    (J_value, a_out), grads = jax.value_and_grad(J, has_aux=True)(params)
    return J_value, grads, a_out


GRADIENTS = {
    "manual": backprop.value_grad_and_output,  # BP1–BP4
    "autodiff": autodiff_value_grad_and_output,
}


def gradient_fn(grad: str):
    """``(net, params, x, targets) -> (J, grads, A^L)`` for ``grad`` in :data:`GRADS`."""
    return GRADIENTS[_checks.one_of("grad", grad, GRADS)]


def minibatch_step(net: Network, opt, gradient, params, opt_state, x, y, reduce=None,
                   masks=None):
    """One minibatch: J, ∇J, the optimizer update, and the batch's metrics.

    Args:
      gradient: ``(net, params, x, targets, masks) -> (J, grads, A^L)`` (see the module
        docstring).
      x: ``(m, n_0)``; y: targets ``(m, n_L)`` or integer labels ``(m,)``.
      reduce: applied to the count of correct predictions (``lax.psum`` over devices when
        each device holds part of the batch), or ``None``.
      masks: the step's dropout scales (:func:`jaxnn.network.dropout_masks`), or ``None``.
    Returns:
      ``(params, opt_state, (J, ‖∇J‖, correct, faults))``; ``faults`` (int32) has bit 1 set
      when the update's learning rate was negative or not finite, bit 2 when an integer
      label lay outside the output's classes (which one-hot would silently zero).
    """
    targets = inputs.as_targets(net.n_out, y, x.dtype)
    J, grads, a_out = gradient(net, params, x, targets, masks)
    params, opt_state = opt.update(grads, opt_state, params)
    correct = jnp.sum(predict_from_output(net, a_out) == labels_of(net, y))
    bad_rate, bad_label = _faults(net, opt_state, y)
    if reduce is not None:
        correct, bad_rate, bad_label = reduce(correct), reduce(bad_rate), reduce(bad_label)
    faults = jnp.where(bad_rate > 0, RATE_FAULT, 0) | jnp.where(bad_label > 0, LABEL_FAULT, 0)
    norm, layer_norms = grad_norms(grads)
    return params, opt_state, (J, norm, correct, faults, layer_norms)


def grad_norms(grads: Params) -> tuple[Array, Array]:
    """‖∇J‖ over every parameter (:func:`jaxnn.optimizers.global_norm`'s sum, in its order)
    and ``(L,)`` the per-layer ‖∂J/∂W^l‖_F from the same sums of squares: Nielsen's speed
    of learning of each layer, a by-product of BP4."""
    dtype = jnp.result_type(jnp.float32, *(jnp.promote_types(g.dtype, jnp.float32)
                                           for g in jax.tree.leaves(grads)))
    squares = [[jnp.sum(jnp.square(g.astype(dtype))) for g in layer] for layer in grads]
    norm = jnp.sqrt(sum((s for layer in squares for s in layer), jnp.zeros((), dtype)))
    return norm, jnp.sqrt(jnp.stack([layer[0] for layer in squares]))  # W is field 0


RATE_FAULT, LABEL_FAULT = 1, 2  # bits of a step's fault flags


def _faults(net: Network, opt_state, y) -> tuple[Array, Array]:
    """(1 if the rate just used is negative or not finite, 1 if a label is out of range),
    as int32; a wrapped optax optimizer's rate is unknown (NaN) and not flagged."""
    if isinstance(optim.rate_state(opt_state), optim.TransformationState):
        bad_rate = jnp.zeros((), jnp.int32)
    else:
        rate = optim.learning_rate(opt_state)
        bad_rate = (~(jnp.isfinite(rate) & (rate >= 0))).astype(jnp.int32)
    if jnp.issubdtype(y.dtype, jnp.integer):
        classes = 2 if net.n_out == 1 else net.n_out
        bad_label = jnp.any((y < 0) | (y >= classes)).astype(jnp.int32)
    else:
        bad_label = jnp.zeros((), jnp.int32)
    return bad_rate, bad_label


def private_gradient(dp, key):
    """The DP-SGD gradient function for one minibatch, its noise drawn with ``key``."""
    def gradient(net, params, x, y, masks):
        return privacy.private_value_grad_and_output(net, params, x, y, key, dp, masks)

    return gradient


def step_keys(net: Network, key, num_batches: int):
    """One dropout key per minibatch of the epoch, ``split(fold_in(key, 2), num_batches)``
    (deterministic from the epoch's key, so a resumed run draws the same masks); ``None``
    without dropout."""
    if not net.dropout:
        return None
    return jax.random.split(jax.random.fold_in(key, 2), num_batches)


def check_batch_shapes(net: Network, params, x, y, what: str) -> None:
    """Inside a compiled step or epoch: params, ``x: (m, n_0)`` and ``y`` fit ``net``.
    Python checks of shapes and dtypes at trace time, so a wrong array is our ValueError
    or TypeError rather than an XLA shape error from deep inside the program."""
    checked = inputs.check_params(net, params)
    xb, single = inputs.check_x(net, x, checked)
    if single:
        raise ValueError(
            f"{what}: x must be a batch of shape (m, {net.n_in}); got {tuple(x.shape)}. Fix: "
            "x[None] for one example."
        )
    inputs.check_y(net, y, xb.shape[0], False, xb.dtype)


def check_memory(plan, x, x_val, runs: int = 1, who: str = "fit") -> None:
    """One step of ``plan`` (a :class:`jaxnn.train.plan.Plan`; per-example gradients with
    DP-SGD) and one chunk of evaluation fit, for each of ``runs`` runs trained side by side
    (``fit_many``)."""
    net, batch_size, dp = plan.net, plan.batch_size, plan.dp
    step = (memory.per_example_bytes if dp is not None else memory.gradient_bytes)(
        net, batch_size, x.dtype)
    rows = min(max(x.shape[0], 0 if x_val is None else x_val.shape[0]), EVAL_CHUNK)
    memory.check(lambda: f"{who}: {f'{runs} runs of ' if runs > 1 else ''}a step of "
                 f"{batch_size} rows{' (per-example gradients)' if dp else ''} and the "
                 f"evaluation of {rows} rows at once through a "
                 f"{'-'.join(map(str, net.sizes))} network",
                 runs * (step + memory.activation_bytes(net, rows, x.dtype)), None,
                 f"a smaller batch_size or network{', or fewer runs per call' if runs > 1 else ''}",
                 keyword=False)


def check_start_rate(opt_state) -> None:
    """A fresh optimizer state's rate (``schedule(0)`` in the parameters' compute dtype;
    one per run in ``fit_many``) is finite: with JAX's 64-bit mode on, ``adam(1e308)`` is a
    valid float64 rate that float32 parameters' state holds as Inf. A ValueError naming
    the learning rate, rather than a divergence blamed on the schedule later."""
    if isinstance(optim.rate_state(opt_state), optim.TransformationState):
        return  # an optax rate is unknown (NaN by design)
    rate = optim.learning_rate(opt_state)
    if not inputs.is_concrete(rate) or bool(np.all(np.isfinite(np.asarray(rate)))):
        return
    dtype, rates = jnp.dtype(rate.dtype), np.ravel(np.asarray(rate))
    bad = int(np.flatnonzero(~np.isfinite(rates))[0])
    raise _checks.value_error(
        "the learning rate" + (f" of run {bad}" if np.ndim(rate) else ""),
        f"finite in {dtype.name}, the dtype of the optimizer's rate for these parameters (at "
        f"most {float(jnp.finfo(dtype).max):.6g})",
        f"{rates[bad]} after opt.init (the rate given overflows it)",
        f"pass a rate {dtype.name} can hold, e.g. learning_rate=1e-3, or parameters of a "
        "wider dtype")


def divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of n that is ≤ limit (at least 1)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def per_gather(num_batches: int, batch_size: int, row_bytes: int) -> int:
    """How many minibatches one gather takes: the largest divisor of ``num_batches`` whose
    minibatches of ``batch_size`` rows of ``row_bytes`` bytes fit :data:`GATHER_BYTES`
    (at least 1). A divisor, so every epoch still takes exactly the batches of its
    permutation, in order."""
    return divisor_at_most(num_batches, max(1, GATHER_BYTES // (batch_size * row_bytes)))


# Rounds of the swap-or-not shuffle. Each round moves an example to its partner, a uniform
# position, with probability 1/2, so after r rounds one example's position is uniform up to
# a total-variation distance of about 2^-r (the pivot's bias, below n/2^32, adds to it).
# No proof covers pairs and larger groups when the whole set is shuffled:
# tests/test_shuffle.py checks them empirically, and they pass from about 10 rounds on.
SHUFFLE_ROUNDS = 64


def shuffle(key, n: int) -> Array:
    """A random permutation of ``0..n−1`` (``(n,)`` int32): the swap-or-not shuffle.

    Hoang, Morris & Rogaway, "An Enciphering Scheme Based on a Card Shuffle" (CRYPTO 2012);
    Ethereum's validator shuffle is the same construction. Each of :data:`SHUFFLE_ROUNDS`
    rounds draws a pivot p in ``0..n−1`` and pairs every index x with its partner
    (p − x) mod n; a pair swaps when a keyed bit of max(x, partner) is 1. Every round is a
    product of disjoint swaps, so the result is always a permutation.

    The rounds are elementwise, so the cost is linear in n: on the 2-core CPU, 0.9–1.4 ms
    at n = 60,000 against 15–16 ms for sorting 64 random bits (the shuffle this replaced:
    8 % of a 784-30-10 epoch at batch 10; ``python scripts/shuffle_hash_bias.py --time``),
    and it stays linear under ``vmap`` (one shuffle per run in ``fit_many``). The round bit
    is the top bit of a 32-bit integer hash (:func:`_hash32`) of max(x, partner) XOR a
    random round key; the pivot is a random 32-bit word mod n, whose distance from uniform
    is below n/2³² (1.4e-5 at n = 60,000).
    ``tests/test_shuffle.py`` checks the permutations' statistics against uniform ones.
    """
    if n > 2**31 - 1:  # the indices are int32, the rounds' sums p + n − x uint32
        raise ValueError(_checks.message(
            "the number of examples to shuffle", "below 2**31 (int32 indices)", f"{n:,}",
            "train on fewer rows per call"))
    words = jax.random.bits(key, (SHUFFLE_ROUNDS, 2), jnp.uint32)
    size = jnp.uint32(n)

    def round_(i, x):
        pivot = words[i, 0] % size
        partner = jnp.where(pivot >= x, pivot - x, pivot + size - x)  # (p − x) mod n
        swap = _hash32(jnp.maximum(x, partner) ^ words[i, 1]) >> 31
        return jnp.where(swap == 1, partner, x)

    order = jax.lax.fori_loop(0, SHUFFLE_ROUNDS, round_, jax.lax.iota(jnp.uint32, n))
    return order.astype(jnp.int32)


def _hash32(x: Array) -> Array:
    """A 32-bit integer hash, "triple32" of C. Wellons's hash-prospector (xorshift-multiply
    three times). For two inputs one XOR-difference apart (each of 1…64), over 2²⁴ random
    keys, its top bits agreed within 2.7 standard errors of 50 % (at most 0.033 % off); the
    two-multiply "lowbias32" was off by up to 9.9 (49.880 %):
    ``python scripts/shuffle_hash_bias.py``."""
    x = (x ^ (x >> 17)) * jnp.uint32(0xED5AD4BB)
    x = (x ^ (x >> 11)) * jnp.uint32(0xAC4C1B51)
    x = (x ^ (x >> 15)) * jnp.uint32(0x31848BAB)
    return x ^ (x >> 14)


def evaluate_in_chunks(net: Network, params: Params, x: Array, y: Array, l2=None):
    """Cost J and accuracy of a whole set, in chunks of at most :data:`EVAL_CHUNK` rows.

    The data term is summed chunk by chunk and divided by n; the L2 term is added once with
    the set's n, so J equals :func:`jaxnn.cost` on all rows at once. ``l2``: a (possibly
    traced) λ in place of ``net.l2``.
    """
    n = x.shape[0]
    total_cost = jnp.zeros((), x.dtype)
    correct = jnp.zeros((), jnp.int32)
    data_only = net.without_l2()
    for start in range(0, n, EVAL_CHUNK):
        xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
        m = xb.shape[0]
        targets = inputs.as_targets(net.n_out, yb, x.dtype)
        zs, acts = forward_layers(net, params, xb, training=False)  # batch norm: population
        total_cost += m * cost_from_pass(data_only, params, zs, acts, targets)
        correct += jnp.sum(predict_from_output(net, acts[-1]) == labels_of(net, yb))
    cost = total_cost / n
    if l2 is not None or net.l2:
        cost += l2_term(net, params, n, l2)
    return cost, correct / n


def with_l2(gradient, l2):
    """``gradient`` with the L2 strength ``l2`` (a scalar, possibly traced: one per run of
    a sweep) in place of ``net.l2``: the data term by ``gradient`` on ``net.without_l2()``,
    then J += (λ/2m) Σ‖W‖² and (BP4) ∂J/∂W^l += (λ/m) W^l."""
    def regularised(net, params, x, y, masks):
        J, grads, a_out = gradient(net.without_l2(), params, x, y, masks)
        m = x.shape[0]
        return (J + l2_term(net, params, m, l2), backprop.add_l2_grad(net, params, grads, m, l2),
                a_out)

    return regularised


def check_data(net: Network, params: Params, data, name: str):
    """A training or validation pair ``(x, y)`` as ``fit`` and ``fit_many`` take it:
    ``x: (n, n_0)`` non-empty, in the parameters' dtype; ``y`` targets (checked in that
    dtype: float32 1e5 is Inf in float16) or labels (range-checked in one pass and kept as
    int32, which the compiled step one-hot encodes per minibatch); both moved to the
    parameters' device. Another library's array is read through NumPy. Every error,
    ValueError or TypeError, is prefixed with ``name``."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"{name} must be a pair (x, y); got {type(data).__name__}. Fix: {name}=(x, y)."
        )
    x, y = data
    like = params[0].W
    try:
        x, _ = inputs.check_rows(x, net.sizes, like)  # 2-D and non-empty, or an error
        y = inputs.check_targets(y, net.n_out, net.cost, x.shape[0], False, x.dtype,
                                 labels=True)
    except (ValueError, TypeError) as e:
        if str(e).startswith(f"{name}: "):
            raise
        raise (TypeError if isinstance(e, TypeError) else ValueError)(f"{name}: {e}") from None
    return inputs.to_device_of(x, like), inputs.to_device_of(y, like)
