"""The arguments of an optimizer factory, checked when it is called, before any tracing.

- :func:`check_learning_rate`: a float > 0, or a schedule ``count -> rate``;
- :func:`check_beta`: β in [0, 1); :func:`check_nonnegative`: ε, λ ≥ 0; :func:`check_mask`;
- :func:`hyperparameters`: the decorator of every factory; a keyword the factory does not
  take is a TypeError listing those it takes (read from its signature) and suggesting the
  closest (``adam(1e-3, b1=0.9)``: did you mean beta1?).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import numbers
from collections.abc import Callable

import jax
import numpy as np

from jaxnn import _checks, recipes
from jaxnn.optimizers.base import Schedule


def check_learning_rate(learning_rate) -> Schedule:
    """The learning rate as a schedule ``count -> rate``; a number must be finite and > 0,
    and one JAX can hold: at most float32's largest value (3.4e38) with JAX's 64-bit mode
    off, where every rate is float32 (``adam(1e308)`` would be an Inf rate, and NaN
    parameters after the first step). With it on, the rate is in the parameters' widest
    dtype, known only at ``init``: ``fit`` checks it there."""
    if callable(learning_rate):
        return learning_rate
    if _checks.traced(learning_rate):  # one run's rate in a sweep, checked before tracing
        return lambda count: learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise _checks.type_error(
            "learning_rate", "a positive float or a schedule (a callable count -> rate)",
            learning_rate, "pass e.g. learning_rate=1e-3 or "
            "learning_rate=jaxnn.schedules.constant(1e-3)")
    rate = _checks.real("learning_rate", learning_rate, minimum=0.0, strict=True,
                        fix="pass e.g. learning_rate=1e-3")
    widest = jax.dtypes.canonicalize_dtype(np.float64)  # float32 without 64-bit mode
    largest = float(np.finfo(widest).max)
    if rate > largest:
        mode = "" if widest == np.float64 else ": JAX's 64-bit mode is off"
        raise _checks.value_error(
            "learning_rate", f"finite and > 0 in {widest.name}, the dtype of the optimizer's "
            f"rate (at most {largest:.6g}{mode})", repr(rate),
            "pass a usable rate, e.g. learning_rate=1e-3 (rates above 10 usually diverge)")
    return lambda count: rate


def check_beta(name: str, beta) -> float:
    """β in [0, 1): the weight of the past in an exponentially weighted average."""
    return _checks.real(name, beta, minimum=0.0, below=1.0,
                        fix=f"pass e.g. {name}=0.9 (the weight of the past in an "
                        "exponentially weighted average; 1 would never forget)")


def check_nonnegative(name: str, value, example: str) -> float:
    """A finite float ≥ 0 (ε, a weight decay λ)."""
    return _checks.real(name, value, minimum=0.0, fix=f"pass e.g. {name}={example}")


def hyperparameters(factory: Callable) -> Callable:
    """Decorate an optimizer factory: an unknown keyword argument is a TypeError that lists
    the factory's parameters, read from its signature, and suggests the closest one
    (``adam(1e-3, b1=0.9)``: did you mean beta1?). The optimizer it returns carries its
    recipe (:func:`jaxnn.recipes.recorded`): its kind and its float hyper-parameters, which
    a compiled training program takes as inputs."""
    names = list(inspect.signature(factory).parameters)

    @functools.wraps(factory)
    def checked(*args, **kwargs):
        for key, value in kwargs.items():
            if key not in names:
                raise _unknown_keyword(factory.__name__, key, value, names)
        return factory(*args, **kwargs)

    return recipes.recorded("params")(checked)


def _unknown_keyword(factory: str, key: str, value, names: list[str]) -> TypeError:
    close = [n for n in names if _abbreviates(key, n)]
    close = close or difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        fix = (f"did you mean {' or '.join(close)}? e.g. "
               f"{factory}(…, {close[0]}={_checks.short(value, 30)})")
    else:
        fix = f"{factory}() has no such hyper-parameter; see help(jaxnn.optimizers.{factory})"
    return TypeError(_checks.message(f"each keyword argument of {factory}()",
                                     f"one of {', '.join(names)}", repr(key), fix))


def _abbreviates(key: str, name: str) -> bool:
    """``key`` is an abbreviation of ``name``: same first letter, its letters in order in
    ``name``, and the same trailing digit (b1 → beta1, lr → learning_rate, es → eps)."""
    letters = iter(name)
    return (key[:1] == name[:1] and all(c in letters for c in key)
            and (not key[-1].isdigit() or key[-1] == name[-1]))


def check_mask(mask) -> Callable:
    """adamw's ``mask``: None (every parameter decays) or a function ``params -> pytree of
    bools`` like params. Returns ``decays(params)``, the flags, whose structure it checks."""
    if mask is not None and not callable(mask):
        raise _checks.type_error("mask", "None or a function params -> pytree of bools", mask,
                                 "pass e.g. mask=lambda ps: tuple(Layer(W=True, b=False) "
                                 "for _ in ps)")

    def decays(params):
        flags = jax.tree.map(lambda _: True, params) if mask is None else mask(params)
        if jax.tree.structure(flags) != jax.tree.structure(params):
            raise _checks.value_error(
                "mask(params)", f"a pytree of bools like params, {jax.tree.structure(params)}",
                str(jax.tree.structure(flags)), "return one bool per parameter array")
        return flags

    return decays
