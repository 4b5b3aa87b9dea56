"""Scale-out: data-parallel devices, two processes over gloo, per-example gradients, DP-SGD,
and the manual backward pass as a jax.custom_vjp."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnn
from jaxnn import backprop, checkpoint, optimizers, privacy, train
from jaxnn.train import parallel

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _problem(net, m=9, dtype=jnp.float64, labels=True):
    kp, kx, ky = jax.random.split(jax.random.key(0), 3)
    params = jaxnn.init_params(kp, net, dtype=dtype)
    x = jax.random.normal(kx, (m, net.n_in), dtype)
    y = (jax.random.randint(ky, (m,), 0, net.n_out) if labels
         else jax.random.uniform(ky, (m, net.n_out), dtype))
    return params, x, y


def test_n_devices_give_the_parameters_of_one():
    """1, 2 and 4 forced host devices vs one device: float64 ≤ 1e−12, float32 ≤ 1e−5."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, str(HERE / "_multidevice_worker.py")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in result["diffs"].items():
        if key.endswith("val_accuracy"):
            assert len(set(value)) == 1, (key, value)
        elif "/float64/" in key:
            assert value <= 1e-12, (key, value)
        else:
            assert value <= 1e-5, (key, value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_gloo_equal_one_process(tmp_path):
    args = ["--sizes", "784,16,10", "--epochs", "2", "--batch-size", "32", "--x64", "--quiet"]
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxnn.cli", "train", *args, "--out", str(tmp_path / f"p{i}"),
             "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    single = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "train", *args, "--out", str(tmp_path / "single")],
        env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert single.returncode == 0, single.stderr[-3000:]
    assert not (tmp_path / "p1").exists()  # process 0 alone writes the run
    with jax.enable_x64(True):
        multi = checkpoint.load(tmp_path / "p0" / "checkpoint.safetensors")
        one = checkpoint.load(tmp_path / "single" / "checkpoint.safetensors")
        assert multi.step == one.step == 2
        for a, b in zip(jax.tree.leaves(multi.params), jax.tree.leaves(one.params)):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    config = json.loads((tmp_path / "p0" / "config.json").read_text())
    assert config["processes"] == 2 and config["devices"] == 2


@pytest.mark.parametrize("devices, batch, message", [
    (3, 8, r"asked for 3 devices but JAX sees 1"),
    (0, 8, r"the number of devices must be a positive int; got 0"),
])
def test_device_errors(devices, batch, message):
    net = jaxnn.mlp((3, 2))
    params, x, y = _problem(net, 8, jnp.float32)
    with pytest.raises(ValueError, match=message):
        train.fit(net, params, optimizers.sgd(0.1), (x, y), epochs=1, batch_size=batch,
                  key=jax.random.key(0), devices=devices)


def test_batch_must_split_across_devices():
    mesh = jax.sharding.Mesh(np.array(jax.devices() * 1), ("data",))
    parallel.check_batch(7, mesh)  # one device: anything splits
    fake = type("M", (), {"shape": {"data": 4}})()
    with pytest.raises(ValueError, match=r"batch_size 10 does not split across 4 devices. "
                       r"Fix: a multiple of 4, e.g. 8"):
        parallel.check_batch(10, fake)


@pytest.mark.parametrize("address", ["localhost", "h:0", ":123", "h:p"])
def test_bad_coordinator(address):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parallel.initialize(address, 2, 0)


def test_cli_multiprocess_flags_go_together(capsys):
    from jaxnn.cli import main

    assert main(["train", "--coordinator", "127.0.0.1:1234"]) == 2
    assert "needs all three of --coordinator HOST:PORT, --num-processes P and --process-id I" \
        in capsys.readouterr().err


def test_per_example_grads_equal_vmap_of_jax_grad(x64):
    net = jaxnn.mlp((4, 6, 3), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.4)
    params, x, y = _problem(net)
    got = backprop.per_example_grads(net, params, x, y)
    plain = jaxnn.mlp((4, 6, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    want = jax.vmap(lambda xi, yi: jax.grad(jaxnn.cost, argnums=1)(plain, params, xi, yi))(x, y)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert a.shape[0] == 9
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # mean over examples + (λ/m) W is the batch gradient
    batch = backprop.grad(net, params, x, y)
    for (gW, gb), (pW, pb), (W, _) in zip(batch, got, params):
        np.testing.assert_allclose(gW, pW.mean(0) + 0.4 / 9 * W, rtol=1e-12)
        np.testing.assert_allclose(gb, pb.mean(0), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("output, cost", [("softmax", "cross_entropy"), ("sigmoid", "quadratic"),
                                          ("identity", "absolute")])
def test_custom_vjp_runs_bp1_to_bp4_and_agrees_with_autodiff(x64, output, cost):
    net = jaxnn.mlp((4, 5, 3), hidden="sigmoid", output=output, cost=cost, l2=0.2)
    params, x, y = _problem(net, labels=False)
    f = backprop.cost_with_manual_vjp
    assert float(f(net, params, x, y)) == pytest.approx(float(jaxnn.cost(net, params, x, y)), rel=1e-15)
    check_grads(lambda p: f(net, p, x, y), (params,), order=1, modes=["rev"])
    check_grads(lambda x_: f(net, params, x_, y), (x,), order=1, modes=["rev"])
    check_grads(lambda y_: f(net, params, x, y_), (y,), order=1, modes=["rev"])
    got = jax.grad(f, argnums=1)(net, params, x, y)
    want = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_custom_vjp_backward_is_the_manual_pass(monkeypatch):
    calls = []
    real = backprop.backward
    monkeypatch.setattr(backprop, "backward", lambda *a: calls.append(1) or real(*a))
    net = jaxnn.mlp((3, 4, 2), output="softmax", cost="cross_entropy")
    params, x, y = _problem(net, dtype=jnp.float32)
    jax.grad(backprop.cost_with_manual_vjp, argnums=1)(net, params, x, y)
    assert calls == [1]


def test_custom_vjp_drives_an_optax_optimizer():
    """optax + jax.grad of cost_with_manual_vjp follows the optax + jax.grad(cost) path."""
    optax = pytest.importorskip("optax")
    net = jaxnn.mlp((4, 8, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    params, x, y = _problem(net, 32, jnp.float32)
    tx = optax.adam(1e-2)
    J0 = float(jaxnn.cost(net, params, x, y))
    ends = []
    for f in (backprop.cost_with_manual_vjp, jaxnn.cost):
        p, state = params, tx.init(params)
        for _ in range(30):
            updates, state = tx.update(jax.grad(f, argnums=1)(net, p, x, y), state)
            p = optax.apply_updates(p, updates)
        ends.append(p)
    for a, b in zip(jax.tree.leaves(ends[0]), jax.tree.leaves(ends[1])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert float(jaxnn.cost(net, ends[0], x, y)) < J0


def test_dp_clipping_and_noise(x64):
    net = jaxnn.mlp((4, 6, 3), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.3)
    params, x, y = _problem(net)
    targets = jax.nn.one_hot(y, 3, dtype=jnp.float64)
    per = backprop.per_example_grads(net, params, x, y)
    clipped, norms = privacy.clip_per_example(per, 0.05)
    flat = jnp.sqrt(sum(jnp.sum(g.reshape(9, -1) ** 2, 1) for g in jax.tree.leaves(clipped)))
    assert bool(jnp.all(flat <= 0.05 + 1e-12)) and float(norms.max()) > 0.05
    # No clipping in effect and no noise: the DP gradient is the ordinary one.
    J, g, _ = privacy.private_value_grad_and_output(net, params, x, targets, jax.random.key(0),
                                                    privacy.dp_sgd(1e6, 0.0))
    J_ref, g_ref = backprop.value_and_grad(net, params, x, y)
    assert float(J) == pytest.approx(float(J_ref), rel=1e-14)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # Noise: σ C N(0, 1) / m, reproducible with the key.
    dp = privacy.dp_sgd(1e6, 1e-6)
    n1 = privacy.private_value_grad_and_output(net, params, x, targets, jax.random.key(1), dp)[1]
    n2 = privacy.private_value_grad_and_output(net, params, x, targets, jax.random.key(1), dp)[1]
    assert all(bool(jnp.array_equal(a, b)) for a, b in zip(jax.tree.leaves(n1), jax.tree.leaves(n2)))
    diff = jnp.concatenate([(a - b).ravel() for a, b in zip(jax.tree.leaves(n1), jax.tree.leaves(g))])
    assert float(jnp.std(diff)) == pytest.approx(1e6 * 1e-6 / 9, rel=0.3)


def test_fit_with_dp_sgd_learns():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 5))
    y = rng.integers(0, 3, 300).astype(np.int32)
    x = (centres[y] + rng.normal(size=(300, 5))).astype(np.float32)
    net = jaxnn.mlp((5, 16, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    r = train.fit(net, jaxnn.init_params(jax.random.key(0), net), optimizers.sgd(0.5), (x, y),
                  epochs=4, batch_size=30, key=jax.random.key(0), dp=privacy.dp_sgd(1.0, 1.1))
    assert r.history[-1]["train_accuracy"] > 0.9


@pytest.mark.parametrize("args, error, message", [
    ((0.0, 1.0), ValueError, r"clip_norm must be finite and > 0; got 0.0"),
    ((1.0, -1.0), ValueError, r"noise_multiplier must be finite and ≥ 0; got -1.0"),
    ((float("inf"), 1.0), ValueError, r"clip_norm must be finite"),
    (("1", 1.0), TypeError, r"clip_norm must be a real number"),
])
def test_dp_sgd_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        privacy.dp_sgd(*args)
