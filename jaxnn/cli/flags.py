"""What the subcommands share about flags: the parser, value types and range checks.

Every check here runs on the parsed flags, in Python, before any JAX work, and raises a
``ValueError`` in the one message format of :mod:`jaxnn._checks` (``--flag must be …;
got …. Fix: ….``), which :func:`jaxnn.cli.main.main` prints as one line and exit status 2.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re

from jaxnn import _checks

# The largest count that fits the int32 step counters (optimizer counts, batch indices).
INT32_MAX = 2**31 - 1
# jax.random.key(seed) keeps 32 bits of the seed outside x64 mode: 2**32 is seed 0 again.
SEED_LIMIT = 2**32


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that remembers which of its options take a value, so that
    :func:`join_dash_values` can keep a value such as ``-784,16,10`` from being read as
    an unknown option."""

    def __init__(self, *args, **kwargs):
        self.value_options: set[str] = set()
        self.option_strings: set[str] = set()
        self.added: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.added.append(action)
        self.option_strings.update(action.option_strings)
        if action.option_strings and action.nargs is None:
            self.value_options.update(action.option_strings)
        return action

    def is_option(self, token: str) -> bool:
        """Whether argparse would read ``token`` as one of this parser's options (or an
        abbreviation of one)."""
        name = token.split("=", 1)[0]
        return name in self.option_strings or (
            name.startswith("--") and any(o.startswith(name) for o in self.option_strings))


class Once(argparse.Action):
    """Store a flag's value; the flag given twice is an error (argparse would keep the
    last value without a word: ``--lr 0.1 --lr 1`` would sweep one rate)."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest, None)
        if before is not None and before is not self.default:
            shown = ",".join(map(number, values)) if isinstance(values, tuple) else values
            first = ",".join(map(number, before)) if isinstance(before, tuple) else before
            parser.error(f"argument {option_string}: given twice ({first} and then "
                         f"{shown}); it takes one list. Fix: one {option_string} with every "
                         f"value, e.g. {option_string} {first},{shown}")
        setattr(namespace, self.dest, values)


def suggest(value: str, names) -> list[str]:
    """The names ``value`` may have meant: those it begins (``he`` → ``he_normal``,
    ``he_uniform``), then the closest spellings (``adan`` → ``adam``)."""
    folded = str(value).lower()
    prefixed = [n for n in names if n.lower().startswith(folded)] if folded else []
    close = difflib.get_close_matches(folded, [n.lower() for n in names], n=3, cutoff=0.75)
    lower = {n.lower(): n for n in names}
    return list(dict.fromkeys(prefixed + [lower[c] for c in close]))


def choose(args, dest: str, names, what: str) -> str:
    """``args.<dest>`` when it is one of ``names``; the name it spells in another case
    (``--hidden Relu`` → ``relu``, set on ``args``); else ValueError listing the names and
    suggesting the nearest (:func:`suggest`)."""
    value = getattr(args, dest)
    if value in names:
        return value
    folded = {n.lower(): n for n in names}
    if isinstance(value, str) and value.lower() in folded:
        setattr(args, dest, folded[value.lower()])
        return folded[value.lower()]
    near = suggest(value, names) if isinstance(value, str) else []
    text = f"unknown {what} {value!r}; expected one of: {', '.join(names)}."
    if near:
        text += (f" Did you mean {' or '.join(map(repr, near[:3]))}? Fix: {flag(dest)} "
                 f"{near[0]}.")
    raise ValueError(text)


def check_options(argv: list[str], parsers: dict[str, Parser], top: Parser) -> None:
    """An option the subcommand does not have (``--epoch``) is an error that suggests the
    nearest it has (``--epochs``), before argparse's bare "unrecognized arguments"; one of
    ``top``'s (``--no-compile-cache``) after the command says where it goes."""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None or argv[command] not in parsers:
        return
    parser = parsers[argv[command]]
    for token in argv[command + 1:]:
        if token == "--":
            return
        name = token.split("=", 1)[0]
        if not name.startswith("--") or parser.is_option(name):
            continue
        if top.is_option(name):
            parser.error(f"{name} is an option of jaxnn itself; it goes before the command. "
                         f"Fix: jaxnn {name} {argv[command]} …")
        near = suggest(name, sorted(o for o in parser.option_strings if o.startswith("--")))
        parser.error(f"unrecognized argument {name}" + (
            f"; did you mean {' or '.join(near[:3])}?" if near else
            f"; see jaxnn {argv[command]} --help"))


def join_dash_values(argv: list[str], parsers: dict[str, Parser]) -> list[str]:
    """``[cmd, …, "--sizes", "-784,16,10"]`` → ``[cmd, …, "--sizes=-784,16,10"]``.

    argparse takes any token that starts with ``-`` and is not a plain negative number for
    an option, so ``--sizes -784,16,10`` fails with "expected one argument" instead of
    reaching the check that says what is wrong with the value. A value option followed by
    a token that is none of the subcommand's options gets that token as its value.
    """
    argv = list(argv)
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None or argv[command] not in parsers:
        return argv
    parser = parsers[argv[command]]
    out = argv[: command + 1]
    rest = argv[command + 1:]
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            out += rest[i:]
            break
        following = rest[i + 1] if i + 1 < len(rest) else None
        if (token in parser.value_options and following is not None
                and following.startswith("-") and following != "-"
                and not parser.is_option(following)):
            out.append(f"{token}={following}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def given(build, argv: list[str], args: argparse.Namespace) -> set[str]:
    """The destinations of the flags ``argv`` spells out (not left to their defaults).

    ``build()`` returns ``(parser, subparsers)`` as the command builds them; the
    subcommand's defaults are replaced by ``argparse.SUPPRESS``, so only the flags on the
    command line reach the namespace.
    """
    parser, subparsers = build()
    for action in subparsers[args.command].added:
        action.default = argparse.SUPPRESS
    parsed = parser.parse_args(join_dash_values(argv, subparsers))
    return {k for k in vars(parsed) if k not in ("command", "run")}


def sizes(text: str) -> tuple[int, ...]:
    """``"784,30,10"`` → ``(784, 30, 10)`` (an argparse type; the network checks the values)."""
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes are comma-separated integers such as 784,30,10; got {text!r}"
        ) from None


def message(what: str, expected: str, got: str, fix: str | None = None) -> str:
    """``"<what> must be <expected>; got <got>. Fix: <fix>."``: jaxnn's one message format."""
    return _checks.message(what, expected, got, fix)


def names(registry) -> str:
    """``"a, b, c"``: the names of a registry (a dict or a tuple of names), for a help text."""
    return ", ".join(registry)


def flag(dest: str) -> str:
    """``"batch_size"`` → ``"--batch-size"``."""
    return "--" + dest.replace("_", "-")


def integer(args, dest: str, *, minimum: int, maximum: int | None = None,
            why: str = "", fix: str | None = None) -> int | None:
    """``args.<dest>`` when it is ``None`` or an int in ``[minimum, maximum]``; ValueError
    naming the flag otherwise. ``why`` says where the upper bound comes from."""
    value = getattr(args, dest)
    if value is None:
        return None
    name = flag(dest)
    if value < minimum:
        expected = "a positive integer" if minimum == 1 else f"≥ {minimum}"
        raise ValueError(_checks.message(name, expected, str(value), fix))
    if maximum is not None and value > maximum:
        expected = f"at most {maximum}" + (f" ({why})" if why else "")
        raise ValueError(_checks.message(name, expected, str(value), fix))
    return value


def seed(args, dest: str = "seed") -> int:
    """``args.seed`` in ``[0, 2^32)``: what ``jax.random.key`` keeps in every mode."""
    value = getattr(args, dest)
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(_checks.message(
            flag(dest), "an integer in [0, 2^32)", str(value),
            "e.g. --seed 0 (a key keeps 32 bits of its seed, so 2^32 would be seed 0 again)"))
    return value


def positive_real(args, dest: str, fix: str | None = None) -> float:
    """``args.<dest>`` when it is a finite number > 0; ValueError naming the flag otherwise."""
    value = getattr(args, dest)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(_checks.message(flag(dest), "a finite number > 0", str(value), fix))
    return value


def real_list(text: str) -> tuple[float, ...]:
    """``"0.01,0.1,1"`` → ``(0.01, 0.1, 1.0)`` (an argparse type for a sweep's grid)."""
    if not text.strip():
        return ()  # an empty grid: the command says which flag
    items = [s.strip() for s in text.split(",")]
    try:
        if not all(items):
            raise ValueError
        return tuple(float(s) for s in items)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.01,0.1,1; got {text!r}") from None


def dashed(sizes) -> str:
    """``(784, 256, 10)`` → ``"784-256-10"``."""
    return "-".join(str(s) for s in sizes)


def plural(n: int, word: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"4,000 examples"``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def number(x) -> str:
    """A float for people: 4 significant digits (``0.001``, ``0.9123``, ``1.5e-05``);
    anything else as ``str``. Files keep full precision; printed text uses this."""
    if isinstance(x, float):
        return format(x, ".4g")
    return str(x)


# A Python keyword argument in a library message's "Fix:" part: name=value, 'text' or (a, b).
_KEYWORD = re.compile(r"\b([a-z][a-z0-9_]*)=('([^']*)'|\(([^)]*)\)|-?[\w.+-]*\w)")


def for_the_command_line(message: str, dests) -> str:
    """``message`` with the Python spellings after ``Fix:`` (``cost='quadratic'``,
    ``l2=0.0``, ``sizes=(2, 1)``) written as the command's flags (``--cost quadratic``,
    ``--l2 0.0``, ``--sizes 2,1``), for the flags in ``dests``."""
    head, sep, fix = message.partition("Fix:")
    if not sep:
        return message

    def flagged(m):
        name = m.group(1)
        if name not in dests:
            return m.group(0)
        if m.group(3) is not None:
            value = m.group(3)
        elif m.group(4) is not None:
            value = ",".join(s.strip() for s in m.group(4).split(",") if s.strip())
        else:
            value = m.group(2)
        return f"{flag(name)} {value}"

    return head + sep + _KEYWORD.sub(flagged, fix)
