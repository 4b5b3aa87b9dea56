"""The full Fashion-MNIST files, as Debian's dataset-fashion-mnist installs them.

Reads all four files (counts, dtypes, label range, a SHA-256 of each array, pinned below)
and trains one full epoch of a 784-256-10 ReLU/softmax network at batch 32 with
``jaxnn.train.fit``. CI installs the package first (``.ci/run``), so there these tests
run; elsewhere they are skipped when the files are absent.
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np
import pytest

import jaxnn
from jaxnn import data, optimizers, train

FILES = {  # file -> (shape, SHA-256 of the decompressed array's bytes, uint8 row-major)
    "train-images-idx3-ubyte.gz": (
        (60000, 28, 28), "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012"),
    "train-labels-idx1-ubyte.gz": (
        (60000,), "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
    "t10k-images-idx3-ubyte.gz": (
        (10000, 28, 28), "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"),
    "t10k-labels-idx1-ubyte.gz": (
        (10000,), "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
}
INSTALLED = all((data.FASHION_MNIST_DIR / name).is_file() for name in FILES)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not INSTALLED,
        reason=f"Fashion-MNIST is not installed in {data.FASHION_MNIST_DIR}; "
        "`apt-get install dataset-fashion-mnist` installs it (CI's .ci/run does)",
    ),
]


@pytest.fixture(scope="module")
def fashion():
    return data.load("fashion-mnist")


@pytest.mark.parametrize("name", FILES)
def test_full_files(name):
    shape, digest = FILES[name]
    array = data.read_idx(data.FASHION_MNIST_DIR / name)
    assert array.shape == shape and array.dtype == np.uint8
    if "labels" in name:
        np.testing.assert_array_equal(np.bincount(array), [shape[0] // 10] * 10)
    assert hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() == digest


def test_loaded_dataset(fashion):
    assert isinstance(fashion, data.TrainTest) and fashion.name == "fashion-mnist"
    assert fashion.x_train.shape == (60000, 784) and fashion.x_test.shape == (10000, 784)
    assert fashion.x_train.dtype == np.float32 and fashion.y_train.dtype == np.int32
    assert fashion.x_train.min() == 0 and fashion.x_train.max() == 1
    assert fashion.y_train.min() == 0 and fashion.y_train.max() == 9
    assert (fashion.n_in, fashion.n_out, fashion.input_shape) == (784, 10, (28, 28))
    assert fashion.classes == data.FASHION_MNIST_CLASSES
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[-1] == "Ankle boot"


def test_one_epoch_784_256_10_learns(fashion):
    net = jaxnn.mlp((fashion.n_in, 256, fashion.n_out), hidden="relu", output="softmax",
                    cost="cross_entropy")
    key = jax.random.key(0)
    params = jaxnn.init_params(key, net, "he_normal")
    result = train.fit(net, params, optimizers.sgd(0.05), (fashion.x_train, fashion.y_train),
                       epochs=1, batch_size=32, key=key)
    accuracy = train.evaluate(net, result.params, fashion.x_test, fashion.y_test)["accuracy"]
    assert accuracy > 0.75, accuracy  # chance is 0.10; one epoch of SGD reaches about 0.85
