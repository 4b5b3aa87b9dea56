"""A persistent XLA compilation cache, so a second identical run compiles in a fraction.

Small runs spend most of their wall time compiling (a 64-64-10 network on the digits: about
1.9 s of compiling for 0.13 s of training). JAX can keep compiled programs on disk and
reuse them in the next process; :func:`enable` turns that on for jaxnn's programs::

    import jaxnn
    jaxnn.compile_cache.enable()          # ~/.cache/jaxnn/xla, or $JAXNN_CACHE_DIR
    jaxnn.train.fit(...)                  # the second process finds the epoch compiled

The ``jaxnn`` command and the experiments turn it on by default (``--no-compile-cache``, or
``JAXNN_COMPILE_CACHE=0``, turns it off). A cache entry is keyed by the program, the JAX
version and the device, so a stale entry is never used; deleting the folder is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

from jaxnn import _checks

ENV_DIR = "JAXNN_CACHE_DIR"
ENV_SWITCH = "JAXNN_COMPILE_CACHE"


def default_dir() -> Path:
    """``$JAXNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxnn/xla``, else ``~/.cache/jaxnn/xla``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxnn" / "xla"


def disabled_by_environment() -> bool:
    """Whether ``JAXNN_COMPILE_CACHE`` is set to 0, no, off or false."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "no", "off", "false")


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Store and reuse compiled XLA programs in ``path`` (default :func:`default_dir`).

    Every program is cached, however quickly it compiled (JAX's default skips those under
    1 s, which are most of a small run's). Returns the folder, or ``None`` when the folder
    cannot be created (the run then simply compiles as usual) or the environment turned
    the cache off.
    """
    if disabled_by_environment():
        return None
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise _checks.type_error("path", "a folder path or None", path,
                                 "e.g. jaxnn.compile_cache.enable('~/.cache/jaxnn/xla')")
    folder = Path(path).expanduser() if path is not None else default_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home, say: compile as usual
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def disable() -> None:
    """Stop using the persistent cache in this process."""
    jax.config.update("jax_compilation_cache_dir", None)
