"""Layer norm and batch norm: the forward normalisation and its backward pass by hand.

On a normalised hidden layer l the pre-activation ``Z: (m, n_l)`` is normalised over an
axis before the activation (docs/equations.md, "Normalisation")::

    μ = mean(Z),  σ² = mean((Z − μ)²),  σ = √(σ² + ε)
    Ẑ = (Z − μ) / σ,   Z̃ = γ ⊙ Ẑ + β,   A = g(Z̃)

over each row's n_l units (**layer norm**, ``axis = -1``: μ, σ are ``(m, 1)``) or over the
m rows of the batch (**batch norm**, ``axis = 0``: μ, σ are ``(1, n_l)``). At evaluation
batch norm uses the stored population statistics instead (``stats = (mean, var)``), so a
row's output depends on that row alone.

The backward pass, from Δ̃ = ∂J/∂Z̃ (BP2 computes it), in the batch form, means over the
same axis::

    (N1) Δ = (1/σ) (Δ_Ẑ − mean(Δ_Ẑ) − Ẑ ⊙ mean(Δ_Ẑ ⊙ Ẑ)),   Δ_Ẑ = Δ̃ ⊙ γ
    (N2) ∂J/∂γ = Σ_rows Δ̃ ⊙ Ẑ
    (N3) ∂J/∂β = Σ_rows Δ̃

Everything here is raw (no validation) and pure: :mod:`jaxnn.network` runs the forward,
:mod:`jaxnn.backprop` the backward.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

# ε of √(σ² + ε): keeps a constant unit (σ² = 0) finite, as in PyTorch and Flax.
EPS = 1e-5

# The axis each normalisation takes its statistics over: a row's units, or the batch.
AXES = {"layer": -1, "batch": 0}


class Normalized(NamedTuple):
    """What the backward pass needs of one normalisation: ``z_hat`` Ẑ and ``z_tilde`` Z̃,
    ``(m, n_l)``, and ``sigma`` σ = √(σ² + ε), broadcastable against them."""

    z_hat: Array
    sigma: Array
    z_tilde: Array


def moments(z: Array, axis: int) -> tuple[Array, Array]:
    """μ = mean(Z) and σ² = mean((Z − μ)²) over ``axis``, kept as broadcastable dims."""
    mu = jnp.mean(z, axis=axis, keepdims=True)  # μ = mean(Z)
    var = jnp.mean(jnp.square(z - mu), axis=axis, keepdims=True)  # σ² = mean((Z − μ)²)
    return mu, var


def normalize(z: Array, gamma: Array, beta: Array, axis: int, stats=None) -> Normalized:
    """Ẑ = (Z − μ)/√(σ² + ε) and Z̃ = γ ⊙ Ẑ + β.

    Args:
      z: ``Z: (m, n_l)``; gamma, beta: ``(n_l,)``.
      axis: ``-1`` (layer norm) or ``0`` (batch norm), :data:`AXES`.
      stats: ``None`` (the statistics of ``z`` itself), or ``(mean, var)`` each ``(n_l,)``,
        batch norm's population statistics at evaluation.
    """
    mu, var = moments(z, axis) if stats is None else stats
    sigma = jnp.sqrt(var + EPS)  # σ = √(σ² + ε)
    z_hat = (z - mu) / sigma  # Ẑ = (Z − μ) / σ
    return Normalized(z_hat, sigma, gamma * z_hat + beta)  # Z̃ = γ ⊙ Ẑ + β


def normalize_backward(delta_tilde: Array, norm: Normalized, gamma: Array,
                       axis: int) -> tuple[Array, Array, Array]:
    """(N1)–(N3): ``(Δ, ∂J/∂γ, ∂J/∂β)`` from Δ̃ = ∂J/∂Z̃ ``(m, n_l)`` and the forward's
    :class:`Normalized`; Δ = ∂J/∂Z ``(m, n_l)`` (training mode: the statistics are the
    batch's own, so every entry of Z moves μ and σ)."""
    z_hat, sigma = norm.z_hat, norm.sigma
    grad_gamma = jnp.sum(delta_tilde * z_hat, axis=0)  # (N2) ∂J/∂γ = Σ_rows Δ̃ ⊙ Ẑ
    grad_beta = jnp.sum(delta_tilde, axis=0)  # (N3) ∂J/∂β = Σ_rows Δ̃
    d_hat = delta_tilde * gamma  # Δ_Ẑ = Δ̃ ⊙ γ
    def mean(a):  # over the normalised axis
        return jnp.mean(a, axis=axis, keepdims=True)

    # (N1) Δ = (1/σ)(Δ_Ẑ − mean(Δ_Ẑ) − Ẑ ⊙ mean(Δ_Ẑ ⊙ Ẑ))
    delta = (d_hat - mean(d_hat) - z_hat * mean(d_hat * z_hat)) / sigma
    return delta, grad_gamma, grad_beta

