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

with n_in = n_{l−1} and n_out = n_l. Every entry comes from ONE call of the scheme's sampler
with ``key``: the entries of W^1 … W^L (row-major), then Nielsen's b^1 … b^L, end to end in
that order (since jaxnn 0.4; before, each layer drew from its own split key).

References: LeCun et al. 1998 "Efficient BackProp"; He et al. 2015 arXiv:1502.01852; Glorot &
Bengio 2010 (AISTATS).

The neural-network notes muddle the names ("Xavier: √(1/n)", "Her: √(2/(n^L +
n^{L−1}))"); this module uses the standard ones: √(1/n_in) is LeCun, √(2/n_in) is He,
√(2/(n_in + n_out)) is Glorot (Xavier). ``zeros`` exists for the symmetry experiment:
every unit of a layer then computes, and learns, the same thing (the notes' point about
random initialisation breaking symmetry).

:data:`INITIALIZERS` is the registry (the single source of scheme names; :data:`SCHEMES`
lists them): a :class:`Scheme` is W's sampler, its scaling, whether b is random, and the
options it takes with their defaults. A new scheme is one entry here.
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
    """An initialisation scheme: ``draw(key, (N,), dtype, **options)`` samples N entries and
    ``finish(entries.reshape(n_out, n_in), n_in, n_out)`` scales one layer's share into W^l;
    b^l is drawn too (unscaled) when ``random_bias``, else 0. :func:`init_params` draws every
    layer's entries in ONE call of ``draw``, W^1 … W^L then (``random_bias``) b^1 … b^L, end
    to end in that order, and cuts the flat vector: one compiled sampler, whatever the depth.
    ``draw`` must take a flat shape, as ``jax.random``'s samplers do."""

    draw: Callable[..., jax.Array]
    finish: Callable[[jax.Array, int, int], jax.Array]
    random_bias: bool
    options: dict[str, float]
    doc: str


def _scaled(std: Callable[[int, int], float]) -> Callable[..., jax.Array]:
    """``std(n_in, n_out) · W``. The barrier keeps XLA from folding std into normal's own
    constant factor: the same bits as an eager multiply."""
    return lambda W, n_in, n_out: std(n_in, n_out) * jax.lax.optimization_barrier(W)


def _normal(key, shape, dtype):
    return jax.random.normal(key, shape, dtype)


def _uniform(key, shape, dtype, epsilon):
    return jax.random.uniform(key, shape, dtype, minval=-epsilon, maxval=epsilon)


def _zeros(key, shape, dtype):
    del key
    return jnp.zeros(shape, dtype)


def _as_drawn(W, n_in, n_out):
    return W


INITIALIZERS: dict[str, Scheme] = {
    "lecun_normal": Scheme(_normal, _scaled(lambda n_in, n_out: math.sqrt(1.0 / n_in)), False,
                           {}, "W ~ N(0, σ²), σ = √(1 / n_in); b = 0."),
    "he_normal": Scheme(_normal, _scaled(lambda n_in, n_out: math.sqrt(2.0 / n_in)), False, {},
                        "W ~ N(0, σ²), σ = √(2 / n_in); b = 0."),
    "glorot_normal": Scheme(
        _normal, _scaled(lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out))), False, {},
        "W ~ N(0, σ²), σ = √(2 / (n_in + n_out)); b = 0."),
    "uniform": Scheme(_uniform, _as_drawn, False, {"epsilon": 0.12}, "W ~ U[−ε, ε], b = 0."),
    "normal": Scheme(_normal, lambda W, n_in, n_out: 1.0 * W, True, {},
                     "W ~ N(0, 1), b ~ N(0, 1) (Nielsen's network.py)."),
    "zeros": Scheme(_zeros, _as_drawn, False, {}, "W = 0, b = 0."),
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
      b alike with or without norm: one draw for every layer, cut in layer order (module
      docstring).
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
    """Every layer's parameters from ONE draw of the scheme's sampler (:class:`Scheme`): the
    weights of W^1 … W^L (then Nielsen's b^1 … b^L) end to end, cut in layer order. One
    compiled program per set of weight shapes ``(n_l, n_{l−1})``, scheme, dtype and options
    (networks of the same widths share it), with one sampler in it: drawing per layer from
    split keys compiled a sampler per layer, or per group of similar sizes (a 64-64-10
    network: 39 XLA kernels and 0.34–0.43 s of compile, against 15 and 0.18–0.22 s here;
    784-100-100-100-100-10: 0.57 s against 0.30 s)."""
    s = INITIALIZERS[scheme]
    sizes = [n_out * n_in for n_out, n_in in shapes]
    biases = [n_out for n_out, _ in shapes] if s.random_bias else []
    flat = s.draw(key, (sum(sizes) + sum(biases),), dtype, **dict(options))
    ends = np.cumsum([0, *sizes, *biases])
    W = [s.finish(flat[ends[l]:ends[l + 1]].reshape(n_out, n_in), n_in, n_out)
         for l, (n_out, n_in) in enumerate(shapes)]
    if s.random_bias:
        L = len(shapes)
        b = [flat[ends[L + l]:ends[L + l + 1]] for l in range(L)]
    else:
        b = [jnp.zeros((n_out,), dtype) for n_out, _ in shapes]
    return tuple(Layer(w, bias) for w, bias in zip(W, b))
