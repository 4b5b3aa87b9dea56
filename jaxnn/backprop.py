"""The hand-written backward pass: the four backpropagation equations, in batch form.

One forward pass keeps every pre-activation ``zs`` and activation ``activations``; the
backward pass then runs, with the batch as rows (``X: (m, n_0)``, see SEEDS.md)::

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
sigmoid + binary CE      (A − Y) / m   (seed 003: dz = a − y)
softmax + cross entropy  (P − Y) / m   (seed 001: ∂L/∂z_i = p_i − y_i)
identity + quadratic     (A − Y) / m
sigmoid + cross entropy  −Y ⊙ (1 − A) / m
======================== ============================

Every other pair takes the general path ∇_a C ⊙ g'(Z^L), or for a softmax output the
vector–Jacobian product with a_i(δ_ij − a_j) (see :mod:`jaxnn.activations`). The hidden
derivatives come from the stored activations (σ' = a(1 − a), tanh' = 1 − a²). The input
gradient Δ^1 W^1 is never computed: nothing needs it.

All functions are pure and jit-compatible with the network static
(``jax.jit(value_and_grad, static_argnums=0)``), work under ``vmap`` and in float64 when
``jax_enable_x64`` is on. The tests prove ``value_and_grad == jax.value_and_grad(jaxnn.cost,
argnums=1)`` over every activation × output/cost pair × depth × batch size.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn import activations as _activations
from jaxnn import costs as _costs
from jaxnn import validation as _v
from jaxnn.network import Layer, Network, Params, _cost_from_pass, _forward_layers

Array = jax.Array


def forward_pass(net: Network, params: Params, x) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """The forward pass that keeps what the backward pass needs.

    Args:
      x: ``(m, n_0)``.
    Returns:
      ``(zs, activations)``: ``zs[l−1] = Z^l: (m, n_l)`` for l = 1..L, and
      ``activations[l] = A^l: (m, n_l)`` for l = 0..L, with ``activations[0] = X``.
    """
    params = _v.check_params(net, params)
    x, _ = _v.check_x(net, x, params)
    zs, acts = _forward_layers(net, params, x)
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
    g = _activations.get(out_name)
    grad_a = _costs.get(net.cost).grad(a_out, y)  # ∇_a C
    return g.vjp(z_out, a_out, grad_a) / m  # (BP1) ∇_a C ⊙ g'(Z^L), or the softmax VJP


def _backward(net: Network, params: Params, zs, acts, y: Array, m) -> tuple[list[Array], Params]:
    """BP1–BP4 from a stored forward pass. Returns ``(deltas, grads)``."""
    L = net.num_layers
    delta = output_delta(net, zs[-1], acts[-1], y, m)  # (BP1)
    deltas: list[Array] = [delta]
    grads: list[Layer] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):  # layers L, L−1, …, 1; params[l − 1] is layer l
        W = params[l - 1].W
        grad_W = delta.T @ acts[l - 1]  # (BP4) ∂J/∂W^l = Δ^{lᵀ} A^{l−1}
        if net.l2:
            grad_W = grad_W + (net.l2 / m) * W  # (BP4) + (λ/m) W^l
        grad_b = jnp.sum(delta, axis=0)  # (BP3) ∂J/∂b^l = Σ_rows Δ^l
        grads[l - 1] = Layer(grad_W, grad_b)
        if l > 1:
            g = _activations.get(net.activations[l - 2])
            # (BP2) Δ^{l−1} = (Δ^l W^l) ⊙ g'(Z^{l−1})
            delta = g.vjp(zs[l - 2], acts[l - 1], delta @ W)
            deltas.append(delta)
    deltas.reverse()
    return deltas, tuple(grads)


def _value_grad_and_output(
    net: Network, params: Params, x: Array, y: Array
) -> tuple[Array, Params, Array]:
    """J, ∂J/∂θ and the output A^L from one forward pass; ``x: (m, n_0)``, float targets
    ``y: (m, n_L)``; no validation (the training step uses A^L for its accuracy)."""
    zs, acts = _forward_layers(net, params, x)
    _, grads = _backward(net, params, zs, acts, y, x.shape[0])
    return _cost_from_pass(net, params, zs, acts, y), grads, acts[-1]


def _value_and_grad(net: Network, params: Params, x: Array, y: Array) -> tuple[Array, Params]:
    """J and ∂J/∂θ for ``x: (m, n_0)`` and float targets ``y: (m, n_L)``; no validation."""
    J, grads, _ = _value_grad_and_output(net, params, x, y)
    return J, grads


def value_and_grad(net: Network, params: Params, x, y) -> tuple[Array, Params]:
    """The cost J and its gradient, by BP1–BP4 from one forward pass.

    Args:
      net: the architecture (static under jit).
      params: ``((W^1, b^1), …, (W^L, b^L))``, ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``.
      x: ``(m, n_0)`` or one example ``(n_0,)``.
      y: targets shaped like the output, or integer labels ``(m,)`` (one-hot).
    Returns:
      ``(J, grads)``: J as :func:`jaxnn.cost` computes it, and ``grads`` the same pytree as
      ``params`` with ``grads[l−1] = Layer(∂J/∂W^l, ∂J/∂b^l)``.
    """
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    y = _v.check_y(net, y, x.shape[0], single, x.dtype)
    return _value_and_grad(net, params, x, y)


def grad(net: Network, params: Params, x, y) -> Params:
    """∂J/∂θ by BP1–BP4; see :func:`value_and_grad`."""
    return value_and_grad(net, params, x, y)[1]


def deltas(net: Network, params: Params, x, y) -> tuple[Array, ...]:
    """Every layer's error Δ^l = ∂J/∂Z^l, for research use (e.g. the speed of learning).

    Returns:
      ``(Δ^1, …, Δ^L)``, ``Δ^l: (m, n_l)``; each row is δ^l of one example divided by m.
      ``Σ_rows Δ^l`` is ∂J/∂b^l (BP3).
    """
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    y = _v.check_y(net, y, x.shape[0], single, x.dtype)
    zs, acts = _forward_layers(net, params, x)
    ds, _ = _backward(net, params, zs, acts, y, x.shape[0])
    return tuple(ds)


# ---------------------------------------------------------------------------------------
# Per-example gradients, and the manual backward pass as JAX's own gradient.


def _per_example_grads(net: Network, params: Params, x: Array, y: Array) -> Params:
    """∂C(a_i, y_i)/∂θ for every row, by ``vmap`` of BP1–BP4 with m = 1; no validation."""
    unregularised = Network(net.sizes, net.activations, net.cost, 0.0)

    def one(xi, yi):
        return _value_and_grad(unregularised, params, xi[None], yi[None])[1]

    return jax.vmap(one)(x, y)


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
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    y = _v.check_y(net, y, x.shape[0], single, x.dtype)
    return _per_example_grads(net, params, x, y)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _cost_manual_vjp(net: Network, params: Params, x: Array, y: Array) -> Array:
    return _cost_from_pass(net, params, *_forward_layers(net, params, x), y)


def _cost_manual_vjp_fwd(net, params, x, y):
    zs, acts = _forward_layers(net, params, x)
    ds, grads = _backward(net, params, zs, acts, y, x.shape[0])
    grad_x = ds[0] @ params[0].W  # ∂J/∂X = Δ^1 W^1: BP2 carried one layer further
    # ∂J/∂Y, the targets' cotangent, from the cost formula by autodiff (rarely needed).
    _, vjp_y = jax.vjp(lambda t: _cost_from_pass(net, params, zs, acts, t), y)
    return _cost_from_pass(net, params, zs, acts, y), (grads, grad_x, vjp_y)


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
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    y = _v.check_y(net, y, x.shape[0], single, x.dtype)
    return _cost_manual_vjp(net, params, x, y)
