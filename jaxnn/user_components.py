"""User components: building, naming, recording and loading them.

An activation or a cost is a pair of pure functions (:class:`jaxnn.activations.Activation`,
:class:`jaxnn.costs.Cost`). The built-in ones live in the registries
(:data:`jaxnn.activations.ACTIVATIONS`, :data:`jaxnn.costs.COSTS`); a user builds their
own with :func:`jaxnn.activations.custom` / :func:`jaxnn.costs.custom`, from the function
and the derivative written by hand, and passes the object wherever a name is accepted::

    act = jaxnn.activations.custom("swish2", lambda z: z * jax.nn.sigmoid(2 * z), deriv)
    net = jaxnn.mlp((4, 8, 1), hidden=act, output="sigmoid", cost="binary_cross_entropy")

The network stores the object itself (so a later component of the same name can never
be confused with it under ``jit``), and ``custom`` also enters it in a per-process table
of user components, by name, so that a checkpoint, which records the name (and
``module:attribute`` where the object is a module's attribute), can be loaded again once
the module that defines it has been imported.

This module holds what :mod:`jaxnn.activations` and :mod:`jaxnn.costs` share about user
components (name and function checks, the checkpoint record and its inverse, loading
``module:attribute`` for the command line); it imports neither of them. The checks of a
hand-written derivative against autodiff are :mod:`jaxnn.components`.
"""

from __future__ import annotations

import importlib
import sys

import jax

from jaxnn import _checks


class ComponentError(ValueError):
    """A component that cannot be checked: a wrong shape, NaN on finite input."""


class MissingComponent(ValueError):
    """A saved network names a user component that this process does not have."""


# ---------------------------------------------------------------------------------------
# Building and registering user components.


def check_name(kind: str, name, builtins) -> str:
    """A user component's name: a non-empty str that is not a built-in's name."""
    if not isinstance(name, str):
        raise _checks.type_error(f"a user {kind}'s name", "a str", name,
                                 f"e.g. jaxnn.{kind}s.custom('my_{kind}', ...)")
    if not name or name.strip() != name or ":" in name:
        raise _checks.value_error(
            f"a user {kind}'s name", "a non-empty str without ':' or surrounding spaces",
            repr(name), f"e.g. 'my_{kind}'")
    if name in builtins:
        raise _checks.value_error(
            f"a user {kind}'s name", f"different from the built-in {kind}s "
            f"({', '.join(builtins)})", repr(name),
            f"choose another name, e.g. 'my_{name}', or use the built-in {name!r} by name")
    return name


def check_function(kind: str, name: str, role: str, value, signature: str):
    """``value`` when it is callable and hashable (a network holding it is a static
    argument of ``jax.jit``); TypeError naming the component otherwise."""
    what = f"{kind} {name!r}: {role}"
    if not callable(value):
        raise _checks.type_error(what, f"a function {signature}", value)
    try:
        hash(value)
    except TypeError:
        raise _checks.type_error(
            what, "a hashable function (a network holding it is a static argument of "
            "jax.jit)", value, "pass a def or lambda, not an unhashable callable object"
        ) from None
    return value


def user_table_name(kind: str, table) -> str:
    """``"; or a user activation (…custom): a, b"`` for an unknown-name message."""
    if not table:
        return ""
    return f"; or a user {kind} made with jaxnn.{kind}s.custom: {', '.join(table)}"


def import_path(obj, fn) -> str | None:
    """``"module:attribute"`` when ``obj`` is an attribute of the (already imported) module
    that defines ``fn``; ``None`` otherwise (defined in ``__main__``, or not bound to a
    module-level name)."""
    module_name = getattr(fn, "__module__", None)
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    if module is None or module_name == "__main__":
        return None
    for attribute, value in vars(module).items():
        if value is obj and not attribute.startswith("__"):
            return f"{module_name}:{attribute}"
    return None


def describe(obj, builtins):
    """What a network description records for a component: the name of a built-in, or
    ``{"name": …, "import": "module:attribute" or None}`` for a user component."""
    if isinstance(obj, str):
        return obj
    if builtins.get(obj.name) is obj:
        return obj.name
    return {"name": obj.name, "import": import_path(obj, obj.fn)}


def resolve(kind: str, entry, builtins, table, cls):
    """The inverse of :func:`describe`: a built-in's name is kept; a user component's
    record becomes the object, from the table of user components or from its module if
    that is already imported (nothing is imported: a checkpoint never runs code).
    :class:`MissingComponent` naming it and how to supply it otherwise."""
    if not isinstance(entry, dict):
        return entry  # a name: the network's own checks take it from here
    if set(entry) != {"name", "import"} or not isinstance(entry["name"], str) or not (
            entry["import"] is None or isinstance(entry["import"], str)):
        raise ValueError(
            f"a user {kind} is recorded as {{'name': str, 'import': 'module:attribute' or "
            f"None}}; got {_checks.short(entry, 120)}."
        )
    name, path = entry["name"], entry["import"]
    if name in builtins:
        return name
    if name in table:
        return table[name]
    if path:
        module_name, _, attribute = path.partition(":")
        value = getattr(sys.modules.get(module_name), attribute, None)
        if isinstance(value, cls) and value.name == name:
            return value
    where = f" (the checkpoint records it as {path!r})" if path else ""
    how = (f"import {path.partition(':')[0]} first (loading a checkpoint never imports the "
           "code it names), or " if path else "")
    raise MissingComponent(
        f"the network uses the user {kind} {name!r}, which this process does not have"
        f"{where}. Fix: {how}build it again with jaxnn.{kind}s.custom({name!r}, ...) "
        f"before loading (one built by hand: jaxnn.{kind}s.register(obj))."
    )


def load(spec: str, kind: str, cls):
    """The component ``"package.module:attribute"`` names (for the command line): the
    module is imported; ValueError saying what failed, TypeError for an object that is not
    a component."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(_checks.message(
            f"a user {kind}", "given as package.module:attribute", repr(spec),
            f"e.g. mymodule:my_{kind}, with mymodule.py on PYTHONPATH"))
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or whatever the module raises while importing
        raise ValueError(
            f"cannot import {module_name!r} for the user {kind} {spec!r}: "
            f"{type(e).__name__}: {str(e).rstrip('.')}. Fix: put the directory that holds "
            f"{module_name.replace('.', '/')}.py on PYTHONPATH (or install its package), "
            "and check that it imports."
        ) from None
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise ValueError(
            f"module {module_name!r} has no attribute {attribute!r} (the user {kind} "
            f"{spec!r}). Fix: check the name after ':'."
        ) from None
    if not isinstance(value, cls):
        second = "deriv" if kind == "activation" else "grad"
        got = (f"a plain function ({type(value).__name__})" if callable(value)
               else _checks.describe(value))
        raise TypeError(_checks.message(
            f"{spec}", f"a jaxnn {kind} (built with jaxnn.{kind}s.custom)", got,
            f"in a module of yours, write my_{kind} = jaxnn.{kind}s.custom('my_{kind}', fn, "
            f"{second}) with its hand-written {second}, and pass module:my_{kind}"))
    return value


def check_shapes(kind: str, name: str, calls) -> None:
    """Run each ``(role, fn, args, expected_shape)`` under ``jax.eval_shape`` (no
    arithmetic): ComponentError naming the component for a wrong shape or a function
    that cannot be traced."""
    for role, fn, args, expected in calls:
        try:
            out = jax.eval_shape(fn, *args)
        except Exception as e:
            raise ComponentError(
                f"{kind} {name!r}: {role} must be a JAX function of arrays (jnp operations, "
                f"no Python `if` on values); calling it on "
                f"{' and '.join(f'{a.dtype} {tuple(a.shape)}' for a in args)} arrays raised "
                f"{type(e).__name__}: {_checks.short(str(e), 200)}"
            ) from e
        shape = getattr(out, "shape", None)
        if shape != expected:
            raise ComponentError(_checks.message(
                f"{kind} {name!r}: {role}", f"of shape {expected} for inputs of shape "
                f"{tuple(args[0].shape)}", f"{shape if shape is not None else type(out).__name__}",
                _shape_fix(kind, role)))


def _shape_fix(kind: str, role: str) -> str:
    if kind == "cost" and role.startswith("fn"):
        return "a cost is per example: sum over the last axis, jnp.sum(..., axis=-1)"
    if kind == "cost":
        return "∇_a C has the shape of a: do not sum it"
    return "an activation acts elementwise: return an array shaped like z"
