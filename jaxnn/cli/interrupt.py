"""SIGINT and SIGTERM during a training run: stop cleanly, never in the middle of a write.

Inside :func:`handled`, either signal raises :class:`Interrupted` (not a traceback-printing
``KeyboardInterrupt``) at the next Python instruction, unless a :func:`held` section is
running: then the signal waits until the section ends, so an epoch's checkpoint and its
metrics line are written together or not at all. The caller reports where the run stopped
and exits ``128 + signal number`` (130 for Ctrl-C, 143 for SIGTERM), as a shell does.
"""

from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A run stopped by a signal (a BaseException, like KeyboardInterrupt: no
    ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_status = 128 + signum


_state = {"held": 0, "pending": None}


def _handler(signum, frame) -> None:
    if _state["held"]:
        _state["pending"] = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def handled():
    """SIGINT and SIGTERM raise :class:`Interrupted` inside this block (main thread only;
    elsewhere the signals keep their handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _state["pending"] = None


@contextlib.contextmanager
def held():
    """A section no signal interrupts; one that came meanwhile is raised at its end."""
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1
    if not _state["held"] and _state["pending"] is not None:
        signum, _state["pending"] = _state["pending"], None
        raise Interrupted(signum)
