"""Data-parallel training on many devices and processes, with the hand-written gradients.

A 1-D mesh over a ``"data"`` axis (:func:`data_mesh`). Every minibatch of ``B`` rows is
split across the ``N`` devices, ``B / N`` rows each; parameters and optimizer state are
replicated. Each device runs the forward pass and BP1–BP4 on its rows, the partial
gradients are summed over devices (``lax.psum``, an all-reduce), the L2 term is added once,
and every device applies the same optimizer update::

    ∂J/∂θ = Σ_devices [ (1/B) Σ_{its rows} ∂C_i/∂θ ]  (+ (λ/B) W)

which is the single-device gradient of the whole minibatch, so N = 1, 2, 4 devices give the
same parameters up to floating-point summation order. The cost and the metrics are reduced
the same way.

The whole epoch — shuffle, ``lax.scan`` over minibatches, collectives — is one
``jax.shard_map`` inside one ``jax.jit``. The training set is replicated (each device gathers
its own rows of each batch by index), so in a multi-process run every process feeds its
own slice of every batch from its own copy of the data.

Multiple processes (hosts): call :func:`initialize` (``jax.distributed.initialize``) first in
every process; :func:`data_mesh` then spans every device of every process. On CPU the
collectives run over gloo (``jax_cpu_collectives_implementation = "gloo"``).
"""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn import _checks, backprop
from jaxnn.architecture import Network, check_net
from jaxnn.network import dropout_masks, example_costs, forward_layers, l2_term
from jaxnn.train import core, tally
from jaxnn.train.steps import check_opt

AXIS = "data"


def initialize(coordinator: str, num_processes: int, process_id: int,
               timeout: float = 60) -> None:
    """Join a multi-process run: ``jax.distributed.initialize`` with gloo CPU collectives.

    Args:
      coordinator: ``"HOST:PORT"`` of process 0 (every process passes the same address).
      num_processes: P ≥ 1; process_id: this process, 0 ≤ I < P.
      timeout: seconds to wait for the coordinator to answer (processes 1..P−1) and for
        every process to join (JAX's ``initialization_timeout``).
    Must be called before any other JAX work in the process.

    Raises:
      TimeoutError: (process I ≥ 1) nothing answered at HOST:PORT within ``timeout``.
    When the coordinator answered but not every process joined in time, JAX would abort
    the process with a C++ stack trace; this prints why on stderr and exits with status 2
    instead.
    """
    if not isinstance(coordinator, str) or coordinator.count(":") != 1:
        raise ValueError(
            f"the coordinator address is HOST:PORT, e.g. 127.0.0.1:12355; got {coordinator!r}."
        )
    host, port = coordinator.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"the coordinator address is HOST:PORT with a port in 1..65535; got {coordinator!r}."
        )
    if not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be a positive int; got {num_processes!r}.")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(
            f"process_id must lie in [0, {num_processes}); got {process_id!r}."
        )
    timeout = _checks.real("timeout", timeout, minimum=0.0, strict=True,
                           fix="seconds, e.g. timeout=60")
    deadline = time.monotonic() + timeout
    if process_id != 0:
        _wait_for_coordinator(host, int(port), deadline, timeout, num_processes)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # JAX aborts the process (C++ LOG(FATAL)) when not every process joins in time, so our
    # deadline comes first: a watchdog thread says why and exits (the call releases the GIL).
    joined = threading.Event()
    threading.Thread(target=_watchdog, daemon=True, args=(
        joined, deadline, coordinator, num_processes, process_id, timeout)).start()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=max(1, math.ceil(deadline - time.monotonic())) + 30)
    finally:
        joined.set()


def _wait_for_coordinator(host: str, port: int, deadline: float, timeout: float,
                          num_processes: int) -> None:
    """Until ``deadline``, try to open a TCP connection to process 0's coordinator;
    TimeoutError when nothing answered."""
    error = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as e:
            error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise TimeoutError(
        f"no coordinator answered at {host}:{port} within {timeout:g} s ({error}). Fix: start "
        f"process 0 first (--coordinator {host}:{port} --num-processes {num_processes} "
        "--process-id 0), check the address and that the port is open, or wait longer "
        "(--coordinator-timeout)."
    )


def _watchdog(joined: threading.Event, deadline: float, coordinator: str,
              num_processes: int, process_id: int, timeout: float) -> None:
    """At ``deadline``, unless every process has joined: a clear message, exit status 2."""
    if joined.wait(max(0.0, deadline - time.monotonic())):
        return
    waiting = ("the other processes" if process_id == 0 else
               "every process (the coordinator answered)")
    sys.stderr.write(
        f"jaxnn: error: process {process_id} of {num_processes} waited {timeout:g} s at "
        f"{coordinator} for {waiting} to join. Fix: start all {num_processes} processes, "
        f"with --process-id 0 to {num_processes - 1} and the same --coordinator and "
        "--num-processes, or wait longer (--coordinator-timeout).\n")
    sys.stderr.flush()
    os._exit(2)


def data_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over the first ``num_devices`` devices (all by default,
    across every process of a multi-process run)."""
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices < 1:
        raise ValueError(f"the number of devices must be a positive int; got {num_devices!r}.")
    if num_devices > len(devices):
        raise ValueError(
            f"asked for {num_devices} devices but JAX sees {len(devices)} "
            f"({devices[0].platform}). Fix: --devices ≤ {len(devices)}; on CPU, set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={num_devices} before JAX starts."
        )
    return Mesh(np.array(devices[:num_devices]), (AXIS,))


def check_batch(batch_size: int, mesh: Mesh) -> None:
    """The batch must split evenly across the mesh's devices."""
    n = mesh.shape[AXIS]
    if batch_size % n:
        raise ValueError(
            f"batch_size {batch_size} does not split across {n} devices. Fix: a multiple of "
            f"{n}, e.g. {max(n, batch_size - batch_size % n)}."
        )


def replicate(tree, mesh: Mesh):
    """Put every array of ``tree`` on every device of ``mesh`` (works across processes:
    each process supplies its own copy)."""
    sharding = NamedSharding(mesh, P())

    def put(a):
        a = np.asarray(a) if not isinstance(a, jax.Array) else a
        if jax.process_count() == 1:
            return jax.device_put(a, sharding)
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(put, tree)


def to_host(tree):
    """NumPy copies of a pytree of (replicated) arrays, including arrays spread over several
    processes, whose every addressable shard holds the whole value."""

    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(a.addressable_shards[0].data)
        return np.asarray(a)

    return jax.tree.map(get, tree)


def _psum_gradient(m_global: int, l2=None):
    """The data-parallel gradient function: this device's share of the batch's BP1–BP4,
    summed over devices (an all-reduce), then the L2 term once:

        ∂J/∂θ = Σ_devices [ (1/B) Σ_{its rows} ∂C_i/∂θ ] + (λ/B) W,   B = ``m_global``,

    λ ``l2`` (a traced input of the compiled epoch) or ``net.l2`` when ``None``.
    """
    def gradient(net: Network, params, x, y, masks):
        data_only = net.without_l2()
        zs, acts = forward_layers(data_only, params, x, masks)
        _, grads = backprop.backward(data_only, params, zs, acts, y, m_global, masks)
        grads = jax.lax.psum(grads, AXIS)  # all-reduce: the whole batch's gradient
        J = jax.lax.psum(jnp.sum(example_costs(net, zs[-1], acts[-1], y)) / m_global, AXIS)
        J = J + l2_term(net, params, m_global, l2)
        return J, backprop.add_l2_grad(net, params, grads, m_global, l2), acts[-1]

    return gradient


def make_parallel_epoch(net: Network, opt, *, batch_size: int, num_examples: int,
                        mesh: Mesh, grad: str = "manual"):
    """Like :func:`jaxnn.train.make_epoch`, data-parallel over ``mesh``.

    Returns ``epoch(params, opt_state, x, y, key, x_val, y_val) -> (params, opt_state,
    metrics)``; ``x, y`` replicated on the mesh (see :func:`replicate`).
    """
    check_net(net)
    opt = check_opt(opt)
    check_mesh(mesh, batch_size, grad)
    return jax.jit(epoch_program(net, opt, batch_size=batch_size,
                                 num_examples=num_examples, mesh=mesh))


def check_mesh(mesh, batch_size: int, grad: str) -> None:
    """Data-parallel training's own arguments: a mesh with a ``"data"`` axis, a batch
    that splits across it, the hand-written gradients."""
    if grad != "manual":
        raise ValueError(
            "data-parallel training runs the hand-written gradients (grad='manual'); got "
            f"grad={grad!r}."
        )
    if not isinstance(mesh, Mesh) or AXIS not in mesh.shape:
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh with a {AXIS!r} axis; got {type(mesh).__name__}. "
            "Fix: mesh = jaxnn.train.parallel.data_mesh(num_devices)."
        )
    check_batch(batch_size, mesh)


def epoch_program(net: Network, opt, *, batch_size: int, num_examples: int, mesh: Mesh,
                  l2=None, keep=None):
    """The data-parallel epoch as a pure, un-jitted function of checked arguments (raw),
    ``epoch(params, opt_state, x, y, key, x_val, y_val)``; ``l2`` and ``keep`` as in
    :func:`jaxnn.train.steps.epoch_program`."""
    local = batch_size // mesh.shape[AXIS]
    num_batches = num_examples // batch_size
    gradient = _psum_gradient(batch_size, l2)

    def per_device(params, opt_state, sums, x, y, batches):
        me = jax.lax.axis_index(AXIS)

        def body(carry, xs):
            params, opt_state, sums = carry
            idx, kd = xs
            mine = jax.lax.dynamic_slice_in_dim(idx, me * local, local)  # my rows
            # rows of a permutation, in range: XLA's plain gather ("clip"), no fill mask
            xb = jnp.take(x, mine, axis=0, mode="clip")
            yb = jnp.take(y, mine, axis=0, mode="clip")
            # The whole batch's dropout masks, as one device would draw them; my rows.
            masks = dropout_masks(net, kd, batch_size, x.dtype, keep)
            if masks is not None:
                masks = tuple(jax.lax.dynamic_slice_in_dim(d, me * local, local)
                              for d in masks)
            params, opt_state, stats = core.minibatch_step(
                net, opt, gradient, params, opt_state, xb, yb,
                reduce=lambda c: jax.lax.psum(c, AXIS), masks=masks)
            return (params, opt_state, tally.add_step(sums, stats)), None

        return jax.lax.scan(body, (params, opt_state, sums), batches)[0]

    sharded = jax.shard_map(
        per_device, mesh=mesh, in_specs=(P(), P(), P(), P(), P(), P()), out_specs=P()
    )

    def epoch(params, opt_state, x, y, key, x_val, y_val):
        order = core.shuffle(key, num_examples)[: num_batches * batch_size]
        params, opt_state, sums = sharded(
            params, opt_state, tally.no_steps(net, params, x), x, y,
            (order.reshape(num_batches, batch_size), core.step_keys(net, key, num_batches)),
        )
        metrics = tally.epoch_metrics(sums, num_batches * batch_size, params, opt_state)
        if x_val is not None:
            metrics["val_cost"], metrics["val_accuracy"] = core.evaluate_in_chunks(
                net, params, x_val, y_val, l2=l2
            )
        return params, opt_state, metrics

    return epoch
