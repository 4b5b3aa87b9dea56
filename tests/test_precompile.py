"""Compiling while the data loads: ``jaxnn.train.precompile`` (a fit's epoch compiled on a
thread from the data's shapes) and the ``jaxnn train`` command, which starts it from the
shapes in the files' headers (``jaxnn.data.peek``: tests/test_datasets.py)."""

from __future__ import annotations

import concurrent.futures
import importlib
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import data, optimizers, train
from jaxnn.cli import main, session
from jaxnn.train import programs

NET = jaxnn.mlp((6, 5, 3), hidden="tanh", output="softmax", cost="cross_entropy")
RNG = np.random.default_rng(7)
X = RNG.standard_normal((40, 6)).astype(np.float32)
Y = RNG.integers(0, 3, 40).astype(np.int32)
X_VAL = RNG.standard_normal((9, 6)).astype(np.float32)
Y_VAL = RNG.integers(0, 3, 9).astype(np.int32)


def specs(*arrays):
    return tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arrays)


@pytest.fixture
def compiled_on(monkeypatch):
    """The names of the threads that put an epoch program into the plan's cache."""
    threads = []
    keep = programs._keep

    def spy(key, compiled):
        threads.append(threading.current_thread().name)
        keep(key, compiled)

    monkeypatch.setattr(programs, "_keep", spy)
    programs.clear_cache()
    yield threads
    programs.clear_cache()


def _fit(net=NET, dtype=jnp.float32, **kw):
    params = jaxnn.init_params(jax.random.key(0), net, dtype=dtype)
    return train.fit(net, params, optimizers.adam(1e-2), (X, Y), epochs=2, batch_size=8,
                     key=jax.random.key(1), validation=(X_VAL, Y_VAL), **kw)


def _precompile(net=NET, dtype=jnp.float32, train_specs=None):
    params = jaxnn.init_params(jax.random.key(5), net, dtype=dtype)  # other values: same program
    return train.precompile(net, params, optimizers.adam(3e-3), train_specs or specs(X, Y),
                            batch_size=8, key=jax.random.key(9),
                            validation=specs(X_VAL, Y_VAL))


def test_fit_takes_the_program_compiled_ahead_and_trains_the_same(compiled_on):
    expected = _fit().params
    programs.clear_cache()
    compiled_on.clear()
    future = _precompile()
    assert isinstance(future, concurrent.futures.Future)
    got = _fit().params  # may wait for the compile
    assert future.result() is not None
    assert compiled_on == ["jaxnn-compile-ahead"]  # the fit compiled no epoch of its own
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert _precompile().result() is future.result()  # compiled once: the cached program


def test_a_fit_of_other_shapes_compiles_its_own(compiled_on):
    _precompile(train_specs=specs(X[:32], Y[:32])).result()
    _fit()
    assert compiled_on == ["jaxnn-compile-ahead", "MainThread"]


def test_the_compile_ahead_runs_under_the_callers_x64(compiled_on, x64):
    _precompile(dtype=jnp.float64)
    assert _fit(dtype=jnp.float64).params[0].W.dtype == jnp.float64
    assert compiled_on == ["jaxnn-compile-ahead"]


def test_under_debug_nans_nothing_is_compiled_ahead(compiled_on):
    """fit then runs the jitted epoch op by op (compiled_epoch), so precompile gives it."""
    with jax.debug_nans(True):
        future = _precompile()
    assert future.done() and not compiled_on
    assert hasattr(future.result(), "lower")  # the jitted function, not a compiled program


def test_a_compile_ahead_cannot_be_cancelled_and_a_cleared_one_is_not_kept(compiled_on):
    future = _precompile()
    assert not future.cancel()  # it runs: fit may be waiting for it
    programs.clear_cache()  # forgets it while it compiles
    future.result()
    assert not programs.compiling()
    _fit()
    assert compiled_on == ["MainThread"]  # the fit compiled its own


def test_no_thread_no_pending_compile(compiled_on, monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as m:
        m.setattr(threading.Thread, "start", refuse)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            _precompile()
    assert not programs.compiling()
    _fit()  # does not wait for a compile that never started
    assert compiled_on == ["MainThread"]


def test_precompile_checks_its_arguments_as_fit_does():
    params = jaxnn.init_params(jax.random.key(0), NET)
    opt = optimizers.sgd(0.1)
    with pytest.raises(TypeError, match=r"train must be a pair \(x, y\) of arrays or "
                                        r"jax.ShapeDtypeStruct; got list"):
        train.precompile(NET, params, opt, [X], batch_size=8, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"batch_size 64 is larger than the training set "
                                         r"\(40 examples\)"):
        train.precompile(NET, params, opt, specs(X, Y), batch_size=64, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"train must be x of shape \(n, n_0 = 6\) and y of "
                                         r"as many rows .*; got x of shape \(40, 7\), y of "
                                         r"shape \(40,\) \(int32\)"):
        train.precompile(NET, params, opt, specs(np.zeros((40, 7), np.float32), Y),
                         batch_size=8, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"validation must be .*; got x of shape \(9, 6\), y "
                                         r"of shape \(8,\)"):
        train.precompile(NET, params, opt, specs(X, Y), batch_size=8, key=jax.random.key(0),
                         validation=specs(X_VAL, Y_VAL[:8]))
    with pytest.raises(ValueError, match=r"got x of shape \(40, 6\), y of shape \(40, 3\) "
                                         r"\(int32\)"):  # labels, not one-hot rows
        train.precompile(NET, params, opt, specs(X, np.zeros((40, 3), np.int32)),
                         batch_size=8, key=jax.random.key(0))
    with pytest.raises(TypeError, match="x must be floating point; got dtype int32"):
        train.precompile(NET, params, opt, specs(X.astype(np.int32), Y), batch_size=8,
                         key=jax.random.key(0))


# ---------------------------------------------------------------------------------------
# jaxnn train.


def _args(*flags):
    """``jaxnn train``'s arguments as the command parses them."""
    parser, _ = importlib.import_module("jaxnn.cli.main").build_parser()
    return parser.parse_args(["train", *flags])


def test_jaxnn_train_compiles_its_epoch_while_the_data_loads(tmp_path, compiled_on):
    assert main(["--no-compile-cache", "train", "--epochs", "1", "--sizes", "784,8,10",
                 "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert compiled_on == ["jaxnn-compile-ahead"]


@pytest.mark.parametrize("flags, started", [
    ((), True),
    (("--val-size", "500", "--dataset", "mnist"), True),
    (("--resume", "--out", "somewhere"), False),
    (("--data", "my.npz"), False),
    (("--devices", "1"), False),
    (("--sizes", "100,8,10"), False),  # disagrees with the data: reported after loading
    (("--batch-size", "5000"), False),
])
def test_what_jaxnn_train_compiles_ahead(flags, started, compiled_on):
    future = session.compile_ahead(_args(*flags))
    assert (future is not None) is started
    if future is not None:
        future.result()


def test_a_data_error_after_the_headers_exits_at_once(tmp_path):
    """The headers give the shapes (the epoch starts compiling), then the payload is short:
    jaxnn exits 2 with its one-line error, through _exit_now rather than waiting for the
    unused compile at interpreter exit."""
    import subprocess
    import sys

    folder = tmp_path / "fashion"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, count in (("train", 30), ("t10k", 12)):
        data.write_idx(folder / f"{stem}-images-idx3-ubyte",
                       rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        data.write_idx(folder / f"{stem}-labels-idx1-ubyte",
                       np.arange(count, dtype=np.uint8) % 10)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])  # the header still says 30 images
    assert data.peek("fashion-mnist", folder) is not None
    done = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "--no-compile-cache", "train", "--dataset",
         "fashion-mnist", "--data", str(folder), "--batch-size", "10", "--out",
         str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "truncated IDX file" in done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr

