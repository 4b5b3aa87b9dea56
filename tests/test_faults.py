"""Faults: extreme logits, divergence, corrupt and hostile files, determinism.

* Numerical: logits of ±1e4 (and ±6e4, past float16's exp and difference range) give
  finite costs and gradients, by the hand-written pass and by ``jax.grad`` of
  ``jaxnn.cost``, in float32 and float16, for every saturating output/cost pair.
* Divergence: ``jaxnn train`` with a learning rate that diverges exits 1 with the
  ``TrainingDiverged`` message, keeps the last good checkpoint (finite, loadable) and writes
  no summary; ``--debug-nans`` reports the NaN and exits 1.
* Hostile files (what tests/test_data.py and tests/test_checkpoint.py do not already
  cover): crafted IDX headers, bit flips and truncations of IDX files, crafted checkpoint
  headers, each a ValueError (or a correct load), fast and without allocating more than
  the file justifies; ``jaxnn evaluate`` on a bit-flipped checkpoint exits 0 or 2 with a
  message, never a traceback.
* Determinism: same inputs, same bits (eager twice, jit twice, ``jaxnn train`` twice);
  eager vs jit agree to rounding; another seed gives other shuffles.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import time
import tracemalloc
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import backprop, checkpoint, costs, data, optimizers
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
# Hostile IDX files: crafted headers, bit flips, truncations.

IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
HUGE_DIMS = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([2**32 - 1, 2**31, 60_000, 28]))
MEMORY_BOUND = 8 * 2**20  # bytes: what any of these files can justify, with gzip's buffers


def _bounded(fn, source):
    """Run ``fn(source)``: a ValueError or an array, in under a second and without a
    large allocation. Returns the array or None."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        try:
            out = fn(source)
        except ValueError as e:
            assert str(e), "an empty message"
            out = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 2.0
    assert peak < MEMORY_BOUND, peak
    return out


@st.composite
def crafted_idx(draw):
    magic = draw(st.sampled_from([b"\0\0", b"\0\0", b"\0\0", b"\x01\0", b"\0\x08"]))
    code = draw(st.sampled_from(IDX_CODES + [0x00, 0x07, 0xFF]))
    ndim = draw(st.integers(0, 6))
    dims = draw(st.lists(HUGE_DIMS, min_size=ndim, max_size=ndim))
    raw = magic + bytes([code, ndim]) + np.asarray(dims, ">u4").tobytes()
    raw += draw(st.binary(max_size=300))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return gzip.compress(raw, mtime=0) if draw(st.booleans()) else raw


@settings(max_examples=150, deadline=None)
@given(blob=crafted_idx())
def test_crafted_idx_headers_fail_fast_without_allocating(blob):
    array = _bounded(data.read_idx, blob)
    if array is not None:  # only a header that matches its payload exactly can load
        raw = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        assert 4 + 4 * array.ndim + array.nbytes == len(raw)


def _valid_idx(compress: bool) -> bytes:
    array = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    raw = bytes([0, 0, 0x0D, 3]) + np.asarray(array.shape, ">u4").tobytes()
    raw += array.astype(">f4").tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


@settings(max_examples=150, deadline=None)
@given(compress=st.booleans(), position=st.integers(0, 10**6), mask=st.integers(1, 255),
       cut=st.none() | st.integers(0, 10**6))
def test_bit_flipped_or_truncated_idx_files(compress, position, mask, cut):
    blob = bytearray(_valid_idx(compress))
    blob[position % len(blob)] ^= mask
    if cut is not None:
        blob = blob[: cut % len(blob)]
    array = _bounded(data.read_idx, bytes(blob))
    if array is not None:  # a flip in the payload (or a same-size dtype code) loads
        assert array.nbytes == 5 * 4 * 3 * 4 or array.nbytes == 5 * 4 * 3


def test_idx_file_on_disk_same_as_bytes(tmp_path):
    path = tmp_path / "x.idx.gz"
    blob = bytearray(_valid_idx(True))
    blob[len(blob) // 2] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"x\.idx\.gz: (corrupt gzip stream|truncated)"):
        data.read_idx(path)


# ---------------------------------------------------------------------------------------
# Hostile checkpoints: crafted headers (huge shapes, wrong dtypes, metadata not JSON).

SMALL = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
SMALL_PARAMS = jaxnn.init_params(jax.random.key(0), SMALL)


@pytest.fixture(scope="module")
def valid_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "ok.safetensors"
    checkpoint.save(path, SMALL_PARAMS, optimizers.sgd(0.1).init(SMALL_PARAMS), net=SMALL,
                    step=7, metadata={"history": [{"epoch": 1}]})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :], path.with_name("crafted.safetensors")


JUNK_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["{not json", "[1, 2]", "NaN", '{"sizes": [3, 4, 2]}', "9" * 400, "-1", "", "null"]))
SHAPES = st.lists(st.one_of(st.integers(0, 2**63), st.integers(-3, 8)), max_size=5)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(
    st.sampled_from(["params.1.W", "params.1.b", "params.2.W", "opt_state.0", "__metadata__"]),
    st.sampled_from(["dtype", "shape", "data_offsets", "network", "step", "metadata",
                     "opt_state_leaves", "format"]),
    st.one_of(JUNK_TEXT, SHAPES, st.integers(-2**64, 2**64),
              st.sampled_from(["F32", "F64", "I32", "BOOL", "Q4", "F16"]))),
    min_size=1, max_size=4), cut=st.none() | st.integers(0, 4096))
def test_crafted_checkpoint_headers_fail_fast_without_allocating(valid_checkpoint, edits, cut):
    header, buffer, path = valid_checkpoint
    header = json.loads(json.dumps(header))
    for name, key, value in edits:
        if name == "__metadata__":
            header[name][key] = value if isinstance(value, str) else json.dumps(value)
        elif key in ("dtype", "shape", "data_offsets") and isinstance(header[name], dict):
            header[name][key] = value
        else:
            header[name] = value  # an entry that is not an object at all
    text = json.dumps(header).encode()
    blob = len(text).to_bytes(8, "little") + text + buffer
    path.write_bytes(blob if cut is None else blob[:cut])
    ckpt = _bounded(checkpoint.load, path)
    if ckpt is not None:  # the edits happened to keep a valid checkpoint
        assert [W.shape for W, _ in ckpt.params] == [(4, 3), (2, 4)]


# ---------------------------------------------------------------------------------------
# `jaxnn evaluate` on a bit-flipped checkpoint: exit 0 or 2 with a message, no traceback.

MNIST_NET = jaxnn.mlp((784, 16, 10), hidden="relu", output="softmax", cost="cross_entropy")


@pytest.fixture(scope="module")
def mnist_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flip")
    params = jaxnn.init_params(jax.random.key(1), MNIST_NET, "he_normal")
    path = checkpoint.save(folder / "ok.safetensors", params,
                           optimizers.adam(1e-3).init(params), net=MNIST_NET, step=3)
    raw = path.read_bytes()
    return raw, 8 + int.from_bytes(raw[:8], "little"), folder / "flipped.safetensors"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.one_of(st.integers(0, 2000), st.integers(0, 10**6)),
       mask=st.integers(1, 255))
def test_evaluate_on_a_bit_flipped_checkpoint_never_shows_a_traceback(mnist_checkpoint,
                                                                      position, mask):
    raw, data_start, path = mnist_checkpoint
    flipped = bytearray(raw)
    position %= len(raw)
    flipped[position] ^= mask
    path.write_bytes(bytes(flipped))
    code, err = _run(["evaluate", str(path)])
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("jaxnn evaluate: error: ") and len(err.splitlines()) == 1, err


def test_evaluate_on_a_checkpoint_whose_header_is_flipped_exits_2(mnist_checkpoint):
    raw, _, path = mnist_checkpoint
    flipped = bytearray(raw)
    flipped[8] ^= ord("{") ^ ord("[")  # the header's opening brace
    path.write_bytes(bytes(flipped))
    code, err = _run(["evaluate", str(path)])
    assert code == 2 and "header is not valid JSON" in err and "Traceback" not in err


def test_nothing_in_the_package_runs_code_when_it_loads_a_file():
    """No pickle (tests/test_checkpoint.py greps for it) and no other loader that runs code."""
    package = Path(jaxnn.__file__).parent
    for source in sorted(package.rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        for banned in ("import marshal", "import shelve", "import dill", "import joblib",
                       "cloudpickle", "eval(", "exec(", "yaml.load(", "torch.load"):
            assert banned not in text, f"{source.name}: {banned}"


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
