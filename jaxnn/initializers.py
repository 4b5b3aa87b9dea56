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
    """An initialisation scheme: W^l is ``finish(draw(key_W, (n_out, n_in), dtype,
    **options), n_in, n_out)`` and b^l is N(0, 1) from ``key_b`` when ``random_bias``, else
    0, where ``key_W, key_b = split(key)`` (:meth:`layer` is that, for one layer).

    ``draw`` must be a ``jax.random`` sampler that draws each entry from (key, its flat
    index) alone, as threefry's samplers do (``jax_threefry_partitionable``, JAX's
    default): :func:`init_params` then draws every layer's W in one padded call and cuts
    it, with the same bits as one call per layer and one compiled sampler instead of L."""

    draw: Callable[..., jax.Array]
    finish: Callable[[jax.Array, int, int], jax.Array]
    random_bias: bool
    options: dict[str, float]
    doc: str

    def layer(self, key, n_in, n_out, dtype, **options) -> Layer:
        """One layer's ``Layer(W: (n_out, n_in), b: (n_out,))`` drawn with ``key``."""
        kw, kb = jax.random.split(key)
        W = self.finish(self.draw(kw, (n_out, n_in), dtype, **options), n_in, n_out)
        b = (jax.random.normal(kb, (n_out,), dtype) if self.random_bias
             else jnp.zeros((n_out,), dtype))
        return Layer(W, b)


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
    layers = _sample(key, shapes, scheme, dtype, tuple(sorted(opts.items())),
                     _draws_by_index(key))
    return tuple(_normalised(kind, layer) for kind, layer in zip(net.layer_types(), layers))


def _normalised(kind: type, layer: Layer):
    """``layer`` as a ``kind``: γ = 1, β = 0 (and population mean 0, variance 1)."""
    if kind is Layer:
        return layer
    ones, zeros = jnp.ones_like(layer.b), jnp.zeros_like(layer.b)
    if kind is NormLayer:
        return NormLayer(layer.W, layer.b, ones, zeros)
    return BatchNormLayer(layer.W, layer.b, ones, zeros, zeros, ones)


def _draws_by_index(key) -> bool:
    """Whether ``key``'s samplers draw each entry from (key, flat index) alone: threefry
    keys with ``jax_threefry_partitionable`` on (JAX's default)."""
    if hasattr(key, "dtype") and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        impl = str(jax.random.key_impl(key))
    else:  # a raw uint32[2] key: the default implementation's
        impl = str(jax.config.jax_default_prng_impl)
    return impl == "threefry2x32" and bool(jax.config.jax_threefry_partitionable)


def _padded_groups(sizes: list[int]) -> list[list[int]]:
    """The layers (indices) drawn together: sorted by size, a group takes layers down to
    half its largest, so padding every draw to the largest at most doubles the draws."""
    order = sorted(range(len(sizes)), key=lambda l: -sizes[l])
    groups: list[list[int]] = []
    for l in order:
        if groups and 2 * sizes[l] >= sizes[groups[-1][0]]:
            groups[-1].append(l)
        else:
            groups.append([l])
    return groups


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _sample(key, shapes: tuple, scheme: str, dtype, options: tuple, by_index: bool):
    """Every layer's parameters, drawn in ONE compiled program per set of weight shapes
    ``(n_l, n_{l−1})``, scheme, dtype and options (networks of the same widths share it):
    eagerly, each ``jax.random`` operation would compile on its own first use. The bits
    are those of :meth:`Scheme.layer` called eagerly on ``split(key, L)``.

    ``by_index`` (:func:`_draws_by_index`): the layers' keys are split in one vmapped call
    and W (and Nielsen's b) drawn in one padded, vmapped call per group of similar sizes,
    then cut: XLA compiles a sampler once per group instead of once per layer (a 64-64-10
    network: 0.42 s of compile instead of 0.69 s; 784-100-100-100-100-10: 0.67 s instead
    of 1.29 s)."""
    s = INITIALIZERS[scheme]
    opts = dict(options)
    keys = jax.random.split(key, len(shapes))
    if not by_index:
        return tuple(s.layer(k, n_in, n_out, dtype, **opts)
                     for k, (n_out, n_in) in zip(keys, shapes))
    pairs = jax.vmap(jax.random.split)(keys)  # (L, 2): each layer's (key_W, key_b)
    W = [None] * len(shapes)
    sizes = [n_out * n_in for n_out, n_in in shapes]
    for group in _padded_groups(sizes):
        most = max(sizes[l] for l in group)
        flat = jax.vmap(lambda k, most=most: s.draw(k, (most,), dtype, **opts))(
            pairs[jnp.array(group), 0])
        for row, l in enumerate(group):
            n_out, n_in = shapes[l]
            W[l] = s.finish(flat[row, :sizes[l]].reshape(n_out, n_in), n_in, n_out)
    if s.random_bias:
        most = max(n_out for n_out, _ in shapes)
        flat = jax.vmap(lambda k: jax.random.normal(k, (most,), dtype))(pairs[:, 1])
        b = [flat[l, :n_out] for l, (n_out, _) in enumerate(shapes)]
    else:
        b = [jnp.zeros((n_out,), dtype) for n_out, _ in shapes]
    return tuple(Layer(w, bias) for w, bias in zip(W, b))
