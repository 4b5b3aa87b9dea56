"""The hand-written backward pass: the four backpropagation equations, in batch form.

One forward pass keeps every pre-activation ``zs`` and activation ``activations``; the
backward pass then runs, with the batch as rows (``X: (m, n_0)``, see docs/equations.md)::

    (BP1) Δ^L = ∇_A J ⊙ g'(Z^L),  ∇_A J = (1/m) ∇_a C row by row
    (BP2) Δ^l = (Δ^{l+1} W^{l+1}) ⊙ g'(Z^l)
    (BP3) ∂J/∂b^l = Σ_rows Δ^l
    (BP4) ∂J/∂W^l = Δ^{lᵀ} A^{l−1}  (+ (λ/m) W^l with L2)

``Δ^l: (m, n_l)`` holds δ^l = ∂C/∂z^l of every example, each row already divided by m
(the cost is a mean). Where the output activation and the cost allow it, BP1 uses the
fused form, which skips the division that ∇_a C would make and cancels at once:

======================== ============================
output + cost            Δ^L
======================== ============================
sigmoid + binary CE      (A − Y) / m   (Ng's notes: dz = a − y)
softmax + cross entropy  (P − Y) / m   (maths.md: ∂L/∂z_i = p_i − y_i)
identity + quadratic     (A − Y) / m
sigmoid + cross entropy  −Y ⊙ (1 − A) / m
======================== ============================

Every other pair takes the general path ∇_a C ⊙ g'(Z^L), or for a softmax output the
vector–Jacobian product with a_i(δ_ij − a_j) (see :mod:`jaxnn.activations`). The hidden
derivatives come from the stored activations (σ' = a(1 − a), tanh' = 1 − a²). The input
gradient Δ^1 W^1 is never computed: nothing needs it.

On a network with ``norm`` or ``residual`` the hidden layers add two things (see
:func:`backward`, :mod:`jaxnn.normalization` and docs/equations.md): BP2 carries the skip
term, ∂J/∂A^{l−1} = (Δ^l W^l + ∂J/∂A^l) ⊙ D^{l−1}, and a normalised layer turns
Δ̃ = ∂J/∂Z̃ into Δ = ∂J/∂Z by (N1), with ∂J/∂γ (N2) and ∂J/∂β (N3).

All functions are pure and jit-compatible with the network static
(``jax.jit(value_and_grad, static_argnums=0)``), work under ``vmap`` and in float64 when
``jax_enable_x64`` is on. The tests prove ``value_and_grad == jax.value_and_grad(jaxnn.cost,
argnums=1)`` over every activation × output/cost pair × depth × batch size.

The public functions check their arguments first (:mod:`jaxnn.inputs`). The **raw**
functions (:func:`backward`, :func:`value_grad_and_output`, :func:`example_grads`,
:func:`add_l2_grad`) take checked arrays and float targets and do no validation: the
training core, DP-SGD and the data-parallel step call them inside ``jit``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn import activations, costs, inputs, memory, normalization
from jaxnn.architecture import STATISTICS, check_net
from jaxnn.network import (
    Layer,
    Network,
    Params,
    cost_from_pass,
    dropout_masks,
    dropped,
    forward_layers,
    normalized,
)

Array = jax.Array


def forward_pass(net: Network, params: Params, x) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """The forward pass that keeps what the backward pass needs.

    Args:
      x: ``(m, n_0)``.
    Returns:
      ``(zs, activations)``: ``zs[l−1] = Z^l: (m, n_l)`` for l = 1..L, and
      ``activations[l] = A^l: (m, n_l)`` for l = 0..L, with ``activations[0] = X``.
    """
    params = inputs.check_params(net, params)
    x, _ = inputs.check_x(net, x, params, memory.check_forward)
    zs, acts = forward_layers(net, params, x)
    return tuple(zs), tuple(acts)


def _fused_output_delta(output: str, cost: str, a: Array, y: Array) -> Array | None:
    """m Δ^L for the (output, cost) pairs whose BP1 simplifies; ``None`` for the others."""
    if (output, cost) in (("sigmoid", "binary_cross_entropy"), ("identity", "quadratic")):
        return a - y  # (BP1) Δ^L = (A − Y)/m
    if (output, cost) == ("softmax", "cross_entropy"):
        # (BP1) Δ^L = (P − Y)/m. Exactly Σ_i y_i p_j − y_j; the row sum of Y is 1 for
        # one-hot or probability targets, kept so any Y agrees with autodiff.
        return a * jnp.sum(y, axis=-1, keepdims=True) - y
    if (output, cost) == ("sigmoid", "cross_entropy"):
        return -y * (1 - a)  # (BP1) (−y/a) ⊙ a(1 − a)
    return None


def output_delta(net: Network, z_out: Array, a_out: Array, y: Array, m) -> Array:
    """(BP1) Δ^L = ∇_A J ⊙ g'(Z^L), with ∇_A J = (1/m) ∇_a C.

    Args:
      z_out, a_out: ``Z^L, A^L: (m, n_L)``.
      y: targets ``(m, n_L)``.
      m: the number of rows the cost averages over.
    Returns:
      ``Δ^L: (m, n_L)``.
    """
    out_name = net.activations[-1]
    fused = _fused_output_delta(out_name, net.cost, a_out, y)
    if fused is not None:
        return fused / m
    g = activations.get(out_name)
    grad_a = costs.get(net.cost).grad(a_out, y)  # ∇_a C
    return g.vjp(z_out, a_out, grad_a) / m  # (BP1) ∇_a C ⊙ g'(Z^L), or the softmax VJP


def backward(net: Network, params: Params, zs, acts, y: Array, m,
             masks=None) -> tuple[list[Array], Params]:
    """BP1–BP4 from a stored forward pass (raw: no validation), with the normalisation
    (N1)–(N3) and the skip term of BP2 on the layers that have them.

    Args:
      zs, acts: :func:`jaxnn.network.forward_layers`'s ``Z^1..Z^L`` and ``A^0..A^L``, of a
        training-mode pass (batch norm: the batch's statistics).
      y: float targets ``(m_rows, n_L)``.
      m: the number the cost's mean divides by (the rows here, or the whole batch when
        the rows are one device's share of it).
      masks: the dropout scales ``D^l`` the forward pass used, or ``None``. With dropout
        BP2 is Δ^l = (Δ^{l+1} W^{l+1}) ⊙ D^l ⊙ g'(Z^l) and BP4 uses Ã^{l−1} = A^{l−1} ⊙ D^{l−1}.
    Returns:
      ``(deltas, grads)``: ``[Δ^1, …, Δ^L]`` (Δ^l = ∂J/∂Z^l, before normalisation) and the
      gradient in the parameters' structure: ``Layer(∂J/∂W^l, ∂J/∂b^l)``, with
      ``∂J/∂γ^l, ∂J/∂β^l`` on a normalised layer (and exact zeros for batch norm's
      ``mean`` and ``var``).

    On a normalised layer g acts on Z̃ = γ ⊙ Ẑ + β, and on a layer with a skip
    (A^l = g(Z̃^l) + Ã^{l−1}) the loop carries ∂J/∂A^l: BP2 becomes
    ∂J/∂A^{l−1} = (Δ^l W^l + ∂J/∂A^l) ⊙ D^{l−1}, then Δ̃^{l−1} = ∂J/∂A^{l−1} ⊙ g'(Z̃^{l−1})
    and (N1) turns Δ̃ into Δ. The normalisation is recomputed from Z^l (under ``jit`` the
    compiler shares it with the forward pass's).
    """
    L = net.num_layers
    delta = output_delta(net, zs[-1], acts[-1], y, m)  # (BP1)
    deltas: list[Array] = [delta]
    grads: list[Layer] = [None] * L  # type: ignore[list-item]
    extra: tuple = ()  # ∂J/∂γ, ∂J/∂β (and zeros for mean, var) of the current layer
    grad_a = None  # ∂J/∂A^l of the current layer l (needed when layer l has a skip)
    for l in range(L, 0, -1):  # layers L, L−1, …, 1; params[l − 1] is layer l
        layer = params[l - 1]
        grad_W = delta.T @ dropped(acts, masks, l - 1)  # (BP4) ∂J/∂W^l = Δ^{lᵀ} A^{l−1}
        grad_b = jnp.sum(delta, axis=0)  # (BP3) ∂J/∂b^l = Σ_rows Δ^l
        grads[l - 1] = type(layer)(grad_W, grad_b, *extra)
        if l > 1:
            g = activations.get(net.activations[l - 2])
            # (BP2) Δ^{l−1} = (Δ^l W^l) ⊙ g'(Z^{l−1})
            back = delta @ layer.W
            if net.skips[l - 1]:
                back = back + grad_a  # (BP2, skip) ∂J/∂Ã^{l−1} = Δ^l W^l + ∂J/∂A^l
            if masks is not None:
                back = back * masks[l - 2]  # ⊙ D^{l−1}
            grad_a = back  # ∂J/∂A^{l−1}
            delta, extra = _hidden_delta(net, l - 1, params[l - 2], zs[l - 2], acts[l - 1],
                                         g, back)
            deltas.append(delta)
    deltas.reverse()
    return deltas, add_l2_grad(net, params, tuple(grads), m)


def _hidden_delta(net: Network, l: int, layer, z: Array, a: Array, g, grad_a: Array):
    """Δ^l = ∂J/∂Z^l of hidden layer l from ``grad_a`` = ∂J/∂A^l, and the gradients of its
    normalisation's parameters (``()`` for a plain layer)."""
    if not net.normalized[l - 1]:
        if net.skips[l - 1]:
            a = g.fn(z)  # g(Z^l) alone: A^l also holds the skip
        return g.vjp(z, a, grad_a), ()  # (BP2) ⊙ g'(Z^l)
    norm = normalized(net, layer, z)  # Ẑ^l, σ^l, Z̃^l of the training-mode pass
    delta_tilde = g.vjp(norm.z_tilde, g.fn(norm.z_tilde), grad_a)  # (BP2) Δ̃^l = ∂J/∂Z̃^l
    delta, grad_gamma, grad_beta = normalization.normalize_backward(
        delta_tilde, norm, layer.gamma, normalization.AXES[net.norm])  # (N1)–(N3)
    statistics = tuple(jnp.zeros_like(getattr(layer, f)) for f in STATISTICS
                       if f in layer._fields)  # not trained: exactly 0
    return delta, (grad_gamma, grad_beta) + statistics


def add_l2_grad(net: Network, params: Params, grads: Params, m, l2=None) -> Params:
    """(BP4) ∂J/∂W^l += (λ/m) W^l: the L2 term's gradient added to a data gradient (raw).
    Used where the data gradient is computed without it (summed over devices, clipped per
    example) and the data-independent term is added once. λ is ``net.l2``, or ``l2`` (a
    scalar, possibly traced) when given. Only the weights: b, γ, β and batch norm's
    statistics take no L2."""
    l2 = net.l2 if l2 is None else l2
    if isinstance(l2, float) and not l2:
        return grads
    # (BP4) + (λ/m) W^l
    return tuple(g._replace(W=g.W + (l2 / m) * p.W) for g, p in zip(grads, params))


def value_grad_and_output(
    net: Network, params: Params, x: Array, y: Array, masks=None
) -> tuple[Array, Params, Array]:
    """J, ∂J/∂θ and the output A^L from one forward pass (raw: no validation).

    ``x: (m, n_0)`` in the parameters' dtype, float targets ``y: (m, n_L)``; ``masks``:
    dropout scales (:func:`jaxnn.network.dropout_masks`) or ``None``. The training step
    uses A^L for its accuracy.
    """
    zs, acts = forward_layers(net, params, x, masks)
    _, grads = backward(net, params, zs, acts, y, x.shape[0], masks)
    return cost_from_pass(net, params, zs, acts, y), grads, acts[-1]


def value_and_grad(net: Network, params: Params, x, y, key=None) -> tuple[Array, Params]:
    """The cost J and its gradient, by BP1–BP4 from one forward pass.

    Args:
      net: the architecture (static under jit).
      params: ``((W^1, b^1), …, (W^L, b^L))``, ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``.
      x: ``(m, n_0)`` or one example ``(n_0,)``.
      y: targets shaped like the output, or integer labels ``(m,)`` (one-hot).
      key: with dropout (``net.dropout > 0``), the PRNG key of the masks, as for
        :func:`jaxnn.cost` (the same key gives the same masks); ``None``: no dropout.
    Returns:
      ``(J, grads)``: J as :func:`jaxnn.cost` computes it, and ``grads`` the same pytree as
      ``params`` with ``grads[l−1] = Layer(∂J/∂W^l, ∂J/∂b^l)``.
    """
    params, x, y = inputs.check_call(net, params, x, y)
    masks = dropout_masks(net, inputs.check_optional_key(key), x.shape[0], x.dtype)
    J, grads, _ = value_grad_and_output(net, params, x, y, masks)
    return J, grads


def grad(net: Network, params: Params, x, y, key=None) -> Params:
    """∂J/∂θ by BP1–BP4; see :func:`value_and_grad`."""
    return value_and_grad(net, params, x, y, key)[1]


def deltas(net: Network, params: Params, x, y) -> tuple[Array, ...]:
    """Every layer's error Δ^l = ∂J/∂Z^l, for research use (e.g. the speed of learning).

    Returns:
      ``(Δ^1, …, Δ^L)``, ``Δ^l: (m, n_l)``; each row is δ^l of one example divided by m.
      ``Σ_rows Δ^l`` is ∂J/∂b^l (BP3).
    """
    params, x, y = inputs.check_call(net, params, x, y)
    zs, acts = forward_layers(net, params, x)
    ds, _ = backward(net, params, zs, acts, y, x.shape[0])
    return tuple(ds)


# ---------------------------------------------------------------------------------------
# Per-example gradients, and the manual backward pass as JAX's own gradient.


def example_grads(net: Network, params: Params, x: Array, y: Array, masks=None) -> Params:
    """∂C(a_i, y_i)/∂θ for every row, by ``vmap`` of BP1–BP4 with m = 1 (raw: no
    validation; the L2 term is left out). ``masks``: the batch's dropout scales, row i
    used for example i. Leaves get a leading axis m. ValueError under batch norm
    (:func:`check_per_example`)."""
    check_per_example(net)
    data_only = net.without_l2()

    def one(xi, yi, mi):
        rows = None if mi is None else tuple(d[None] for d in mi)
        return value_grad_and_output(data_only, params, xi[None], yi[None], rows)[1]

    return jax.vmap(one)(x, y, masks)


def check_per_example(net: Network, what: str = "per-example gradients") -> None:
    """ValueError for a batch-norm network: its examples are coupled (each row's output
    depends on the batch's μ and σ), so no example has a gradient of its own; what a
    one-row batch would give (Ẑ = 0, no gradient through γ) is not it. Layer norm and
    skips keep examples independent and are fine."""
    if net.norm == "batch":
        raise ValueError(
            f"{what} are not defined for a network with norm='batch': batch norm couples "
            "the examples of a batch (each row is normalised with the batch's mean and "
            "variance), so an example has no gradient of its own. Fix: norm='layer' (it "
            "normalises each example on its own), or norm=None.")


def per_example_grads(net: Network, params: Params, x, y) -> Params:
    """Each example's own gradient ∂C(a_i, y_i)/∂θ, by ``vmap`` of the hand-written pass.

    The L2 term is not per-example and is left out (it is data-independent: DP-SGD adds
    it after clipping). ``mean_i(per_example_grads)`` plus ``(λ/m) W`` is :func:`grad`.

    Args:
      x: ``(m, n_0)``; y: targets ``(m, n_L)`` or labels ``(m,)``.
    Returns:
      the params pytree with a leading axis m on every leaf:
      ``W^l: (m, n_l, n_{l−1})``, ``b^l: (m, n_l)``.
    """
    check_per_example(check_net(net))
    params, x, y = inputs.check_call(net, params, x, y, memory.check_per_example)
    return example_grads(net, params, x, y)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _cost_manual_vjp(net: Network, params: Params, x: Array, y: Array) -> Array:
    return cost_from_pass(net, params, *forward_layers(net, params, x), y)


def _cost_manual_vjp_fwd(net, params, x, y):
    zs, acts = forward_layers(net, params, x)
    ds, grads = backward(net, params, zs, acts, y, x.shape[0])
    grad_x = ds[0] @ params[0].W  # ∂J/∂X = Δ^1 W^1: BP2 carried one layer further
    # ∂J/∂Y, the targets' cotangent, from the cost formula by autodiff (rarely needed).
    _, vjp_y = jax.vjp(lambda t: cost_from_pass(net, params, zs, acts, t), y)
    return cost_from_pass(net, params, zs, acts, y), (grads, grad_x, vjp_y)


def _cost_manual_vjp_bwd(net, residuals, g):
    grads, grad_x, vjp_y = residuals
    (grad_y,) = vjp_y(g)
    return jax.tree.map(lambda t: g * t, grads), g * grad_x, grad_y


_cost_manual_vjp.defvjp(_cost_manual_vjp_fwd, _cost_manual_vjp_bwd)


def cost_with_manual_vjp(net: Network, params: Params, x, y) -> Array:
    """The cost J, whose gradient under ``jax.grad``/``jax.vjp`` is computed by BP1–BP4.

    A ``jax.custom_vjp``: the forward pass keeps ``zs`` and ``activations``, the backward
    pass is :func:`value_and_grad`'s, so any JAX code — an optax optimizer, a user's own
    training loop — differentiating this function runs the hand-written equations. The
    input gradient is ∂J/∂X = Δ^1 W^1; the targets' from autodiff of the cost formula.

    Args:
      as :func:`jaxnn.cost`. Returns: the scalar J.
    """
    params, x, y = inputs.check_call(net, params, x, y)
    return _cost_manual_vjp(net, params, x, y)
