"""The pure forward pass and cost, and the validated public API built on them.

A batch is rows: ``x: (m, n_0)``. The forward pass, in batch form (docs/equations.md)::

    Z^l = A^{l−1} W^{lᵀ} + b^l,   A^l = g_l(Z^l),   A^0 = X

On a normalised hidden layer (``net.norm``, :mod:`jaxnn.normalization`) g takes
Z̃^l = γ ⊙ Ẑ^l + β instead of Z^l, and on a layer with a skip (``net.skips``) the layer's
input is added: A^l = g(Z̃^l) + Ã^{l−1}. Batch norm has two modes: **training** (the
batch's own statistics: :func:`forward_layers`' default, :func:`cost`, the gradients)
and **evaluation** (the population statistics stored in the parameters:
:func:`forward`, :func:`predict`, :func:`accuracy`), written by
:func:`population_statistics`. Layer norm and plain layers are the same in both.

and the cost, averaged over the m rows, with L2 on the weights (biases not regularised,
as the backpropagation notebook cheat sheet writes J)::

    J = (1/m) Σ_i C(a_i, y_i) + (λ / 2m) Σ_l ‖W^l‖²_F

``jax.grad(jaxnn.cost, argnums=1)`` is the autodiff reference every hand-written gradient
in :mod:`jaxnn.backprop` is checked against.

Two layers of functions live here:

* the **raw** functions (:func:`forward_layers`, :func:`population_statistics`,
  :func:`example_costs`, :func:`l2_term`, :func:`cost_from_pass`,
  :func:`predict_from_output`, :func:`labels_of`) take arrays that
  are already checked (``x`` in the parameters' dtype, float targets ``(m, n_L)``) and do
  no validation: they are what backprop, training and research code call inside ``jit``;
* the **public** functions (:func:`forward`, :func:`cost`, :func:`predict`,
  :func:`accuracy`, :func:`with_population_statistics`) check every argument first
  (:mod:`jaxnn.inputs`), and that the activations of ``x`` fit in memory
  (:mod:`jaxnn.memory`, from the shapes alone), then call them.

The architecture (:class:`Network`, :class:`Layer`, :func:`mlp`) is defined in
:mod:`jaxnn.architecture` and re-exported here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn import activations, costs, inputs, memory, normalization
from jaxnn.architecture import (
    BatchNormLayer,
    Layer,
    Network,
    NormLayer,
    Params,
    mlp,
    num_params,
)

Array = jax.Array

__all__ = [
    "Layer", "NormLayer", "BatchNormLayer", "Network", "Params", "mlp", "num_params",
    "dropout_masks", "dropped", "normalized", "forward_layers", "population_statistics",
    "with_population_statistics", "raw_cost", "example_costs", "l2_term",
    "cost_from_pass", "predict_from_output",
    "labels_of", "forward", "cost", "predict", "accuracy",
]


# ---------------------------------------------------------------------------------------
# Raw: no validation.


def dropout_masks(net: Network, key, m: int, dtype, keep=None) -> tuple[Array, ...] | None:
    """Inverted-dropout scales ``D^l = M^l / (1 − p)`` for the hidden layers l = 1..L−1,
    ``M^l ~ Bernoulli(1 − p)`` of shape ``(m, n_l)``; ``None`` when ``key`` is ``None`` (at
    evaluation) or ``net.dropout`` is 0. Layer l draws with ``fold_in(key, l)``. ``keep``:
    1 − p as an array in JAX's default float (a compiled epoch's input, so every rate
    shares one program) in place of ``1 − net.dropout``; the same masks for the same p."""
    if key is None or not net.dropout:
        return None
    keep = 1.0 - net.dropout if keep is None else keep
    scale = keep if isinstance(keep, float) else jax.numpy.asarray(keep).astype(dtype)
    return tuple(
        jax.random.bernoulli(jax.random.fold_in(key, l), keep, (m, n)).astype(dtype) / scale
        for l, n in enumerate(net.sizes[1:-1], start=1)
    )


def dropped(acts, masks, l: int) -> Array:
    """Ã^l, what layer l + 1 sees: A^l ⊙ D^l for a hidden layer under dropout, else A^l."""
    if masks is None or l == 0 or l > len(masks):
        return acts[l]
    return acts[l] * masks[l - 1]


def normalized(net: Network, layer, z: Array, training: bool = True):
    """Layer l's normalisation of ``Z^l: (m, n_l)`` (:func:`jaxnn.normalization.normalize`):
    Ẑ, σ and Z̃ = γ ⊙ Ẑ + β over the axis of ``net.norm``; batch norm in evaluation
    (``training=False``) uses the layer's stored ``mean`` and ``var``."""
    stats = None if training or net.norm != "batch" else (layer.mean, layer.var)
    return normalization.normalize(z, layer.gamma, layer.beta, normalization.AXES[net.norm],
                                   stats)


def forward_layers(net: Network, params: Params, x: Array, masks=None,
                   training: bool = True) -> tuple[list[Array], list[Array]]:
    """The forward pass that keeps every Z^l and A^l.

    Args:
      x: ``(m, n_0)``, in the parameters' dtype.
      masks: :func:`dropout_masks` (training with dropout), or ``None``.
      training: batch norm's mode: ``True``, the batch's statistics (the cost and the
        gradients are of this mode); ``False``, the stored population statistics
        (evaluation: each row's output depends on that row alone). Nothing else differs.
    Returns:
      ``(zs, activations)``: ``zs[l−1] = Z^l: (m, n_l)`` for l = 1..L (before any
      normalisation) and ``activations[l] = A^l: (m, n_l)`` for l = 0..L
      (``activations[0] = X``). Under dropout ``A^l`` is the activation before its mask;
      layer l + 1 sees :func:`dropped` ``(activations, masks, l) = A^l ⊙ D^l``.
    """
    zs, acts = [], [x]
    layers = zip(params, net.activations, net.normalized, net.skips)
    for l, (layer, name, normed, skip) in enumerate(layers, start=1):
        a_prev = dropped(acts, masks, l - 1)
        z = a_prev @ layer.W.T + layer.b  # Z^l = A^{l−1} W^{lᵀ} + b^l
        zs.append(z)
        if normed:
            z = normalized(net, layer, z, training).z_tilde  # Z̃^l = γ ⊙ Ẑ^l + β
        a = activations.get(name).fn(z)  # A^l = g(Z^l)
        if skip:
            a = a + a_prev  # A^l = g(Z̃^l) + Ã^{l−1}, the skip connection
        acts.append(a)
    return zs, acts


def population_statistics(net: Network, params: Params, x: Array) -> Params:
    """``params`` with each batch-norm layer's ``mean`` and ``var`` set to the statistics of
    its Z^l over the whole data set ``x: (n, n_0)`` (raw: no validation; jit-able).

    Layer by layer, in one pass: layer l's statistics are taken over all n rows, with the
    layers before it already normalised by theirs, so afterwards the evaluation forward
    of ``x`` equals the training-mode forward of ``x`` as one batch. Recomputed after each
    epoch rather than kept as running averages during it: exact (not an estimate mixing
    parameters of several steps), no momentum hyper-parameter, independent of the batch
    order, and, being in ``params``, kept by checkpoints and resume like any parameter.
    Memory: two layers' activations of the set at a time. Identity for a network without
    batch norm. No dropout (statistics of the network as evaluated).
    """
    if net.norm != "batch":
        return params
    out, a = [], x
    layers = zip(params, net.activations, net.normalized, net.skips)
    for layer, name, normed, skip in layers:
        z = a @ layer.W.T + layer.b  # Z^l over the whole set
        if normed:
            mu, var = normalization.moments(z, 0)
            layer = layer._replace(mean=mu[0], var=var[0])
            z = normalized(net, layer, z, training=False).z_tilde
        a = activations.get(name).fn(z) + (a if skip else 0)
        out.append(layer)
    return tuple(out)


def example_costs(net: Network, z_out: Array, a_out: Array, y: Array) -> Array:
    """C(a_i, y_i) for every row, ``(m,)``; cross entropies from the logits Z^L.

    Args:
      z_out, a_out: ``Z^L, A^L: (m, n_L)``; y: float targets ``(m, n_L)``.
    """
    c = costs.get(net.cost)
    g = activations.get(net.activations[-1])
    if c.from_log is not None:
        log1m = g.log1m_fn(z_out) if c.uses_log1m else None
        return c.from_log(g.log_fn(z_out), log1m, y)
    return c.fn(a_out, y)


def l2_term(net: Network, params: Params, m, l2=None) -> Array:
    """(λ / 2m) Σ_l ‖W^l‖²_F, the regularisation term of J; λ is ``net.l2``, or ``l2`` (a
    scalar, possibly traced) when given."""
    l2 = net.l2 if l2 is None else l2
    if isinstance(l2, float) and not l2:
        return jnp.zeros((), params[0].W.dtype)
    # (λ/2m) Σ ‖W^l‖² (only the weights: not b, γ, β or batch norm's statistics)
    return (l2 / (2 * m)) * sum(jnp.sum(layer.W * layer.W) for layer in params)


def cost_from_pass(net: Network, params: Params, zs, acts, y: Array) -> Array:
    """J from a stored forward pass: (1/m) Σ_i C(a_i, y_i) + (λ/2m) Σ ‖W‖², ``y: (m, n_L)``."""
    J = jnp.mean(example_costs(net, zs[-1], acts[-1], y))  # J = (1/m) Σ_i C(a_i, y_i)
    if net.l2:
        J = J + l2_term(net, params, y.shape[0])
    return J


def raw_cost(net: Network, params: Params, x: Array, y: Array, masks=None) -> Array:
    """J for checked ``x: (m, n_0)`` and float targets ``y: (m, n_L)``; no validation."""
    zs, acts = forward_layers(net, params, x, masks)
    return cost_from_pass(net, params, zs, acts, y)


def predict_from_output(net: Network, a_out: Array) -> Array:
    """Class predictions from the output ``A^L: (m, n_L)``: ``argmax_j`` (n_L ≥ 2), or
    ``a > threshold`` for one output unit (the output activation's ``threshold``).
    Returns ``(m,)`` int32."""
    if a_out.shape[-1] == 1:
        threshold = activations.get(net.activations[-1]).threshold
        return (a_out[..., 0] > threshold).astype(jnp.int32)
    return jnp.argmax(a_out, axis=-1).astype(jnp.int32)


def labels_of(net: Network, y: Array) -> Array:
    """Integer labels ``(m,)`` from integer labels (returned as they are) or from targets
    shaped like the output (their prediction, as :func:`predict_from_output` reads A^L)."""
    if jnp.issubdtype(y.dtype, jnp.integer):
        return y
    return predict_from_output(net, y)


# ---------------------------------------------------------------------------------------
# Public, validated API.


def forward(net: Network, params: Params, x, key=None) -> Array:
    """The network's output a^L.

    Args:
      net: the architecture.
      params: ``((W^1, b^1), …, (W^L, b^L))``.
      x: ``(m, n_0)`` or a single example ``(n_0,)``; floating point.
      key: a PRNG key to apply dropout as in training (``net.dropout > 0``); ``None``
        (evaluation) applies none.
    Batch norm runs in evaluation mode here (the stored population statistics), so one
    example's output is the same alone as inside any batch.

    Returns:
      ``A^L: (m, n_L)``, or ``(n_L,)`` for a single example. Computed in the parameters'
      dtype.
    """
    params = inputs.check_params(net, params)
    x, single = inputs.check_x(net, x, params, memory.check_forward)
    a_out = _output(net, params, x, inputs.check_optional_key(key))
    return a_out[0] if single else a_out


def cost(net: Network, params: Params, x, y, key=None) -> Array:
    """The cost J = (1/m) Σ_i C(a_i, y_i) + (λ/2m) Σ_l ‖W^l‖² (biases not regularised).

    Args:
      net: the architecture (its ``cost`` names C, its ``l2`` is λ).
      params: ``((W^1, b^1), …)``.
      x: ``(m, n_0)`` or ``(n_0,)``.
      y: shaped like the output, ``(m, n_L)`` or ``(n_L,)``; or integer class labels
        ``(m,)`` / ``()``, which mean one-hot rows (or, when n_L = 1, the 0/1 target itself).
      key: a PRNG key: J of the network with dropout applied as in training (the masks
        :func:`dropout_masks` draws from it); ``None``: no dropout (evaluation).
    Returns:
      the scalar J. ``jax.grad(jaxnn.cost, argnums=1)`` is the autodiff reference. Batch
      norm runs in training mode here (the batch's own statistics): J is the cost the
      gradients of :mod:`jaxnn.backprop` and training are of.
    """
    params, x, y = inputs.check_call(net, params, x, y)
    # Eager, unlike forward and accuracy: jax.grad(jaxnn.cost) is the autodiff reference,
    # called on many networks (a gradient check, the BP test matrix), where the eager ops
    # compiled for one network's shapes serve the next; one program per network would not.
    masks = dropout_masks(net, inputs.check_optional_key(key), x.shape[0], x.dtype)
    return raw_cost(net, params, x, y, masks)


def predict(net: Network, params: Params, x) -> Array:
    """Class predictions: ``argmax_j a^L_j`` (n_L ≥ 2) or ``a^L > threshold`` (n_L = 1, the
    output activation's ``threshold``: 0.5 for outputs in [0, ∞) such as sigmoid, softmax,
    relu, softplus; 0 for tanh, identity, leaky_relu). ``(m,)`` int32."""
    return predict_from_output(net, forward(net, params, x))


def accuracy(net: Network, params: Params, x, labels) -> Array:
    """Fraction of rows whose prediction equals the integer label, a scalar in [0, 1].

    ``labels``: ``(m,)`` integer class labels, or one-hot / 0-1 targets shaped like the
    output (their argmax, or for n_L = 1 the value > 0.5, is taken as the label).
    """
    params = inputs.check_params(net, params)
    x, single = inputs.check_x(net, x, params, memory.check_forward)
    if single:
        raise ValueError(
            "accuracy needs a batch x of shape (m, n_0); got a single example of shape "
            f"{tuple(x.shape[1:])}. Fix: pass x[None] and labels[None]."
        )
    labels = inputs.check_labels_for_accuracy(net, labels, x.shape[0])
    return _accuracy(net, params, x, labels)


def with_population_statistics(net: Network, params: Params, x) -> Params:
    """``params`` with every batch-norm layer's ``mean`` and ``var`` computed over the data
    set ``x: (n, n_0)`` (see :func:`population_statistics`); checked arguments, one compiled
    program. Call it after training a batch-norm network with your own loop, before
    :func:`forward`, :func:`predict` or :func:`accuracy` (``jaxnn.train.fit`` does it for
    you). Returns the params unchanged for a network without batch norm."""
    params = inputs.check_params(net, params)
    x, _ = inputs.check_x(net, x, params, memory.check_forward)
    return _population_statistics(net, params, x)


_population_statistics = jax.jit(population_statistics, static_argnums=0)


# The public functions' arithmetic, one compiled program per network and shapes (checked
# arguments only): run eagerly, each operation would compile on its own first use.


@functools.partial(jax.jit, static_argnums=0)
def _output(net: Network, params: Params, x: Array, key) -> Array:
    """A^L of checked ``x: (m, n_0)``; dropout masks drawn from ``key`` unless it is None."""
    masks = dropout_masks(net, key, x.shape[0], x.dtype)
    return forward_layers(net, params, x, masks, training=False)[1][-1]


@functools.partial(jax.jit, static_argnums=0)
def _accuracy(net: Network, params: Params, x: Array, labels: Array) -> Array:
    """The fraction of rows of checked ``x`` predicted as their int32 ``labels: (m,)``."""
    a_out = forward_layers(net, params, x, training=False)[1][-1]
    return jnp.mean((predict_from_output(net, a_out) == labels).astype(a_out.dtype))
