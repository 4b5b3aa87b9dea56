"""The architecture: a frozen, hashable :class:`Network`, and the parameters' shapes.

A :class:`Network` describes a feed-forward network (sizes, one activation per layer, a
cost, an L2 strength, dropout, normalisation and skip connections) and nothing else, so it
can be a static argument of :func:`jax.jit`. Parameters are a plain pytree: a tuple with
one NamedTuple per layer, ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``:

* :class:`Layer` ``(W, b)`` for a plain layer (every layer of a network without ``norm``,
  and the output layer always);
* :class:`NormLayer` ``(W, b, gamma, beta)`` for a hidden layer under layer norm;
* :class:`BatchNormLayer` ``(W, b, gamma, beta, mean, var)`` for a hidden layer under batch
  norm: ``mean`` and ``var`` are the population statistics evaluation uses. They are not
  trained: their gradient is exactly 0, and they take no L2 (:func:`trainable` says which
  fields are trained).

Every layer type has ``W`` and ``b`` first, so ``params[l].W`` reads alike on all.

Every field is checked and normalised when a network is built (tuples, ints, strs and a
float), so a list, an array or a dict where a number belongs is refused at once, not
when the description is hashed. Names come from the registries
(:data:`jaxnn.activations.ACTIVATIONS`, :data:`jaxnn.costs.COSTS`). A user component
(:func:`jaxnn.activations.custom`, :func:`jaxnn.costs.custom`) is accepted wherever a name
is, and stored as the object itself (hashable: its functions hash by identity), so two
components of one name are never mistaken for each other under ``jit``. Everything reads
the pieces through ``activations.get`` / ``costs.get``, which take either.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax

from jaxnn import _checks, activations, costs

Array = jax.Array

# The widest layer a size may declare: XLA shapes and int32 class labels stop here, and a
# wider one could never be allocated anyway.
MAX_WIDTH = 2**31 - 1


class Layer(NamedTuple):
    """One layer's parameters: ``W: (n_l, n_{l−1})``, ``b: (n_l,)``."""

    W: Array
    b: Array


class NormLayer(NamedTuple):
    """A hidden layer under layer norm: ``W: (n_l, n_{l−1})``, ``b, gamma, beta: (n_l,)``.
    Z̃ = γ ⊙ Ẑ + β, Ẑ the pre-activation normalised over each row (docs/equations.md)."""

    W: Array
    b: Array
    gamma: Array
    beta: Array


class BatchNormLayer(NamedTuple):
    """A hidden layer under batch norm: ``W: (n_l, n_{l−1})``, every other field ``(n_l,)``.
    ``gamma``, ``beta`` are trained; ``mean``, ``var`` are the population statistics of
    Z^l that evaluation normalises with (written by
    :func:`jaxnn.network.population_statistics`; their gradient is exactly 0)."""

    W: Array
    b: Array
    gamma: Array
    beta: Array
    mean: Array
    var: Array


Params = tuple[Layer | NormLayer | BatchNormLayer, ...]

# The normalisations a hidden layer can take, and the parameter type of each layer.
NORMS: dict[str | None, type] = {None: Layer, "layer": NormLayer, "batch": BatchNormLayer}

# Fields that take no gradient step and no L2 or weight decay.
STATISTICS = ("mean", "var")


def trainable(layer) -> tuple[bool, ...]:
    """One bool per field of a layer's NamedTuple: False for the population statistics
    (``mean``, ``var``), True for W, b, γ and β. E.g. an adamw mask excluding them:
    ``lambda ps: tuple(type(p)(*trainable(p)) for p in ps)``."""
    return tuple(name not in STATISTICS for name in layer._fields)


@dataclass(frozen=True)
class Network:
    """A feed-forward network: sizes, one activation per layer, a cost, an L2 strength.

    Args:
      sizes: ``(n_0, n_1, …, n_L)``, the width of the input and of every layer; at least
        two entries, all positive integers.
      activations: ``L`` activations, one per layer ``1..L``: names
        (``jaxnn.activations.NAMES``) or user activations (``jaxnn.activations.custom``).
        Output-only activations (softmax) are allowed on layer L only. Stored as names
        for the built-ins, as the objects for user activations.
      cost: a cost name (``jaxnn.costs.NAMES``) or a user cost (``jaxnn.costs.custom``)
        that accepts the output activation (``jaxnn.costs.accepts(cost, output)``).
      l2: λ ≥ 0 of the regularisation term (λ/2m) Σ ‖W‖².
      dropout: the probability p in [0, 1) of dropping each hidden unit while training
        (inverted dropout: kept units are scaled by 1/(1 − p)); 0 turns it off. The output
        layer is never dropped, and nothing is dropped at evaluation (no key).
      norm: ``None``, ``"layer"`` or ``"batch"``: normalise each hidden layer's
        pre-activation, Ẑ = (Z − μ)/√(σ² + ε), Z̃ = γ ⊙ Ẑ + β, A = g(Z̃), over each row's
        units (layer norm) or over the batch (batch norm: the batch's statistics while
        training, the stored population statistics at evaluation). The output layer is
        never normalised. Needs at least one hidden layer.
      residual: skip connections A^l = g(Z̃^l) + Ã^{l−1} on every hidden layer l ≥ 2 whose
        width equals the previous layer's (:attr:`skips`); a width change gets no skip
        (so 784-(128×4)-10 skips on layers 2–4). Needs at least one such layer.

    The instance is immutable and hashable (``jax.jit(f, static_argnums=0)`` works).
    Derive variants with :meth:`replace` (e.g. ``net.replace(l2=0.0)``), which checks the
    new fields like the constructor and keeps every other field.
    """

    sizes: tuple[int, ...]
    activations: tuple[str | activations.Activation, ...]
    cost: str | costs.Cost
    l2: float = 0.0
    dropout: float = 0.0
    norm: str | None = None
    residual: bool = False

    def __post_init__(self) -> None:
        sizes = check_sizes(self.sizes)
        acts = _check_activation_names(self.activations, len(sizes) - 1)
        cost = costs.canonical(self.cost)
        _check_output_cost_pair(acts[-1], cost)
        l2 = _checks.real("l2", self.l2, minimum=0.0,
                          fix="pass l2=0.0 for no regularisation")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "cost", cost)
        dropout = _checks.real("dropout", self.dropout, minimum=0.0, below=1.0,
                               fix="the probability of dropping a hidden unit, e.g. "
                               "dropout=0.2; 0 for none")
        object.__setattr__(self, "l2", l2)
        object.__setattr__(self, "dropout", dropout)
        object.__setattr__(self, "norm", _check_norm(self.norm, sizes))
        object.__setattr__(self, "residual", _check_residual(self.residual, sizes))

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

    def replace(self, **changes) -> Network:
        """A copy with ``changes`` applied (checked); every other field is kept."""
        return dataclasses.replace(self, **changes)

    def without_l2(self) -> Network:
        """The same network with λ = 0: the data term of the cost alone."""
        return self if self.l2 == 0.0 else self.replace(l2=0.0)

    def shapes(self) -> tuple[tuple[tuple[int, int], tuple[int]], ...]:
        """``((W^1.shape, b^1.shape), …)``: ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``."""
        return tuple(((n, n_prev), (n,)) for n_prev, n in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def normalized(self) -> tuple[bool, ...]:
        """One bool per layer 1..L: whether its pre-activation is normalised (the hidden
        layers when ``norm`` is set; never the output layer)."""
        L = self.num_layers
        return tuple(self.norm is not None and l < L for l in range(1, L + 1))

    @property
    def skips(self) -> tuple[bool, ...]:
        """One bool per layer 1..L: whether A^l = g(Z̃^l) + Ã^{l−1} (``residual``, l a hidden
        layer ≥ 2, n_l = n_{l−1})."""
        return tuple(self.residual and _can_skip(self.sizes, l)
                     for l in range(1, self.num_layers + 1))

    def layer_types(self) -> tuple[type, ...]:
        """The parameter NamedTuple of each layer 1..L (:data:`NORMS`)."""
        return tuple(NORMS[self.norm] if n else Layer for n in self.normalized)

    def param_shapes(self) -> tuple[tuple[tuple[str, tuple[int, ...]], ...], ...]:
        """Per layer, ``((field, shape), …)`` of its NamedTuple: ``W: (n_l, n_{l−1})``,
        every other field ``(n_l,)``."""
        return tuple(
            tuple((f, (n, n_prev) if f == "W" else (n,)) for f in kind._fields)
            for kind, n_prev, n in zip(self.layer_types(), self.sizes[:-1], self.sizes[1:]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; ``Network.from_dict(net.to_dict()) == net``. A user
        component is recorded as ``{"name": …, "import": "module:attribute" or None}``."""
        d = {field.name: _jsonable(getattr(self, field.name))
             for field in dataclasses.fields(self)}
        d["activations"] = [activations.describe(a) for a in self.activations]
        d["cost"] = costs.describe(self.cost)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        """The inverse of :meth:`to_dict`; ValueError naming missing or extra keys."""
        if not isinstance(d, dict):
            raise TypeError(f"a network description is a dict; got {type(d).__name__}.")
        expected = {field.name for field in dataclasses.fields(cls)}
        # Records written before dropout, normalisation and skips had those fields.
        d = {"dropout": 0.0, "norm": None, "residual": False, **d}
        if set(d) != expected:
            raise ValueError(
                f"a network description has the keys {sorted(expected)}; got {sorted(d)}."
            )
        if isinstance(d["activations"], (list, tuple)):  # user components' records
            d = {**d, "activations": [activations.resolve(a) for a in d["activations"]]}
        d = {**d, "cost": costs.resolve(d["cost"])}
        return cls(**d)  # each field checked


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def mlp(
    sizes,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
    cost: str = "quadratic",
    l2: float = 0.0,
    dropout: float = 0.0,
    norm: str | None = None,
    residual: bool = False,
) -> Network:
    """A :class:`Network` with one ``hidden`` activation on layers 1..L−1 and ``output``
    on layer L (names, or user components from ``jaxnn.activations.custom`` /
    ``jaxnn.costs.custom``). ``jaxnn.mlp((784, 30, 10))`` is Nielsen's network;
    ``jaxnn.mlp((64,) + (32,) * 10 + (10,), norm="layer", residual=True)`` a deep one with
    layer norm and skip connections (see :class:`Network` for ``norm`` and ``residual``)."""
    sizes = check_sizes(sizes)
    activations.get(hidden)  # a typo is an error even when there is no hidden layer
    return Network(sizes, (hidden,) * (len(sizes) - 2) + (output,), cost, l2, dropout,
                   norm, residual)


def num_params(net: Network) -> int:
    """The number of scalars in the parameters: Σ_l (n_l n_{l−1} + n_l), plus 2 n_l (γ, β)
    per layer-normalised and 4 n_l (γ, β, mean, var) per batch-normalised hidden layer."""
    check_net(net)
    return sum(math.prod(shape) for layer in net.param_shapes() for _, shape in layer)


# ---------------------------------------------------------------------------------------
# Checks of the architecture's fields.


def check_net(net) -> Network:
    """``net`` when it is a :class:`Network` (not its sizes, not a dict); TypeError else."""
    if not isinstance(net, Network):
        raise TypeError(
            f"net must be a jaxnn.Network; got {type(net).__name__} {_checks.short(net)}. "
            "Fix: net = jaxnn.mlp((784, 30, 10), ...) or jaxnn.Network(sizes, activations, "
            "cost)."
        )
    return net


def check_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple of ≥ 2 positive ints, each at most :data:`MAX_WIDTH`."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(
            f"sizes must be a sequence of layer widths such as (784, 30, 10); got {sizes!r}."
        )
    if isinstance(sizes, (Set, Mapping)):
        raise TypeError(
            f"sizes must be an ordered sequence of layer widths such as (784, 30, 10); got a "
            f"{type(sizes).__name__}, whose order is not the layers' order. Fix: a tuple."
        )
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs at least two entries (input width n_0 and output width n_L); got "
            f"{sizes!r}. Fix: e.g. sizes=(2, 1) for one layer."
        )
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(
                f"sizes[{i}] must be a positive int; got {n!r} of type {type(n).__name__} in "
                f"{sizes!r}."
            )
        if n <= 0:
            raise ValueError(
                f"every size must be a positive int; got sizes[{i}] = {n} in {sizes!r}. "
                "Fix: remove or widen that layer."
            )
        if n > MAX_WIDTH:
            raise ValueError(
                f"sizes[{i}] = {n} is too large: a layer has at most 2^31 − 1 units. Fix: "
                "check the sizes (a typo?)."
            )
    return tuple(int(n) for n in sizes)


def _can_skip(sizes: tuple[int, ...], l: int) -> bool:
    """Whether layer l can carry a skip: a hidden layer ≥ 2 as wide as layer l − 1."""
    return 2 <= l < len(sizes) - 1 and sizes[l] == sizes[l - 1]


def _check_norm(norm, sizes: tuple[int, ...]) -> str | None:
    """``None``, ``"layer"`` or ``"batch"`` (:data:`NORMS`); at least one hidden layer."""
    names = [n for n in NORMS if n is not None]
    if norm is not None and not isinstance(norm, str):
        raise _checks.type_error("norm", f"None or one of {', '.join(map(repr, names))}", norm,
                                 "norm='layer', norm='batch', or norm=None for none")
    if norm not in NORMS:
        raise _checks.value_error("norm", f"None or one of {', '.join(map(repr, names))}",
                                  repr(norm), "norm='layer' or norm='batch'")
    if norm is not None and len(sizes) < 3:
        raise _checks.value_error(
            f"norm={norm!r}", "used on a network with a hidden layer",
            f"sizes {sizes} (no hidden layer; the output layer is never normalised)",
            "add a hidden layer, e.g. sizes=(n_0, 32, n_L), or norm=None")
    return norm


def _check_residual(residual, sizes: tuple[int, ...]) -> bool:
    """A bool; True needs a hidden layer l ≥ 2 with n_l = n_{l−1} (where a skip goes)."""
    if not isinstance(residual, bool):
        raise _checks.type_error("residual", "True or False", residual,
                                 "residual=True for skip connections")
    if residual and not any(_can_skip(sizes, l) for l in range(1, len(sizes))):
        raise _checks.value_error(
            "residual=True", "used on a network with two consecutive hidden layers of equal "
            "width (a skip A^l = g(Z̃^l) + A^{l−1} needs n_l = n_{l−1})", f"sizes {sizes}",
            "e.g. sizes=(n_0, 32, 32, n_L), or residual=False")
    return residual


def _check_activation_names(acts, num_layers: int) -> tuple[str | activations.Activation, ...]:
    """One activation per layer 1..L, a registered name or a user activation object (as
    :func:`jaxnn.activations.canonical` stores it); output-only ones on layer L only."""
    if isinstance(acts, (str, activations.Activation)) or not hasattr(acts, "__iter__"):
        raise TypeError(
            f"activations must be a sequence of {num_layers} names, one per layer; got "
            f"{acts!r}. Fix: e.g. activations=('tanh',) * {num_layers - 1} + ('softmax',), "
            "or use jaxnn.mlp(sizes, hidden=..., output=...)."
        )
    acts = tuple(acts)
    if len(acts) != num_layers:
        raise ValueError(
            f"expected {num_layers} activation names (one per layer 1..L, L = len(sizes) − 1); "
            f"got {len(acts)}: {acts!r}."
        )
    acts = tuple(activations.canonical(a) for a in acts)
    for l, act in enumerate(acts, start=1):
        if not activations.get(act).hidden and l < num_layers:
            raise ValueError(
                f"{activations.name_of(act)} is an output activation; layer {l} of "
                f"{num_layers} is hidden. "
                f"Fix: use one of {', '.join(activations.hidden_names())} on hidden layers."
            )
    return acts


def _check_output_cost_pair(output, cost) -> None:
    """The output activation must provide what the cost is computed from."""
    if not costs.accepts(cost, output):
        valid = costs.valid_outputs(cost)
        raise ValueError(
            f"the cost {costs.name_of(cost)!r} needs an output activation among "
            f"{', '.join(valid)}; got {activations.name_of(output)!r}. Fix: change the "
            "output activation, or use cost='quadratic'."
        )

