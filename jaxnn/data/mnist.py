"""Datasets stored as IDX files: MNIST (full, or the bundled 5,000-digit sample),
Fashion-MNIST, and any folder of IDX files.

* :func:`load_mnist`: the four standard MNIST files in a folder, or without one the
  bundled sample (4,000 train, 1,000 test).
* :func:`load_fashion_mnist`: Zalando's Fashion-MNIST, 60,000 train and 10,000 test
  28 × 28 grey images of 10 kinds of clothing, in the same four-file format; by default
  from where Debian's ``dataset-fashion-mnist`` package installs it,
  :data:`FASHION_MNIST_DIR`.
* :func:`load_idx_folder`: any train/test pair of IDX image and label files, images of
  any size and number of classes.

Each returns a :class:`~jaxnn.data.traintest.TrainTest`.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

import numpy as np

from jaxnn import _checks
from jaxnn.data.idx import idx_header_of, read_idx, read_idx_header
from jaxnn.data.preprocess import train_val_split
from jaxnn.data.traintest import TrainTest, TrainTestShapes, as_features, from_arrays

# load_mnist's result type had this name before every loader shared it; the same class.
MNIST = TrainTest

# The four standard files (LeCun's names); each may be raw or end in ".gz".
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DIGITS = tuple(str(d) for d in range(10))
SAMPLE_FILES = ("mnist5k-images-idx3-ubyte.gz", "mnist5k-labels-idx1-ubyte.gz")
SAMPLE_TEST_SIZE = 1000  # 100 of each class: the sample has 500 of each.
SAMPLE_SPLIT_SEED = 0

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_PAIR_HINT = " Are the two files from the same set (train with train, t10k with t10k)?"


def _candidates(stem: str) -> list[str]:
    """``train-images-idx3-ubyte`` and its common ``train-images.idx3-ubyte`` spelling,
    each raw or ``.gz``."""
    base, kind = stem.rsplit("-idx", 1)
    names = [stem, f"{base}.idx{kind}"]
    return [n + ext for n in names for ext in ("", ".gz")]


def _find_mnist_files(folder: Path, fn: str, fix: str) -> list[Path]:
    """The four MNIST-format files in ``folder``, in :data:`MNIST_FILES` order."""
    found, missing = [], []
    for stem in MNIST_FILES:
        hits = [folder / n for n in _candidates(stem) if (folder / n).is_file()]
        if hits:
            found.append(hits[0])
        else:
            missing.append(stem)
    if missing:
        raise FileNotFoundError(
            f"{fn}: folder {str(folder)!r} lacks {', '.join(missing)}. Expected the four IDX "
            f"files {', '.join(MNIST_FILES)} (each may also end in .gz, and "
            f"'train-images.idx3-ubyte' spellings are accepted). Fix: {fix}."
        )
    return found


def _folder(fn: str, path) -> Path:
    """``path`` as a folder: TypeError for a non-path, ValueError for a file."""
    if not isinstance(path, str | os.PathLike):
        raise _checks.type_error(f"path of {fn}", "a folder path (str or os.PathLike) or None",
                                 path)
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        what = "a file" if folder.is_file() else "not a folder (a FIFO, a socket or a device)"
        raise ValueError(
            f"{fn}: {str(folder)!r} is {what}; expected the folder that holds the four "
            f"MNIST IDX files ({', '.join(MNIST_FILES)}). Fix: pass its parent folder, "
            f"{str(folder.parent)!r}, or read one file with read_idx."
        )
    return folder


def _check_28x28(images: np.ndarray, labels: np.ndarray, names: tuple[str, str],
                 label_kind: str) -> None:
    """The MNIST format's own rules: uint8 28 × 28 images, uint8 labels 0..9."""
    img_name, lbl_name = names
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{img_name}: expected uint8 images of shape (N, 28, 28), found "
            f"{images.dtype} of shape {images.shape}."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{lbl_name}: expected uint8 labels of shape (N,), found "
            f"{labels.dtype} of shape {labels.shape}."
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"{lbl_name}: expected {label_kind} in 0..9, found values up to {labels.max()}."
        )


def _load_28x28(folder: Path, fn: str, fix: str, name: str, classes, label_kind: str):
    files = _find_mnist_files(folder, fn, fix)
    arrays = [read_idx(f) for f in files]
    where = tuple(str(f) for f in files)
    _check_28x28(arrays[0], arrays[1], where[:2], label_kind)
    _check_28x28(arrays[2], arrays[3], where[2:], label_kind)
    return from_arrays(*arrays, where=where, name=name, source=str(folder), classes=classes,
                       nouns=("images", "labels"), pair_hint=_PAIR_HINT)


def load_mnist(path: str | os.PathLike | None = None) -> TrainTest:
    """Loads MNIST as float32 pixels in [0, 1] and int32 labels.

    Args:
      path: a folder holding the four standard files ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
        (each raw or ``.gz``; 60,000 train and 10,000 test digits, though any count is
        read). ``None`` loads the bundled sample instead: 5,000 real MNIST digits
        (500 per class), split into 4,000 train and 1,000 test.

    Sample split (fixed, stratified): ``train_val_split(x, y, val_size=1000,
    seed=SAMPLE_SPLIT_SEED)`` with ``SAMPLE_SPLIT_SEED = 0``, i.e. from a
    ``numpy.random.default_rng(0)`` each class in turn gives 100 test digits chosen by a
    permutation, and both sets are then shuffled by a permutation from the same generator.
    So the result is 400 train and 100 test digits of each class, disjoint, not sorted by
    class, and the same on every call.

    Returns:
      :class:`TrainTest` ``(x_train (N, 784), y_train (N,), x_test (M, 784), y_test (M,))``
      with ``name="mnist"``, ``classes`` ``"0"``..``"9"``, ``input_shape=(28, 28)``.

    Raises:
      FileNotFoundError: ``path`` lacks one of the four files (the message lists them).
      ValueError: a file is corrupt, image and label counts differ, or a label is not 0..9.
    """
    if path is None:
        return _load_sample()
    fix = ("download them from https://yann.lecun.com/exdb/mnist/ or a mirror, or call "
           "load_mnist() without a path for the bundled 5,000-digit sample")
    return _load_28x28(_folder("load_mnist", path), "load_mnist", fix, "mnist", DIGITS,
                       "digit labels")


def _load_sample() -> TrainTest:
    """The bundled 5,000-digit sample, split 4,000 / 1,000 (see :func:`load_mnist`)."""
    folder = importlib.resources.files("jaxnn").joinpath("_data")
    images, labels = (read_idx(folder.joinpath(n).read_bytes()) for n in SAMPLE_FILES)
    _check_28x28(images, labels, SAMPLE_FILES, "digit labels")
    x, shape = as_features(images, SAMPLE_FILES[0])
    split = train_val_split(x, labels.astype(np.int32), val_size=SAMPLE_TEST_SIZE,
                            seed=SAMPLE_SPLIT_SEED)
    return TrainTest(split.x_train, split.y_train, split.x_val, split.y_val, name="mnist",
                     classes=DIGITS, input_shape=shape,
                     source="jaxnn/_data (the bundled 5,000-digit sample)")


def load_fashion_mnist(path: str | os.PathLike | None = None) -> TrainTest:
    """Loads Fashion-MNIST as float32 pixels in [0, 1] and int32 labels.

    Fashion-MNIST (Han Xiao, Kashif Rasul, Roland Vollgraf, Zalando Research, 2017,
    https://github.com/zalandoresearch/fashion-mnist, MIT licence): 60,000 train and
    10,000 test grey 28 × 28 images of clothing in 10 classes, in MNIST's four-file IDX
    format, a drop-in replacement for MNIST that is harder to fit.

    Args:
      path: the folder of the four files (``train-images-idx3-ubyte.gz`` …). ``None``:
        :data:`FASHION_MNIST_DIR`, ``/usr/share/datasets/fashion-mnist``, where
        ``apt-get install dataset-fashion-mnist`` puts them on Debian and Ubuntu.

    Returns:
      :class:`TrainTest` with ``name="fashion-mnist"``, ``classes`` =
      :data:`FASHION_MNIST_CLASSES` (T-shirt/top, Trouser, …, Ankle boot),
      ``input_shape=(28, 28)``, ``x`` float32 ``(N, 784)`` in [0, 1], ``y`` int32 in 0..9.

    Raises:
      FileNotFoundError: the files are not there (the message says how to get them).
      ValueError: a file is corrupt, image and label counts differ, or a label is not 0..9.
    """
    folder = FASHION_MNIST_DIR if path is None else _folder("load_fashion_mnist", path)
    fix = ("on Debian or Ubuntu `apt-get install dataset-fashion-mnist` (it installs them in "
           f"{FASHION_MNIST_DIR}); or download them from "
           "https://github.com/zalandoresearch/fashion-mnist and pass their folder: "
           "`--data DIR` on the command line, load_fashion_mnist(DIR) in Python")
    return _load_28x28(folder, "load_fashion_mnist", fix, "fashion-mnist",
                       FASHION_MNIST_CLASSES, "labels")


def mnist_shapes(path: str | os.PathLike | None = None) -> TrainTestShapes | None:
    """What :func:`load_mnist` (``path``) will return, from the files' headers alone; None
    when the files are missing or not MNIST's format (the loader then says what is wrong)."""
    if path is None:
        sample = importlib.resources.files("jaxnn").joinpath("_data")
        try:
            headers = []
            for name in SAMPLE_FILES:
                with sample.joinpath(name).open("rb") as f:
                    headers.append(idx_header_of(f, name))
        except (OSError, ValueError):
            return None
        n = _rows_28x28(*headers)
        if n is None:
            return None
        return TrainTestShapes(n - SAMPLE_TEST_SIZE, SAMPLE_TEST_SIZE, (28, 28), DIGITS,
                               "mnist")
    return _shapes_28x28(path, "mnist", DIGITS)


def fashion_mnist_shapes(path: str | os.PathLike | None = None) -> TrainTestShapes | None:
    """What :func:`load_fashion_mnist` (``path``) will return, from the files' headers
    alone; None when the files are missing or not in MNIST's format."""
    return _shapes_28x28(FASHION_MNIST_DIR if path is None else path, "fashion-mnist",
                         FASHION_MNIST_CLASSES)


def _shapes_28x28(path, name: str, classes) -> TrainTestShapes | None:
    try:
        files = _find_mnist_files(Path(path), name, "")
        headers = [read_idx_header(f) for f in files]
    except (OSError, ValueError, TypeError):
        return None
    n, m = _rows_28x28(*headers[:2]), _rows_28x28(*headers[2:])
    if n is None or m is None:
        return None
    return TrainTestShapes(n, m, (28, 28), classes, name)


def _rows_28x28(images, labels) -> int | None:
    """N when the headers ``(dtype, shape)`` of an image file and a label file declare
    what :func:`_check_28x28` accepts (uint8 (N, 28, 28) and uint8 (N,)), else None."""
    (image_dtype, image_shape), (label_dtype, label_shape) = images, labels
    if (image_dtype != np.uint8 or label_dtype != np.uint8 or len(image_shape) != 3
            or image_shape[1:] != (28, 28) or label_shape != image_shape[:1]):
        return None
    return image_shape[0]


# A train or test, images or labels IDX file, with or without a prefix ("emnist-digits-").
_IDX_NAME = re.compile(
    r"^(?:.*[-_.])?(train|t10k|test)-(images|labels)[-.]idx[1-4]-ubyte(?:\.gz)?$")


def load_idx_folder(path: str | os.PathLike) -> TrainTest:
    """Loads any dataset stored as four IDX files: train and test images and labels.

    The files are found by name: ``[prefix-](train|t10k|test)-(images|labels)-idx<d>-ubyte``,
    raw or ``.gz`` (MNIST's names, EMNIST's, …). Images may have any shape ``(N, ...)`` and
    any IDX dtype (uint8 pixels are divided by 255); labels are integers ``0..K-1``, K being
    the largest training label + 1.

    Returns:
      :class:`TrainTest`, ``name`` the folder's name, ``classes`` ``"0"``..``"K-1"``.

    Raises:
      FileNotFoundError: no such folder, or one of the four files is missing.
      ValueError: two candidates for one file, a corrupt file, image and label counts that
        differ, test images of another shape, or labels out of range (messages start with
        the file's name).
    """
    if not isinstance(path, str | os.PathLike):
        raise _checks.type_error("path of load_idx_folder", "a folder path (str or "
                                 "os.PathLike)", path)
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; expected a folder of IDX files.")
    slots: dict[tuple[str, str], list[Path]] = {}
    for p in sorted(folder.iterdir()):
        match = _IDX_NAME.match(p.name)
        if match and p.is_file():
            split = "train" if match.group(1) == "train" else "test"
            slots.setdefault((split, match.group(2)), []).append(p)
    files = []
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            hits = slots.get((split, kind), [])
            stems = {p.name.removesuffix(".gz") for p in hits}
            if not hits:
                raise FileNotFoundError(
                    f"{folder}: lacks the {split} {kind} IDX file; expected four files named "
                    "like train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte (or test-images-…), t10k-labels-idx1-ubyte, each "
                    "raw or .gz, optionally after a prefix such as 'emnist-digits-'.")
            if len(stems) > 1:
                raise ValueError(
                    f"{folder}: {len(stems)} candidates for the {split} {kind} file: "
                    f"{', '.join(sorted(stems))}; expected one. Fix: keep one dataset per "
                    "folder.")
            files.append(hits[0])  # "x" sorts before "x.gz": the raw file wins
    arrays = [read_idx(f) for f in files]
    return from_arrays(*arrays, where=tuple(str(f) for f in files), name=folder.name,
                       source=str(folder), nouns=("images", "labels"), pair_hint=_PAIR_HINT)
