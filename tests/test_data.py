"""Tests of jaxnn.data: IDX reading and writing, MNIST loading, helpers, synthetic sets."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxnn import data

# ----------------------------------------------------------------------------------------
# IDX
# ----------------------------------------------------------------------------------------

IDX_CASES = [
    np.arange(12, dtype=np.uint8).reshape(3, 4),
    np.array([-128, -1, 0, 127], dtype=np.int8),
    np.array([[-32768, 1], [2, 32767]], dtype=np.int16),
    np.arange(-6, 18, dtype=np.int32).reshape(2, 3, 4),
    np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 2, 2, 4),
    np.array([np.pi, -np.e, 1e300], dtype=np.float64),
]


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """Hand-made IDX bytes, independent of write_idx."""
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes() + payload


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", IDX_CASES, ids=lambda a: a.dtype.name)
def test_idx_round_trip(tmp_path, array, suffix):
    path = tmp_path / f"a.idx{suffix}"
    data.write_idx(path, array)
    back = data.read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(data.read_idx(path.read_bytes()), array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_read_idx_matches_hand_made_big_endian_bytes(tmp_path):
    # LeCun's layout: magic 0x00000803, dims as big-endian uint32, then the items.
    raw = idx_bytes(0x0C, (2, 2), np.array([1, -2, 3, 2**31 - 1], ">i4").tobytes())
    (tmp_path / "x").write_bytes(raw)
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw))
    expected = np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x"), expected)
    np.testing.assert_array_equal(data.read_idx(str(tmp_path / "x.gz")), expected)
    np.testing.assert_array_equal(data.read_idx(raw), expected)


def test_write_idx_gz_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(10, 10)
    data.write_idx(tmp_path / "a.gz", array)
    data.write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from(["u1", "i1", "i2", "i4", "f4", "f8"]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5),
    ),
    st.booleans(),
)
def test_idx_round_trip_property(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("p.gz" if compress else "p")
    data.write_idx(path, array)
    back = data.read_idx(path)
    assert back.shape == array.shape and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)  # NaN equals NaN here


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_truncated_file(tmp_path, compress):
    raw = idx_bytes(0x08, (3, 4), bytes(11))  # one byte short
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(
        ValueError, match=r"short: truncated IDX.*expected 24 bytes.*found 23 bytes"
    ):
        data.read_idx(path)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_over_long_file(tmp_path, compress):
    raw = idx_bytes(0x08, (3, 4), bytes(13))  # one byte extra
    path = tmp_path / "long"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    found = "more than that" if compress else "25 bytes"
    with pytest.raises(ValueError, match=rf"long: over-long IDX file.*24 bytes.*found {found}"):
        data.read_idx(path)


@pytest.mark.parametrize(
    "magic, match",
    [
        (b"\x01\x00\x08\x01", r"bad IDX magic number: expected 00 00 .*found 01 00 08 01"),
        (b"\x00\x00\x07\x01", r"bad IDX magic number.*found 00 00 07 01"),
        (b"\x00\x00\x08\x00", r"bad IDX magic number 00 00 08 00: expected 1 to 4 dim"),
        (b"\x00\x00\x08\x09", r"bad IDX magic number .*expected 1 to 4 dimensions, found 9"),
        (b"<!DOCTYPE html>", r"bad IDX magic number.*HTML"),
    ],
)
def test_bad_magic(tmp_path, magic, match):
    path = tmp_path / "bad"
    path.write_bytes(magic + bytes(8))
    with pytest.raises(ValueError, match="bad: " + match):
        data.read_idx(path)


def test_too_short_for_a_magic_number():
    with pytest.raises(ValueError, match=r"<IDX bytes>: truncated IDX file: expected a 4-byte"):
        data.read_idx(b"\x00\x00")


def test_truncated_header_and_zero_dimension():
    with pytest.raises(ValueError, match=r"truncated IDX header: expected 3 dimensions"):
        data.read_idx(b"\x00\x00\x08\x03" + bytes(8))
    with pytest.raises(ValueError, match=r"declares shape \(2, 0\).*every dimension"):
        data.read_idx(idx_bytes(0x08, (2, 0), b""))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "code, dims",
    [(0x0E, (2**32 - 1, 2**32 - 1, 2**32 - 1)), (0x08, (100_000_000,))],
    ids=["overflowing", "100MB"],
)
def test_huge_declared_dimension_fails_fast_without_allocating(tmp_path, compress, code, dims):
    raw = idx_bytes(code, dims, bytes(64))
    path = tmp_path / "huge"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"huge: truncated IDX.*shape \({dims[0]},"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # bytes; the declared payload would be far more


def test_gzip_bomb_reads_no_more_than_the_header_justifies(tmp_path):
    # 10 bytes declared, 64 MiB of zeros behind them (about 64 KiB compressed).
    blob = gzip.compress(idx_bytes(0x08, (10,), bytes(64 * 2**20)), compresslevel=1)
    path = tmp_path / "bomb.gz"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.gz: over-long IDX file \(decompressed\)"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_corrupt_gzip(tmp_path):
    blob = gzip.compress(idx_bytes(0x08, (100,), bytes(range(100))))
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cut.gz: (corrupt gzip stream|truncated IDX)"):
        data.read_idx(path)


def test_write_idx_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match=r"array of write_idx must be of dtype .*; got dtype bool"):
        data.write_idx(tmp_path / "b", np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match=r"1 to 4 dimensions, each positive; got shape \(0, 3"):
        data.write_idx(tmp_path / "b", np.zeros((0, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match=r"source of read_idx must be a path .*; got int"):
        data.read_idx(3)


# ----------------------------------------------------------------------------------------
# MNIST from a folder
# ----------------------------------------------------------------------------------------


def write_fake_mnist(folder, n_train=12, n_test=5, gz=False, dotted=False, seed=0):
    """Writes tiny MNIST-format files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if dotted:
            name = name.replace("-idx", ".idx")
        data.write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (True, True)])
def test_load_mnist_from_folder(tmp_path, gz, dotted):
    arrays = write_fake_mnist(tmp_path, gz=gz, dotted=dotted)
    mnist = data.load_mnist(tmp_path)
    assert isinstance(mnist, data.MNIST)
    assert mnist.x_train.shape == (12, 784) and mnist.x_train.dtype == np.float32
    assert mnist.y_train.shape == (12,) and mnist.y_train.dtype == np.int32
    assert mnist.x_test.shape == (5, 784) and mnist.y_test.shape == (5,)
    expected = arrays["train-images-idx3-ubyte"].reshape(12, 784) / 255
    np.testing.assert_allclose(mnist.x_train, expected, rtol=1e-6)
    np.testing.assert_array_equal(mnist.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert 0 <= mnist.x_train.min() and mnist.x_train.max() <= 1
    assert isinstance(data.load_mnist(str(tmp_path)), data.MNIST)


def test_load_mnist_missing_files(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\.") as err:
        data.load_mnist(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and ".gz" in message
    for name in data.MNIST_FILES:
        assert name in message
    with pytest.raises(FileNotFoundError, match=r"nowhere.*lacks train-images-idx3-ubyte, "):
        data.load_mnist(tmp_path / "nowhere")


def test_load_mnist_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"count mismatch: .*12 images but .*11 labels"):
        data.load_mnist(tmp_path)


def test_load_mnist_bad_labels_and_shapes(tmp_path):
    write_fake_mnist(tmp_path)
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 10, 3], np.uint8))
    with pytest.raises(ValueError, match=r"expected digit labels in 0\.\.9, found values up to 10"):
        data.load_mnist(tmp_path)
    write_fake_mnist(tmp_path)
    data.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((12, 28, 27), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        data.load_mnist(tmp_path)


# ----------------------------------------------------------------------------------------
# The bundled sample
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return data.load_mnist()


def test_sample_shapes_and_classes(sample):
    assert sample.x_train.shape == (4000, 784) and sample.x_test.shape == (1000, 784)
    assert sample.x_train.dtype == np.float32 and sample.y_train.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(sample.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(sample.y_test), [100] * 10)
    for x in (sample.x_train, sample.x_test):
        assert x.min() == 0 and x.max() == 1
    # Shuffled, not sorted by class.
    assert np.any(np.diff(sample.y_train) < 0) and np.any(np.diff(sample.y_test) < 0)


def test_sample_is_deterministic(sample):
    again = data.load_mnist()
    for a, b in zip(sample, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sample_train_and_test_are_disjoint(sample):
    rows = lambda x: {r.tobytes() for r in (x * 255).round().astype(np.uint8)}  # noqa: E731
    train, test = rows(sample.x_train), rows(sample.x_test)
    assert len(train) == 4000 and len(test) == 1000  # no duplicate digits at all
    assert not train & test


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def test_one_hot():
    y = data.one_hot(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert y.dtype == np.float32
    assert data.one_hot(np.array([1], np.uint8), 2, dtype=np.int32).dtype == np.int32
    assert data.one_hot(np.array([], np.int32), 4).shape == (0, 4)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([0, 3, -1]), r"labels of one_hot must be in \[0, 3\); got min -1 and max 3"),
        (np.array([0.0, 1.0]), r"labels of one_hot must be integer class labels; got dtype float64"),
        (np.array([[0], [1]]), r"labels of one_hot must be of shape \(m,\); got \(2, 1\)"),
        (np.array([0]), r"num_classes of one_hot must be a positive int; got 0"),
    ],
)
def test_one_hot_rejects(labels, match):
    with pytest.raises(ValueError, match=match):
        data.one_hot(labels, 0 if "num_classes" in match else 3)
    with pytest.raises(TypeError, match=r"num_classes of one_hot must be a positive int; got float 2.0"):
        data.one_hot(np.array([0]), 2.0)


def test_standardize_uses_train_statistics():
    rng = np.random.default_rng(1)
    x_train = rng.normal(5.0, 3.0, (500, 4)).astype(np.float32)
    x_train[:, 3] = 7.0  # constant feature: σ = 0
    x_test = rng.normal(5.0, 3.0, (50, 4)).astype(np.float32)
    x_tr, (x_te,), (mu, sigma) = data.standardize(x_train, x_test)
    assert x_tr.dtype == x_te.dtype == np.float32
    np.testing.assert_allclose(x_tr[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x_tr[:, :3].std(0), 1, atol=1e-5)
    np.testing.assert_allclose(mu, x_train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(x_te, (x_test - mu) / sigma, rtol=1e-5, atol=1e-5)
    # The constant feature is only centred: no NaN, no 1/eps blow-up on the test set.
    assert sigma[3] == 1 and np.all(x_tr[:, 3] == 0)
    np.testing.assert_allclose(x_te[:, 3], x_test[:, 3] - 7.0, rtol=1e-6)
    assert np.all(np.isfinite(x_te))


def test_standardize_mnist_pixels(sample):
    x_tr, (x_te,), stats = data.standardize(sample.x_train, sample.x_test)
    assert np.all(np.isfinite(x_tr)) and np.all(np.isfinite(x_te))
    assert np.abs(x_te).max() < 1e3  # blank-in-train pixels do not explode
    assert stats.mean.shape == stats.std.shape == (784,)


def test_standardize_rejects():
    with pytest.raises(ValueError, match=r"x_train of standardize must be of shape \(m, n\).*; got \(3,\)"):
        data.standardize(np.zeros(3))
    with pytest.raises(ValueError, match=r"others\[0\] of standardize must be of shape \(m_i, 2\) like x_train; got \(4, 3\)"):
        data.standardize(np.zeros((3, 2)), np.zeros((4, 3)))


def test_train_val_split_stratified_and_deterministic():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.repeat(np.arange(4), [10, 20, 30, 40]).astype(np.int32)
    s = data.train_val_split(x, y, val_fraction=0.2, seed=3)
    assert s.x_val.shape == (20, 1) and s.x_train.shape == (80, 1)
    np.testing.assert_array_equal(np.bincount(s.y_val), [2, 4, 6, 8])
    # Disjoint, together everything, labels still match their rows.
    np.testing.assert_array_equal(np.sort(np.concatenate([s.x_train, s.x_val])[:, 0]), x[:, 0])
    np.testing.assert_array_equal(y[s.x_val[:, 0].astype(int)], s.y_val)
    again = data.train_val_split(x, y, val_fraction=0.2, seed=3)
    for a, b in zip(s, again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = data.train_val_split(x, y, val_fraction=0.2, seed=4)
    assert not np.array_equal(s.x_val, other.x_val)


def test_train_val_split_exact_size_with_rounding():
    y = np.repeat(np.arange(3), [7, 7, 7])
    s = data.train_val_split(np.zeros((21, 2)), y, val_size=5, seed=0)
    assert len(s.y_val) == 5 and sorted(np.bincount(s.y_val, minlength=3)) == [1, 2, 2]


def test_train_val_split_regression_targets():
    x, y = data.cubic(30, 1, 0, 0, 0)
    s = data.train_val_split(x, y, val_size=6, seed=0)  # float y: not stratified
    assert s.y_val.shape == (6, 1) and s.x_train.shape == (24, 1)
    np.testing.assert_allclose(s.y_val, s.x_val**3, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, r"exactly one of val_fraction or val_size"),
        ({"val_fraction": 0.1, "val_size": 2}, r"exactly one of val_fraction or val_size"),
        ({"val_fraction": 1.5}, r"val_fraction of train_val_split must be in \(0, 1\); got 1.5"),
        ({"val_size": 10}, r"1 to m - 1 = 9 rows; got 10"),
        ({"val_size": 2, "stratify": True, "y": np.zeros(10)}, r"pass stratify=False"),
    ],
)
def test_train_val_split_rejects(kwargs, match):
    y = kwargs.pop("y", np.arange(10) % 2)
    with pytest.raises(ValueError, match=match):
        data.train_val_split(np.zeros((10, 1)), y, **kwargs)


# ----------------------------------------------------------------------------------------
# Synthetic sets
# ----------------------------------------------------------------------------------------


def test_xor():
    x, y = data.xor()
    assert x.dtype == y.dtype == np.float32 and x.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(x[:, 0], x[:, 1]))


def test_two_spirals():
    x, y = data.two_spirals(201, noise=0.0, seed=1)
    assert x.shape == (201, 2) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(y), [101, 100])
    assert np.all(np.linalg.norm(x, axis=1) <= 1 + 1e-6)
    np.testing.assert_array_equal(x, data.two_spirals(201, noise=0.0, seed=1).x)
    assert not np.array_equal(x, data.two_spirals(201, noise=0.0, seed=2).x)
    # Without noise each point sits on its spiral: angle ≡ t (+π for class 1), r = t/(2π·1.5).
    t = np.linalg.norm(x, axis=1) * 2 * np.pi * 1.5
    phase = np.arctan2(x[:, 1], x[:, 0]) - t - np.pi * y
    np.testing.assert_allclose(np.cos(phase), 1, atol=1e-4)
    noisy = data.two_spirals(201, noise=0.1, seed=1).x
    assert 0.05 < np.std(noisy - x) < 0.2


def test_cubic():
    x, y = data.cubic(50, 2.0, -1.0, 0.5, 3.0, seed=0, x_range=(-2, 3))
    assert x.shape == y.shape == (50, 1) and x.dtype == y.dtype == np.float32
    assert np.all(np.diff(x[:, 0]) >= 0) and x.min() >= -2 and x.max() <= 3
    np.testing.assert_allclose(y, 2 * x**3 - x**2 + 0.5 * x + 3, rtol=1e-5, atol=1e-4)
    _, y_noisy = data.cubic(2000, 1, 0, 0, 0, noise=0.5, seed=0)
    x0, y0 = data.cubic(2000, 1, 0, 0, 0, noise=0.0, seed=0)
    assert abs(np.std(y_noisy - y0) - 0.5) < 0.05


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.two_spirals(0), r"n \(the number of points\) of two_spirals must be a positive int; got 0"),
        (lambda: data.two_spirals(10, noise=-1), r"noise .* of two_spirals must be finite and ≥ 0; got -1"),
        (lambda: data.cubic(10, 1, 0, 0, 0, x_range=(1, 1)), r"low < high; got \(1, 1\)"),
    ],
)
def test_synthetic_rejects(call, match):
    with pytest.raises(ValueError, match=match):
        call()
