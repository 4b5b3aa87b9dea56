"""What every dataset loader returns: :class:`TrainTest`, and the checks that build it.

:func:`from_arrays` turns four arrays read from files (IDX or ``.npz``) into a
:class:`TrainTest`: features flattened to ``(N, n_in)`` float32 (uint8 pixels divided by
255), targets as int32 class labels ``(N,)`` (one-hot rows turned into their index), and
the number of classes K. Problems in the arrays are file errors: a ``ValueError`` whose
message starts with where the array came from (a file, or ``file.npz['x_train']``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from jaxnn import _checks


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TrainTest:
    """A classification dataset, split into train and test, one example per row.

    Unpacks as ``x_train, y_train, x_test, y_test = data`` (the four arrays only).

    Attributes:
      x_train: ``(N_train, n_in)`` float32 (pixels in [0, 1] for uint8 images).
      y_train: ``(N_train,)`` int32 class labels in ``0..n_out − 1``.
      x_test: ``(N_test, n_in)`` float32.
      y_test: ``(N_test,)`` int32 labels.
      name: the dataset's name (``"mnist"``, ``"fashion-mnist"``) or its file's stem.
      classes: the K class names, ``classes[k]`` the name of label k.
      input_shape: the shape of one example before it was flattened, e.g. ``(28, 28)``.
      source: where it was read from (a folder, a file, or the bundled sample).
      n_in: (property) the number of features, the network's n_0.
      n_out: (property) the number of classes K, the network's n_L for a softmax output.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = ""
    classes: tuple[str, ...] = ()
    input_shape: tuple[int, ...] = ()
    source: str = ""

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    @property
    def n_in(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_out(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"TrainTest({self.name!r}, {len(self.x_train)} train, {len(self.x_test)} test, "
                f"n_in={self.n_in}, n_out={self.n_out}, input_shape={self.input_shape})")


class TrainTestShapes(NamedTuple):
    """What a :class:`TrainTest` will hold, known before its arrays are read (from file
    headers: :func:`jaxnn.data.peek`): enough to build the network and compile its
    training while the data loads.

    Attributes:
      n_train, n_test: the rows of ``x_train`` and ``x_test``.
      input_shape: the shape of one example before it is flattened, e.g. ``(28, 28)``.
      classes: the K class names.
      name: the dataset's name, as :class:`TrainTest`'s.
      n_in, n_out: (properties) as :class:`TrainTest`'s.
    """

    n_train: int
    n_test: int
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    name: str = ""

    @property
    def n_in(self) -> int:
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        return len(self.classes)


def as_features(x: np.ndarray, where: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` ``(N, ...)`` of numbers as float32 ``(N, n_in)``, uint8 divided by 255.

    Returns the features and the shape of one example. ValueError (starting with
    ``where``) for non-numbers, fewer than 2 dimensions, no rows, or NaN/Inf.
    """
    if x.dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: features must be numbers (bool, int, uint or float); found dtype "
            f"{x.dtype}. Fix: convert them, e.g. x.astype(np.float32), before saving.")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(
            f"{where}: expected one example per row, shape (N, n_features) or (N, height, "
            f"width[, channels]) with N ≥ 1; found shape {x.shape}. Fix: x.reshape(-1, 1) "
            "for a single feature.")
    shape = tuple(int(d) for d in x.shape[1:])
    flat = x.reshape(x.shape[0], math.prod(shape))
    if x.dtype == np.uint8:  # pixels
        flat = flat.astype(np.float32)
        flat /= np.float32(255)  # in place: no second float copy of a 60,000-image set
        return flat, shape
    with np.errstate(over="ignore"):  # beyond float32's range: Inf, reported below
        flat = flat.astype(np.float32)
    if x.dtype.kind == "f":  # (integers and bools are always finite in float32)
        bad = ~np.isfinite(flat)
        if bad.any():
            raise ValueError(
                f"{where}: features must be finite; found {np.count_nonzero(bad)} NaN or Inf "
                f"value(s) (or values beyond float32's range), the first in row "
                f"{np.flatnonzero(bad.any(axis=1))[0]}. Fix: drop or impute those rows first.")
    return flat, shape


def as_labels(y: np.ndarray, where: str) -> tuple[np.ndarray, int | None]:
    """Integer labels ``(N,)`` or one-hot rows ``(N, K)`` as int32 labels ``(N,)``.

    Returns the labels and K for one-hot input (its width), ``None`` for labels. Float
    labels are accepted when they are whole numbers. ValueError (starting with ``where``)
    otherwise, and for negative labels.
    """
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: labels must be integers (class indices 0..K-1) or one-hot rows; "
            f"found dtype {y.dtype}. Fix: map class names to 0..K-1 and save the names "
            "separately (as 'classes' in an .npz).")
    if y.ndim == 2 and y.shape[1] >= 2:
        ok = (y == 0) | (y == 1)
        rows = ok.all(axis=1) & (np.count_nonzero(y == 1, axis=1) == 1)
        if not rows.all():
            i = int(np.flatnonzero(~rows)[0])
            raise ValueError(
                f"{where}: one-hot targets must hold exactly one 1 and otherwise 0 in each "
                f"row; row {i} is {np.array2string(y[i], threshold=12)}. Fix: pass integer "
                "labels instead, or fix that row.")
        return np.argmax(y, axis=1).astype(np.int32), int(y.shape[1])
    if y.ndim != 1:
        raise ValueError(
            f"{where}: expected labels of shape (N,) or one-hot targets of shape (N, K) with "
            f"K ≥ 2; found shape {y.shape}. Fix: y.reshape(-1) for a column of labels.")
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise ValueError(
                f"{where}: labels must be integers (class indices); found {y[i].item()!r} in row "
                f"{i}. Fix: regression targets are not supported here; for classes, save "
                "integer labels.")
    if y.size and y.min() < 0:
        raise ValueError(
            f"{where}: labels must be class indices ≥ 0; found {y.min()} in row "
            f"{int(np.argmin(y))}. Fix: number the classes 0..K-1.")
    if y.size and y.max() >= 2**31:
        raise ValueError(f"{where}: labels must be class indices below 2**31; found {y.max()}.")
    return y.astype(np.int32), None


def from_arrays(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    where: tuple[str, str, str, str],
    name: str,
    source: str,
    classes=None,
    nouns: tuple[str, str] = ("rows", "labels"),
    pair_hint: str = "",
) -> TrainTest:
    """Checks four arrays read from files and returns them as a :class:`TrainTest`.

    Args:
      x_train, y_train, x_test, y_test: as read (any numeric dtype; see the module doc).
      where: how each array is named in messages: its file, or ``file.npz['x_train']``.
      name, source: copied to the result.
      classes: the class names (K = their number), or ``None``: K is the one-hot width,
        or else the largest training label + 1, and the names are ``"0"``..``"K-1"``.
      nouns: what x's rows and y's entries are called in a count mismatch message.
      pair_hint: appended to that message (e.g. which files belong together).
    """
    xs, ys, shapes, widths = [], [], [], []
    for x, y, wx, wy in ((x_train, y_train, where[0], where[1]),
                         (x_test, y_test, where[2], where[3])):
        if x.ndim >= 1 and y.ndim >= 1 and x.shape[0] != y.shape[0]:
            singular = "/".join(n.removesuffix("s") for n in nouns)
            raise ValueError(
                f"{wy}: {singular} count mismatch: {wx} has {x.shape[0]} {nouns[0]} but {wy} "
                f"has {y.shape[0]} {nouns[1]}; expected the same number.{pair_hint}")
        features, shape = as_features(x, wx)
        labels, width = as_labels(y, wy)
        xs.append(features)
        shapes.append(shape)
        ys.append(labels)
        widths.append(width)
    if (x_train.dtype == np.uint8) != (x_test.dtype == np.uint8):
        raise ValueError(_checks.message(
            f"{where[2]}", "of the kind of the training features: uint8 pixels are divided "
            "by 255 and other numbers kept as they are, so two kinds would be on two scales",
            f"{x_test.dtype} test and {x_train.dtype} training features",
            "save both as uint8 pixels, or both as floats on one scale (e.g. "
            "x.astype(np.float32) / 255 for each)"))
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"{where[2]}: test examples have shape {shapes[1]} but the training examples "
            f"({where[0]}) have shape {shapes[0]}; expected the same shape.")
    if classes is not None:
        classes = tuple(str(c) for c in np.asarray(classes).reshape(-1))
        k, origin = len(classes), "the class names given"
    elif widths[0] is not None:
        k, origin = widths[0], f"the width of the one-hot {where[1]}"
    else:
        k, origin = int(ys[0].max()) + 1, f"the largest training label, in {where[1]}"
    for width, wy in zip(widths, (where[1], where[3]), strict=True):
        if width is not None and width != k:
            raise ValueError(
                f"{wy}: one-hot targets of width {width}; expected {k} classes (from "
                f"{origin}).")
    for labels, wy in zip(ys, (where[1], where[3]), strict=True):
        if labels.max() >= k:
            raise ValueError(
                f"{wy}: labels must be in 0..{k - 1} ({k} classes, from {origin}); found "
                f"{labels.max()}. Fix: number the classes 0..K-1 in both sets, or list every "
                "class name (as 'classes' in an .npz).")
    if k < 2:
        raise ValueError(
            f"{where[1]}: expected at least 2 classes; found only label 0. Fix: a classifier "
            "needs examples of two classes or more.")
    if classes is None:
        classes = tuple(str(i) for i in range(k))
    return TrainTest(xs[0], ys[0], xs[1], ys[1], name=name, classes=classes,
                     input_shape=shapes[0], source=source)
