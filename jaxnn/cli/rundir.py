"""A run directory: jaxnn's alone, one writer at a time, every write atomic.

* **Created exclusively.** The default ``runs/<YYYYmmdd-HHMMSS>-<6 hex digits>`` is made
  with ``mkdir`` (which fails if the name exists) and another name is drawn on a
  collision, so runs started in the same second never share a folder.
* **Locked.** The writer holds ``fcntl.flock`` on ``.jaxnn.lock`` for the whole run; a
  second ``jaxnn train`` into the folder (a new run or a ``--resume``) is refused while the
  first runs. The lock goes with the process, however it ends.
* **Not someone else's.** A folder holding files that are not a jaxnn run (a user's own
  ``config.json``, notes, a project) is refused without ``--force``; so is a folder
  holding a jaxnn run, finished, diverged or interrupted, without ``--resume`` or
  ``--force``. An empty folder, or one that does not exist yet, is fine. ``--force``
  replaces only a jaxnn run's own files, never a user's file of the same name.
* **Atomic writes.** JSON files are written to a temporary file in the folder, fsynced and
  renamed over the old one; ``metrics.jsonl`` gets one fsynced line per epoch, appended
  after that epoch's checkpoint is on disk, so the checkpoint is never behind the metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (a second writer is not detected)
    fcntl = None

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
CURVE = "learning_curve.png"
# What `jaxnn evaluate` adds to a run directory.
CONFUSION = "confusion.png"
MISCLASSIFIED = "misclassified.png"
# What `jaxnn sweep` writes (with CONFIG and SUMMARY).
RUNS_CSV = "runs.csv"
SUMMARY_MD = "summary.md"
CURVES = "curves.png"
LOCK = ".jaxnn.lock"
# config.json of a jaxnn run says so: a user's own config.json is not mistaken for one.
FORMAT = "jaxnn-run/1"
SWEEP_FORMAT = "jaxnn-sweep/1"
# What each kind of run writes (jaxnn evaluate adds its figures to a training run).
TRAIN_FILES = (CONFIG, METRICS, SUMMARY, CHECKPOINT, BEST, CURVE, CONFUSION, MISCLASSIFIED)
SWEEP_FILES = (CONFIG, RUNS_CSV, SUMMARY, SUMMARY_MD, CURVES)
RUN_FILES = tuple(dict.fromkeys(TRAIN_FILES + SWEEP_FILES))


class Busy(OSError):
    """Another process holds the run directory's lock."""


def make(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, the deepest first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return missing


def create_default(root: str | os.PathLike = "runs") -> tuple[Path, list[Path]]:
    """A new, empty ``root/<YYYYmmdd-HHMMSS>-<6 hex digits>``, created exclusively; and the
    folders created for it, the deepest first."""
    root = Path(root)
    made = make(root)
    for _ in range(100):
        path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path, [path, *made]
    raise FileExistsError(f"{root}: no free run directory name after 100 tries. Fix: --out DIR.")


def lock(path: Path) -> int | None:
    """Hold the lock of the run directory ``path`` (a file descriptor: close it to let go).

    Raises :class:`Busy` when another process holds it.
    """
    if fcntl is None:
        return None
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise Busy(
            f"{path} is in use: another jaxnn process{f' (pid {holder})' if holder else ''} "
            "is writing this run; nothing was written. Fix: wait for it to end, or choose "
            "another --out."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode("ascii"))
    return fd


def unlock(fd: int | None) -> None:
    """Let go of a lock taken by :func:`lock`."""
    if fd is not None:
        os.close(fd)


def is_ours(path: Path, name: str) -> bool:
    """Whether ``name`` in the folder ``path`` is a file the jaxnn run there wrote (or a
    temporary file of one of its interrupted writes): a config.json that says it is a
    jaxnn run's, and the files of that kind of run (:data:`TRAIN_FILES`,
    :data:`SWEEP_FILES`) beside it; without one, a training run's files beside its
    checkpoint. A user's own summary.md is not a training run's file."""
    if name == LOCK:
        return True
    if name.startswith(".") and name.endswith(".tmp"):
        return any(name.startswith(f".{f}.") for f in RUN_FILES)
    kind = read_json(path / CONFIG, {}).get("format")
    if name == CONFIG:
        return kind in (FORMAT, SWEEP_FORMAT)
    if kind == SWEEP_FORMAT:
        return name in SWEEP_FILES
    if kind == FORMAT or (path / CHECKPOINT).exists():
        return name in TRAIN_FILES
    return False


def holds_run(path: Path) -> str | None:
    """What shows that the folder ``path`` holds a jaxnn run (a file name), or None."""
    if (path / CHECKPOINT).exists():
        return CHECKPOINT
    if is_ours(path, CONFIG) and (path / CONFIG).exists():
        return CONFIG
    return None


def holds_sweep(path: Path) -> bool:
    """Whether the folder ``path`` holds a ``jaxnn sweep`` (its config.json says so)."""
    return read_json(path / CONFIG, {}).get("format") == SWEEP_FORMAT


def check_fresh(path: Path, *, force: bool, resumable: bool = True,
                writes: tuple[str, ...] = TRAIN_FILES) -> None:
    """Make the folder ``path`` ready for a new run that ``writes`` these files: fine when
    empty; FileExistsError (nothing touched) when it holds a run or anything else, unless
    ``force``, which removes the files of a run and leaves other files alone. A file of
    one of those names that no jaxnn run wrote (a user's own config.json) is never
    replaced: FileExistsError, even with ``force``."""
    names = sorted(n for n in os.listdir(path) if n != LOCK)
    run = holds_run(path)
    foreign = [n for n in names if not is_ours(path, n)]
    if not force:
        if run:
            raise FileExistsError(
                f"{path} already holds a run ({run}); nothing was overwritten. Fix: "
                + ("--resume to continue it, " if resumable else "")
                + "--force to start it over, or choose another --out."
            )
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more"
                                              if len(foreign) > 3 else "")
            raise FileExistsError(
                f"{path} is not empty and holds files that are not a jaxnn run ({shown}); "
                "nothing was written. Fix: choose a new or empty --out, or --force to write "
                f"the run's files ({', '.join(writes)}) beside them."
            )
    clash = [n for n in foreign if n in writes]
    if clash:
        raise FileExistsError(
            f"{path} holds {', '.join(clash)}, which no jaxnn run wrote and this run would "
            "replace; nothing was written (--force replaces only a jaxnn run's own files). "
            "Fix: move them elsewhere, or choose another --out."
        )
    for name in names:
        if name not in foreign:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path / name)


def discard(path: Path, created: list[Path]) -> None:
    """Remove what a run that never finished an epoch wrote into ``path`` (its config,
    empty metrics, lock file), and the folders it ``created`` when they are empty."""
    for name in os.listdir(path):
        if is_ours(path, name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path / name)
    for folder in created:
        with contextlib.suppress(OSError):
            folder.rmdir()


def drop_temporary_files(path: Path) -> None:
    """Remove the temporary files of writes an interrupted run left (never read)."""
    for name in os.listdir(path):
        if name.endswith(".tmp") and is_ours(path, name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path / name)


def read_json(path: Path, default=None):
    """The JSON object in ``path``; ``default`` when it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return default
    return value if isinstance(value, dict) else default


def write_json(path: Path, obj) -> None:
    """``obj`` as indented JSON, atomically (see :func:`write_text`)."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Temporary file in the same folder, fsync, rename, fsync the folder: a reader (or a
    crash) sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def sync_folder(path: Path) -> None:
    """fsync a folder, so that renames and new files in it survive a power cut."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
