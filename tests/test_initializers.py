"""Starting up: init_params, the memory estimates, finite-difference sweeps, and
``parallel.initialize``.

* init_params takes float16, bfloat16, float32 and float64 only, and checks a memory
  estimate before allocating: ``mlp((2**31 - 1,) * 2)`` used to abort the process (SIGABRT)
  inside XLA and ``mlp((10**6,) * 2)`` to end in an out-of-memory traceback; both are now
  one ValueError naming the estimate and the limit (:mod:`jaxnn.memory`).
* Finite differences: the default step and tolerance pass a correct float32 gradient; the
  sweep builds no P × P identity and is refused, with its estimate, when it cannot fit.
* Multi-process start-up: a process whose coordinator or peers never come stops with a
  clear error within its timeout, not after 300 s with a C++ stack trace.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import gradcheck, memory
from jaxnn.cli import main

KEY = jax.random.key(0)
NET = jaxnn.mlp((3, 4, 2))


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", np.longdouble, "longdouble"])
def test_unsupported_dtypes_are_refused(dtype):
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"^dtype must be float16, bfloat16, float32 or "
                       rf"float64; got {name}\. Fix: dtype=jnp\.float32\.$"):
        jaxnn.init_params(KEY, NET, dtype=dtype)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, "bfloat16", jnp.float32])
def test_supported_dtypes(dtype):
    params = jaxnn.init_params(KEY, NET, dtype=dtype)
    assert all(leaf.dtype == jnp.dtype(dtype) for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize("sizes, size", [((2**31 - 1, 2**31 - 1), "16.0 EiB"),
                                         ((10**6, 10**6), "3.6 TiB")])
def test_parameters_that_cannot_fit_are_refused_before_allocating(sizes, size):
    net = jaxnn.mlp(sizes)
    with pytest.raises(ValueError, match=rf"^init_params: the parameters of a "
                       rf"{sizes[0]}-{sizes[1]} network \(.* float32 numbers\) would take about "
                       rf"{size}; the memory limit is .* Fix: a smaller network"):
        jaxnn.init_params(KEY, net)


def test_the_limit_is_an_argument_or_the_environment(monkeypatch):
    net = jaxnn.mlp((1000, 1000))  # 1,001,000 float32: 3.8 MiB
    with pytest.raises(ValueError, match=r"would take about 3\.8 MiB; the memory limit is "
                       r"1\.0 MiB \(memory_limit\)\. Fix: .*pass a larger memory_limit"):
        jaxnn.init_params(KEY, net, memory_limit=2**20)
    monkeypatch.setenv(memory.ENV, "2M")
    with pytest.raises(ValueError, match=r"the memory limit is 2\.0 MiB \(JAXNN_MEMORY_LIMIT\)"):
        jaxnn.init_params(KEY, net)
    assert jaxnn.init_params(KEY, net, memory_limit=2**23)[0].W.shape == (1000, 1000)
    monkeypatch.setenv(memory.ENV, "none")
    assert jaxnn.init_params(KEY, net)[0].W.shape == (1000, 1000)
    monkeypatch.setenv(memory.ENV, "lots")
    with pytest.raises(ValueError, match=r"the environment variable JAXNN_MEMORY_LIMIT must be "
                       r"a number of bytes ≥ 1.*; got 'lots'"):
        jaxnn.init_params(KEY, net)


def test_memory_limit_argument_is_checked():
    with pytest.raises(ValueError, match=r"memory_limit must be finite and > 0; got -1\.0"):
        jaxnn.init_params(KEY, NET, memory_limit=-1)
    with pytest.raises(TypeError, match=r"memory_limit must be a real number; got str"):
        jaxnn.init_params(KEY, NET, memory_limit="8G")


@pytest.mark.parametrize("text, value", [("1e9", 10**9), ("512M", 512 * 2**20),
                                         ("8G", 8 * 2**30), ("8GiB", 8 * 2**30),
                                         ("1.5t", int(1.5 * 2**40)), ("off", None)])
def test_parse_limit(text, value):
    assert memory.parse_limit(text) == value


def test_default_limit_is_a_fraction_of_the_machine(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    total, _ = memory.device_memory()
    allowed, how = memory.limit()
    assert allowed == int(memory.FRACTION * total) and how.startswith("80% of")


def test_estimates():
    net = jaxnn.mlp((784, 30, 10))
    assert memory.param_bytes(net, jnp.float32) == jaxnn.num_params(net) * 4
    assert memory.activation_bytes(net, 10, jnp.float32) == 10 * (784 + 3 * 40) * 4
    assert memory.per_example_bytes(net, 10, jnp.float32) > 10 * memory.param_bytes(
        net, jnp.float32)
    with jax.enable_x64(False):
        assert memory.itemsize(jnp.float64) == 4  # float64 is float32 without x64
    assert memory.format_bytes(512) == "512 B" and memory.format_bytes(3 * 2**30) == "3.0 GiB"


def test_jaxnn_verify_with_huge_sizes_exits_2(capsys, monkeypatch):
    monkeypatch.setenv(memory.ENV, "16G")  # 80 GB of float64 parameters: refused anywhere
    code = main(["verify", "--sizes", "100000,100000,10"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "jaxnn verify: error: init_params: the parameters of a 100000-100000-10 network" in err


# ---------------------------------------------------------------------------------------
# Finite differences: the step by dtype, and the sweep's memory.


@pytest.mark.parametrize("hidden, output, cost", [
    ("tanh", "softmax", "cross_entropy"), ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "identity", "quadratic"), ("tanh", "sigmoid", "binary_cross_entropy")])
def test_a_correct_float32_gradient_passes_with_the_defaults(hidden, output, cost):
    net = jaxnn.mlp((5, 7, 3), hidden=hidden, output=output, cost=cost, l2=0.1)
    kp, kx, ky = jax.random.split(jax.random.key(3), 3)
    params = jaxnn.init_params(kp, net)
    x = jax.random.normal(kx, (16, 5))
    y = (jax.random.randint(ky, (16,), 0, 3) if cost == "cross_entropy"
         else jax.random.uniform(ky, (16, 3)))
    report = gradcheck.manual_vs_finite_differences(net, params, x, y)
    assert report.passed, report.table()
    assert report.reference == "centred differences (ε=0.001)"  # ∛(float32 eps) / 5
    worst, _, _ = gradcheck.directional_check(net, params, x, y, jax.random.key(1))
    assert worst <= gradcheck.FINITE_DIFFERENCE_RTOL["float32"]


def test_default_steps():
    assert gradcheck.default_eps(jnp.float32) == 1e-3
    with jax.enable_x64(True):
        assert gradcheck.default_eps(jnp.float64) == 1e-6
    assert gradcheck.default_eps(jnp.float16) == 1e-3  # differenced in float32


def test_half_precision_is_differenced_in_float32():
    net = jaxnn.mlp((5, 4, 3), hidden="tanh", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(1), net, dtype=jnp.float16)
    x = jax.random.normal(jax.random.key(2), (16, 5))
    y = jax.random.randint(jax.random.key(3), (16,), 0, 3)
    assert gradcheck.manual_vs_finite_differences(net, params, x, y).passed
    assert gradcheck.finite_difference_grad(net, params, x, y)[0].W.dtype == jnp.float32


def test_the_sweep_builds_no_identity_matrix():
    """6,670 parameters: an identity of P² float32 entries would be 170 MiB; the sweep of
    256 perturbed θ at a time takes under 10 MiB and runs under a 32 MiB limit."""
    net = jaxnn.mlp((100, 60, 10), hidden="tanh", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(0), net)
    x = jax.random.normal(jax.random.key(1), (8, 100))
    y = jax.random.randint(jax.random.key(2), (8,), 0, 10)
    report = gradcheck.manual_vs_finite_differences(net, params, x, y, memory_limit=32 * 2**20)
    assert report.passed, report.table()


def test_a_sweep_that_cannot_fit_is_refused():
    net = jaxnn.mlp((784, 256, 10))
    params = jaxnn.init_params(jax.random.key(0), net)
    x, y = np.zeros((16, 784), np.float32), np.zeros(16, np.int32)
    assert memory.finite_difference_bytes(net, 16, jnp.float32, gradcheck.FD_BATCH) < 2**30
    with pytest.raises(ValueError, match=r"^finite_difference_grad: a sweep over 203530 "
                       r"parameters \(J on 16 rows at 1 perturbed θ at once\) would take about "
                       r"[0-9.]+ MiB; the memory limit is 1\.0 MiB \(memory_limit\)\. Fix: a "
                       r"smaller network or batch, or gradcheck\.directional_check"):
        gradcheck.manual_vs_finite_differences(net, params, x, y, memory_limit=2**20)
    with pytest.raises(ValueError, match=r"^directional_check: 8 directions"):
        gradcheck.directional_check(net, params, x, y, jax.random.key(0), memory_limit=2**20)


# ---------------------------------------------------------------------------------------
# Multi-process start-up: a missing process is a clear error, not a 300 s hang and abort.

START = """
import sys, time
from jaxnn.train import parallel
t = time.monotonic()
try:
    parallel.initialize("127.0.0.1:{port}", 2, {pid}, timeout=2)
except TimeoutError as e:
    print(f"TimeoutError after {{time.monotonic() - t:.0f}} s: {{e}}")
"""


@pytest.mark.parametrize("pid", [1, 0])
def test_a_process_without_its_peers_stops_with_a_clear_error(pid):
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-c", START.format(port=port, pid=pid)],
                          capture_output=True, text=True, timeout=120)
    assert "Check failure" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    if pid == 1:  # no coordinator: a TimeoutError, raised in Python
        assert done.returncode == 0, done.stderr
        assert re.match(rf"TimeoutError after [23] s: no coordinator answered at "
                        rf"127\.0\.0\.1:{port} within 2 s .*Fix: start process 0 first",
                        done.stdout), done.stdout
    else:  # the coordinator itself: nobody joined; JAX would abort, we exit 2 first
        assert done.returncode == 2, (done.returncode, done.stderr)
        assert (f"jaxnn: error: process 0 of 2 waited 2 s at 127.0.0.1:{port} for the other "
                "processes to join. Fix: start all 2 processes") in done.stderr, done.stderr


def test_initialize_checks_its_timeout():
    with pytest.raises(ValueError, match=r"timeout must be finite and > 0; got 0\.0"):
        jaxnn.train.parallel.initialize("127.0.0.1:1234", 2, 1, timeout=0)
