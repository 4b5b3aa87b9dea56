"""The ``jaxnn`` command: one parser, the subcommands ``train``, ``evaluate``, ``verify``,
``bench``, and the exit statuses they share.

Every subcommand checks its flags before any JAX work. Exit status 0 on success; 2 and one
line ``jaxnn <command>: error: …`` on stderr for a bad flag, a bad file or a run directory
that is not free; 1 when training diverges or a gradient check fails; 130 (SIGINT, Ctrl-C)
or 143 (SIGTERM) when a training run is interrupted, after saying how to resume it.
"""

from __future__ import annotations

import sys

from jaxnn.cli import evaluate, flags, interrupt, train, verify
from jaxnn.cli.bench import command as bench

# name → the module that defines it: HELP, DESCRIPTION, add_arguments(parser), run(args).
COMMANDS = {"train": train, "evaluate": evaluate, "verify": verify, "bench": bench}


def build_parser() -> tuple[flags.Parser, dict[str, flags.Parser]]:
    """The ``jaxnn`` parser and its subcommands' parsers, by name."""
    parser = flags.Parser(prog="jaxnn", description="Backpropagation by hand in JAX (BP1–BP4).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {}
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
        subparsers[name] = p
    return parser, subparsers


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxnn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, subparsers = build_parser()
    args = parser.parse_args(flags.join_dash_values(argv, subparsers))
    args.given = flags.given(build_parser, argv, args)
    try:
        return args.run(args)
    except interrupt.Interrupted as e:  # the run directory keeps its last checkpoint
        print(f"jaxnn {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:  # Ctrl-C in evaluate, verify or bench: nothing to keep
        print(f"jaxnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except FloatingPointError as e:  # TrainingDiverged: the run directory keeps its last good state
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as e:  # OSError: missing, unreadable, busy, full
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 2
