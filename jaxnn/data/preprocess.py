"""Preprocessing: :func:`one_hot`, :func:`standardize`, :func:`train_val_split`.

NumPy on the host, rows are examples (``x: (m, n)``). Randomness is explicit: the split
takes an integer ``seed`` and draws from its own ``numpy.random.default_rng(seed)``.
Bad arguments raise in the one format of :mod:`jaxnn._checks`: ``TypeError`` for the wrong
kind of thing, ``ValueError`` for a wrong value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxnn import _checks


def _as_array(what: str, value) -> np.ndarray:
    """``np.asarray(value)``, with a clear ValueError for ragged nested lists."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise _checks.value_error(
            what, "a rectangular array", f"a ragged {type(value).__name__} ({e})",
            "give every row the same length") from None


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
      TypeError: ``num_classes`` is not an int.
    """
    labels = _as_array("labels of one_hot", labels)
    num_classes = _checks.integer("num_classes of one_hot", num_classes, minimum=1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise _checks.value_error(
            "labels of one_hot", "integer class labels", f"dtype {labels.dtype}",
            "if they are whole numbers, pass labels.astype(np.int32)")
    if labels.ndim != 1:
        raise _checks.value_error("labels of one_hot", "of shape (m,)", f"{labels.shape}",
                                  "pass labels.reshape(-1)")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise _checks.value_error(
            "labels of one_hot", f"in [0, {num_classes})",
            f"min {labels.min()} and max {labels.max()}", "raise num_classes or fix the labels")
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
    """Input normalisation (the neural-network notes): x ← (x − μ)/σ, per feature, μ and σ
    from x_train only.

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
    x_train = _as_array("x_train of standardize", x_train)
    if x_train.ndim != 2 or x_train.shape[0] < 1:
        raise _checks.value_error("x_train of standardize", "of shape (m, n) with m ≥ 1",
                                  f"{x_train.shape}")
    others = tuple(_as_array(f"others[{i}] of standardize", x) for i, x in enumerate(others))
    for i, x in enumerate(others):
        if x.ndim != 2 or x.shape[1] != x_train.shape[1]:
            raise _checks.value_error(f"others[{i}] of standardize",
                                      f"of shape (m_i, {x_train.shape[1]}) like x_train",
                                      f"{x.shape}")
    for name, x in (("x_train", x_train), *((f"others[{i}]", x) for i, x in enumerate(others))):
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(_checks.message(
                f"{name} of standardize", "an array of numbers", f"dtype {x.dtype}",
                "convert it, e.g. x.astype(np.float32)"))
        if not np.all(np.isfinite(x)):
            raise _checks.value_error(
                f"{name} of standardize", "finite (its mean and σ would be NaN)",
                f"{np.count_nonzero(~np.isfinite(x))} NaN or Inf entries",
                "clean the data (e.g. drop those rows) first")
    eps = _checks.real("eps of standardize", eps, minimum=0.0, strict=True)
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
      seed: the seed of the generator, an int ≥ 0.
      stratify: see above.

    Returns:
      :class:`Split` ``(x_train, y_train, x_val, y_val)``, rows disjoint, together all of x.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise _checks.value_error("x and y of train_val_split",
                                  "the same length (one row of y per row of x)",
                                  f"x {x.shape} and y {y.shape}")
    m = x.shape[0]
    if (val_fraction is None) == (val_size is None):
        raise _checks.value_error(
            "the validation set of train_val_split", "sized by exactly one of val_fraction "
            "or val_size", f"val_fraction={val_fraction}, val_size={val_size}")
    if val_fraction is not None:
        val_fraction = _checks.real("val_fraction of train_val_split", val_fraction)
        if not 0 < val_fraction < 1:
            raise _checks.value_error("val_fraction of train_val_split", "in (0, 1)",
                                      repr(val_fraction))
        val_size = round(val_fraction * m)
    else:
        val_size = _checks.integer("val_size of train_val_split", val_size,
                                   fix="give a number of rows; for a fraction pass "
                                   "val_fraction= instead")
    _checks.integer("seed of train_val_split", seed, minimum=0)
    if not 1 <= val_size <= m - 1:
        raise _checks.value_error(
            "the validation set of train_val_split", f"1 to m - 1 = {m - 1} rows",
            f"{val_size} (from val_fraction={val_fraction}, val_size={val_size})")
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    if stratify is None:
        stratify = labels
    if stratify and not labels:
        raise _checks.value_error("y of train_val_split(stratify=True)", "(m,) integer labels",
                                  f"{y.dtype} of shape {y.shape}", "pass stratify=False")
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
