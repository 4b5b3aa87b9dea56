"""Numerical faults: extreme logits, divergence, overflowing rates, determinism.

* Numerical: logits of ±1e4 (and ±6e4, past float16's exp and difference range) give
  finite costs and gradients, by the hand-written pass and by ``jax.grad`` of
  ``jaxnn.cost``, in float32 and float16, for every saturating output/cost pair.
* Divergence: ``jaxnn train`` with a learning rate that diverges exits 1 with the
  ``TrainingDiverged`` message, keeps the last good checkpoint (finite, loadable) and writes
  no summary; ``--debug-nans`` reports the NaN and exits 1.
* A learning rate the optimizer's dtype cannot hold (``adam(1e308)``) is refused by name,
  at construction or when ``fit``/``fit_many`` start, not blamed on a schedule later.
* Determinism: same inputs, same bits (eager twice, jit twice, ``jaxnn train`` twice);
  eager vs jit agree to rounding; another seed gives other shuffles.

(Hostile files: tests/test_faults.py.)
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import backprop, checkpoint, costs, optimizers, train
from jaxnn.cli import main
from jaxnn.gradcheck import rel_diff

# ---------------------------------------------------------------------------------------
# Numerical faults: extreme logits.

# Output/cost pairs whose output saturates: exp overflows, σ and softmax round to 0 and 1.
SATURATING = [
    ("sigmoid", "binary_cross_entropy"),  # fused BP1
    ("softmax", "cross_entropy"),  # fused BP1
    ("sigmoid", "cross_entropy"),  # fused BP1
    ("softmax", "quadratic"),  # general path: softmax VJP
    ("sigmoid", "quadratic"),  # general path: σ' = a(1 − a) = 0
    ("tanh", "absolute"),  # general path: tanh' = 1 − a² = 0
]
X_EXTREME = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [0, 0]], np.float32)


def _extreme_problem(output, cost, dtype, scale):
    """Logits ±scale (and 0) in every row under a saturated tanh layer (tanh' = 0);
    targets right and badly wrong."""
    net = jaxnn.mlp((2, 3, 3), hidden="tanh", output=output, cost=cost)
    W_hidden = scale * np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    W_out = scale * np.array([[1, 0, 0], [-1, 0, 0], [0, 0, 1]], np.float32)
    params = tuple(jaxnn.Layer(jnp.asarray(W, dtype), jnp.zeros(3, dtype))
                   for W in (W_hidden, W_out))
    if (output, cost) == ("softmax", "cross_entropy"):
        y = np.array([1, 1, 0, 2, 0], np.int32)  # row 0: the class whose logit is −scale
    else:
        y = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1], [1, 0, 1]], np.float32)
    return net, params, jnp.asarray(X_EXTREME, dtype), y


def _finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(t))) for t in jax.tree.leaves(tree))


def _three_ways(params, x, y, net):
    """(J, ∂J/∂θ) by BP1–BP4, by jax.grad of jaxnn.cost, and by jax.grad through the
    custom VJP that runs BP1–BP4. Eager: every case has the same shapes, so after the
    first ones the ops come from JAX's cache (a jit per case would compile 12 programs)."""
    return (backprop.value_and_grad(net, params, x, y),
            jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, y),
            jax.value_and_grad(backprop.cost_with_manual_vjp, argnums=1)(net, params, x, y))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("output, cost", SATURATING)
def test_extreme_logits_give_finite_costs_and_gradients(output, cost, dtype):
    scale = 1e4  # logits ±1e4: exp overflows in both dtypes, σ and softmax round to 0 and 1
    net, params, x, y = _extreme_problem(output, cost, dtype, scale)
    (J, grads), (J_ref, grads_ref), (J_vjp, grads_vjp) = _three_ways(params, x, y, net)
    for value in (J, J_ref, J_vjp):
        assert bool(jnp.isfinite(value)), value
    assert _finite(grads) and _finite(grads_ref) and _finite(grads_vjp)
    tol = 1e-5 if dtype == jnp.float32 else 1e-2
    assert rel_diff(J, J_ref) <= tol and rel_diff(J_vjp, J_ref) <= tol
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_ref)):
        assert g.dtype == r.dtype == dtype
        assert rel_diff(g, r) <= tol, (g, r)
    if cost in ("binary_cross_entropy", "cross_entropy"):
        assert float(J) > 0.1 * scale  # a confident wrong answer costs about its logit


def test_float16_logit_gaps_past_its_range_keep_the_cross_entropy_finite():
    """Logits ±3.8e4 in float16: z − max z = −7.6e4 overflows to −inf, so log softmax is
    −inf where the target is 0; 0 · log 0 = 0 keeps J (≈ 0: the right class wins) and its
    gradients finite. (Shapes as above, so the eager ops are cached.)"""
    net, _, x, _ = _extreme_problem("softmax", "cross_entropy", jnp.float16, 1.0)
    W_hidden = jnp.array([[1, 0], [0, 1], [0, 0]], jnp.float16)  # h = tanh(x), |h| ≤ 0.77
    W_out = 5e4 * jnp.array([[1, 0, 0], [-1, 0, 0], [0, 0, 0]], jnp.float16)
    params = (jaxnn.Layer(W_hidden, jnp.zeros(3, jnp.float16)),
              jaxnn.Layer(W_out, jnp.zeros(3, jnp.float16)))
    y = np.array([0, 1, 0, 0, 0], np.int32)  # the largest logit's class in rows 0 and 1
    (J, grads), (J_ref, grads_ref), (J_vjp, grads_vjp) = _three_ways(params, x, y, net)
    assert 0 <= float(J) == float(J_ref) == float(J_vjp) < 1.0
    assert _finite(grads) and _finite(grads_ref) and _finite(grads_vjp)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "cross_entropy"])
def test_cross_entropy_pairs_at_saturated_outputs(name, dtype=jnp.float16):
    """C and ∇_a C at a ∈ {0, 1} (what σ and softmax round to): 0 · log 0 = 0, and the
    gradient is finite wherever the target does not ask for the impossible."""
    c = costs.get(name)
    a = jnp.array([[0.0, 1.0, 0.5]], dtype)
    y = jnp.array([[0.0, 1.0, 1.0]], dtype)
    assert float(c.fn(a, y)[0]) == pytest.approx(-np.log(0.5), rel=1e-3)  # only a = 0.5 costs
    assert _finite(c.grad(a, y)) and _finite(jax.grad(lambda a: jnp.sum(c.fn(a, y)))(a))
    log_a = jnp.array([[-jnp.inf, 0.0, np.log(0.5)]], dtype)  # log 0 from the logits
    log1m_a = jnp.array([[0.0, -jnp.inf, np.log(0.5)]], dtype)
    assert bool(jnp.isfinite(c.from_log(log_a, log1m_a, y)[0]))


def test_rmsprop_and_adam_with_eps_zero_take_no_step_on_a_zero_gradient():
    """ε = 0 is allowed; a parameter whose gradient has always been 0 (a dead ReLU unit,
    a blank pixel's weight) must not become 0/0 = NaN."""
    params = (jnp.array([1.0, 2.0]),)
    grads = (jnp.array([0.0, 0.5]),)
    for opt in (optimizers.rmsprop(0.1, eps=0.0), optimizers.adam(0.1, eps=0.0)):
        new, _ = opt.update(grads, opt.init(params), params)
        assert _finite(new) and float(new[0][0]) == 1.0 and float(new[0][1]) < 2.0


# ---------------------------------------------------------------------------------------
# Divergence through the command line.

DIVERGE = ["train", "--optimizer", "sgd", "--output", "identity", "--cost", "quadratic",
           "--hidden", "relu", "--sizes", "784,16,10", "--batch-size", "100", "--quiet"]


def _run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _assert_diverged_run(out: Path, err: str):
    assert "Traceback" not in err
    assert re.search(r"jaxnn train: error: the cost became NaN or Inf in epoch (\d+); training "
                     r"stopped .* Fix: lower the learning rate", err), err
    epoch = int(re.search(r"in epoch (\d+)", err).group(1))
    done = (out / "metrics.jsonl").read_text().splitlines()
    assert len(done) == epoch - 1  # every finished epoch, none of the diverged one
    assert not (out / "summary.json").exists()  # no summary of a failed run
    ckpt_path = out / "checkpoint.safetensors"
    if done:  # the last good checkpoint: the epoch before the divergence, loadable, finite
        ckpt = checkpoint.load(ckpt_path)
        assert ckpt.step == epoch - 1 and len(ckpt.metadata["history"]) == epoch - 1
        assert _finite((ckpt.params, ckpt.opt_state))
        assert [r["train_cost"] for r in ckpt.metadata["history"]] == \
            [json.loads(line)["train_cost"] for line in done]
    else:
        assert not ckpt_path.exists()
    return epoch


@pytest.mark.parametrize("lr, finished", [("50", False), ("3", True)])
def test_divergent_learning_rate_exits_1_and_keeps_the_last_good_checkpoint(tmp_path, lr,
                                                                             finished):
    out = tmp_path / "run"
    code, err = _run([*DIVERGE, "--lr", lr, "--epochs", "6", "--out", str(out)])
    assert code == 1, err
    epoch = _assert_diverged_run(out, err)
    assert (epoch > 1) == finished  # lr 3 survives an epoch first (deterministic on CPU)


def test_debug_nans_reports_the_nan_and_exits_1(tmp_path):
    out = tmp_path / "run"
    code, err = _run([*DIVERGE, "--lr", "50", "--epochs", "2", "--debug-nans", "--out",
                      str(out)])
    assert code == 1, err
    assert "Traceback" not in err
    assert re.search(r"jaxnn train: error: .*invalid value \(nan\) encountered", err), err
    assert not (out / "summary.json").exists() and not (out / "checkpoint.safetensors").exists()


# ---------------------------------------------------------------------------------------
# A learning rate the optimizer's dtype cannot hold.

LR_NET = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
LR_X = np.ones((6, 3), np.float32)
LR_Y = np.array([0, 1, 0, 1, 1, 0], np.int32)


def test_a_rate_past_float32_is_refused_at_construction_without_x64():
    """Without 64-bit mode every rate is float32: 1e308 would be Inf, and the old message
    blamed "the rate the learning-rate schedule returns" at init."""
    for build in (optimizers.adam, optimizers.sgd, optimizers.rmsprop):
        with pytest.raises(ValueError, match=r"^learning_rate must be finite and > 0 in "
                           r"float32, the dtype of the optimizer's rate \(at most "
                           r"3\.40282e\+38: JAX's 64-bit mode is off\); got 1e\+308\. Fix: "
                           r"pass a usable rate, e\.g\. learning_rate=1e-3"):
            build(1e308)
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^learning_rate must be finite and > 0; got"):
            optimizers.adam(bad)
    assert optimizers.sgd(3e38).init((jnp.ones(2),)).learning_rate == np.float32(3e38)


def test_a_rate_past_the_parameters_dtype_is_refused_when_fit_starts(x64):
    """With 64-bit mode on, adam(1e308) is a float64 rate, but float32 parameters keep
    their rate in float32: fit and fit_many refuse it by name before the first epoch."""
    params = jaxnn.init_params(jax.random.key(0), LR_NET)
    message = (r"^the learning rate( of run 0)? must be finite in float32, the dtype of the "
               r"optimizer's rate for these parameters \(at most 3\.40282e\+38\); got inf "
               r"after opt\.init")
    with pytest.raises(ValueError, match=message):
        train.fit(LR_NET, params, optimizers.adam(1e308), (LR_X, LR_Y), epochs=1,
                  batch_size=2, key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(0), 2)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    with pytest.raises(ValueError, match=message):
        train.fit_many(LR_NET, stacked, optimizers.adam(1e308), (LR_X, LR_Y), epochs=1,
                       batch_size=2, keys=keys)
    with pytest.raises(ValueError, match=r"^hyperparams\['learning_rate'\]\[1\] must be "
                       r"finite in the parameters' dtype float32 .*; got 1e\+300"):
        train.fit_many(LR_NET, stacked, lambda learning_rate: optimizers.sgd(learning_rate),
                       (LR_X, LR_Y), epochs=1, batch_size=2, keys=keys,
                       hyperparams={"learning_rate": [0.1, 1e300]})
    p64 = jaxnn.init_params(jax.random.key(0), LR_NET, dtype=jnp.float64)
    assert optimizers.sgd(1e300).init(p64).learning_rate == 1e300  # float64 holds it


# ---------------------------------------------------------------------------------------
# Determinism.

def _bits(tree) -> bytes:
    return b"".join(np.asarray(t).tobytes() for t in jax.tree.leaves(tree))


def test_value_and_grad_same_bits_eager_twice_jit_twice_and_close_across():
    net, _, _, y = _extreme_problem("softmax", "cross_entropy", jnp.float32, 1.0)  # cached
    net = jaxnn.Network(net.sizes, net.activations, net.cost, l2=0.1)
    params = jaxnn.init_params(jax.random.key(1), net)
    x = jax.random.normal(jax.random.key(2), X_EXTREME.shape)
    eager = [backprop.value_and_grad(net, params, x, y) for _ in range(2)]
    fn = jax.jit(backprop.value_and_grad, static_argnums=0)
    jitted = [fn(net, params, x, y) for _ in range(2)]
    jitted.append(jax.jit(backprop.value_and_grad, static_argnums=0)(net, params, x, y))
    assert _bits(eager[0]) == _bits(eager[1])
    assert _bits(jitted[0]) == _bits(jitted[1]) == _bits(jitted[2])
    # Eager runs op by op, jit fuses: the same maths to rounding (XLA may reorder a sum),
    # not promised bit for bit.
    for a, b in zip(jax.tree.leaves(eager[0]), jax.tree.leaves(jitted[0])):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


def test_jaxnn_train_twice_same_params_sha256_other_seed_other(tmp_path):
    """Two runs with one seed: the same bits (params_sha256) and the same history; another
    seed: another split, initialisation and shuffles. (fit: tests/test_train.py; two
    processes, one of them killed and resumed: tests/test_crash.py.)"""
    flags = ["train", "--sizes", "784,8,10", "--epochs", "2", "--batch-size", "250",
             "--val-size", "500", "--quiet"]
    summaries, metrics = [], []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out = tmp_path / name
        code, err = _run([*flags, "--seed", seed, "--out", str(out)])
        assert code == 0, err
        summaries.append(json.loads((out / "summary.json").read_text()))
        metrics.append([{k: v for k, v in json.loads(line).items()
                         if k not in ("seconds", "time")}  # when, and how long: not bits
                        for line in (out / "metrics.jsonl").read_text().splitlines()])
    assert summaries[0]["params_sha256"] == summaries[1]["params_sha256"]
    assert metrics[0] == metrics[1]
    assert summaries[0]["params_sha256"] != summaries[2]["params_sha256"]
    assert metrics[0][0]["train_cost"] != metrics[2][0]["train_cost"]
