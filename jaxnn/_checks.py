"""Generic guards for the public boundary, in one message format.

Every user error jaxnn raises reads the same way::

    <what> must be <expected>; got <what came>. Fix: <how to fix it>.

A wrong *kind* of thing (a string where a number belongs, a list where a Network belongs)
is a ``TypeError``; a thing of the right kind with a wrong *value* (a negative size, a NaN
rate, an unknown name) is a ``ValueError``. The guards run in Python, before anything is
traced, and return the value normalised (``int``, ``float``, ``tuple``).

A traced value (a per-run hyper-parameter of a sweep, inside ``vmap``) passes the number
guards unchanged: its concrete values are checked before tracing.

This module imports nothing from jaxnn, so every other module may use it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import jax


def short(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with ``...`` (for messages)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value) -> str:
    """``"<type> <short repr>"``, the "got" part of a message about a value."""
    return f"{type(value).__name__} {short(value)}"


def message(what: str, expected: str, got: str, fix: str | None = None) -> str:
    """``"<what> must be <expected>; got <got>. Fix: <fix>."`` (the one format)."""
    text = f"{what} must be {expected}; got {got}."
    if fix:
        text += f" Fix: {fix.rstrip('.')}."
    return text


def type_error(what: str, expected: str, value, fix: str | None = None) -> TypeError:
    """A TypeError in the one format, ``got`` describing ``value``'s type and repr."""
    return TypeError(message(what, expected, describe(value), fix))


def value_error(what: str, expected: str, got: str, fix: str | None = None) -> ValueError:
    """A ValueError in the one format; ``got`` is already written out."""
    return ValueError(message(what, expected, got, fix))


def traced(value) -> bool:
    """Whether ``value`` is a JAX tracer: a per-run hyper-parameter inside ``vmap`` (a
    sweep), whose concrete values were checked before tracing. The guards pass it through."""
    return isinstance(value, jax.core.Tracer)


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None,
            fix: str | None = None) -> int:
    """``value`` as a Python int in ``[minimum, maximum]``.

    TypeError for anything that is not an integer (``bool`` and ``2.0`` included);
    ValueError for an integer out of range.
    """
    if traced(value):
        return value
    expected = _int_range(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise type_error(name, expected, value, fix)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise value_error(name, expected, repr(value), fix)
    return value


def _int_range(minimum, maximum) -> str:
    if minimum == 1 and maximum is None:
        return "a positive int"
    if minimum == 0 and maximum is None:
        return "an int ≥ 0"
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an int ≥ {minimum}"
    if maximum is not None:
        return f"an int ≤ {maximum}"
    return "an int"


def real(name: str, value, *, minimum: float | None = None, strict: bool = False,
         maximum: float | None = None, below: float | None = None,
         fix: str | None = None) -> float:
    """``value`` as a finite Python float.

    ``minimum`` bounds it below (``> minimum`` when ``strict``, else ``≥``), ``maximum``
    above (``≤``) and ``below`` above strictly (``<``). TypeError for a non-real (``bool``
    included), ValueError for NaN, ±Inf or a value out of range.
    """
    if traced(value):
        return value
    expected = _real_range(minimum, strict, maximum, below)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise type_error(name, "a real number", value, fix)
    value = float(value)
    bad = (not math.isfinite(value)
           or (minimum is not None and (value <= minimum if strict else value < minimum))
           or (maximum is not None and value > maximum)
           or (below is not None and value >= below))
    if bad:
        raise value_error(name, expected, repr(value), fix)
    return value


def _real_range(minimum, strict, maximum, below) -> str:
    if minimum is not None and below is not None:
        return f"a real number in [{minimum:g}, {below:g})"
    if minimum is not None and maximum is not None:
        return f"a real number in [{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f"finite and {'>' if strict else '≥'} {minimum:g}"
    if maximum is not None:
        return f"finite and ≤ {maximum:g}"
    return "a finite real number"


def lookup(kind: str, name, registry, example: str | None = None):
    """``registry[name]`` for a registry keyed by name (a dict of components).

    TypeError for a name that is not a string, ValueError listing the valid names (derived
    from the registry, never typed out) for an unknown one.
    """
    names = ", ".join(registry)
    example = example or next(iter(registry), "")
    if not isinstance(name, str):
        article = "an" if kind[:1] in "aeiou" else "a"
        raise TypeError(message(f"{article} {kind} name", f"a string such as {example!r}",
                                describe(name), f"one of: {names}"))
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; expected one of: {names}.") from None


def one_of(name: str, value, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices`` (strings); ValueError listing them otherwise."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(message(name, f"one of {', '.join(choices)}", short(value)))
    return value


def function(name: str, value, signature: str, fix: str | None = None):
    """``value`` when it is callable; TypeError naming the expected ``signature`` otherwise."""
    if not callable(value):
        raise type_error(name, f"a function {signature}", value, fix)
    return value


def instance(name: str, value, types, expected: str, fix: str | None = None):
    """``value`` when it is an instance of ``types``; TypeError otherwise."""
    if not isinstance(value, types):
        raise type_error(name, expected, value, fix)
    return value
