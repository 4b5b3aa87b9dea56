"""jaxnn.inputs: what a call's arrays become before anything is computed.

* The finiteness checks see what the computation sees: x and y after their cast to the
  parameters' dtype (float32 1e5 with float16 parameters is Inf there).
* Parameter dtypes are float16, bfloat16, float32 and float64 only.
* Other libraries' arrays (torch tensors, emulated here: torch is not installed) go through
  NumPy (``__array__``, else ``__dlpack__``); array-likes without ``.size`` are read; masked
  arrays with masked entries are refused; ``None`` is a TypeError.
* A JAX array on another device than the parameters is moved to theirs (two CPU devices,
  in a subprocess).
* Memory: a batch whose activations cannot fit is refused before it is computed.
* When ``fit`` diverges, its message names the cause, checked in order: the data, λ, a
  corrupted optimizer state, the DP noise, a schedule or a constant rate, an optax
  optimizer's (unknown) rate.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import backprop, inputs, optimizers, train

NET = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
REG = jaxnn.mlp((3, 2), output="identity", cost="quadratic")
P = jaxnn.init_params(jax.random.key(0), NET)
X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 0, 1, 1, 0], np.int32)


def _as(params, dtype):
    return jax.tree.map(lambda a: np.asarray(a).astype(dtype), params)


# ---------------------------------------------------------------------------------------
# Finiteness after the cast; parameter dtypes.


def test_x_that_overflows_the_parameters_dtype_is_refused():
    p16 = jaxnn.init_params(jax.random.key(0), NET, dtype=jnp.float16)
    with pytest.raises(ValueError, match=r"x holds values up to 1e\+05 in magnitude, beyond the "
                       r"range of the parameters' dtype float16 \(largest finite value 65504\)"):
        jaxnn.forward(NET, p16, np.full((2, 3), 1e5, np.float32))
    with pytest.raises(ValueError, match="x holds values up to"):  # a JAX array: on device
        jaxnn.cost(NET, p16, jnp.full((2, 3), 1e5, jnp.float32), Y[:2])
    assert jnp.all(jnp.isfinite(jaxnn.forward(NET, p16, np.full((2, 3), 6e4, np.float32))))


def test_y_that_overflows_the_parameters_dtype_is_refused():
    p16 = jaxnn.init_params(jax.random.key(0), REG, dtype=jnp.float16)
    with pytest.raises(ValueError, match=r"y holds values up to 1e\+05 .* float16"):
        jaxnn.cost(REG, p16, X, np.full((6, 2), 1e5, np.float32))
    with pytest.raises(ValueError, match=r"^train: y holds values up to 1e\+05 .* float16"):
        train.fit(REG, p16, optimizers.sgd(0.1), (X, np.full((6, 2), 1e5, np.float32)),
                  epochs=1, batch_size=2, key=jax.random.key(0))


def test_float64_data_beyond_float32_is_refused(x64):
    with pytest.raises(ValueError, match=r"x holds values up to 1e\+300 .* float32 \(largest "
                       r"finite value 3.4028e\+38\)"):
        jaxnn.cost(NET, P, np.full((6, 3), 1e300), Y)


def test_nan_in_the_data_keeps_its_message():
    with pytest.raises(ValueError, match=r"^x contains NaN or Inf\. Fix: clean the data"):
        jaxnn.forward(NET, _as(P, jnp.float16), np.full((2, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"^y contains NaN or Inf"):
        jaxnn.cost(REG, jaxnn.init_params(jax.random.key(0), REG), X,
                   np.full((6, 2), np.inf, np.float32))


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", np.longdouble],
                         ids=["float8_e4m3fn", "float8_e5m2", "longdouble"])
def test_unsupported_parameter_dtypes_are_refused(dtype):
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"params\[0\]\.W \(layer 1\) must be float16, "
                       rf"bfloat16, float32 or float64; got {name}\. Fix: \.astype"):
        jaxnn.forward(NET, _as(P, dtype), X)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_supported_parameter_dtypes_compute_in_their_dtype(dtype):
    out = jaxnn.forward(NET, _as(P, dtype), X.astype(np.float64))  # x cast to the params'
    assert out.dtype == dtype and bool(jnp.all(jnp.isfinite(out)))


def test_longdouble_x_is_cast_on_the_host():
    out = jaxnn.forward(NET, P, X.astype(np.longdouble))
    np.testing.assert_array_equal(out, jaxnn.forward(NET, P, X))


# ---------------------------------------------------------------------------------------
# Other libraries' arrays.


class TorchLike:
    """What a CPU torch tensor offers: shape, a dtype NumPy does not know, __array__,
    __dlpack__; no .size attribute (torch's .size is a method) and no .ndim."""

    def __init__(self, a):
        self._a = np.asarray(a)
        self.shape = self._a.shape
        self.dtype = f"torch.{self._a.dtype}"

    def size(self):  # torch.Tensor.size() is a method
        return self.shape

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)

    def __dlpack__(self, stream=None):
        return self._a.__dlpack__()

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class DlpackOnly:
    def __init__(self, a):
        self._a = np.asarray(a)

    def __dlpack__(self, stream=None):
        return self._a.__dlpack__()

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()

    def __len__(self):  # NumPy must not read it as a sequence
        raise TypeError("not a sequence")


class OnDevice:
    """A tensor on an accelerator: NumPy and DLPack on the CPU both fail."""

    shape, dtype = (6, 3), "torch.float32"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")

    def __dlpack__(self, stream=None):
        raise BufferError("a CUDA tensor")

    def __dlpack_device__(self):
        return (2, 0)


def test_torch_like_tensors_go_through_numpy():
    want = jaxnn.cost(NET, P, X, Y)
    assert jaxnn.cost(NET, P, TorchLike(X), TorchLike(Y)) == want
    assert jaxnn.forward(NET, P, TorchLike(X)).shape == (6, 2)
    J, _ = backprop.value_and_grad(NET, P, TorchLike(X), TorchLike(Y))
    assert J == want
    assert jaxnn.accuracy(NET, P, TorchLike(X), TorchLike(Y)) == jaxnn.accuracy(NET, P, X, Y)
    assert jaxnn.cost(NET, P, DlpackOnly(X), DlpackOnly(Y)) == want


def test_an_array_numpy_cannot_read_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"x must be an array NumPy can read; got a test_inputs.OnDevice "
                       r"that it cannot \(can't convert cuda:0.*Fix: convert it on the host"):
        jaxnn.forward(NET, P, OnDevice())


def test_none_and_objects_are_type_errors():
    with pytest.raises(TypeError, match=r"y must be an array \(NumPy, JAX, or anything NumPy "
                       r"can read\); got None"):
        jaxnn.cost(NET, P, X, None)
    with pytest.raises(TypeError, match=r"x must be an array .*; got object"):
        jaxnn.forward(NET, P, object())


def test_validation_without_targets_is_prefixed():
    with pytest.raises(TypeError, match=r"^validation: y must be an array .*; got None"):
        train.fit(NET, P, optimizers.sgd(0.1), (X, Y), epochs=1, batch_size=2,
                  key=jax.random.key(0), validation=(X, None))


def test_masked_arrays():
    masked = np.ma.masked_invalid(np.where(np.eye(6, 3) > 0, np.nan, X))
    with pytest.raises(ValueError, match=r"x is a masked array with 3 masked entries; jaxnn "
                       r"reads no masks .* Fix: drop the masked rows, or fill them"):
        jaxnn.cost(NET, P, masked, Y)
    with pytest.raises(ValueError, match=r"^train: x is a masked array"):
        train.fit(NET, P, optimizers.sgd(0.1), (masked, Y), epochs=1, batch_size=2,
                  key=jax.random.key(0))
    assert jaxnn.cost(NET, P, np.ma.masked_array(X), Y) == jaxnn.cost(NET, P, X, Y)


def test_a_user_cost_is_named_in_the_target_range_message():
    mine = jaxnn.costs.custom("inputs_sq", lambda a, y: jnp.sum((a - y) ** 2, axis=-1),
                              lambda a, y: 2 * (a - y), probabilities=True)
    net = jaxnn.mlp((3, 2), output="sigmoid", cost=mine)
    params = jaxnn.init_params(jax.random.key(0), net)
    with pytest.raises(ValueError, match=r"^the cost 'inputs_sq' needs targets in \[0, 1\] "
                       r"\(probabilities\); got values from 3 to 3"):  # not <cost 'inputs_sq'>
        jaxnn.cost(net, params, X, np.full((6, 2), 3.0, np.float32))


# ---------------------------------------------------------------------------------------
# fit and fit_many check their (x, y) pairs alike (jaxnn.train.core.check_data).

P2 = jax.tree.map(lambda a: jnp.stack([a, a]), P)
KEYS2 = jax.random.split(jax.random.key(0), 2)


def _fit_one(params, train, **kw):
    return jaxnn.train.fit(NET if params is P else REG, params, optimizers.sgd(0.1), train,
                           epochs=1, batch_size=2, key=jax.random.key(0), **kw)


def _fit_many(params, train, **kw):
    net = NET if params is P else REG
    return jaxnn.train.fit_many(net, jax.tree.map(lambda a: jnp.stack([a, a]), params),
                                optimizers.sgd(0.1), train, epochs=1, batch_size=2,
                                keys=KEYS2, **kw)


P16 = jaxnn.init_params(jax.random.key(0), REG, dtype=jnp.float16)


@pytest.mark.parametrize("fit", [_fit_one, _fit_many], ids=["fit", "fit_many"])
@pytest.mark.parametrize("params, train, kw, error, message", [
    (P16, (X, np.full((6, 2), 1e5, np.float32)), {}, ValueError,
     r"^train: y holds values up to 1e\+05 in magnitude, beyond the range of the parameters' "
     r"dtype float16"),
    (P, (X, Y + 1), {}, ValueError, r"^train: labels must lie in \[0, 2\)"),
    (P, (X, Y), {"validation": (X, None)}, TypeError,
     r"^validation: y must be an array \(NumPy, JAX, or anything NumPy can read\); got None"),
    (P, (X, "abc"), {}, TypeError, r"^train: y must be floating point targets or integer "
     r"labels; got <U3"),
    (P, (OnDevice(), Y), {}, TypeError, r"^train: x must be an array NumPy can read"),
], ids=["y-overflow-float16", "labels-range", "validation-none", "y-text", "x-unreadable"])
def test_fit_and_fit_many_refuse_a_bad_pair_alike(fit, params, train, kw, error, message):
    with pytest.raises(error, match=message):
        fit(params, train, **kw)


def test_fit_and_fit_many_read_other_libraries_arrays():
    """Torch-like x and y (a dtype NumPy does not know) through NumPy, in both."""
    one = _fit_one(P, (TorchLike(X), TorchLike(Y)))
    many = _fit_many(P, (TorchLike(X), TorchLike(Y)), validation=(TorchLike(X), TorchLike(Y)))
    assert many.histories[0][0]["train_cost"] == pytest.approx(
        _fit_many(P, (X, Y)).histories[0][0]["train_cost"])
    assert np.isfinite(one.history[0]["train_cost"])


# ---------------------------------------------------------------------------------------
# Devices: x on another device than the parameters.

TWO_DEVICES = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, jaxnn
    from jaxnn import backprop, optimizers, train
    d0, d1 = jax.devices()[:2]
    net = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
    p = jax.device_put(jaxnn.init_params(jax.random.key(0), net), d0)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1, 0], np.int32)
    x1, y1 = jax.device_put(x, d1), jax.device_put(y, d1)
    assert jaxnn.cost(net, p, x1, y1) == jaxnn.cost(net, p, x, y)
    assert jaxnn.forward(net, p, x1).devices() == {d0}
    backprop.value_and_grad(net, p, x1, y1)
    r = train.fit(net, p, optimizers.sgd(0.1), (x1, y1), epochs=1, batch_size=2,
                  key=jax.random.key(0), validation=(x1, y1))
    assert r.params[0].W.devices() == {d0}
    keys = jax.random.split(jax.random.key(0), 2)
    stacked = jax.device_put(jax.tree.map(lambda a: jnp.stack([a, a]), p), d0)
    many = train.fit_many(net, stacked, optimizers.sgd(0.1), (x1, y1), epochs=1, batch_size=2,
                          keys=keys, validation=(x1, y1))  # fit_many moves them as fit does
    assert many.params[0].W.devices() == {d0}
    print("ok")
""")


def test_arrays_on_another_device_move_to_the_parameters():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_to_device_of_leaves_tracers_and_numpy_alone():
    a = np.ones(3)
    assert inputs.to_device_of(a, P[0].W) is a
    j = jnp.ones(3)
    assert inputs.to_device_of(j, P[0].W) is j  # same device


# ---------------------------------------------------------------------------------------
# Memory: a batch that cannot fit is refused before it is computed.


def test_a_batch_over_the_memory_limit_is_refused(monkeypatch):
    wide = jaxnn.mlp((3, 100_000, 2))
    params = jaxnn.init_params(jax.random.key(0), wide)
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "100M")
    x = np.zeros((1000, 3), np.float32)  # Z, A and Δ of 1000 × 100,000: 1.1 GiB
    with pytest.raises(ValueError, match=r"a forward and backward pass of 1000 rows through a "
                       r"3-100000-2 network would take about 1\.1 GiB; the memory limit is "
                       r"100\.0 MiB \(JAXNN_MEMORY_LIMIT\)\. Fix: fewer rows at once"):
        backprop.value_and_grad(wide, params, x, np.zeros(1000, np.int32))
    assert np.isfinite(float(jaxnn.cost(wide, params, x[:10], np.zeros(10, np.int32))))


def test_per_example_gradients_over_the_memory_limit_are_refused(monkeypatch):
    """One gradient per row: m × P numbers (memory.check_per_example), not one batch's."""
    wide = jaxnn.mlp((3, 100_000, 2))
    params = jaxnn.init_params(jax.random.key(0), wide)
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "1G")
    x = np.zeros((1000, 3), np.float32)  # a batch: 1.1 GiB; per example: 1000 × 6e5 × 4 B
    with pytest.raises(ValueError, match=r"^per-example gradients of 1000 rows through a "
                       r"3-100000-2 network \(1000 × 6e\+05 numbers\) would take about 3\.4 "
                       r"GiB; the memory limit is 1\.0 GiB \(JAXNN_MEMORY_LIMIT\)"):
        backprop.per_example_grads(wide, params, x, np.zeros(1000, np.int32))
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "100M")
    x, y = np.zeros((20, 3), np.float32), np.zeros(20, np.int32)  # 68.7 MiB: fits
    assert backprop.per_example_grads(wide, params, x, y)[0].W.shape == (20, 100_000, 3)
    with pytest.raises(ValueError, match=r"^per-example gradients of 200 rows"):
        backprop.per_example_grads(wide, params, np.zeros((200, 3), np.float32),
                                   np.zeros(200, np.int32))


# ---------------------------------------------------------------------------------------
# Divergence: the message names the cause, checked in order before the learning rate.

RELU = jaxnn.mlp((3, 4, 2), hidden="relu", output="identity", cost="quadratic")


def _diverge(net=NET, opt=None, train=(X, Y), epochs=3, **kw) -> str:
    params = jaxnn.init_params(jax.random.key(0), net)
    with pytest.raises(jaxnn.train.TrainingDiverged) as info:
        jaxnn.train.fit(net, params, opt or optimizers.sgd(0.1), train, epochs=epochs,
                        batch_size=2, key=jax.random.key(0), **kw)
    message = str(info.value)
    assert message.startswith("the cost became NaN or Inf in epoch "), message
    return message.split(" were kept. Fix: ", 1)[1]


def _adam_state(**change):
    state = optimizers.adam(1e-3).init(jaxnn.init_params(jax.random.key(0), NET))
    return state._replace(**{k: jax.tree.map(f, getattr(state, k)) for k, f in change.items()})


def _l2_term_at_start(l2, batch_size=2):
    """(λ/2m) Σ‖W‖² of :func:`_diverge`'s starting parameters, as the message prints it."""
    params = jaxnn.init_params(jax.random.key(0), NET)
    return f"{l2 * sum(float(jnp.sum(p.W ** 2)) for p in params) / (2 * batch_size):.3g}"


@pytest.mark.parametrize("case, fix", [
    (dict(net=NET.replace(l2=1e30)), r"^lower the L2 strength λ \(l2=1e\+30\): its term "
     r"\(λ/2m\) Σ‖W‖² = " + re.escape(_l2_term_at_start(1e30)) + " dwarfs the data term"),
    (dict(net=NET.replace(l2=1e4), epochs=20), r"^lower the L2 strength λ \(l2=10000\)"),
    (dict(opt=optimizers.adam(1e-3), opt_state=_adam_state(
        square_avg=lambda a: a - 1.0)), r"^start from a fresh optimizer state \(opt_state=None\) "
     r"or an intact checkpoint: the one passed in holds negative second moments \(in "
     r"opt_state\.square_avg\[0\]\.W: -1\)"),
    (dict(opt=optimizers.adam(1e-3), opt_state=_adam_state(
        velocity=lambda a: a.at[0].set(jnp.nan))), r"holds NaN or Inf \(in "
     r"opt_state\.velocity\[0\]\.W\)"),
    (dict(dp=jaxnn.privacy.dp_sgd(1.0, 1e300)), r"^lower the DP-SGD noise: noise_multiplier · "
     r"clip_norm = 1e\+300 adds noise of standard deviation 5e\+299"),
    (dict(net=RELU, opt=optimizers.sgd(lambda c: 1e4 * (c + 1.0)), train=(X * 100, Y)),
     r"^lower the learning-rate schedule, e\.g\. tenfold \(its rates ran from 10000 to 30000"),
    (dict(net=RELU, opt=optimizers.sgd(1e3), train=(X * 100, Y), epochs=20),
     r"^lower the learning rate \(now 1000\), e\.g\. to 100\.$"),
], ids=["l2-term", "l2-decay", "opt-negative-moment", "opt-nan-moment", "dp-noise", "schedule",
        "constant-rate"])
def test_divergence_names_its_cause(case, fix):
    assert re.search(fix, _diverge(**case)), _diverge(**case)


def test_divergence_of_an_optax_optimizer_does_not_blame_a_schedule():
    optax = pytest.importorskip("optax")
    fix = _diverge(net=RELU, opt=optax.sgd(1e3), train=(X * 100, Y), epochs=20)
    assert fix.startswith("lower the learning rate given to the optax transformation, e.g. "
                          "tenfold (jaxnn cannot see it"), fix


def test_diagnosis_checks_the_data_first():
    """fit refuses non-finite data up front; the diagnosis still looks at it first (the
    arrays as the epoch sees them, in the parameters' dtype), then at huge values."""
    params = jaxnn.init_params(jax.random.key(0), NET.replace(l2=1e30))
    state = optimizers.sgd(0.1).init(params)
    diagnose = jaxnn.train.loop.diagnose
    nan_x = X.copy()
    nan_x[0, 0] = np.nan
    assert diagnose(NET.replace(l2=1e30), params, state, state, (nan_x, Y), 2).startswith(
        "clean the data: x holds NaN or Inf as the epoch sees it (in float32")
    p16 = jax.tree.map(lambda a: a.astype(jnp.float16), params)
    y = np.full((6, 2), 1e5, np.float32)
    assert "y holds NaN or Inf as the epoch sees it (in float16, whose largest value is " \
        "6.55e+04)" in diagnose(NET, p16, state, state, (X, y), 2)
    assert diagnose(NET, params, state, state, (X * 1e30, Y), 2).startswith(
        "scale the data: x holds values up to")
    net = NET.replace(l2=100.0)  # λ's term is 100× the data term; SGD's decay step overshoots
    sgd = optimizers.sgd(1.0).init(params)
    assert diagnose(net, params, sgd, sgd, (X, Y), 2).startswith(
        "lower the L2 strength λ (l2=100) or the learning rate (1): each step scales W by "
        "1 − ηλ/m = -49, so |W| grows; keep ηλ/m < 2, e.g. l2 < 4")
