"""The dataset registry :data:`DATASETS` and :func:`load`, the one entry point.

:data:`DATASETS` maps each name to its loader, ``loader(path=None) -> TrainTest``; it is
the single source of dataset names: the CLI's ``--dataset`` choices, the error for an
unknown name and the docs all read it. Adding a dataset is adding one entry here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from jaxnn import _checks
from jaxnn.data.mnist import (
    fashion_mnist_shapes,
    load_fashion_mnist,
    load_idx_folder,
    load_mnist,
    mnist_shapes,
)
from jaxnn.data.npz import load_npz
from jaxnn.data.traintest import TrainTest, TrainTestShapes

DATASETS: dict[str, Callable[..., TrainTest]] = {
    "mnist": load_mnist,  # no path: the bundled 5,000-digit sample
    "fashion-mnist": load_fashion_mnist,  # no path: Debian's dataset-fashion-mnist
}

# Each loader's header reader: what it will return, known before it reads the arrays.
_SHAPES: dict[Callable[..., TrainTest], Callable[..., TrainTestShapes | None]] = {
    load_mnist: mnist_shapes,
    load_fashion_mnist: fashion_mnist_shapes,
}

_ZIP_MAGIC = b"PK\x03\x04"


def peek(source: str | os.PathLike = "mnist", path: str | os.PathLike | None = None
         ) -> TrainTestShapes | None:
    """What :func:`load` ``(source, path)`` will return (rows, example shape, classes),
    from the files' headers: a few bytes, read in milliseconds where loading takes up to a
    second, so that work that needs only the shapes (compiling the training, see
    :func:`jaxnn.train.precompile`) can start first. ``None`` when that is not known
    without reading the data: a folder of IDX files or an ``.npz`` file (whose number of
    classes is in the labels), or files that are missing or broken (then :func:`load`
    says what is wrong)."""
    loader = DATASETS.get(source) if isinstance(source, str) else None
    shapes = _SHAPES.get(loader)
    return None if shapes is None else shapes(path)


def load(source: str | os.PathLike = "mnist", path: str | os.PathLike | None = None
         ) -> TrainTest:
    """Loads a dataset by name, or from a folder of IDX files, or from an ``.npz`` file.

    Args:
      source: a name in :data:`DATASETS` (``"mnist"``, ``"fashion-mnist"``); or the path
        of a folder holding train/test IDX image and label files (any image size, see
        :func:`~jaxnn.data.mnist.load_idx_folder`); or the path of an ``.npz`` file with
        ``x_train, y_train, x_test, y_test`` (see :func:`~jaxnn.data.npz.load_npz`).
      path: with a name, the folder to read that dataset from instead of its default
        (what the CLI's ``--data DIR`` passes); ``None`` otherwise.

    Returns:
      :class:`~jaxnn.data.traintest.TrainTest`: ``x_train (N, n_in)`` float32,
      ``y_train (N,)`` int32, ``x_test``, ``y_test``, ``name``, ``classes``,
      ``input_shape``, ``source``, and ``n_in`` / ``n_out`` for the network's n_0 and n_L.

    Raises:
      ValueError: an unknown name (the message lists :data:`DATASETS`), ``path`` given
        with a path, or a file that is neither a folder nor an ``.npz`` file.
      FileNotFoundError: a path (it has a ``/`` or a suffix) that does not exist.
      TypeError: ``source`` is not a string or a path.
    """
    if not isinstance(source, str | os.PathLike):
        raise _checks.type_error("source of load", f"a dataset name ({', '.join(DATASETS)}) "
                                 "or a path (str or os.PathLike)", source)
    if isinstance(source, str) and source in DATASETS:
        return DATASETS[source](path)
    if path is not None:
        raise _checks.value_error(
            "path of load", "None when the source is itself a path",
            f"source={os.fspath(source)!r}, path={os.fspath(path)!r}",
            f"pass path= only with a dataset name ({', '.join(DATASETS)})")
    where = Path(source)
    if where.is_dir():
        return load_idx_folder(where)
    if where.is_file():
        with open(where, "rb") as f:
            is_zip = f.read(4) == _ZIP_MAGIC
        if is_zip or where.suffix == ".npz":
            return load_npz(where)
        raise ValueError(
            f"{where}: neither a folder of IDX files nor an .npz file; expected a dataset "
            f"name ({', '.join(DATASETS)}), a folder or an .npz file. Fix: for a single IDX "
            "file use read_idx; for the dataset, pass its folder.")
    text = os.fspath(source)
    if where.exists():  # open() would wait forever on a FIFO
        raise ValueError(
            f"{text}: not a regular file or a folder (a FIFO, a socket or a device); expected "
            "a folder of IDX files or an .npz file. Fix: save the data to a file first.")
    if isinstance(source, os.PathLike) or os.sep in text or "/" in text or where.suffix:
        raise FileNotFoundError(
            f"{text}: no such file or folder; expected a dataset name "
            f"({', '.join(DATASETS)}), a folder of IDX files or an .npz file.")
    close = difflib.get_close_matches(text.lower().replace("_", "-"), list(DATASETS), n=1)
    hint = f" Fix: did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown dataset {text!r}; expected one of: {', '.join(DATASETS)} (or the path of "
        f"a folder of IDX files, or of an .npz file).{hint}")
