"""The architecture description, the parameters, and the pure forward pass and cost.

A :class:`Network` is a frozen, hashable description (tuples inside), so it can be a
static argument of :func:`jax.jit`. Parameters are a plain pytree: a tuple of
:class:`Layer` ``(W, b)`` NamedTuples with the seeds' shapes, ``W^l: (n_l, n_{l−1})``,
``b^l: (n_l,)``.

A batch is rows: ``x: (m, n_0)``. The forward pass, in batch form (SEEDS.md)::

    Z^l = A^{l−1} W^{lᵀ} + b^l,   A^l = g_l(Z^l),   A^0 = X

and the cost, averaged over the m rows, with L2 on the weights (seed 000, biases not
regularised)::

    J = (1/m) Σ_i C(a_i, y_i) + (λ / 2m) Σ_l ‖W^l‖²_F

``jax.grad(jaxnn.cost, argnums=1)`` is the autodiff reference every hand-written gradient
in :mod:`jaxnn.backprop` is checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations as _activations
from jaxnn import costs as _costs
from jaxnn import validation as _v

Array = jax.Array


class Layer(NamedTuple):
    """One layer's parameters: ``W: (n_l, n_{l−1})``, ``b: (n_l,)``."""

    W: Array
    b: Array


Params = tuple[Layer, ...]


@dataclass(frozen=True)
class Network:
    """A feed-forward network: sizes, one activation per layer, a cost, an L2 strength.

    Args:
      sizes: ``(n_0, n_1, …, n_L)``, the width of the input and of every layer; at least
        two entries, all positive integers.
      activations: ``L`` activation names (``jaxnn.activations.NAMES``), one per layer
        ``1..L``. Softmax is allowed on the output layer only.
      cost: a cost name (``jaxnn.costs.NAMES``) that makes sense for the output activation
        (``jaxnn.costs.VALID_OUTPUTS``).
      l2: λ ≥ 0 of the regularisation term (λ/2m) Σ ‖W‖².

    The instance is immutable and hashable (``jax.jit(f, static_argnums=0)`` works).
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    cost: str
    l2: float = 0.0

    def __post_init__(self) -> None:
        sizes = _v.check_sizes(self.sizes)
        acts = _v.check_activation_names(self.activations, len(sizes) - 1)
        for name in acts:
            _activations.get(name)
        _costs.get(self.cost)
        _v.check_hidden_not_softmax(acts)
        _v.check_output_cost_pair(acts[-1], self.cost, _costs.VALID_OUTPUTS[self.cost])
        l2 = _v.check_nonnegative_finite("l2", self.l2, fix="pass l2=0.0 for no regularisation")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "l2", l2)

    @property
    def num_layers(self) -> int:
        """L, the number of layers with parameters (the input layer is not counted)."""
        return len(self.sizes) - 1

    @property
    def n_in(self) -> int:
        """n_0, the input width."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """n_L, the output width."""
        return self.sizes[-1]

    def shapes(self) -> tuple[tuple[tuple[int, int], tuple[int]], ...]:
        """``((W^1.shape, b^1.shape), …)``: ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``."""
        return tuple(((n, n_prev), (n,)) for n_prev, n in zip(self.sizes[:-1], self.sizes[1:]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; ``Network.from_dict(net.to_dict()) == net``."""
        return {
            "sizes": list(self.sizes),
            "activations": list(self.activations),
            "cost": self.cost,
            "l2": self.l2,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        """The inverse of :meth:`to_dict`; ValueError naming missing or extra keys."""
        if not isinstance(d, dict):
            raise TypeError(f"a network description is a dict; got {type(d).__name__}.")
        expected = {"sizes", "activations", "cost", "l2"}
        if set(d) != expected:
            raise ValueError(
                f"a network description has the keys {sorted(expected)}; got {sorted(d)}."
            )
        return cls(d["sizes"], d["activations"], d["cost"], d["l2"])  # each field checked


def mlp(
    sizes,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
    cost: str = "quadratic",
    l2: float = 0.0,
) -> Network:
    """A :class:`Network` with one ``hidden`` activation on layers 1..L−1 and ``output``
    on layer L. ``jaxnn.mlp((784, 30, 10))`` is Nielsen's network."""
    sizes = _v.check_sizes(sizes)
    _activations.get(hidden)  # a typo is an error even when there is no hidden layer
    return Network(sizes, (hidden,) * (len(sizes) - 2) + (output,), cost, l2)


# ---------------------------------------------------------------------------------------
# Pure forward pass and cost (no validation: jaxnn.forward / jaxnn.cost validate first).


def _forward_layers(net: Network, params: Params, x: Array) -> tuple[list[Array], list[Array]]:
    """The forward pass that keeps every Z^l and A^l.

    Args:
      x: ``(m, n_0)``.
    Returns:
      ``(zs, activations)``: ``zs[l−1] = Z^l: (m, n_l)`` for l = 1..L and
      ``activations[l] = A^l: (m, n_l)`` for l = 0..L (``activations[0] = X``).
    """
    zs, acts = [], [x]
    a = x
    for (W, b), name in zip(params, net.activations):
        z = a @ W.T + b  # Z^l = A^{l−1} W^{lᵀ} + b^l
        a = _activations.get(name).fn(z)  # A^l = g(Z^l)
        zs.append(z)
        acts.append(a)
    return zs, acts


def _example_costs(net: Network, z_out: Array, a_out: Array, y: Array) -> Array:
    """C(a_i, y_i) for every row, ``(m,)``; cross entropies from the logits Z^L."""
    c = _costs.get(net.cost)
    g = _activations.get(net.activations[-1])
    if c.from_log is not None:
        log1m = g.log1m_fn(z_out) if c.uses_log1m else None
        return c.from_log(g.log_fn(z_out), log1m, y)
    return c.fn(a_out, y)


def _l2_term(net: Network, params: Params, m: int) -> Array:
    """(λ / 2m) Σ_l ‖W^l‖²_F."""
    return (net.l2 / (2 * m)) * sum(jnp.sum(W * W) for W, _ in params)  # (λ/2m) Σ ‖W^l‖²


def _cost_from_pass(net: Network, params: Params, zs, acts, y: Array) -> Array:
    """J from a stored forward pass: (1/m) Σ_i C(a_i, y_i) + (λ/2m) Σ ‖W‖², ``y: (m, n_L)``."""
    J = jnp.mean(_example_costs(net, zs[-1], acts[-1], y))  # J = (1/m) Σ_i C(a_i, y_i)
    if net.l2:
        J = J + _l2_term(net, params, y.shape[0])
    return J


def _cost(net: Network, params: Params, x: Array, y: Array) -> Array:
    """J for ``x: (m, n_0)``, ``y: (m, n_L)``, without validation."""
    zs, acts = _forward_layers(net, params, x)
    return _cost_from_pass(net, params, zs, acts, y)


# ---------------------------------------------------------------------------------------
# Public, validated API.


def forward(net: Network, params: Params, x) -> Array:
    """The network's output a^L.

    Args:
      net: the architecture.
      params: ``((W^1, b^1), …, (W^L, b^L))``.
      x: ``(m, n_0)`` or a single example ``(n_0,)``; floating point.
    Returns:
      ``A^L: (m, n_L)``, or ``(n_L,)`` for a single example. Computed in the parameters'
      dtype.
    """
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    _, acts = _forward_layers(net, params, x)
    return acts[-1][0] if single else acts[-1]


def cost(net: Network, params: Params, x, y) -> Array:
    """The cost J = (1/m) Σ_i C(a_i, y_i) + (λ/2m) Σ_l ‖W^l‖² (biases not regularised).

    Args:
      net: the architecture (its ``cost`` names C, its ``l2`` is λ).
      params: ``((W^1, b^1), …)``.
      x: ``(m, n_0)`` or ``(n_0,)``.
      y: shaped like the output, ``(m, n_L)`` or ``(n_L,)``; or integer class labels
        ``(m,)`` / ``()``, which mean one-hot rows (or, when n_L = 1, the 0/1 target itself).
    Returns:
      the scalar J. ``jax.grad(jaxnn.cost, argnums=1)`` is the autodiff reference.
    """
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    y = _v.check_y(net, y, x.shape[0], single, x.dtype)
    return _cost(net, params, x, y)


def predict(net: Network, params: Params, x) -> Array:
    """Class predictions: ``argmax_j a^L_j`` (n_L ≥ 2) or ``a^L > threshold`` (n_L = 1,
    threshold 0.5, or 0 for tanh/identity/leaky_relu outputs). ``(m,)`` int32."""
    return _predict(net, forward(net, params, x))


def _predict(net: Network, a_out: Array) -> Array:
    if a_out.shape[-1] == 1:
        threshold = 0.5 if net.activations[-1] in ("sigmoid", "softmax", "relu") else 0.0
        return (a_out[..., 0] > threshold).astype(jnp.int32)
    return jnp.argmax(a_out, axis=-1).astype(jnp.int32)


def accuracy(net: Network, params: Params, x, labels) -> Array:
    """Fraction of rows whose prediction equals the integer label, a scalar in [0, 1].

    ``labels``: ``(m,)`` integer class labels, or one-hot / 0-1 targets shaped like the
    output (their argmax, or for n_L = 1 the value > 0.5, is taken as the label).
    """
    params = _v.check_params(net, params)
    x, single = _v.check_x(net, x, params)
    if single:
        raise ValueError(
            "accuracy needs a batch x of shape (m, n_0); got a single example of shape "
            f"{tuple(x.shape[1:])}. Fix: pass x[None] and labels[None]."
        )
    labels = _v.check_labels_for_accuracy(net, labels, x.shape[0])
    return _accuracy(net, _forward_layers(net, params, x)[1][-1], labels)


def _accuracy(net: Network, a_out: Array, labels: Array) -> Array:
    return jnp.mean((_predict(net, a_out) == labels).astype(a_out.dtype))


def num_params(net: Network) -> int:
    """Σ_l (n_l n_{l−1} + n_l), the number of scalars in the parameters."""
    _v.check_net(net)
    return sum(math.prod(w) + math.prod(b) for w, b in net.shapes())
