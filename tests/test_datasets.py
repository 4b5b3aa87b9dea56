"""Tests of jaxnn.data's datasets: the registry, data.load, .npz files, IDX folders of any
image size, and Fashion-MNIST's loader on small fake files (the full files: see
tests/test_fashion_mnist.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from jaxnn import data

# The dataset names as messages list them, from the registry (a pattern).
NAMES = re.escape(", ".join(data.DATASETS))


def save_npz(path, **change):
    """A valid little .npz (3 classes, 2×3 images), with ``change`` applied; ``None``
    drops a key."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 2, 3), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 0, 1, 2]),
        "x_test": rng.integers(0, 256, (4, 2, 3), dtype=np.uint8),
        "y_test": np.array([2, 1, 0, 1]),
    }
    arrays.update(change)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def write_idx_set(folder, images=(5, 10, 10), labels=5, test=(3, 10, 10), names=None,
                  prefix="", dtype=np.uint8):
    """Four IDX files of any image size; returns the arrays written."""
    rng = np.random.default_rng(1)
    names = names or ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    arrays = [rng.integers(0, 256, images).astype(dtype),
              rng.integers(0, 4, labels, dtype=np.uint8),
              rng.integers(0, 256, test).astype(dtype),
              rng.integers(0, 4, test[0], dtype=np.uint8)]
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(names, arrays, strict=True):
        data.write_idx(folder / (prefix + name), array)
    return arrays


# ----------------------------------------------------------------------------------------
# The registry and data.load
# ----------------------------------------------------------------------------------------


def test_registry_names():
    # Known entries, not the whole list: a new dataset joins without an edit here.
    assert {"mnist", "fashion-mnist"} <= set(data.DATASETS)
    assert all(isinstance(name, str) and callable(load) for name, load in data.DATASETS.items())
    assert data.DATASETS["mnist"] is data.load_mnist
    assert data.DATASETS["fashion-mnist"] is data.load_fashion_mnist


def test_load_by_name_is_the_loader():
    sample = data.load("mnist")
    assert isinstance(sample, data.TrainTest) and isinstance(sample, data.MNIST)
    assert (sample.name, sample.n_in, sample.n_out) == ("mnist", 784, 10)
    assert sample.classes == data.DIGITS and sample.input_shape == (28, 28)
    x_train, y_train, x_test, y_test = sample  # unpacks as the four arrays
    np.testing.assert_array_equal(x_train, data.load_mnist().x_train)
    assert len(x_test) == len(y_test) == 1000 and y_train.dtype == np.int32
    assert "TrainTest('mnist', 4000 train, 1000 test, n_in=784, n_out=10" in repr(sample)


def test_load_name_with_path(tmp_path):
    write_idx_set(tmp_path, images=(5, 28, 28), test=(3, 28, 28))
    fashion = data.load("fashion-mnist", path=tmp_path)
    assert fashion.name == "fashion-mnist" and fashion.classes == data.FASHION_MNIST_CLASSES
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    assert fashion.x_train.shape == (5, 784) and fashion.source == str(tmp_path)
    assert data.load("mnist", path=str(tmp_path)).name == "mnist"


@pytest.mark.parametrize("name, hint", [("fashion_mnist", "fashion-mnist"), ("MNIST", "mnist"),
                                        ("cifar10", None)])
def test_load_unknown_name_lists_the_registry(name, hint):
    with pytest.raises(ValueError, match=rf"unknown dataset '{name}'; expected one of: "
                                         rf"{NAMES} \(or the path") as err:
        data.load(name)
    assert (f"did you mean '{hint}'" in str(err.value)) == (hint is not None)


def test_load_rejects(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz: no such file or folder"):
        data.load(str(tmp_path / "nothing.npz"))
    with pytest.raises(FileNotFoundError, match=rf"no such file or folder.*\({NAMES}\)"):
        data.load(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt: neither a folder of IDX files nor an "):
        data.load(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=r"path of load must be None when the source is"):
        data.load(tmp_path, path=tmp_path)
    with pytest.raises(TypeError, match=rf"source of load must be a dataset name \({NAMES}\)"):
        data.load(3)


# ----------------------------------------------------------------------------------------
# .npz files
# ----------------------------------------------------------------------------------------


def test_npz_images_labels_and_classes(tmp_path):
    path = save_npz(tmp_path / "toy.npz", classes=np.array(["a", "b", "c", "d"]))
    d = data.load(path)
    assert d.name == "toy" and d.source == str(path)
    assert d.classes == ("a", "b", "c", "d") and d.n_out == 4  # class 3 has no examples
    assert d.input_shape == (2, 3) and d.n_in == 6 and d.x_train.shape == (6, 6)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    raw = np.load(path)
    np.testing.assert_allclose(d.x_test, raw["x_test"].reshape(4, 6) / 255, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test, [2, 1, 0, 1])
    assert data.load(str(path)).n_out == 4 and data.load_npz(path).n_in == 6


def test_npz_features_one_hot_and_float_labels(tmp_path):
    x = np.linspace(-5, 5, 40).reshape(8, 5)  # float64 features: kept as they are
    path = save_npz(tmp_path / "f.npz", x_train=x, x_test=x[:3] * 2,
                    y_train=np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]], y_test=np.array([2.0, 0, 1]))
    d = data.load(path)
    np.testing.assert_allclose(d.x_train, x.astype(np.float32))
    np.testing.assert_array_equal(d.y_train, [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(d.y_test, [2, 0, 1])
    assert (d.n_in, d.n_out, d.input_shape, d.classes) == (5, 3, (5,), ("0", "1", "2"))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"y_test": None}, r"f\.npz: missing y_test\. Expected the arrays x_train, y_train, "
                           r"x_test, y_test and optionally classes; found x_train, y_train, "
                           r"x_test"),
        ({"x_tset": np.ones((1, 6))}, r"f\.npz: unknown x_tset\."),
        ({"y_train": np.array([0, 1, 2])}, r"f\.npz\['y_train'\]: row/label count mismatch: "
                                          r".*'x_train'\] has 6 rows but .* has 3 labels"),
        ({"x_train": np.full((6, 3), "a")}, r"'x_train'\]: features must be numbers \(bool, "
                                            r"int, uint or float\); found dtype <U1"),
        ({"x_test": np.array([[1, 2, np.nan]] * 4)}, r"'x_test'\]: features must be finite; "
                                                     r"found 4 NaN or Inf value\(s\).*row 0"),
        ({"x_test": np.full((4, 6), 1e39)}, r"'x_test'\]: features must be finite.*float32"),
        ({"x_test": np.ones((4, 3, 2), np.uint8)}, r"'x_test'\]: test examples have shape "
                                                   r"\(3, 2\) but the training examples"),
        ({"x_train": np.ones(6)}, r"'x_train'\]: expected one example per row.*found shape "
                                  r"\(6,\)"),
        ({"y_test": np.array([0, 1, 7, 0])}, r"'y_test'\]: labels must be in 0\.\.2 \(3 "
                                             r"classes, from the largest training label"),
        ({"y_test": np.array([0, 1, -1, 0])}, r"'y_test'\]: labels must be class indices "
                                              r"≥ 0; found -1 in row 2"),
        ({"y_train": np.array([0, 1, 2, 0, 1.5, 2])}, r"'y_train'\]: labels must be integers "
                                                      r"\(class indices\); found 1\.5 in row 4"),
        ({"y_train": np.array(["a", "b", "c"] * 2)}, r"'y_train'\]: labels must be integers "
                                                     r"\(class indices 0\.\.K-1\) or one-hot"),
        ({"y_train": np.eye(3)[[0, 1, 2, 0, 1, 2]] * 2}, r"'y_train'\]: one-hot targets must "
                                                         r"hold exactly one 1.*row 0"),
        ({"y_test": np.eye(4)[[0, 1, 2, 3]]}, r"'y_test'\]: one-hot targets of width 4; "
                                              r"expected 3 classes"),
        ({"y_train": np.arange(6)[:, None]}, r"'y_train'\]: expected labels of shape \(N,\)"),
        ({"y_train": np.zeros(6, int), "y_test": np.zeros(4, int)}, r"expected at least 2 "
                                                                    r"classes"),
        ({"classes": np.array(["a", "b"])}, r"'y_train'\]: labels must be in 0\.\.1 \(2 "
                                            r"classes, from the class names given\); found 2"),
        ({"classes": np.array([["a", "b", "c"]])}, r"'classes'\]: expected a 1-D array"),
    ],
)
def test_npz_rejects(tmp_path, change, match):
    path = save_npz(tmp_path / "f.npz", **change)
    with pytest.raises(ValueError, match=match) as err:
        data.load(path)
    assert str(err.value).startswith(str(path))  # file errors start with the file


def test_npz_not_an_archive(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"one\.npy: a single \.npy array; expected an \.npz"):
        data.load_npz(tmp_path / "one.npy")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"text\.npz: not a readable \.npz archive"):
        data.load(tmp_path / "text.npz")
    blob = save_npz(tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable \.npz archive"):
        data.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "obj.npz", x_train=np.array([1, "a", None], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz: missing y_train, x_test, y_test\."):
        data.load(tmp_path / "obj.npz")
    save_npz(tmp_path / "pickled.npz", x_train=np.array([[1, None]] * 6, dtype=object))
    with pytest.raises(ValueError, match=r"pickled\.npz\['x_train'\]: an array of Python "
                                         r"objects, which jaxnn refuses to load"):
        data.load(tmp_path / "pickled.npz")
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz: no such \.npz file"):
        data.load_npz(tmp_path / "nothing.npz")


# ----------------------------------------------------------------------------------------
# Folders of IDX files, any image size
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, names", [
    ("", None),
    ("emnist-digits-", ("train-images-idx4-ubyte", "train-labels-idx1-ubyte",
                        "test-images-idx4-ubyte", "test-labels-idx1-ubyte.gz")),
])
def test_idx_folder_any_image_size(tmp_path, prefix, names):
    images = (5, 8, 6, 3) if names else (5, 10, 10)
    test = (3, 8, 6, 3) if names else (3, 10, 10)
    arrays = write_idx_set(tmp_path / "set", images=images, test=test, names=names,
                           prefix=prefix)
    d = data.load(tmp_path / "set")
    n_in = int(np.prod(images[1:]))
    assert d.input_shape == images[1:] and d.n_in == n_in and d.name == "set"
    assert d.n_out == int(arrays[1].max()) + 1
    np.testing.assert_allclose(d.x_train, arrays[0].reshape(5, n_in) / 255, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test, arrays[3])
    assert data.load_idx_folder(tmp_path / "set").n_in == n_in


def test_idx_folder_float_images(tmp_path):
    arrays = write_idx_set(tmp_path, dtype=np.float32)
    np.testing.assert_array_equal(data.load(tmp_path).x_test, arrays[2].reshape(3, 100))


def test_idx_folder_rejects(tmp_path):
    write_idx_set(tmp_path / "count", labels=4)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: image/label count "
                                         r"mismatch: .* has 5 images but .* has 4 labels"):
        data.load(tmp_path / "count")
    write_idx_set(tmp_path / "shape", test=(3, 10, 9))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: test examples have "
                                         r"shape \(10, 9\) but the training examples"):
        data.load(tmp_path / "shape")
    write_idx_set(tmp_path / "lack")
    (tmp_path / "lack" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lack: lacks the test labels IDX file"):
        data.load(tmp_path / "lack")
    write_idx_set(tmp_path / "two")
    write_idx_set(tmp_path / "two", prefix="other-")
    with pytest.raises(ValueError, match=r"two: 2 candidates for the train images file"):
        data.load(tmp_path / "two")
    with pytest.raises(FileNotFoundError, match=r"nowhere: no such folder"):
        data.load_idx_folder(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------
# Fashion-MNIST's loader (fake files; the real ones in tests/test_fashion_mnist.py)
# ----------------------------------------------------------------------------------------


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data.mnist, "FASHION_MNIST_DIR", tmp_path / "not_installed")
    for call in (data.load_fashion_mnist, lambda: data.load("fashion-mnist")):
        with pytest.raises(FileNotFoundError) as err:
            call()
        message = str(err.value)
        assert "not_installed" in message and "lacks train-images-idx3-ubyte" in message
        assert "apt-get install dataset-fashion-mnist" in message and "--data DIR" in message
    with pytest.raises(FileNotFoundError, match=re.escape("apt-get install dataset-fashion")):
        data.load("fashion-mnist", path=tmp_path)


def test_fashion_mnist_rules_are_mnist_rules(tmp_path):
    write_idx_set(tmp_path, images=(5, 28, 28), test=(3, 28, 27))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        data.load_fashion_mnist(tmp_path)
    with pytest.raises(TypeError, match=r"path of load_fashion_mnist must be a folder path"):
        data.load_fashion_mnist(3)


# ---------------------------------------------------------------------------------------
# The shapes from the headers: data.peek and read_idx_header.


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_header_gives_read_idx_s_dtype_and_shape(tmp_path, dtype, suffix):
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    data.write_idx(path, np.arange(2 * 3 * 5).astype(dtype).reshape(2, 3, 5))
    array = data.read_idx(path)
    assert data.read_idx_header(path) == (array.dtype, array.shape)


def test_read_idx_header_refuses_what_is_not_idx(tmp_path):
    page = tmp_path / "train-images-idx3-ubyte"
    page.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: bad IDX magic number"):
        data.read_idx_header(page)
    with pytest.raises(FileNotFoundError, match="no such IDX file"):
        data.read_idx_header(tmp_path / "missing")
    with pytest.raises(IsADirectoryError, match="is a directory; expected one IDX file"):
        data.read_idx_header(tmp_path)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: corrupt gzip stream .* "
                                         r"Fix: re-download it"):
        data.read_idx_header(broken)


def _mnist_folder(folder, shape=(28, 28)):
    """MNIST's four files (uint8 images of ``shape``), 30 train and 12 test examples."""
    write_idx_set(folder, images=(30, *shape), labels=30, test=(12, *shape))
    return folder


def _as_loaded(tt):
    return data.TrainTestShapes(len(tt.x_train), len(tt.x_test), tt.input_shape, tt.classes,
                                tt.name)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_peek_gives_what_load_returns(tmp_path, name):
    folder = _mnist_folder(tmp_path / "files")
    shapes = data.peek(name, folder)
    assert shapes == _as_loaded(data.load(name, folder))
    assert (shapes.n_in, shapes.n_out) == (784, 10)


def test_peek_of_the_bundled_sample():
    assert data.peek("mnist") == _as_loaded(data.load("mnist"))


@pytest.mark.parametrize("source", ["folder", "npz", "missing", "other size", "float images"])
def test_peek_is_none_where_the_shapes_need_the_data(tmp_path, source):
    """A folder of IDX files or an .npz: the number of classes is in the labels; missing
    or unusual files: the loader says what is wrong."""
    if source == "folder":
        args = (str(_mnist_folder(tmp_path / "f")),)
    elif source == "npz":
        path = tmp_path / "d.npz"
        save_npz(path)
        args = (str(path),)
    elif source == "missing":
        args = ("mnist", tmp_path / "nowhere")
    elif source == "other size":
        args = ("mnist", _mnist_folder(tmp_path / "f", shape=(10, 10)))
    else:  # load_mnist refuses them: MNIST's images are uint8
        folder = _mnist_folder(tmp_path / "f")
        data.write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((30, 28, 28), np.float32))
        args = ("mnist", folder)
    assert data.peek(*args) is None
