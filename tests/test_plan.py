"""The plan (jaxnn.train.plan): arguments checked once, one compiled epoch per static
signature, hyper-parameters as inputs; optimizer recipes and registry facts."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import optimizers, recipes, schedules, train
from jaxnn.train import programs

NET = jaxnn.mlp((6, 5, 3), hidden="tanh", output="softmax", cost="cross_entropy")
X = np.asarray(jax.random.normal(jax.random.key(1), (40, 6)), np.float32)
Y = np.asarray(jax.random.randint(jax.random.key(2), (40,), 0, 3), np.int32)

_compiles = {"on": False, "n": 0}


def _listener(event, duration, **kwargs):
    if _compiles["on"] and "backend_compile" in event:
        _compiles["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_listener)


def compiles(fn):
    """The number of XLA programs compiled while ``fn()`` runs, and its result."""
    _compiles.update(on=True, n=0)
    try:
        out = fn()
        jax.block_until_ready(out)
    finally:
        _compiles["on"] = False
    return _compiles["n"], out


def _fit(net=NET, opt=None, seed=0, epochs=2, batch_size=8, **kw):
    params = jaxnn.init_params(jax.random.key(seed), net)
    return train.fit(net, params, opt or optimizers.sgd(0.1), (X, Y), epochs=epochs,
                     batch_size=batch_size, key=jax.random.key(seed), **kw)


@pytest.mark.parametrize("make", [
    lambda lr: optimizers.sgd(lr),
    lambda lr: optimizers.adam(lr, beta1=0.8, eps=1e-7),
    lambda lr: optimizers.adamw(lr, weight_decay=lr / 10),
    lambda lr: optimizers.momentum(schedules.cosine_decay(lr, 100), beta=0.5),
    lambda lr: optimizers.clip_by_global_norm(lr * 10, optimizers.rmsprop(lr)),
], ids=["sgd", "adam", "adamw", "momentum-cosine", "clip-rmsprop"])
def test_a_second_fit_with_new_values_compiles_nothing(make):
    _fit(opt=make(0.1))  # compiles this kind's programs
    n, result = compiles(lambda: _fit(NET.replace(l2=0.3), make(0.03), seed=5, epochs=3).params)
    assert n == 0
    assert np.all(np.isfinite(np.asarray(result[0].W)))


def test_dropout_rate_and_initial_parameters_are_values():
    net = NET.replace(dropout=0.2)
    _fit(net)
    n, _ = compiles(lambda: _fit(net.replace(dropout=0.6), seed=3).params)
    assert n == 0


def test_the_values_are_the_ones_used():
    """Changing only a value changes the result as rebuilding the program would: the
    cached program reads λ, the rate and the dropout rate from its inputs."""
    a = _fit(opt=optimizers.sgd(0.1)).history[-1]["train_cost"]
    b = _fit(opt=optimizers.sgd(0.5)).history[-1]["train_cost"]
    programs.clear_cache()
    b_fresh = _fit(opt=optimizers.sgd(0.5)).history[-1]["train_cost"]
    assert a != b and b == b_fresh
    lam = _fit(NET.replace(l2=2.0)).history[-1]["train_cost"]
    programs.clear_cache()
    assert lam == _fit(NET.replace(l2=2.0)).history[-1]["train_cost"] != a
    drop = _fit(NET.replace(dropout=0.5)).history[-1]["train_cost"]
    programs.clear_cache()
    assert drop == _fit(NET.replace(dropout=0.5)).history[-1]["train_cost"] != a


def test_a_new_kind_or_shape_compiles_again():
    _fit()
    assert compiles(lambda: _fit(batch_size=5).params)[0] > 0  # another batch size
    assert compiles(lambda: _fit(opt=optimizers.nesterov(0.1)).params)[0] > 0  # another kind


def test_fit_many_shares_its_program_across_values():
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.vmap(jaxnn.init_params, (0, None))(keys, NET)

    maker = lambda learning_rate: optimizers.adam(learning_rate)  # noqa: E731
    run_with = lambda lrs, l2s: train.fit_many(  # noqa: E731
        NET, params, maker, (X, Y), epochs=2, batch_size=8, keys=keys,
        hyperparams={"learning_rate": lrs, "l2": l2s}).params
    run_with([1e-3, 1e-2, 1e-1], [0.0, 0.1, 1.0])
    assert compiles(lambda: run_with([3e-3, 3e-2, 0.3], [1.0, 2.0, 0.0]))[0] == 0
    shared = optimizers.sgd(0.1)
    train.fit_many(NET, params, shared, (X, Y), epochs=1, batch_size=8, keys=keys)
    n, _ = compiles(lambda: train.fit_many(NET, params, optimizers.sgd(0.7), (X, Y), epochs=2,
                                           batch_size=8, keys=keys).params)
    assert n == 0


def test_one_fit_checks_the_network_three_times_at_most():
    """Following ``net`` from ``fit``: the checks that receive it are the net (with the
    parameters), and the training pair; nothing below the door checks again."""
    _fit()
    seen = []

    def profile(frame, event, arg):
        name = frame.f_code.co_name
        if event == "call" and name.startswith(("check", "_check", "validate")) and \
                frame.f_globals.get("__name__", "").startswith("jaxnn") and \
                any(v is NET for v in frame.f_locals.values()):
            seen.append(name)

    params = jaxnn.init_params(jax.random.key(0), NET)
    sys.setprofile(profile)
    try:
        train.fit(NET, params, optimizers.sgd(0.1), (X, Y), epochs=1, batch_size=8,
                  key=jax.random.key(0))
    finally:
        sys.setprofile(None)
    assert len(seen) <= 3, seen


def test_recipes_split_and_build():
    kind, values = recipes.split(optimizers.adamw(1e-3, weight_decay=0.1))
    assert kind.name == "adamw" and values["learning_rate"] == 1e-3
    assert values["weight_decay"] == 0.1 and ("mask", None) in kind.static
    assert recipes.split(optimizers.adamw(3e-4))[0] == kind  # one kind, other values
    rebuilt = recipes.build(kind, values)
    params = jaxnn.init_params(jax.random.key(0), NET)
    state = rebuilt.init(params)
    assert type(state).__name__ == "AdamWState"
    sched, sched_values = recipes.split(schedules.cosine_decay(0.1, 100, warmup_steps=10))
    assert ("decay_steps", 100) in sched.static and sched_values["peak"] == 0.1
    # No recipe: a hand-made Optimizer, or an argument that cannot be hashed.
    assert recipes.split(optimizers.Optimizer(lambda p: None, lambda g, s, p: (p, s))) == \
        (None, {})
    assert recipes.split(schedules.piecewise_constant(
        init_value=0.1, boundaries_and_scales={10: 0.5}))[0] is None


def test_registry_entries_declare_their_facts():
    params = jaxnn.init_params(jax.random.key(0), NET)
    for name, entry in optimizers.ENTRIES.items():
        state = entry.factory(0.1).init(params)
        assert type(state) is entry.state
        assert optimizers.entry_of(state) == (name, entry)
        assert optimizers.entry_of(entry.state.__name__) == (name, entry)
        assert set(entry.nonnegative) <= set(entry.state._fields)
    assert optimizers.entry_of(optimizers.clip_by_global_norm(1.0, optimizers.sgd(0.1))
                               .init(params)) is None


def test_a_new_optimizer_declares_its_moments(monkeypatch):
    """An Adagrad-like entry whose second moment is named ``square_sum`` is diagnosed by
    what its entry declares, not by a field name the code knows."""
    from typing import NamedTuple

    from jaxnn.optimizers import algorithms
    from jaxnn.train import loop

    class AdagradState(NamedTuple):
        count: jax.Array
        learning_rate: jax.Array
        square_sum: tuple

    entry = algorithms.Entry(optimizers.sgd, AdagradState, nonnegative=("square_sum",))
    monkeypatch.setitem(algorithms._BY_STATE, AdagradState, ("adagrad", entry))
    params = jaxnn.init_params(jax.random.key(0), NET)
    bad = jax.tree.map(lambda p: -jnp.ones_like(p), params)
    state = AdagradState(jnp.zeros((), jnp.int32), jnp.float32(0.1), bad)
    assert "negative second moments (in opt_state.square_sum" in loop._bad_state(state)
    monkeypatch.delitem(algorithms._BY_STATE, AdagradState)
    assert loop._bad_state(state) is None


@pytest.mark.parametrize("hyperparams, opt, match", [
    ({"learning_rate": 0.1}, lambda learning_rate: optimizers.sgd(learning_rate),
     r"hyperparams\['learning_rate'\] must be 2 values.*got shape \(\) \(0.1, one value\)"
     r".*Fix: give 2 values, e.g. \[0.1\] \* 2"),
    ({"lr": [0.1, 0.2]}, lambda learning_rate: optimizers.sgd(learning_rate),
     r"opt must be a function taking the hyperparams it is given, opt\(lr\).*unexpected "
     r"keyword argument 'lr'"),
    ({"learning_rate": [0.1, 0.2]},
     lambda learning_rate: optimizers.sgd(learning_rate if learning_rate > 0.15 else 0.1),
     r"opt must be a function of the hyperparams made of jnp operations.*"
     r"TracerBoolConversionError.*no Python `if`"),
], ids=["scalar", "unknown-name", "python-if"])
def test_fit_many_hyperparameter_mistakes_are_one_clear_line(hyperparams, opt, match):
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.vmap(jaxnn.init_params, (0, None))(keys, NET)
    with pytest.raises((TypeError, ValueError), match=match):
        train.fit_many(NET, params, opt, (X, Y), epochs=1, batch_size=8, keys=keys,
                       hyperparams=hyperparams)


def test_fit_many_memory_message_names_no_argument_it_lacks(monkeypatch):
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "1K")
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.vmap(jaxnn.init_params, (0, None))(keys, NET)
    with pytest.raises(ValueError, match="JAXNN_MEMORY_LIMIT=64G") as info:
        train.fit_many(NET, params, optimizers.sgd(0.1), (X, Y), epochs=1, batch_size=8,
                       keys=keys)
    assert "memory_limit=" not in str(info.value)


def test_epoch_records_carry_each_layers_learning_speed():
    """``layer_grad_norms``: the mean over the epoch's steps of ‖∂J/∂W^l‖; with one step
    per epoch (batch = the whole set) it is BP4's gradient at the initial parameters."""
    net = jaxnn.mlp((6, 5, 4, 3), hidden="sigmoid", output="softmax", cost="cross_entropy",
                    l2=0.1)
    params = jaxnn.init_params(jax.random.key(0), net)
    result = train.fit(net, params, optimizers.sgd(0.1), (X, Y), epochs=1, batch_size=len(X),
                       key=jax.random.key(0))
    _, grads = jaxnn.backprop.value_and_grad(net, params, X, Y)
    want = [float(jnp.linalg.norm(g.W)) for g in grads]
    np.testing.assert_allclose(result.history[0]["layer_grad_norms"], want, rtol=1e-5)
    keys = jax.random.split(jax.random.key(0), 2)
    many = train.fit_many(net, jax.vmap(jaxnn.init_params, (0, None))(keys, net),
                          optimizers.sgd(0.1), (X, Y), epochs=2, batch_size=8, keys=keys)
    assert all(len(h["layer_grad_norms"]) == 3 for run in many.histories for h in run)


def test_batch_norm_is_evaluated_with_population_statistics():
    """After each epoch the batch-norm statistics are those of the training set under the
    epoch's final parameters, so one example's prediction is the same alone or in a batch,
    and the epoch's validation metrics equal jaxnn.accuracy / jaxnn.cost of evaluation."""
    net = jaxnn.mlp((6, 5, 5, 3), hidden="tanh", output="softmax", cost="cross_entropy",
                    norm="batch")
    params = jaxnn.init_params(jax.random.key(0), net)
    result = train.fit(net, params, optimizers.adam(1e-2), (X, Y), epochs=2, batch_size=8,
                       key=jax.random.key(0), validation=(X[:10], Y[:10]))
    trained = result.params
    assert float(jnp.max(jnp.abs(trained[0].mean))) > 0  # statistics were written
    alone = jnp.stack([jaxnn.forward(net, trained, X[i]) for i in range(3)])
    np.testing.assert_allclose(alone, jaxnn.forward(net, trained, X[:3]), atol=1e-5)
    assert result.history[-1]["val_accuracy"] == pytest.approx(
        float(jaxnn.accuracy(net, trained, X[:10], Y[:10])))
    with pytest.raises(ValueError, match="one device for a network with batch norm"):
        train.fit(net, params, optimizers.sgd(0.1), (X, Y), epochs=1, batch_size=8,
                  key=jax.random.key(0), devices=1)


def test_checking_numpy_data_compiles_nothing(tmp_path):
    """fit's and accuracy's data checks copy NumPy arrays to the device with
    jax.device_put (inputs.to_jax): jnp.asarray compiled a "stage" program per new shape."""
    from jaxnn import inputs
    from jaxnn.train import core

    params = jaxnn.init_params(jax.random.key(0), NET)
    x = np.linspace(-1, 1, 37 * 6, dtype=np.float32).reshape(37, 6)  # a shape used nowhere else
    y = np.arange(37) % 3  # int64 labels: int32 on the host
    n, (xd, yd) = compiles(lambda: core.check_data(NET, params, (x, y), "train"))
    assert n == 0
    assert isinstance(xd, jax.Array) and isinstance(yd, jax.Array) and yd.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(yd), y)
    n, labels = compiles(lambda: inputs.check_labels_for_accuracy(NET, y, 37))
    assert n == 0 and labels.dtype == jnp.int32
    x[0, 0] = 5.0  # a copy, not an alias of the caller's array
    assert float(xd[0, 0]) == -1.0
    wide = x.astype(np.float64)  # cast on the host once: that private copy is handed over
    n, (xw, _) = compiles(lambda: core.check_data(NET, params, (wide, y), "train"))
    wide[1, 0] = 7.0
    assert n == 0 and xw.dtype == jnp.float32 and float(xw[1, 0]) == float(x[1, 0])
    mapped = np.memmap(tmp_path / "x.f32", np.float32, "w+", shape=(37, 6))  # a subclass
    mapped[:] = 2.0
    n, (xm, _) = compiles(lambda: core.check_data(NET, params, (mapped, y), "train"))
    mapped[0, 0] = 5.0
    assert n == 0 and float(xm[0, 0]) == 2.0
