"""fit_many: K runs in one compiled program equal K separate fit calls, run by run."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import optimizers, train

NET = jaxnn.mlp((4, 6, 3), hidden="tanh", output="softmax", cost="cross_entropy")


def _blobs(n=64, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 4)) * 2
    labels = rng.integers(0, 3, n)
    x = (centres[labels] + rng.normal(size=(n, 4))).astype(dtype)
    return x, labels.astype(np.int32)


def _stack(keys, net, dtype=jnp.float32):
    return jax.vmap(lambda k: jaxnn.init_params(k, net, dtype=dtype))(keys)


def _close(a, b, rtol):
    chex.assert_trees_all_close(a, b, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("grad", ["manual", "autodiff"])
def test_runs_equal_separate_fits_float64(x64, grad):
    x, y = _blobs(dtype=np.float64)
    xv, yv = _blobs(30, seed=1, dtype=np.float64)
    keys = jax.random.split(jax.random.key(3), 4)
    params = _stack(keys, NET, jnp.float64)
    opt = optimizers.adam(1e-2)
    many = train.fit_many(NET, params, opt, (x, y), epochs=3, batch_size=8, keys=keys,
                          grad=grad, validation=(xv, yv))
    for k in range(4):
        one = jax.tree.map(lambda leaf, k=k: leaf[k], params)
        ref = train.fit(NET, one, opt, (x, y), epochs=3, batch_size=8, key=keys[k],
                        grad=grad, validation=(xv, yv))
        _close(jax.tree.map(lambda leaf, k=k: leaf[k], many.params), ref.params, 1e-10)
        for got, want in zip(many.histories[k], ref.history):
            for name in ("train_cost", "val_cost", "val_accuracy", "grad_norm"):
                assert got[name] == pytest.approx(want[name], rel=1e-10), name
    assert many.stopped == ("completed",) * 4


@pytest.mark.parametrize("shared_group, cores", [(16, 1), (1, 1), (1, 3)],
                         ids=["one-group", "groups", "groups-on-3-cores"])
def test_shared_order_runs_equal_fits_with_the_first_key_float64(x64, monkeypatch,
                                                                  shared_group, cores):
    """order="shared": every run takes keys[0]'s minibatch order and dropout masks, so run k
    is fit(params[k], key=keys[0]); runs still differ in their start and learning rate.
    Whole in one group, or in groups one after another, or spread over 3 cores."""
    from jaxnn.train import plan, spread

    monkeypatch.setattr(plan, "SHARED_GROUP", shared_group)
    monkeypatch.setattr(spread, "CORES", cores)
    monkeypatch.setattr(spread, "MIN_SPREAD_FLOPS", 0)
    net = jaxnn.mlp((4, 6, 3), hidden="relu", output="softmax", cost="cross_entropy",
                    dropout=0.3)
    x, y = _blobs(dtype=np.float64)
    keys = jax.random.split(jax.random.key(5), 3)
    params = _stack(keys, net, jnp.float64)
    rates = [0.05, 0.1, 0.2]
    many = train.fit_many(net, params, lambda learning_rate: optimizers.sgd(learning_rate),
                          (x, y), epochs=2, batch_size=8, keys=keys, order="shared",
                          hyperparams={"learning_rate": rates})
    for k, rate in enumerate(rates):
        one = jax.tree.map(lambda leaf, k=k: leaf[k], params)
        ref = train.fit(net, one, optimizers.sgd(rate), (x, y), epochs=2, batch_size=8,
                        key=keys[0])
        _close(jax.tree.map(lambda leaf, k=k: leaf[k], many.params), ref.params, 1e-10)
    own = train.fit(net, jax.tree.map(lambda leaf: leaf[1], params), optimizers.sgd(rates[1]),
                    (x, y), epochs=2, batch_size=8, key=keys[1])
    assert not np.allclose(own.params[0].W, many.params[0].W[1])  # the order did change


def test_an_unknown_order_is_refused():
    keys = jax.random.split(jax.random.key(0), 2)
    x, y = _blobs()
    with pytest.raises(ValueError, match=r"order must be one of per_run, shared; "
                                         r"got 'random'"):
        train.fit_many(NET, _stack(keys, NET), optimizers.sgd(0.1), (x, y), epochs=1,
                       batch_size=8, keys=keys, order="random")


def test_per_run_learning_rates_and_l2_equal_separate_fits_float64(x64):
    x, y = _blobs(dtype=np.float64)
    keys = jax.random.split(jax.random.key(0), 3)
    params = _stack(keys, NET, jnp.float64)
    rates, l2s = [0.01, 0.05, 0.2], [0.0, 0.1, 1.0]
    many = train.fit_many(
        NET, params, lambda learning_rate, beta1: optimizers.adam(learning_rate, beta1=beta1),
        (x, y), epochs=2, batch_size=16, keys=keys,
        hyperparams={"learning_rate": rates, "l2": l2s, "beta1": [0.9, 0.8, 0.5]})
    for k, (rate, l2, beta1) in enumerate(zip(rates, l2s, [0.9, 0.8, 0.5])):
        one = jax.tree.map(lambda leaf, k=k: leaf[k], params)
        ref = train.fit(NET.replace(l2=l2), one, optimizers.adam(rate, beta1=beta1), (x, y),
                        epochs=2, batch_size=16, key=keys[k])
        _close(jax.tree.map(lambda leaf, k=k: leaf[k], many.params), ref.params, 1e-10)
        assert many.histories[k][-1]["train_cost"] == pytest.approx(
            ref.history[-1]["train_cost"], rel=1e-10)


def test_a_diverged_run_is_frozen_and_the_others_go_on():
    x, y = _blobs()
    linear = jaxnn.mlp((4, 6, 3), hidden="identity", output="identity", cost="quadratic")
    keys = jax.random.split(jax.random.key(1), 3)
    params = _stack(keys, linear)
    many = train.fit_many(linear, params, lambda learning_rate: optimizers.sgd(learning_rate),
                          (x, y), epochs=3, batch_size=8, keys=keys,
                          hyperparams={"learning_rate": [1e-3, 1e6, 1e-3]})
    assert many.stopped == ("completed", "diverged", "completed")
    assert many.diverged_at == (None, 1, None)
    assert len(many.histories[1]) == 0 and len(many.histories[0]) == 3
    # The diverged run keeps its last finite parameters (here: the initial ones).
    _close(jax.tree.map(lambda leaf: leaf[1], many.params),
           jax.tree.map(lambda leaf: leaf[1], params), 0.0)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(many.params))


def test_per_run_early_stopping_returns_each_runs_best_epoch():
    x, y = _blobs(40)
    xv, yv = _blobs(40, seed=7)  # other centres: the validation cost soon rises
    keys = jax.random.split(jax.random.key(2), 2)
    params = _stack(keys, NET)
    many = train.fit_many(NET, params, optimizers.sgd(0.5), (x, y), epochs=30, batch_size=8,
                          keys=keys, validation=(xv, yv), patience=2)
    for k in range(2):
        h = many.histories[k]
        best = min(h, key=lambda r: r["val_cost"])
        assert many.best_epochs[k] == best["epoch"]
        if many.stopped[k] == "early":
            assert len(h) == best["epoch"] + 2


def test_traced_once_for_all_runs_and_epochs(monkeypatch):
    traces = []
    real = train.core.minibatch_step

    def counting(*args, **kwargs):
        traces.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train.core, "minibatch_step", chex.assert_max_traces(counting, n=1))
    x, y = _blobs()
    keys = jax.random.split(jax.random.key(0), 5)
    train.fit_many(NET, _stack(keys, NET), optimizers.sgd(0.1), (x, y), epochs=3,
                   batch_size=8, keys=keys)
    assert len(traces) == 1


KEYS = jax.random.split(jax.random.key(0), 2)
P2 = _stack(KEYS, NET)
XY = _blobs(16)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"keys": jax.random.split(jax.random.key(0), 0)}, ValueError,
         "the number of runs K must be at least 1"),
        ({"keys": jax.random.split(jax.random.key(0), 3)}, ValueError,
         r"the leading axis of every parameter must be K = 3"),
        ({"keys": jax.random.key(0)}, TypeError, "keys must be K jax.random keys"),
        ({"hyperparams": {"l2": [0.1, 0.2, 0.3]}}, ValueError,
         r"hyperparams\['l2'\] must be 2 values, one per run"),
        ({"hyperparams": {"l2": [0.1, -1.0]}}, ValueError,
         r"hyperparams\['l2'\] must be finite and ≥ 0; got -1.0"),
        ({"hyperparams": {"learning_rate": [0.1, 0.2]}}, TypeError,
         r"opt must be a function opt\(learning_rate\) -> Optimizer"),
        ({"opt": lambda learning_rate: (optimizers.sgd if learning_rate < 0.15 else
                                        optimizers.adam)(learning_rate),
          "hyperparams": {"learning_rate": [0.1, 0.2]}}, ValueError,
         "the runs' optimizers must be of one kind"),
        ({"opt": lambda learning_rate: optimizers.sgd(learning_rate),
          "hyperparams": {"learning_rate": [0.1, -0.2]}}, ValueError,
         "learning_rate must be finite and > 0; got -0.2"),
        # The pair checks fit makes (jaxnn.train.core.check_data), prefixed alike.
        ({"train": (XY[0], XY[1] + 1)}, ValueError, r"^train: labels must lie in \[0, 3\)"),
        ({"validation": (XY[0], None)}, TypeError, r"^validation: y must be an array"),
        ({"train": (XY[0], np.full((16, 3), np.nan, np.float32))}, ValueError,
         r"^train: y contains NaN or Inf"),
        # A value the parameters' dtype cannot hold (1e39 is Inf in float32).
        ({"hyperparams": {"l2": [0.1, 1e39]}}, ValueError,
         r"^hyperparams\['l2'\]\[1\] must be finite in the parameters' dtype float32 \(at most "
         r"3\.40282e\+38\); got 1e\+39"),
    ],
)
def test_bad_input(kwargs, error, message):
    args = dict(net=NET, params=P2, opt=optimizers.sgd(0.1), train=XY, epochs=1,
                batch_size=4, keys=KEYS)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        train.fit_many(**args)


def test_k_runs_over_the_memory_limit_are_refused(monkeypatch):
    """fit_many makes fit's memory check for all K runs at once."""
    wide = jaxnn.mlp((4, 100_000, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    keys = jax.random.split(jax.random.key(0), 8)
    params = _stack(keys, wide)
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "64M")
    with pytest.raises(ValueError, match=r"^fit_many: 8 runs of a step of 4 rows and the "
                       r"evaluation of 16 rows at once through a 4-100000-3 network would take "
                       r"about .* MiB; the memory limit is 64\.0 MiB \(JAXNN_MEMORY_LIMIT\)\. "
                       r"Fix: a smaller batch_size or network, or fewer runs per call"):
        train.fit_many(wide, params, optimizers.sgd(0.1), XY, epochs=1, batch_size=4,
                       keys=keys)


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_runs_spread_over_cores_equal_separate_fits_float64(x64, monkeypatch, cores):
    """On the CPU the K runs are cut into one part per core (the last padded with copies of
    run 0 when the cores do not divide K) and run side by side in threads: every run is
    still its own fit, with early stopping and per-run rates, and the padding is dropped."""
    from jaxnn.train import spread

    monkeypatch.setattr(spread, "CORES", cores)
    monkeypatch.setattr(spread, "MIN_SPREAD_FLOPS", 0)  # this tiny problem spread too
    x, y = _blobs(dtype=np.float64)
    xv, yv = _blobs(30, seed=1, dtype=np.float64)
    keys = jax.random.split(jax.random.key(7), 5)
    params = _stack(keys, NET, jnp.float64)
    rates = [0.5, 0.1, 3.0, 0.01, 0.2]
    many = train.fit_many(NET, params, lambda learning_rate: optimizers.sgd(learning_rate),
                          (x, y), epochs=4, batch_size=8, keys=keys, validation=(xv, yv),
                          patience=1, hyperparams={"learning_rate": rates})
    assert spread.parts_of(5, "cpu") == (cores, -(-5 // cores))  # groups of 1 run here
    assert len(many.histories) == 5 and jax.tree.leaves(many.params)[0].shape[0] == 5
    if cores > 1:  # to the last bit as one program: each run in a group of the same size
        monkeypatch.setattr(spread, "CORES", 1)
        one_program = train.fit_many(
            NET, params, lambda learning_rate: optimizers.sgd(learning_rate), (x, y),
            epochs=4, batch_size=8, keys=keys, validation=(xv, yv), patience=1,
            hyperparams={"learning_rate": rates})
        chex.assert_trees_all_equal(many.params, one_program.params)
        assert many.histories == [[{**r, "seconds": s["seconds"]} for r, s in zip(h, g)]
                                  for h, g in zip(one_program.histories, many.histories)]
    for k in range(5):
        one = jax.tree.map(lambda leaf, k=k: leaf[k], params)
        ref = train.fit(NET, one, optimizers.sgd(rates[k]), (x, y), epochs=4, batch_size=8,
                        key=keys[k], validation=(xv, yv), patience=1)
        _close(jax.tree.map(lambda leaf, k=k: leaf[k], many.params), ref.params, 1e-10)
        assert [r["val_cost"] for r in many.histories[k]] == pytest.approx(
            [r["val_cost"] for r in ref.history], rel=1e-10)
        assert many.stopped[k] == ("early" if ref.stopped_early else "completed")


def test_parts_off_the_cpu_and_on_one_core_are_one_program(monkeypatch):
    from jaxnn.train import spread

    monkeypatch.setattr(spread, "CORES", 8)
    assert spread.parts_of(32, "gpu") == (1, 32)
    assert spread.parts_of(32, "cpu") == (8, 4)
    assert spread.parts_of(3, "cpu") == (3, 1)
    assert spread.parts_of(9, "cpu") == (5, 2)
    assert spread.parts_of(32, "cpu", spread.MIN_SPREAD_FLOPS / 32) == (8, 4)
    assert spread.parts_of(32, "cpu", spread.MIN_SPREAD_FLOPS / 33) == (1, 32)  # too small
    with jax.debug_nans(True):  # NaN hunting re-runs a program on the calling thread
        assert spread.parts_of(32, "cpu") == (1, 32)
    monkeypatch.setattr(spread, "CORES", 1)
    assert spread.parts_of(32, "cpu") == (1, 32)
