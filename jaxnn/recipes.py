"""What built an optimizer or a schedule: a static *kind* and numeric *values*.

A compiled training program depends on what kind of optimizer it runs (Adam, SGD with a
cosine schedule, a mask for AdamW's decay), not on its numbers. Each factory of
:mod:`jaxnn.optimizers` and :mod:`jaxnn.schedules` records its arguments on what it returns
(:func:`recorded`); :func:`split` then separates them, as ``optax.inject_hyperparams`` and
Equinox's ``filter_jit`` do:

- the :class:`Kind`: the factory and every argument that shapes the program (bools, ints,
  strings, functions such as a mask, the kinds of nested schedules and inner optimizers).
  It is hashable: the key of the compiled program;
- the values: every float argument (learning rate, β, ε, weight decay, a schedule's rates),
  a dict that becomes arrays, the program's inputs.

:func:`build` makes the optimizer again from a kind and (traced) values inside the
compiled program; the factories pass traced values through their checks (they were
checked, as Python numbers, when the user built the optimizer). So ``adam(1e-3)`` and
``adam(3e-4)`` run one compiled program::

    kind, values = split(adam(1e-3))          # Kind(adam, …), {"learning_rate": 0.001, …}
    opt = build(kind, as_arrays(kind, values, jnp.float32))   # inside jit: traced values

An optimizer without a record (a user's ``Optimizer(init, update)``, an optax adapter), or
with an argument that cannot be hashed, has no kind: :func:`split` returns ``(None, {})``
and the program is keyed by the object itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

ATTRIBUTE = "recipe"  # the attribute a factory's result carries its record in

# Where a kind's float values are computed: "params", the optimizer's rate dtype (the
# widest compute dtype of the parameters: a Python float in ``beta * v`` is rounded to
# it); "default", JAX's default float (float64 under x64), as a schedule's Python floats.
FLOATS = ("params", "default")


class Recipe(NamedTuple):
    """A factory and the arguments it was called with (by name, defaults filled in)."""

    factory: Callable
    arguments: tuple[tuple[str, Any], ...]
    floats: str


class Kind(NamedTuple):
    """The static part of a recipe (hashable): the factory, the arguments that shape the
    program, the names of the float arguments (inputs), and nested kinds."""

    factory: Callable
    static: tuple[tuple[str, Any], ...]
    numeric: tuple[str, ...]
    nested: tuple[tuple[str, Kind], ...]
    floats: str

    @property
    def name(self) -> str:
        return getattr(self.factory, "__name__", repr(self.factory))


def recorded(floats: str) -> Callable:
    """Decorate a factory so that what it returns carries its :class:`Recipe`."""
    assert floats in FLOATS, floats

    def decorate(factory: Callable) -> Callable:
        signature = inspect.signature(factory)

        @functools.wraps(factory)
        def make(*args, **kwargs):
            made = factory(*args, **kwargs)
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:  # the factory's own checks raise first; never here
                return made
            bound.apply_defaults()
            try:
                object.__setattr__(made, ATTRIBUTE,
                                   Recipe(make, tuple(bound.arguments.items()), floats))
            except (AttributeError, TypeError):  # an object that takes no attributes
                pass
            return made

        return make

    return decorate


def split(obj) -> tuple[Kind | None, dict]:
    """``(kind, values)`` of a recorded optimizer or schedule; ``(None, {})`` for anything
    else, or when an argument cannot be part of a hashable kind."""
    recipe = getattr(obj, ATTRIBUTE, None)
    if not isinstance(recipe, Recipe):
        return None, {}
    static, numeric, nested, values = [], [], [], {}
    for name, value in recipe.arguments:
        if isinstance(value, float) and np.isfinite(value):
            numeric.append(name)
            values[name] = value
            continue
        inner_kind, inner_values = split(value)
        if inner_kind is not None:
            nested.append((name, inner_kind))
            values[name] = inner_values
            continue
        if isinstance(value, list):
            value = tuple(value)
        try:
            hash(value)
        except TypeError:
            return None, {}
        static.append((name, value))
    kind = Kind(recipe.factory, tuple(static), tuple(numeric), tuple(nested), recipe.floats)
    return kind, values


def build(kind: Kind, values: dict):
    """The optimizer or schedule of ``kind`` with ``values`` (arrays, traced inside a
    compiled program): the factory called again."""
    kwargs = dict(kind.static)
    kwargs.update({name: _number(values[name]) for name in kind.numeric})
    kwargs.update({name: build(inner, values[name]) for name, inner in kind.nested})
    return kind.factory(**kwargs)


def _number(value):
    """A traced value as it is; a concrete one (``jax_debug_nans`` re-runs a program op by
    op on its concrete inputs) as the Python float the factory was first given."""
    return value if isinstance(value, jax.core.Tracer) else float(value)


def as_arrays(kind: Kind, values: dict, params_dtype, default_dtype=None) -> dict:
    """``values`` as NumPy scalars: in ``params_dtype`` for a kind whose floats follow the
    parameters, in ``default_dtype`` (JAX's default float) for one that computes in it.
    A value its dtype cannot hold becomes Inf, which the caller's checks refuse."""
    default_dtype = default_dtype or jax.dtypes.canonicalize_dtype(np.float64)
    dtype = np.dtype(params_dtype if kind.floats == "params" else default_dtype)
    out = {}
    with np.errstate(over="ignore"):
        for name in kind.numeric:
            out[name] = np.asarray(values[name], dtype)
    for name, inner in kind.nested:
        out[name] = as_arrays(inner, values[name], params_dtype, default_dtype)
    return out
