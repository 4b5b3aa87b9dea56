"""The ``jaxnn`` command: one parser, the subcommands ``train``, ``sweep``, ``evaluate``,
``verify``, ``bench``, and the exit statuses they share.

Every subcommand checks its flags before any JAX work. Exit status 0 on success; 2 and one
line ``jaxnn <command>: error: …`` on stderr for a bad flag, a bad file or a run directory
that is not free; 1 when training diverges or a gradient check fails; 130 (SIGINT, Ctrl-C)
or 143 (SIGTERM) when a training run is interrupted, after saying how to resume it; 0,
quietly, when the reader of its output goes away (``jaxnn evaluate RUN | head -1``).
An error message suggests flags, never Python calls: a library message's ``Fix:`` that
says ``cost='quadratic'`` is printed as ``--cost quadratic``.
"""

from __future__ import annotations

import os
import sys
import warnings

import jaxnn
from jaxnn.cli import evaluate, flags, interrupt, sweep, train, verify
from jaxnn.cli.bench import command as bench
from jaxnn.train import programs

# name → the module that defines it: HELP, DESCRIPTION, add_arguments(parser), run(args).
COMMANDS = {"train": train, "sweep": sweep, "evaluate": evaluate, "verify": verify,
            "bench": bench}


def build_parser() -> tuple[flags.Parser, dict[str, flags.Parser]]:
    """The ``jaxnn`` parser and its subcommands' parsers, by name."""
    parser = flags.Parser(prog="jaxnn", description="Backpropagation by hand in JAX (BP1–BP4).")
    parser.add_argument("--version", action="version", version=f"jaxnn {jaxnn.__version__}")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="compile every program afresh (by default compiled programs are "
                        "kept in ~/.cache/jaxnn/xla, or $JAXNN_CACHE_DIR, and reused)")
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
    whole_process = argv is None  # `jaxnn …` itself, not a call from Python
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, subparsers = build_parser()
    flags.check_options(flags.join_dash_values(argv, subparsers), subparsers, parser)
    args = parser.parse_args(flags.join_dash_values(argv, subparsers))
    args.given = flags.given(build_parser, argv, args)
    args.argv = argv
    dests = {a.dest for a in subparsers[args.command].added}
    if not args.no_compile_cache:
        jaxnn.compile_cache.enable()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)  # each time, even twice in a process
        warnings.showwarning = _one_line(args.command)
        status = _run(args, dests)
    if whole_process and (status in INTERRUPTED
                          or (status != 0 and programs.compiling())):
        _exit_now(status)  # an error after the data's headers: no wait for an unused compile
    return status


# The exit statuses of a run stopped by SIGINT (Ctrl-C) or SIGTERM.
INTERRUPTED = (130, 143)


def _exit_now(status: int) -> None:
    """End the process at once, its output flushed: a signal that came while XLA was
    compiling leaves compiler threads behind, and tearing the interpreter down under
    them can crash (a segmentation fault after the message). Every file the run keeps
    is already on disk."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _one_line(command: str):
    """``warnings.showwarning`` for the command: ``jaxnn <command>: warning: <message>``
    on stderr, one line, no source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"jaxnn {command}: warning: {text}", file=sys.stderr if file is None else file)
    return show


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that nothing is written to a closed pipe at exit
    (Python would print "Exception ignored … BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file (a test's)
        pass


def _run(args, dests) -> int:
    """``args.run(args)``, its errors as one line each and an exit status."""
    try:
        return args.run(args)
    except interrupt.Interrupted as e:  # the run directory keeps its last checkpoint
        print(f"jaxnn {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:  # Ctrl-C in evaluate, verify or bench: nothing to keep
        print(f"jaxnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jaxnn evaluate RUN | head -1`: the reader has what it wanted
        _stdout_to_devnull()
        return 0
    except FloatingPointError as e:  # TrainingDiverged: the run directory keeps its last good state
        print(f"jaxnn {args.command}: error: {flags.for_the_command_line(str(e), dests)}",
              file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as e:  # OSError: missing, unreadable, busy, full
        print(f"jaxnn {args.command}: error: {flags.for_the_command_line(str(e), dests)}",
              file=sys.stderr)
        return 2
