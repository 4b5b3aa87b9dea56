"""Parameter initialisation schemes: ``init_params(key, net, scheme, **options)``.

=============== =================================== ==================================
scheme          W^l ~                               b^l
=============== =================================== ==================================
lecun_normal    N(0, σ²), σ = √(1 / n_in)           0
he_normal       N(0, σ²), σ = √(2 / n_in)           0
glorot_normal   N(0, σ²), σ = √(2 / (n_in + n_out)) 0
uniform         U[−ε, ε] (option ``epsilon``)       0
normal          N(0, 1)                             N(0, 1) (Nielsen's network.py)
zeros           0                                   0
=============== =================================== ==================================

with n_in = n_{l−1} and n_out = n_l. References: LeCun et al. 1998 "Efficient BackProp";
He et al. 2015 arXiv:1502.01852; Glorot & Bengio 2010 (AISTATS).

The neural-network notes muddle the names ("Xavier: √(1/n)", "Her: √(2/(n^L +
n^{L−1}))"); this module uses the standard ones: √(1/n_in) is LeCun, √(2/n_in) is He,
√(2/(n_in + n_out)) is Glorot (Xavier). ``zeros`` exists for the symmetry experiment:
every unit of a layer then computes, and learns, the same thing (the notes' point about
random initialisation breaking symmetry).

:data:`INITIALIZERS` is the registry (the single source of scheme names; :data:`SCHEMES`
lists them): a scheme is a function ``(key, n_in, n_out, dtype, **options) -> Layer``
and the options it takes with their defaults. A new scheme is one entry here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, inputs, memory
from jaxnn.architecture import BatchNormLayer, Layer, NormLayer, check_net


class Scheme(NamedTuple):
    """An initialisation scheme: ``layer(key, n_in, n_out, dtype, **options) -> Layer``
    with ``W: (n_out, n_in)``, ``b: (n_out,)``, and its options with their defaults.
    The layer splits its key into (weights, biases) keys."""

    layer: Callable[..., Layer]
    options: dict[str, float]


def _scaled_normal(std: Callable[[int, int], float]) -> Callable[..., Layer]:
    """W ~ N(0, std(n_in, n_out)²), b = 0."""
    def layer(key, n_in, n_out, dtype):
        kw, _ = jax.random.split(key)
        # The barrier keeps XLA from folding std into normal's own constant factor: the
        # same bits as an eager multiply (init_params compiles the layers together).
        W = std(n_in, n_out) * jax.lax.optimization_barrier(
            jax.random.normal(kw, (n_out, n_in), dtype))
        return Layer(W, jnp.zeros((n_out,), dtype))
    return layer


def _uniform(key, n_in, n_out, dtype, epsilon):
    """W ~ U[−ε, ε], b = 0."""
    kw, _ = jax.random.split(key)
    W = jax.random.uniform(kw, (n_out, n_in), dtype, minval=-epsilon, maxval=epsilon)
    return Layer(W, jnp.zeros((n_out,), dtype))


def _normal(key, n_in, n_out, dtype):
    """W ~ N(0, 1), b ~ N(0, 1) (Nielsen's network.py)."""
    kw, kb = jax.random.split(key)
    W = 1.0 * jax.random.normal(kw, (n_out, n_in), dtype)
    return Layer(W, jax.random.normal(kb, (n_out,), dtype))


def _zeros(key, n_in, n_out, dtype):
    """W = 0, b = 0."""
    del key
    return Layer(jnp.zeros((n_out, n_in), dtype), jnp.zeros((n_out,), dtype))


INITIALIZERS: dict[str, Scheme] = {
    "lecun_normal": Scheme(_scaled_normal(lambda n_in, n_out: math.sqrt(1.0 / n_in)), {}),
    "he_normal": Scheme(_scaled_normal(lambda n_in, n_out: math.sqrt(2.0 / n_in)), {}),
    "glorot_normal": Scheme(
        _scaled_normal(lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out))), {}),
    "uniform": Scheme(_uniform, {"epsilon": 0.12}),
    "normal": Scheme(_normal, {}),
    "zeros": Scheme(_zeros, {}),
}

SCHEMES: tuple[str, ...] = tuple(INITIALIZERS)


def _check_dtype(dtype) -> jnp.dtype:
    """A floating dtype that JAX will really use (float64 only with x64 on)."""
    if dtype is None:
        raise TypeError("dtype must be a floating dtype such as jnp.float32; got None.")
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(
            f"dtype must be a floating dtype such as jnp.float32; got {dtype!r} ({e})."
        ) from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be floating point; got {dtype}. Fix: dtype=jnp.float32.")
    inputs.check_param_dtype("dtype", dtype, "dtype=jnp.float32")
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"dtype {dtype} needs JAX's 64-bit mode, which is off: the parameters would "
            f"silently be {jax.dtypes.canonicalize_dtype(dtype)}. Fix: call init_params inside "
            "`with jax.enable_x64(True):` (or jax.config.update('jax_enable_x64', True)), or "
            "pass dtype=jnp.float32."
        )
    return dtype


def _check_options(scheme: str, options: dict) -> dict[str, float]:
    """The scheme's options with defaults filled in; unknown ones are a TypeError."""
    allowed = INITIALIZERS[scheme].options
    unknown = set(options) - set(allowed)
    if unknown:
        takes = ", ".join(allowed) if allowed else "no options"
        raise TypeError(
            f"init scheme {scheme!r} takes {takes}; got unexpected option(s) "
            f"{', '.join(sorted(unknown))}."
        )
    return {name: _checks.real(f"the {scheme} scheme's {name}", value, minimum=0.0,
                               strict=True, fix=f"e.g. {name}={allowed[name]}")
            for name, value in {**allowed, **options}.items()}


def init_params(key, net, scheme: str = "lecun_normal", dtype=jnp.float32, *,
                memory_limit=None, **options):
    """Random parameters for ``net``: a tuple of ``Layer(W, b)``.

    Args:
      key: a ``jax.random`` key (the only source of randomness).
      net: the architecture; ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``.
      scheme: one of :data:`SCHEMES` (see the module table).
      dtype: a floating dtype for every parameter.
      memory_limit: the most bytes the parameters may take (:mod:`jaxnn.memory`; default
        ``JAXNN_MEMORY_LIMIT``, else 80% of the device's memory). Larger ones are refused
        before anything is allocated (an allocation XLA cannot make aborts the process).
      **options: the scheme's options: ``epsilon`` (> 0) for ``uniform``. Unknown options
        are an error (no silent typos).
    Returns:
      ``(Layer(W^1, b^1), …, Layer(W^L, b^L))``; under ``net.norm`` each hidden layer is a
      ``NormLayer(W, b, gamma=1, beta=0)`` (layer norm) or ``BatchNormLayer(W, b, gamma=1,
      beta=0, mean=0, var=1)`` (batch norm), so Z̃ = Ẑ at the start. The scheme draws W and
      b alike with or without norm.
    Raises:
      TypeError: a dtype other than float16, bfloat16, float32 or float64.
      ValueError: float64 without JAX's 64-bit mode; parameters over the memory limit.
    """
    check_net(net)
    _checks.lookup("init scheme", scheme, INITIALIZERS)
    opts = _check_options(scheme, options)
    dtype = _check_dtype(dtype)
    key = inputs.check_key(key)
    memory.check_params(net.sizes, memory.num_params(net), dtype, memory_limit)
    shapes = tuple(w_shape for w_shape, _ in net.shapes())
    layers = _sample(key, shapes, scheme, dtype, tuple(sorted(opts.items())))
    return tuple(_normalised(kind, layer) for kind, layer in zip(net.layer_types(), layers))


def _normalised(kind: type, layer: Layer):
    """``layer`` as a ``kind``: γ = 1, β = 0 (and population mean 0, variance 1)."""
    if kind is Layer:
        return layer
    ones, zeros = jnp.ones_like(layer.b), jnp.zeros_like(layer.b)
    if kind is NormLayer:
        return NormLayer(layer.W, layer.b, ones, zeros)
    return BatchNormLayer(layer.W, layer.b, ones, zeros, zeros, ones)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _sample(key, shapes: tuple, scheme: str, dtype, options: tuple):
    """Every layer's parameters, drawn in ONE compiled program per set of weight shapes
    ``(n_l, n_{l−1})``, scheme, dtype and options (networks of the same widths share it):
    eagerly, each ``jax.random`` operation would compile on its own first use. The same
    operations as eager ones, so the same bits."""
    keys = jax.random.split(key, len(shapes))
    return tuple(INITIALIZERS[scheme].layer(k, n_in, n_out, dtype, **dict(options))
                 for k, (n_out, n_in) in zip(keys, shapes))
