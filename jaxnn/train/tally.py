"""An epoch's metrics: the minibatch statistics of :func:`jaxnn.train.core.minibatch_step`
summed step by step inside the compiled epoch (:class:`StepSums`), their means, and the
host side of them (:func:`host_value`, :func:`raise_on_faults`). Every epoch program
(single device, data parallel, ``fit_many``'s vmapped one) carries the same sums.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optimizers as optim
from jaxnn.network import Network, Params
from jaxnn.train import core

Array = jax.Array


class StepSums(NamedTuple):
    """An epoch's minibatch metrics so far, carried through its scan: sums, where stacking
    one entry per step and averaging afterwards compiled 12 more XLA kernels (of 103 in
    the digits epoch, 64-64-10 with Adam)."""
    steps: Array  # int32 (), steps done
    cost: Array  # Σ J
    grad_norm: Array  # Σ ‖∇J‖
    correct: Array  # int32 (), Σ correct predictions
    rate_fault_step: Array  # int32 (), the first step (1-based) whose rate was bad; 0: none
    label_fault_step: Array  # int32 (), the first step with a label out of range; 0: none
    layer_grad_norms: Array  # (L,) Σ ‖∂J/∂W^l‖


def no_steps(net: Network, params: Params, x: Array) -> StepSums:
    """The sums before the first step, in float32 or the parameters' and data's wider
    dtype."""
    dtype = jnp.result_type(jnp.float32, x.dtype, *jax.tree.leaves(params))
    zero, count = jnp.zeros((), dtype), jnp.zeros((), jnp.int32)
    return StepSums(count, zero, zero, count, count, count, jnp.zeros((net.num_layers,), dtype))


def add_step(sums: StepSums, stats) -> StepSums:
    """``sums`` after one more step with ``stats = (J, ‖∇J‖, correct, faults, layer
    norms)`` (:func:`minibatch_step`)."""
    J, norm, correct, faults, layer_norms = stats
    step = sums.steps + 1

    def first(so_far, bit):
        return jnp.where((so_far == 0) & ((faults & bit) > 0), step, so_far)

    return StepSums(step, sums.cost + J.astype(sums.cost.dtype),
                    sums.grad_norm + norm.astype(sums.cost.dtype),
                    sums.correct + correct.astype(jnp.int32),
                    first(sums.rate_fault_step, core.RATE_FAULT),
                    first(sums.label_fault_step, core.LABEL_FAULT),
                    sums.layer_grad_norms + layer_norms.astype(sums.cost.dtype))


def epoch_metrics(sums: StepSums, num_examples_used, params, opt_state) -> dict:
    """Per-epoch means of the minibatch metrics (``sums``), whether everything stayed
    finite, the first step (1-based; 0: none) whose learning rate was negative or not
    finite (``rate_fault_step``) and whose labels were out of range
    (``label_fault_step``), and ``layer_grad_norms``: ``(L,)``, the mean over the steps of
    ‖∂J/∂W^l‖."""
    steps = sums.steps.astype(sums.cost.dtype)
    return {
        "rate_fault_step": sums.rate_fault_step, "label_fault_step": sums.label_fault_step,
        "layer_grad_norms": sums.layer_grad_norms / steps,
        "train_cost": sums.cost / steps,
        "train_accuracy": sums.correct / num_examples_used,
        "grad_norm": sums.grad_norm / steps,
        "learning_rate": optim.learning_rate(opt_state),
        "finite": all_finite([sums.cost, *jax.tree.leaves(params)]),
    }


def all_finite(arrays) -> Array:
    """Whether every entry of ``arrays`` is finite, as ONE reduction over their entries put
    end to end (a reduction per array compiles a kernel or two each: the epoch's check of
    the parameters cost 9 of its ~110 kernels on a two-layer network)."""
    return jnp.all(jnp.isfinite(jnp.concatenate([jnp.ravel(a) for a in arrays])))


FAULT_METRICS = ("rate_fault_step", "label_fault_step")


def host_value(value):
    """One metric of an epoch's record: a float, or a list of floats (``layer_grad_norms``)."""
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else [float(v) for v in value]


def raise_on_faults(metrics: dict, epoch: int) -> None:
    """Pop the fault metrics of one epoch's (host) metrics; ValueError naming the first
    faulty step and its cause when there is one. The epoch's parameters are then not kept
    (the caller raises before accepting them)."""
    rate_step, label_step = (int(metrics.pop(name, 0)) for name in FAULT_METRICS)
    if label_step:
        raise ValueError(
            f"labels out of range in epoch {epoch}, step {label_step}: a label lay outside "
            "the output's classes, which one-hot targets would silently zero; the epoch's "
            "parameters were not kept. Fix: labels in [0, n_L) (0/1 for one output unit).")
    if rate_step:
        raise ValueError(
            f"the learning rate was negative or not finite in epoch {epoch}, step "
            f"{rate_step} (the schedule's value for that update); the epoch's parameters "
            "were not kept. Fix: a schedule whose rate stays finite and ≥ 0 for every "
            "update count, e.g. check its decay arguments and horizon.")
