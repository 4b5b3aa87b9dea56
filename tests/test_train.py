"""make_step, make_epoch and fit: behaviour, determinism, divergence, resumption, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import data, optimizers, train


def _blobs(n=96, n_in=5, classes=3, seed=0, dtype=np.float32, centres_seed=1234):
    """Gaussian blobs around fixed centres (``centres_seed``), samples drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int32)
    centres = np.random.default_rng(centres_seed).normal(0, 3, (classes, n_in))
    x = (centres[y] + rng.normal(0, 1, (n, n_in))).astype(dtype)
    return x, y


NET = jaxnn.mlp((5, 16, 3), hidden="tanh", output="softmax", cost="cross_entropy")


def _params(net=NET, dtype=jnp.float32, seed=0):
    return jaxnn.init_params(jax.random.key(seed), net, dtype=dtype)


def _same(a, b):
    return all(bool(jnp.array_equal(p, q)) for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_make_step_updates_and_donates():
    x, y = _blobs()
    opt = optimizers.sgd(0.1)
    params = _params()
    state = opt.init(params)
    old_W = params[0].W
    step = train.make_step(NET, opt)
    J0 = float(jaxnn.cost(NET, params, x, y))
    params, state, metrics = step(params, state, x, y)
    assert set(metrics) == {"cost", "grad_norm", "accuracy"}
    assert float(metrics["cost"]) == pytest.approx(J0, rel=1e-6)
    assert int(state.count) == 1
    # The donated input buffers are gone: using them again is an error, not a silent reuse.
    assert old_W.is_deleted()
    with pytest.raises(RuntimeError, match="deleted"):
        old_W + 1
    for _ in range(20):
        params, state, metrics = step(params, state, x, y)
    assert float(metrics["cost"]) < J0


def test_manual_and_autodiff_steps_agree():
    x, y = _blobs()
    opt = optimizers.adam(1e-2)
    p1, p2 = _params(), _params()
    s1, s2 = opt.init(p1), opt.init(p2)
    manual, auto = train.make_step(NET, opt, "manual"), train.make_step(NET, opt, "autodiff")
    for _ in range(5):
        p1, s1, m1 = manual(p1, s1, x, y)
        p2, s2, m2 = auto(p2, s2, x, y)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_learns_and_reports_history():
    x, y = _blobs(200)
    xv, yv = _blobs(60, seed=1)
    result = train.fit(NET, _params(), optimizers.adam(1e-2), (x, y), epochs=8, batch_size=16,
                       key=jax.random.key(0), validation=(xv, yv))
    h = result.history
    assert [r["epoch"] for r in h] == list(range(1, 9))
    assert set(h[0]) == {"epoch", "train_cost", "train_accuracy", "grad_norm", "learning_rate",
                         "layer_grad_norms", "val_cost", "val_accuracy", "seconds"}
    assert len(h[0]["layer_grad_norms"]) == NET.num_layers
    assert h[-1]["train_cost"] < h[0]["train_cost"]
    assert h[-1]["val_accuracy"] > 0.9
    assert h[0]["learning_rate"] == pytest.approx(1e-2)
    assert result.best_epoch == 8 and not result.stopped_early
    assert int(result.opt_state.count) == 8 * (200 // 16)  # the partial batch is left out
    ev = train.evaluate(NET, result.params, xv, yv)
    assert ev["accuracy"] == pytest.approx(h[-1]["val_accuracy"])


def test_epoch_is_traced_once(monkeypatch):
    """One trace for the whole run: no recompilation from one epoch to the next."""
    traces = []
    real = train.core.minibatch_step

    def counting(*args, **kwargs):
        traces.append(1)
        return real(*args, **kwargs)

    # chex fails the run if the step is traced a second time; the counter shows it ran.
    monkeypatch.setattr(train.core, "minibatch_step", chex.assert_max_traces(counting, n=1))
    x, y = _blobs()
    train.fit(NET, _params(), optimizers.sgd(0.1), (x, y), epochs=4, batch_size=8,
              key=jax.random.key(0))
    assert len(traces) == 1


def test_manual_and_autodiff_fit_give_the_same_parameters_float64(x64):
    x, y = _blobs(120, dtype=np.float64)
    out = {}
    for grad in train.GRADS:
        out[grad] = train.fit(NET, _params(dtype=jnp.float64), optimizers.momentum(0.5),
                              (x, y), epochs=1, batch_size=10, key=jax.random.key(3), grad=grad)
    for a, b in zip(jax.tree.leaves(out["manual"].params), jax.tree.leaves(out["autodiff"].params)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_same_seed_same_bits_different_seed_different_shuffle():
    x, y = _blobs()
    runs = [train.fit(NET, _params(), optimizers.adam(1e-2), (x, y), epochs=3, batch_size=8,
                      key=jax.random.key(k)) for k in (5, 5, 6)]
    assert _same(runs[0].params, runs[1].params)
    assert [r["train_cost"] for r in runs[0].history] == [r["train_cost"] for r in runs[1].history]
    assert not _same(runs[0].params, runs[2].params)


def test_resume_equals_uninterrupted():
    x, y = _blobs()
    opt = optimizers.adam(1e-2)
    full = train.fit(NET, _params(), opt, (x, y), epochs=6, batch_size=8, key=jax.random.key(1))
    half = train.fit(NET, _params(), opt, (x, y), epochs=3, batch_size=8, key=jax.random.key(1))
    rest = train.fit(NET, half.params, opt, (x, y), epochs=6, batch_size=8, key=jax.random.key(1),
                     opt_state=half.opt_state, start_epoch=3, history=half.history)
    assert _same(full.params, rest.params)
    assert [r["train_cost"] for r in full.history] == [r["train_cost"] for r in rest.history]


def test_divergence_stops_with_the_last_finite_parameters():
    x, y = _blobs()
    x = x * 100
    seen = []
    net = jaxnn.mlp((5, 16, 3), hidden="relu", output="identity", cost="quadratic")
    with pytest.raises(train.TrainingDiverged, match=r"the cost became NaN or Inf in epoch \d+; "
                       r"training stopped .* Fix: lower the learning rate \(now 100\), e\.g\. to 10") as e:
        train.fit(net, _params(net), optimizers.sgd(100.0), (x, y), epochs=50, batch_size=8,
                  key=jax.random.key(0), on_epoch=lambda *a: seen.append(a[0]))
    err = e.value
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(err.params))
    assert seen == [r["epoch"] for r in err.history] == list(range(1, err.epoch))


def test_early_stopping_returns_the_best_parameters():
    x, y = _blobs(60)
    xv, yv = _blobs(60, seed=9, centres_seed=9)  # other centres: validation cost soon rises
    saved = {}
    result = train.fit(NET, _params(), optimizers.adam(5e-2), (x, y), epochs=200, batch_size=10,
                       key=jax.random.key(0), validation=(xv, yv), patience=3,
                       on_epoch=lambda e, p, s, r: saved.__setitem__(e, p))
    assert result.stopped_early
    best = min(result.history, key=lambda r: r["val_cost"])
    assert result.best_epoch == best["epoch"]
    assert len(result.history) == best["epoch"] + 3
    assert _same(result.params, saved[best["epoch"]])


def test_xor_with_tanh():
    xor = data.xor()
    net = jaxnn.mlp((2, 4, 1), hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
    r = train.fit(net, _params(net, seed=1), optimizers.adam(0.05), (xor.x, xor.y), epochs=300,
                  batch_size=4, key=jax.random.key(0))
    assert r.history[-1]["train_accuracy"] == 1.0


X, Y = _blobs(20)
OPT = optimizers.sgd(0.1)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 0}, ValueError, r"epochs must be a positive int; got 0"),
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive int; got 0"),
        ({"batch_size": 21}, ValueError, r"batch_size 21 is larger than the training set \(20 examples\)"),
        ({"batch_size": 2.5}, TypeError, r"batch_size must be a positive int; got float 2.5"),
        ({"train": (X[:, :4], Y)}, ValueError, r"train: x's last dimension must be n_0 = 5"),
        ({"train": (X, Y + 1)}, ValueError, r"train: labels must lie in \[0, 3\) .* got values from 1 to 3"),
        ({"train": (X, Y[:5])}, ValueError, r"train: integer labels must have shape \(20,\)"),
        ({"train": X}, TypeError, r"train must be a pair \(x, y\)"),
        ({"train": (X.astype(np.int32), Y)}, TypeError, r"x must be floating point; got dtype int32"),
        ({"train": (np.full_like(X, np.nan), Y)}, ValueError, r"train: x contains NaN or Inf"),
        ({"validation": (X, Y + 5)}, ValueError, r"validation: labels must lie in \[0, 3\)"),
        ({"grad": "numeric"}, ValueError, r"grad must be one of manual, autodiff; got 'numeric'"),
        ({"opt": "adam"}, TypeError, r"opt must be a jaxnn Optimizer or an optax-style GradientTransformation"),
        ({"patience": 2}, ValueError, r"early stopping \(patience\) needs validation"),
        ({"key": 3}, TypeError, r"key must be a jax.random key"),
    ],
)
def test_fit_bad_input(kwargs, error, message):
    args = {"net": NET, "params": _params(), "opt": OPT, "train": (X, Y), "epochs": 1,
            "batch_size": 4, "key": jax.random.key(0)}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        train.fit(**args)


def test_bad_learning_rate_is_refused_when_the_optimizer_is_built():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="learning"):
            optimizers.sgd(bad)
    with pytest.raises(ValueError, match="unknown optimizer 'adan'"):
        optimizers.get("adan", 1e-3)


def test_a_schedule_turning_negative_is_caught_inside_the_compiled_epoch():
    x, y = _blobs()
    schedule = lambda count: 0.1 - 0.05 * count  # noqa: E731  (negative from update 4)
    with pytest.raises(ValueError, match=r"the learning rate was negative or not finite in "
                                         r"epoch 1, step 4"):
        train.fit(NET, _params(), optimizers.sgd(schedule), (x, y), epochs=2, batch_size=8,
                  key=jax.random.key(0))


def test_out_of_range_labels_in_a_compiled_epoch_are_flagged_with_their_step():
    x, y = _blobs()
    opt = optimizers.sgd(0.1)
    epoch = train.make_epoch(NET, opt, batch_size=8, num_examples=len(x))
    params = _params()
    bad = np.asarray(y).copy()
    bad[:] = 7  # every row: the first step already sees it
    _, _, metrics = epoch(params, opt.init(params), x, bad, jax.random.key(0), None, None)
    assert int(metrics["label_fault_step"]) == 1 and int(metrics["rate_fault_step"]) == 0
    with pytest.raises(ValueError, match=r"labels out of range in epoch 3, step 1"):
        train.tally.raise_on_faults(jax.device_get(metrics), 3)


def test_an_optimizer_whose_init_reads_values_still_trains():
    """fit compiles opt.init; an optax-style init that reads a value in Python (a tracer
    error under jit) runs eagerly instead, with the same result as the eager call."""
    import collections

    seen = []

    def init(params):
        seen.append(float(jnp.sum(params[0].W)))  # reads a value: not jit-able
        return ()

    def update(grads, state, params=None):
        return jax.tree.map(lambda g: -0.1 * g, grads), state

    transformation = collections.namedtuple("Transformation", "init update")(init, update)
    x = np.random.default_rng(0).standard_normal((24, 5)).astype(np.float32)
    y = np.arange(24) % 3
    params = jaxnn.init_params(jax.random.key(0), NET)
    reference = train.fit(NET, params, optimizers.sgd(0.1), (x, y), epochs=2, batch_size=6,
                          key=jax.random.key(1))
    result = train.fit(NET, params, transformation, (x, y), epochs=2, batch_size=6,
                       key=jax.random.key(1))
    assert seen and len(result.history) == 2
    chex.assert_trees_all_close(result.params, reference.params, rtol=1e-6, atol=1e-7)


def test_per_gather_fills_the_gather_budget_with_whole_minibatches():
    from jaxnn.train import core

    budget = core.GATHER_BYTES
    # 784 float32 inputs + an int32 label: 3,140 bytes a row.
    assert core.per_gather(50, 128, 3140) == 1  # one 128-row batch fits 512 KiB, two do not
    assert core.per_gather(400, 10, 3140) == 16  # 16 · 10 · 3,140 ≤ 512 KiB < 17 · …
    assert 16 * 10 * 3140 <= budget < 17 * 10 * 3140
    assert core.per_gather(44, 32, 260) == 44  # the digits: the whole epoch in one gather
    assert core.per_gather(7, 10, 3140) == 7  # a divisor of the steps, here all of them
    assert core.per_gather(34, 10, 3140) == 2  # 17 divides 34 but overflows: 2 fits


def test_the_gather_blocks_do_not_change_the_training(monkeypatch):
    """Gathering one minibatch at a time or the whole epoch at once: the same parameters
    to the last bit (the same rows in the same order), the same metrics to rounding."""
    from jaxnn.train import core

    x, y = _blobs(120)
    opt = optimizers.adam(1e-2)
    out = {}
    for budget in (1, 1 << 30):
        monkeypatch.setattr(core, "GATHER_BYTES", budget)
        epoch = train.make_epoch(NET, opt, batch_size=8, num_examples=120)
        out[budget] = epoch(_params(), opt.init(_params()), x, y, jax.random.key(2), None, None)
    assert _same(out[1][0], out[1 << 30][0])
    for name, value in out[1][2].items():
        np.testing.assert_allclose(value, out[1 << 30][2][name], rtol=1e-6, err_msg=name)
