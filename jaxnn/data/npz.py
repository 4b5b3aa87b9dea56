"""A dataset a user brings as one ``.npz`` file: :func:`load_npz`.

The format (see also the :mod:`jaxnn.data` docstring)::

    numpy.savez("my_data.npz", x_train=x_train, y_train=y_train,
                x_test=x_test, y_test=y_test, classes=names)   # classes optional

``x_*``: numbers ``(N, ...)``, one example per row, flattened to ``(N, n_in)``; uint8 is
taken as pixels and divided by 255, anything else converted to float32 as it is, so
``x_train`` and ``x_test`` must be of one kind (both uint8, or neither).
``y_*``: integer class labels ``(N,)`` in ``0..K-1``, or one-hot rows ``(N, K)``.
``classes``: K class names; without it K is the largest training label + 1.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from jaxnn import _checks
from jaxnn.data.traintest import TrainTest, from_arrays

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_OPTIONAL_KEYS = ("classes",)
_EXAMPLE = "numpy.savez(path, x_train=…, y_train=…, x_test=…, y_test=…)"
_CORRUPT = (OSError, EOFError, zipfile.BadZipFile, zlib.error)


def load_npz(path: str | os.PathLike) -> TrainTest:
    """Loads a classification dataset from an ``.npz`` file (format above).

    No Python object in the file is ever loaded (``allow_pickle=False``).

    Returns:
      :class:`TrainTest`: ``x`` float32 ``(N, n_in)``, ``y`` int32 labels, ``name`` the
      file's stem, ``classes`` the names (or ``"0"``..``"K-1"``), ``input_shape`` the shape
      of one example as stored (e.g. ``(32, 32, 3)``).

    Raises:
      FileNotFoundError: no such file.
      ValueError (its message starts with the file, or ``file.npz['key']``): not an
        ``.npz`` archive, a key missing or unknown, an array of Python objects, counts of x
        and y that differ, non-numeric, NaN or Inf features, labels that are not integers,
        negative or beyond the classes, one-hot rows that are not one-hot.
    """
    if not isinstance(path, str | os.PathLike):
        raise _checks.type_error("path of load_npz", "a file path (str or os.PathLike)", path)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such .npz file. Fix: check the path.")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file; expected an .npz file written by "
                         f"{_EXAMPLE}.")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, *_CORRUPT) as e:
        raise ValueError(
            f"{path}: not a readable .npz archive ({type(e).__name__}: {e}); expected one "
            f"written by {_EXAMPLE}.") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path}: a single .npy array; expected an .npz archive with the arrays "
            f"{', '.join(NPZ_KEYS)}. Fix: {_EXAMPLE}.")
    with archive:
        keys = list(archive.files)
        missing = [k for k in NPZ_KEYS if k not in keys]
        unknown = [k for k in keys if k not in NPZ_KEYS + NPZ_OPTIONAL_KEYS]
        if missing or unknown:
            what = "; ".join(part for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "") if part)
            raise ValueError(
                f"{path}: {what}. Expected the arrays {', '.join(NPZ_KEYS)} and optionally "
                f"{', '.join(NPZ_OPTIONAL_KEYS)}; found {', '.join(keys) or 'none'}. "
                f"Fix: {_EXAMPLE}.")
        arrays = {k: _read(archive, k, path) for k in keys}
    classes = arrays.get("classes")
    if classes is not None and classes.ndim != 1:
        raise ValueError(f"{path}['classes']: expected a 1-D array of K class names; found "
                         f"shape {classes.shape}.")
    return from_arrays(*(arrays[k] for k in NPZ_KEYS),
                       where=tuple(f"{path}[{k!r}]" for k in NPZ_KEYS), name=path.stem,
                       source=str(path), classes=classes)


def _check_declared_size(archive, key: str, path: Path) -> None:
    """ValueError when the member's .npy header declares more bytes than the member holds
    (a damaged or hostile file would make numpy allocate them first)."""
    try:
        info = archive.zip.getinfo(f"{key}.npy")
        with archive.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                return  # a newer header: numpy's own reader checks it
            shape, _, dtype = read(f)
    except (KeyError, ValueError, *_CORRUPT):
        return  # not a plain .npy member: _read's own errors say what is wrong
    if dtype.hasobject:
        return  # refused by _read, without reading it
    needed = math.prod(shape) * dtype.itemsize
    if needed > info.file_size:
        raise ValueError(
            f"{path}[{key!r}]: its header declares shape {tuple(shape)} of {dtype} "
            f"({needed:,} bytes), but the archive holds {info.file_size:,} bytes for it: "
            "the file is damaged or was not written by numpy.savez. Fix: write the file "
            "again.")


def _read(archive, key: str, path: Path) -> np.ndarray:
    """One array of the archive; object arrays, corrupt members and headers declaring
    more than the member holds become ValueErrors."""
    _check_declared_size(archive, key, path)
    try:
        return archive[key]
    except ValueError:  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        raise ValueError(
            f"{path}[{key!r}]: an array of Python objects, which jaxnn refuses to load "
            "(loading objects can run code); "
            "expected numbers (or strings, for classes). Fix: save a numeric array, e.g. "
            "x.astype(np.float32).") from None
    except _CORRUPT as e:
        raise ValueError(
            f"{path}[{key!r}]: corrupt member of the .npz archive ({type(e).__name__}: "
            f"{e}). Fix: write the file again.") from None
