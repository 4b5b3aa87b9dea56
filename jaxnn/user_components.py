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
of user components, by name, so that a checkpoint can be loaded again once the module
that defines it has been imported.

**Identity.** A checkpoint records a user component by its name, its
``module:attribute`` (where the object is a module's attribute) and its fingerprint: its
values and derivatives on a fixed probe (:func:`fingerprint`). Loading resolves the
recorded import path first, then the table (only a component of that module), and
refuses one whose fingerprint differs (:class:`ComponentChanged`: the module was edited
after training). User names are a namespace of their own: a user component may share a
built-in's name, so a later built-in of that name breaks no user code and no record. A
module building a component of a name another module already used replaces nothing;
looking that name up in the table is then refused, never guessed (:class:`Clash`).

This module holds what :mod:`jaxnn.activations` and :mod:`jaxnn.costs` share about user
components (name and function checks, the checkpoint record and its inverse, loading
``module:attribute`` for the command line); it imports neither of them. The checks of a
hand-written derivative against autodiff are :mod:`jaxnn.components`.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import NamedTuple

import jax

from jaxnn import _checks


class ComponentError(ValueError):
    """A component that cannot be checked: a wrong shape, NaN on finite input."""


class MissingComponent(ValueError):
    """A saved network names a user component that this process does not have."""


class ComponentChanged(MissingComponent):
    """A saved network's user component, found by its name and import path, computes
    something else than it did when it was saved (its fingerprint differs)."""


# ---------------------------------------------------------------------------------------
# Building and registering user components.


def check_name(kind: str, name) -> str:
    """A user component's name: a non-empty str without ':' or surrounding spaces.

    User names live in their own namespace: a user component may share a built-in's name
    (a later jaxnn that adds a built-in of that name breaks nothing), since a network
    holds the object itself, a checkpoint records it as a user component
    (:func:`describe`), and a name given as a string means the built-in first."""
    if not isinstance(name, str):
        raise _checks.type_error(f"a user {kind}'s name", "a str", name,
                                 f"e.g. jaxnn.{kind}s.custom('my_{kind}', ...)")
    if not name or name.strip() != name or ":" in name:
        raise _checks.value_error(
            f"a user {kind}'s name", "a non-empty str without ':' or surrounding spaces",
            repr(name), f"e.g. 'my_{kind}'")
    return name


def home(obj) -> str | None:
    """The module that defines a user component: its function's ``__module__``."""
    module = getattr(getattr(obj, "fn", None), "__module__", None)
    return module if isinstance(module, str) else None


class Clash(NamedTuple):
    """The table's entry for a name that user components of several modules share: a
    lookup by that name is refused, never guessed (each component still works as an
    object, and a checkpoint finds its own by the recorded import path)."""

    name: str
    members: tuple  # the components, one per module


def enter(obj, table: dict) -> None:
    """Put ``obj`` in the per-process ``table`` under its name. The same module building
    a component of that name again (a re-run, a reload) replaces its own; another
    module's component of that name is kept beside it (a :class:`Clash`)."""
    before = table.get(obj.name)
    members = before.members if isinstance(before, Clash) else (
        () if before is None else (before,))
    members = tuple(m for m in members if m is not obj and home(m) != home(obj)) + (obj,)
    table[obj.name] = members[0] if len(members) == 1 else Clash(obj.name, members)


def lookup(kind: str, name: str, table: dict):
    """The user component ``name`` names in ``table``, or None; ValueError when modules
    share the name (:class:`Clash`)."""
    found = table.get(name)
    if isinstance(found, Clash):
        homes = " and ".join(str(home(m)) for m in found.members)
        raise _checks.value_error(
            f"the user {kind} name {name!r}", "one component's", f"one built by each of "
            f"the modules {homes}", f"pass the {kind} object itself (or module:attribute "
            "on the command line), or give the components different names")
    return found


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


# The fixed probe of a component's fingerprint: z for an activation (no point at a kink),
# a (outputs in (0, 1)) and y (targets) for a cost, and the cotangent g of a vjp.
PROBE_Z = tuple(round(-6.3 + 1.1 * i, 1) for i in range(12))
PROBE_A = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.1, 0.45, 0.7, 0.9, 0.3)
PROBE_Y = (0.0, 1.0, 0.0, 0.3, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0)
PROBE_G = tuple(round(0.5 + 0.1 * i, 1) for i in range(12))
# Two fingerprints agree when every value does within this (float32 on any device).
FINGERPRINT_RTOL, FINGERPRINT_ATOL = 1e-4, 1e-6


@functools.lru_cache(maxsize=256)
def fingerprint(kind: str, obj) -> dict:
    """A user component's values and derivatives on the fixed probe, float32, 7 digits:
    ``{"fn": [...], "deriv": [12 values]}`` (an activation's 12 fn(z) and vjp(z, a, g), on
    two rows of 6; a cost's 4 fn(a, y), one per example, and grad(a, y), on four rows of 3).
    A checkpoint records it, so that a component edited after training is noticed on load.
    A value that is not finite is recorded as None."""
    import numpy as np

    with jax.ensure_compile_time_eval():  # eager, even inside a trace
        f32 = jax.numpy.float32
        if kind == "activation":
            z = jax.numpy.asarray(PROBE_Z, f32).reshape(2, 6)
            g = jax.numpy.asarray(PROBE_G, f32).reshape(2, 6)
            a = obj.fn(z)
            values, derivs = a, obj.vjp(z, a, g)
        else:
            a = jax.numpy.asarray(PROBE_A, f32).reshape(4, 3)
            y = jax.numpy.asarray(PROBE_Y, f32).reshape(4, 3)
            values, derivs = obj.fn(a, y), obj.grad(a, y)

    def listed(x) -> list:
        flat = np.asarray(x, np.float64).reshape(-1)
        return [float(f"{v:.7g}") if np.isfinite(v) else None for v in flat]

    return {"fn": listed(values), "deriv": listed(derivs)}


def _differs(saved, now) -> str | None:
    """Where two fingerprints disagree (``"fn value 3: saved 0.5, now 0.7"``), or None."""
    for part in ("fn", "deriv"):
        old, new = saved.get(part), now.get(part)
        if not isinstance(old, list) or len(old) != len(new):
            return f"{part}: saved {_checks.short(old, 60)}, now {len(new)} values"
        for i, (u, v) in enumerate(zip(old, new)):
            if (u is None) != (v is None) or (u is not None and not (
                    isinstance(u, (int, float))
                    and abs(u - v) <= FINGERPRINT_ATOL + FINGERPRINT_RTOL * abs(v))):
                return f"{part} value {i}: saved {u}, now {v}"
    return None


def describe(kind: str, obj, builtins):
    """What a network description records for a component: the name of a built-in, or
    ``{"name": …, "import": "module:attribute" or None, "fingerprint": {…}}`` for a user
    component (:func:`fingerprint`)."""
    if isinstance(obj, str):
        return obj
    if builtins.get(obj.name) is obj:
        return obj.name
    probe = fingerprint(kind, obj)  # cached: copied, so that no caller can change it
    return {"name": obj.name, "import": import_path(obj, obj.fn),
            "fingerprint": {part: list(values) for part, values in probe.items()}}


def resolve(kind: str, entry, builtins, table, cls):
    """The inverse of :func:`describe`: a built-in's name is kept; a user component's
    record (never a built-in, whatever its name) becomes the object: first the recorded
    ``module:attribute`` when that module is imported, else the table's component of that
    name when it comes from the recorded module (or none is recorded). Nothing is
    imported: a checkpoint never runs code. :class:`MissingComponent` naming it and how
    to supply it otherwise; :class:`ComponentChanged` when the object found no longer
    computes what the recorded fingerprint says (the module was edited)."""
    if not isinstance(entry, dict):
        return entry  # a name: the network's own checks take it from here
    keys = set(entry)
    if not {"name", "import"} <= keys <= {"name", "import", "fingerprint"} or not isinstance(
            entry["name"], str) or not (entry["import"] is None
                                        or isinstance(entry["import"], str)) or not isinstance(
            entry.get("fingerprint", {}), dict):
        raise ValueError(
            f"a user {kind} is recorded as {{'name': str, 'import': 'module:attribute' or "
            f"None, 'fingerprint': {{...}}}}; got {_checks.short(entry, 120)}."
        )
    name, path = entry["name"], entry["import"]
    found = None
    if path:
        module_name, _, attribute = path.partition(":")
        value = getattr(sys.modules.get(module_name), attribute, None)
        if isinstance(value, cls) and value.name == name:
            found = value
    entry_ = table.get(name)
    for member in entry_.members if isinstance(entry_, Clash) else (entry_,):
        if found is None and member is not None and (
                not path or import_path(member, member.fn) in (None, path)):
            found = member
    if found is None:
        where = f" (the checkpoint records it as {path!r})" if path else ""
        how = (f"import {path.partition(':')[0]} first (loading a checkpoint never imports "
               "the code it names), or " if path else "")
        raise MissingComponent(
            f"the network uses the user {kind} {name!r}, which this process does not have"
            f"{where}. Fix: {how}build it again with jaxnn.{kind}s.custom({name!r}, ...) "
            f"before loading (one built by hand: jaxnn.{kind}s.register(obj))."
        )
    if "fingerprint" in entry:
        differs = _differs(entry["fingerprint"], fingerprint(kind, found))
        if differs:
            raise ComponentChanged(
                f"the user {kind} {name!r}{f' ({path})' if path else ''} is not the one the "
                f"network was saved with: on jaxnn's fixed probe its {differs} (its code "
                "was edited after training). Fix: restore the definition it was trained "
                "with, or train a new run with the new one."
            )
    return found


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
        if out.dtype != args[0].dtype:  # float16 would lose digits, int32 every gradient
            raise ComponentError(_checks.message(
                f"{kind} {name!r}: {role}", f"of the inputs' dtype ({args[0].dtype} for "
                f"{args[0].dtype} inputs)", f"{out.dtype}",
                "compute in the input's dtype: no .astype(...) to another dtype, no integer "
                "or boolean result (e.g. (z > 0).astype(z.dtype), not z > 0)"))


def _shape_fix(kind: str, role: str) -> str:
    if kind == "cost" and role.startswith("fn"):
        return "a cost is per example: sum over the last axis, jnp.sum(..., axis=-1)"
    if kind == "cost":
        return "∇_a C has the shape of a: do not sum it"
    return "an activation acts elementwise: return an array shaped like z"
