"""User components on the command line: ``--hidden``, ``--output`` and ``--cost`` given as
``package.module:attribute`` (``jaxnn train``, ``jaxnn sweep``, ``jaxnn verify``).

The flags keep the text the user typed (config.json records it and ``--resume`` compares
it); :func:`pieces` imports the module it names with :func:`jaxnn.user_components.load`,
whose errors (no such module, no such attribute, not a component) exit 2. A checkpoint
records a user component by name (:mod:`jaxnn.user_components`) and never imports code
itself; ``jaxnn evaluate`` and ``jaxnn train --resume`` import the modules that the run's
config.json names (:func:`load_checkpoint`), since the user wrote that command line. When
one cannot be imported, the checkpoint's MissingComponent message says what is missing,
followed by why the import failed.
"""

from __future__ import annotations

from pathlib import Path

from jaxnn import activations, costs, user_components
from jaxnn.cli import flags

HELP = "or package.module:attribute for a user component"
# flag destination → the kind of component it takes.
KINDS = {"hidden": "activation", "output": "activation", "cost": "cost"}
_CLASSES = {"activation": activations.Activation, "cost": costs.Cost}
_MISSING = "which this process does not have"  # MissingComponent's words


def add_arguments(p, defaults: dict) -> None:
    """``--hidden``, ``--output`` and ``--cost``, with ``defaults`` for each."""
    d = defaults
    p.add_argument("--hidden", default=d["hidden"], help="hidden activation, one of: "
                   f"{flags.names(activations.hidden_names())}, {HELP} "
                   "(default %(default)s)")
    p.add_argument("--output", default=d["output"],
                   help=f"output activation, one of: {flags.names(activations.NAMES)}, {HELP} "
                   "(default %(default)s)")
    p.add_argument("--cost", default=d["cost"],
                   help=f"one of: {flags.names(costs.NAMES)}, {HELP} (default %(default)s)")


def component(spec, kind: str):
    """A flag's component: a built-in's name as it is, ``package.module:attribute``
    imported (ValueError or TypeError saying what failed: exit 2)."""
    if not isinstance(spec, str) or ":" not in spec:
        return spec
    return user_components.load(spec, kind, _CLASSES[kind])


# flag destination → the registry of the built-in names it takes.
NAMES = {"hidden": activations.NAMES, "output": activations.NAMES, "cost": costs.NAMES}


def pieces(args) -> dict:
    """``{"hidden": …, "output": …, "cost": …}`` of the flags, user components imported;
    a built-in's name in another case (``Relu``) is taken as the name, a misspelt one is
    refused with the nearest names (:func:`jaxnn.cli.flags.choose`)."""
    for dest, kind in KINDS.items():
        value = getattr(args, dest)
        if isinstance(value, str) and ":" not in value:
            flags.choose(args, dest, tuple(NAMES[dest]), kind)
    return {dest: component(getattr(args, dest), kind) for dest, kind in KINDS.items()}


def recorded(config: dict) -> list[tuple[str, str]]:
    """``(spec, kind)`` of every ``module:attribute`` a run's config.json names: in its
    flags (as typed) and in its network (the import path recorded for a user component)."""
    found = []
    saved = config.get("flags") if isinstance(config.get("flags"), dict) else {}
    for dest, kind in KINDS.items():
        found.append((saved.get(dest), kind))
    network = config.get("network") if isinstance(config.get("network"), dict) else {}
    acts = network.get("activations")
    for entry in acts if isinstance(acts, list) else []:
        found.append((entry.get("import") if isinstance(entry, dict) else None, "activation"))
    cost = network.get("cost")
    found.append((cost.get("import") if isinstance(cost, dict) else None, "cost"))
    return list(dict.fromkeys((s, k) for s, k in found if isinstance(s, str) and ":" in s))


def import_recorded(config: dict) -> list[str]:
    """Import the user components :func:`recorded` lists; what failed, in words."""
    problems = []
    for spec, kind in recorded(config):
        try:
            component(spec, kind)
        except (ValueError, TypeError) as e:
            problems.append(str(e))
    return problems


def load_checkpoint(path: Path, config: dict, command: str, **kwargs):
    """:func:`jaxnn.checkpoint.load` of ``path``; only when it names a user component this
    process lacks are the user components that the run's ``config`` names imported (code
    runs only for a run that needs it), then the load is tried again; a MissingComponent
    message gets why they were not imported."""
    from jaxnn import checkpoint

    try:
        return checkpoint.load(path, **kwargs)
    except ValueError as e:
        if _MISSING not in str(e):
            raise
    problems = import_recorded(config)
    try:
        return checkpoint.load(path, **kwargs)
    except ValueError as e:
        if not problems or _MISSING not in str(e):
            raise
        raise ValueError(f"{e} (jaxnn {command} tried: it imports the user components that "
                         f"the run's config.json names, and {' '.join(problems)})") from None
