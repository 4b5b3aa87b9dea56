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

Seed 004 muddles the names ("Xavier: √(1/n)", "Her: √(2/(n^L + n^{L−1}))"); this module
uses the standard ones: √(1/n_in) is LeCun, √(2/n_in) is He, √(2/(n_in + n_out)) is Glorot
(Xavier). ``zeros`` exists for the symmetry experiment: every unit of a layer then
computes, and learns, the same thing (seed 004).
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from jaxnn import validation as _v
from jaxnn.network import Layer, Network

SCHEMES: tuple[str, ...] = (
    "lecun_normal",
    "he_normal",
    "glorot_normal",
    "uniform",
    "normal",
    "zeros",
)

# The options each scheme takes, with their defaults.
_OPTIONS: dict[str, dict[str, float]] = {
    "lecun_normal": {},
    "he_normal": {},
    "glorot_normal": {},
    "uniform": {"epsilon": 0.12},
    "normal": {},
    "zeros": {},
}


def _std(scheme: str, n_in: int, n_out: int) -> float:
    """σ of the normal schemes."""
    if scheme == "lecun_normal":
        return math.sqrt(1.0 / n_in)
    if scheme == "he_normal":
        return math.sqrt(2.0 / n_in)
    if scheme == "glorot_normal":
        return math.sqrt(2.0 / (n_in + n_out))
    return 1.0  # "normal"


def _check_dtype(dtype) -> jnp.dtype:
    """A floating dtype that JAX will really use (float64 only with x64 on)."""
    if dtype is None:
        raise TypeError("dtype must be a floating dtype such as jnp.float32; got None.")
    try:
        dtype = jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(
            f"dtype must be a floating dtype such as jnp.float32; got {dtype!r} ({e})."
        ) from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be floating point; got {dtype}. Fix: dtype=jnp.float32.")
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"dtype {dtype} needs JAX's 64-bit mode, which is off: the parameters would "
            f"silently be {jax.dtypes.canonicalize_dtype(dtype)}. Fix: call init_params inside "
            "`with jax.enable_x64(True):` (or jax.config.update('jax_enable_x64', True)), or "
            "pass dtype=jnp.float32."
        )
    return dtype


def init_params(key, net: Network, scheme: str = "lecun_normal", dtype=jnp.float32, **options):
    """Random parameters for ``net``: a tuple of ``Layer(W, b)``.

    Args:
      key: a ``jax.random`` key (the only source of randomness).
      net: the architecture; ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``.
      scheme: one of :data:`SCHEMES` (see the module table).
      dtype: a floating dtype for every parameter.
      **options: the scheme's options: ``epsilon`` (> 0) for ``uniform``. Unknown options
        are an error (no silent typos).
    Returns:
      ``(Layer(W^1, b^1), …, Layer(W^L, b^L))``.
    """
    if not isinstance(net, Network):
        raise TypeError(
            f"init_params needs a jaxnn.Network; got {type(net).__name__}. Fix: "
            "net = jaxnn.mlp((784, 30, 10))."
        )
    if scheme not in SCHEMES:
        raise ValueError(
            f"unknown init scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}."
        )
    allowed = _OPTIONS[scheme]
    unknown = set(options) - set(allowed)
    if unknown:
        takes = ", ".join(allowed) if allowed else "no options"
        raise TypeError(
            f"init scheme {scheme!r} takes {takes}; got unexpected option(s) "
            f"{', '.join(sorted(unknown))}."
        )
    opts = {**allowed, **options}
    if scheme == "uniform":
        eps = opts["epsilon"]
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(
                f"the uniform scheme's epsilon must be a real number; got {eps!r}. "
                "Fix: e.g. epsilon=0.12."
            )
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(
                f"the uniform scheme's epsilon must be a finite number > 0; got {eps!r}. "
                "Fix: e.g. epsilon=0.12."
            )
        opts["epsilon"] = float(eps)
    dtype = _check_dtype(dtype)
    key = _v.check_key(key)

    params = []
    keys = jax.random.split(key, net.num_layers)
    for k, ((n_out, n_in), _) in zip(keys, net.shapes()):
        kw, kb = jax.random.split(k)
        if scheme == "zeros":
            W = jnp.zeros((n_out, n_in), dtype)
            b = jnp.zeros((n_out,), dtype)
        elif scheme == "uniform":
            eps = opts["epsilon"]
            W = jax.random.uniform(kw, (n_out, n_in), dtype, minval=-eps, maxval=eps)
            b = jnp.zeros((n_out,), dtype)
        else:
            W = _std(scheme, n_in, n_out) * jax.random.normal(kw, (n_out, n_in), dtype)
            if scheme == "normal":
                b = jax.random.normal(kb, (n_out,), dtype)
            else:
                b = jnp.zeros((n_out,), dtype)
        params.append(Layer(W, b))
    return tuple(params)
