"""Jit-compiled training: one step, one epoch, and the ``fit`` loop.

* :func:`make_step` returns a compiled pure ``step(params, opt_state, x, y) -> (params,
  opt_state, metrics)``: the hand-written gradient (or autodiff's, ``grad="autodiff"``),
  then the optimizer update, fused into one XLA program. ``params`` and ``opt_state`` are
  donated: after a call, the arrays passed in are deleted and must not be used again
  (``params, state, m = step(params, state, x, y)`` is the pattern).
* :func:`make_epoch` returns a compiled ``epoch(params, opt_state, x, y, key, x_val,
  y_val)``: a shuffle of the training set on the device with ``key``, then ``lax.scan``
  over the minibatches, then the validation cost and accuracy: ONE call per epoch, no
  host round trip per batch.
* :func:`fit` compiles the epoch once (ahead of time, so it is traced exactly once) and
  calls it ``epochs`` times, with early stopping, NaN detection and an ``on_epoch``
  callback (checkpoints, logs).

**The last partial batch.** An epoch takes ``⌊n / batch_size⌋`` full minibatches from a
fresh permutation and leaves out the ``n mod batch_size`` examples at its end. The
permutation changes every epoch, so a different few are left out each time and every
example is used about equally often; all shapes stay static, so nothing recompiles.

**Randomness.** Epoch ``e`` (counted from 0) shuffles with ``jax.random.fold_in(key, e)``,
so a run resumed at epoch ``e`` sees exactly the shuffles of an uninterrupted one.

**Metrics.** ``train_cost``, ``train_accuracy`` and ``grad_norm`` are means over the epoch's
minibatches, taken during the epoch (each with the parameters before its update);
``val_cost`` and ``val_accuracy`` are computed on the whole validation set after the epoch.
"""

from __future__ import annotations

import functools
import math
import numbers
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import backprop
from jaxnn import optimizers as _optimizers
from jaxnn import validation as _v
from jaxnn.network import Network, Params, _predict

Array = jax.Array

GRADS = ("manual", "autodiff")

# The largest number of rows evaluated in one piece (bounds the activations' memory).
EVAL_CHUNK = 10_000


class TrainingDiverged(FloatingPointError):
    """The cost became NaN or Inf. ``params``/``opt_state`` are the last finite ones (the
    end of the previous epoch), ``history`` the epochs completed before it."""

    def __init__(self, message: str, epoch: int, params, opt_state, history):
        super().__init__(message)
        self.epoch = epoch
        self.params = params
        self.opt_state = opt_state
        self.history = history


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
      params: the final parameters, or the best ones (lowest validation cost) when early
        stopping is on.
      opt_state: the optimizer state after the last epoch run.
      history: one dict per epoch: ``epoch`` (1-based), ``train_cost``, ``train_accuracy``,
        ``grad_norm``, ``learning_rate``, ``val_cost``/``val_accuracy`` (with validation),
        ``seconds``.
      best_epoch: the epoch whose parameters are returned.
      stopped_early: whether early stopping ended the run.
      compile_seconds: time to trace and compile the epoch function.
    """

    params: Params
    opt_state: Any
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    compile_seconds: float


def _gradient_fn(grad: str):
    """``(net, params, x, y) -> (J, grads, A^L)`` for ``grad`` in :data:`GRADS`."""
    if grad == "manual":
        return backprop._value_grad_and_output  # BP1–BP4
    if grad == "autodiff":

        def autodiff(net, params, x, y):
            def J(p):
                zs_acts = backprop._forward_layers(net, p, x)
                return backprop._cost_from_pass(net, p, *zs_acts, y), zs_acts[1][-1]

            (J_value, a_out), grads = jax.value_and_grad(J, has_aux=True)(params)
            return J_value, grads, a_out

        return autodiff
    raise ValueError(f"grad must be one of {', '.join(GRADS)}; got {grad!r}.")


def _labels(net: Network, y: Array) -> Array:
    """Integer labels (m,) from labels or targets, for the accuracy."""
    if jnp.issubdtype(y.dtype, jnp.integer):
        return y
    return _predict(net, y)


def _train_step(net, opt, gradient, params, opt_state, x, y):
    """One minibatch: J, ∇J, the optimizer update, and the batch's metrics."""
    targets = _v.as_targets(net.n_out, y, x.dtype)
    J, grads, a_out = gradient(net, params, x, targets)
    params, opt_state = opt.update(grads, opt_state, params)
    correct = jnp.sum(_predict(net, a_out) == _labels(net, y))
    return params, opt_state, (J, _optimizers.global_norm(grads), correct)


def _check_batch_shapes(net: Network, params, x, y, what: str) -> None:
    """Inside a compiled step or epoch: params, ``x: (m, n_0)`` and ``y`` fit ``net``.
    Python checks of shapes and dtypes at trace time, so a wrong array is our ValueError
    or TypeError rather than an XLA shape error from deep inside the program."""
    checked = _v.check_params(net, params)
    xb, single = _v.check_x(net, x, checked)
    if single:
        raise ValueError(
            f"{what}: x must be a batch of shape (m, {net.n_in}); got {tuple(x.shape)}. Fix: "
            "x[None] for one example."
        )
    _v.check_y(net, y, xb.shape[0], False, xb.dtype)


def _check_net(net) -> None:
    if not isinstance(net, Network):
        raise TypeError(f"net must be a jaxnn.Network; got {type(net).__name__}.")


def _check_opt(opt) -> None:
    if not isinstance(opt, _optimizers.Optimizer):
        raise TypeError(
            f"opt must be a jaxnn Optimizer; got {type(opt).__name__}. Fix: "
            "opt = jaxnn.optimizers.adam(1e-3)."
        )


def make_step(net: Network, opt, grad: str = "manual"):
    """A compiled training step ``step(params, opt_state, x, y) -> (params, opt_state,
    metrics)`` with ``metrics = {"cost", "grad_norm", "accuracy"}`` of the batch.

    Args:
      net: the architecture (closed over: static).
      opt: a :class:`jaxnn.optimizers.Optimizer`.
      grad: ``"manual"`` (BP1–BP4) or ``"autodiff"`` (``jax.value_and_grad``).
    ``x: (m, n_0)``, ``y: (m, n_L)`` targets or ``(m,)`` integer labels. ``params`` and
    ``opt_state`` are donated (deleted by the call).
    """
    _check_net(net)
    _check_opt(opt)
    gradient = _gradient_fn(grad)

    def step(params, opt_state, x, y):
        # Shapes and dtypes, in Python at trace time (values are tracers here): a wrong
        # batch is our ValueError, not an XLA shape error from deep inside the step.
        _check_batch_shapes(net, params, x, y, "x, y")
        params, opt_state, (J, norm, correct) = _train_step(
            net, opt, gradient, params, opt_state, x, y
        )
        metrics = {"cost": J, "grad_norm": norm, "accuracy": correct / x.shape[0]}
        return params, opt_state, metrics

    return jax.jit(step, donate_argnums=(0, 1))


def _evaluate(net: Network, params: Params, x: Array, y: Array) -> tuple[Array, Array]:
    """Cost (without the L2 term's dependence on chunking: J over all rows) and accuracy
    of the whole set, in chunks of at most :data:`EVAL_CHUNK` rows."""
    n = x.shape[0]
    total_cost = jnp.zeros((), x.dtype)
    correct = jnp.zeros((), jnp.int32)
    unregularised = Network(net.sizes, net.activations, net.cost, 0.0)
    for start in range(0, n, EVAL_CHUNK):
        xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
        m = xb.shape[0]
        targets = _v.as_targets(net.n_out, yb, x.dtype)
        zs, acts = backprop._forward_layers(net, params, xb)
        total_cost += m * backprop._cost_from_pass(unregularised, params, zs, acts, targets)
        correct += jnp.sum(_predict(net, acts[-1]) == _labels(net, yb))
    cost = total_cost / n
    if net.l2:
        cost += (net.l2 / (2 * n)) * sum(jnp.sum(W * W) for W, _ in params)
    return cost, correct / n


def _epoch_metrics(Js, norms, correct, num_examples_used, params, opt_state) -> dict:
    """Per-epoch means of the minibatch metrics, and whether everything stayed finite."""
    return {
        "train_cost": jnp.mean(Js),
        "train_accuracy": jnp.sum(correct) / num_examples_used,
        "grad_norm": jnp.mean(norms),
        "learning_rate": _optimizers.learning_rate(opt_state),
        "finite": functools.reduce(
            jnp.logical_and,
            [jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)],
            jnp.all(jnp.isfinite(Js)),
        ),
    }


# The most rows one gather of minibatches takes (784 float32 columns: 6.4 MB).
GATHER_ROWS = 2048


def _divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of n that is ≤ limit (at least 1)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _shuffle(key, n: int) -> Array:
    """A uniformly random permutation of ``0..n−1``: the indices sorted by 64 random bits.

    One sort on two uint32 keys. ``jax.random.permutation`` sorts twice, on 32 bits each
    time, which on the CPU takes 1.7× the time (n = 50,000: 24 ms of CPU against 14 ms,
    ~8% of a 784-30-10 epoch at batch 10). Two equal 64-bit keys, the only way the order
    could be biased, have probability below n²/2⁶⁵ (1e-10 at n = 60,000).
    """
    bits = jax.random.bits(key, (2, n), jnp.uint32)
    iota = jax.lax.iota(jnp.int32, n)
    return jax.lax.sort((bits[0], bits[1], iota), num_keys=2, is_stable=False)[2]


def make_epoch(net: Network, opt, *, batch_size: int, num_examples: int, grad: str = "manual",
               dp=None):
    """A jit-compiled epoch: shuffle on the device, ``lax.scan`` over minibatches, evaluate.

    Returns ``epoch(params, opt_state, x, y, key, x_val, y_val) -> (params, opt_state,
    metrics)``; ``x: (num_examples, n_0)``, ``y`` targets or labels; ``x_val, y_val`` may be
    ``None`` (no validation metrics). ``⌊num_examples / batch_size⌋`` steps per call.
    ``dp``: :class:`jaxnn.privacy.DPSGD` settings for DP-SGD gradients (per-example
    clipping and noise, the noise keys drawn from ``fold_in(key, 1)``), or ``None``.
    """
    _check_net(net)
    _check_opt(opt)
    gradient = _gradient_fn(grad)
    num_examples = _check_positive_int("num_examples", num_examples, "the number of rows of x")
    batch_size = _check_positive_int("batch_size", batch_size, "e.g. batch_size=32")
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({num_examples} "
            f"examples). Fix: batch_size ≤ {num_examples}."
        )
    num_batches = num_examples // batch_size
    if dp is not None:
        from jaxnn import privacy

        if grad != "manual":
            raise ValueError(f"DP-SGD uses the hand-written per-example gradients; got {grad=}.")

    # Minibatches are gathered `per_gather` at a time (one gather of per_gather · m rows,
    # then per_gather steps over slices of it): a gather per step costs as much as the
    # step's own arithmetic at small sizes. per_gather divides num_batches, so every epoch
    # still takes exactly the batches of its permutation, in order.
    per_gather = _divisor_at_most(num_batches, max(1, GATHER_ROWS // batch_size))

    def epoch(params, opt_state, x, y, key, x_val, y_val):
        _check_batch_shapes(net, params, x, y, "x, y")  # at trace time: shapes only
        if x.shape[0] != num_examples:
            raise ValueError(
                f"this epoch was built for num_examples={num_examples}; got x with "
                f"{x.shape[0]} rows. Fix: make_epoch(..., num_examples=len(x)).")
        if x_val is not None:
            _check_batch_shapes(net, params, x_val, y_val, "x_val, y_val")
        # Shuffle on the device; the n mod batch_size examples at the end sit this one out.
        order = _shuffle(key, num_examples)[: num_batches * batch_size]
        chunks = order.reshape(num_batches // per_gather, per_gather * batch_size)
        noise_keys = None if dp is None else jax.random.split(
            jax.random.fold_in(key, 1), num_batches
        ).reshape(num_batches // per_gather, per_gather)

        def body(carry, xs):
            params, opt_state = carry
            xb, yb, k = xs
            g = gradient if dp is None else functools.partial(
                _private, privacy.private_value_grad_and_output, k, dp)
            params, opt_state, stats = _train_step(net, opt, g, params, opt_state, xb, yb)
            return (params, opt_state), stats

        def gathered(carry, xs):
            idx, k = xs  # idx: (per_gather · m,) rows of per_gather minibatches
            xs_ = jnp.take(x, idx, axis=0).reshape(per_gather, batch_size, *x.shape[1:])
            ys_ = jnp.take(y, idx, axis=0).reshape(per_gather, batch_size, *y.shape[1:])
            return jax.lax.scan(body, carry, (xs_, ys_, k))

        (params, opt_state), (Js, norms, correct) = jax.lax.scan(
            gathered, (params, opt_state), (chunks, noise_keys)
        )
        Js, norms, correct = (a.reshape(num_batches) for a in (Js, norms, correct))
        metrics = _epoch_metrics(Js, norms, correct, num_batches * batch_size, params, opt_state)
        if x_val is not None:
            metrics["val_cost"], metrics["val_accuracy"] = _evaluate(net, params, x_val, y_val)
        return params, opt_state, metrics

    return jax.jit(epoch)


def _private(fn, key, dp, net, params, x, y):
    return fn(net, params, x, y, key, dp)


def evaluate(net: Network, params: Params, x, y) -> dict[str, float]:
    """``{"cost": J, "accuracy": …}`` of a whole data set (chunked; compiled).

    Args:
      x: ``(n, n_0)``; y: targets ``(n, n_L)`` or integer labels ``(n,)``.
    """
    params = _v.check_params(net, params)
    x, _ = _v.check_x(net, x, params)
    y = _check_train_targets(net, y, x.shape[0], "y")
    cost, acc = jax.jit(_evaluate, static_argnums=0)(net, params, x, y)
    return {"cost": float(cost), "accuracy": float(acc)}


def _check_train_targets(net: Network, y, n: int, name: str) -> Array:
    """Targets kept as they are (labels stay int32 to save memory), validated."""
    if not hasattr(y, "shape"):
        y = np.asarray(y)
    _v.check_y(net, y, n, False, jnp.float32)  # shapes, label range, NaN — raises
    if jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_:  # labels (bool: 0/1)
        return jnp.asarray(y, jnp.int32)
    return jnp.asarray(y)


def _check_history(history, start_epoch: int) -> list[dict]:
    """A resumed run's history: a list of per-epoch dicts (``FitResult.history``)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, (list, tuple)):
        raise TypeError(
            f"history must be a list of per-epoch dicts (FitResult.history); got "
            f"{type(history).__name__}."
        )
    for i, record in enumerate(history):
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise TypeError(
                f"history[{i}] must be a dict with an int 'epoch' (one record of "
                f"FitResult.history); got {type(record).__name__} {str(record)[:60]}."
            )
    if len(history) > start_epoch:
        raise ValueError(
            f"history has {len(history)} epochs but start_epoch is {start_epoch}. Fix: "
            "resume with the history and start_epoch of the same checkpoint."
        )
    return list(history)


def _check_positive_int(name: str, value, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int; got {value!r}. Fix: {fix}.")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value}. Fix: {fix}.")
    return int(value)


def _check_data(net: Network, params: Params, data, name: str):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"{name} must be a pair (x, y); got {type(data).__name__}. Fix: {name}=(x, y)."
        )
    x, y = data
    try:
        x, _ = _v.check_x(net, x, params)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name}: x must be a non-empty batch (n, {net.n_in}).")
    try:
        y = _check_train_targets(net, y, x.shape[0], "y")
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    return x, y


def fit(
    net: Network,
    params: Params,
    opt,
    train,
    *,
    epochs: int,
    batch_size: int,
    key,
    grad: str = "manual",
    validation=None,
    patience: int | None = None,
    opt_state=None,
    start_epoch: int = 0,
    history: list[dict] | None = None,
    best_params: Params | None = None,
    on_epoch: Callable[[int, Params, Any, dict], None] | None = None,
    progress: bool = False,
    devices=None,
    dp=None,
) -> FitResult:
    """Train ``params`` with minibatch gradient descent, one compiled call per epoch.

    Args:
      net: the architecture; params: its parameters (not modified: JAX arrays are
        immutable).
      opt: an :class:`~jaxnn.optimizers.Optimizer`.
      train: ``(x, y)``, ``x: (n, n_0)`` floating, ``y`` targets ``(n, n_L)`` or integer
        labels ``(n,)``.
      epochs: the epoch to stop after (counting from 1; with ``start_epoch = k`` the run
        does epochs k+1..epochs).
      batch_size: minibatch size m, 1 ≤ m ≤ n; the last ``n mod m`` examples of each
        epoch's permutation are left out (see the module docstring).
      key: a ``jax.random`` key; epoch e shuffles with ``fold_in(key, e)``.
      grad: ``"manual"`` (BP1–BP4) or ``"autodiff"``.
      validation: ``(x_val, y_val)`` or ``None``.
      patience: early stopping: stop when the validation cost has not improved for this
        many epochs, and return the best parameters. Needs ``validation``.
      opt_state, start_epoch, history, best_params: resume a run (from a checkpoint):
        the optimizer state and history after ``start_epoch`` epochs, and with early
        stopping the best parameters so far.
      on_epoch: ``on_epoch(epoch, params, opt_state, record)`` after every finite epoch
        (write checkpoints and logs there). Never called for a diverged epoch.
      progress: show a tqdm progress bar over epochs.
      devices: data-parallel training (:mod:`jaxnn.parallel`): an int N (the first N
        devices) or a ``jax.sharding.Mesh`` with a ``"data"`` axis; ``batch_size`` must be a
        multiple of N. ``None``: one device.
      dp: :func:`jaxnn.privacy.dp_sgd` settings: train with DP-SGD gradients (per-example
        clipping plus Gaussian noise). One device, ``grad="manual"``.
    Returns:
      a :class:`FitResult`.
    Raises:
      TrainingDiverged: the cost became NaN/Inf; carries the last finite parameters.
    """
    _check_net(net)
    _check_opt(opt)
    params = _v.check_params(net, params)
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {', '.join(GRADS)}; got {grad!r}.")
    epochs = _check_positive_int("epochs", epochs, "e.g. epochs=10")
    batch_size = _check_positive_int("batch_size", batch_size, "e.g. batch_size=32")
    x, y = _check_data(net, params, train, "train")
    n = x.shape[0]
    if batch_size > n:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({n} examples). Fix: "
            f"batch_size ≤ {n}."
        )
    if validation is not None:
        x_val, y_val = _check_data(net, params, validation, "validation")
    else:
        x_val = y_val = None
    if patience is not None:
        patience = _check_positive_int("patience", patience, "e.g. patience=5")
        if validation is None:
            raise ValueError("early stopping (patience) needs validation=(x_val, y_val).")
    if (isinstance(start_epoch, bool) or not isinstance(start_epoch, numbers.Integral)
            or not 0 <= start_epoch <= epochs):
        raise ValueError(
            f"start_epoch must be an int in [0, epochs={epochs}]; got {start_epoch!r}."
        )
    key = _v.check_key(key)
    history = _check_history(history, start_epoch)
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(
            f"on_epoch must be a function on_epoch(epoch, params, opt_state, record) or None; "
            f"got {type(on_epoch).__name__}."
        )
    if opt_state is None:
        opt_state = opt.init(params)

    if dp is not None:
        from jaxnn import privacy

        if not isinstance(dp, privacy.DPSGD):
            raise TypeError(f"dp must come from jaxnn.privacy.dp_sgd(...); got {dp!r}.")
        if devices is not None:
            raise ValueError("DP-SGD runs on one device here; drop devices= or dp=.")
    if devices is None:
        epoch_fn = make_epoch(net, opt, batch_size=batch_size, num_examples=n, grad=grad, dp=dp)
    else:
        from jaxnn import parallel

        mesh = devices if isinstance(devices, jax.sharding.Mesh) else parallel.data_mesh(devices)
        epoch_fn = parallel.make_parallel_epoch(
            net, opt, batch_size=batch_size, num_examples=n, mesh=mesh, grad=grad
        )
        params, opt_state, x, y, x_val, y_val = parallel.replicate(
            (params, opt_state, x, y, x_val, y_val), mesh
        )
        if best_params is not None:
            best_params = parallel.replicate(best_params, mesh)
    t0 = time.perf_counter()
    compiled = epoch_fn.lower(
        params, opt_state, x, y, jax.random.fold_in(key, 0), x_val, y_val
    ).compile()
    compile_seconds = time.perf_counter() - t0
    if jax.config.jax_debug_nans:  # let JAX re-run the epoch op by op to find the first NaN
        compiled = epoch_fn

    # Early-stopping state; a resumed run recovers it from the history.
    best_epoch, best_cost = start_epoch, math.inf
    for record in history:
        if record.get("val_cost", math.inf) < best_cost:
            best_cost, best_epoch = record["val_cost"], record["epoch"]
    best_params = params if best_params is None else _v.check_params(net, best_params)
    stopped_early = False
    bar = _progress(range(start_epoch, epochs), progress)
    for e in bar:
        t = time.perf_counter()
        new_params, new_state, metrics = compiled(
            params, opt_state, x, y, jax.random.fold_in(key, e), x_val, y_val
        )
        metrics = _host(metrics)
        seconds = time.perf_counter() - t
        if not bool(metrics.pop("finite")):
            rate = float(_host(_optimizers.learning_rate(opt_state)))
            last = float(_host(_optimizers.learning_rate(new_state)))  # the epoch's last rate
            fix = (f"lower the learning rate (now {rate:g}), e.g. to {rate / 10:g}"
                   if math.isfinite(last) else
                   f"the learning-rate schedule returned {last} during the epoch; fix the "
                   "schedule")
            raise TrainingDiverged(
                f"the cost became NaN or Inf in epoch {e + 1}; training stopped and the "
                f"parameters of epoch {e} (the last finite ones) were kept. Fix: {fix}.",
                e + 1,
                params,
                opt_state,
                history,
            )
        params, opt_state = new_params, new_state
        record = {"epoch": e + 1, **{k: float(v) for k, v in metrics.items()}, "seconds": seconds}
        history.append(record)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{record[k]:.4f}" for k in ("train_cost", "val_accuracy")
                             if k in record})
        if on_epoch is not None:
            on_epoch(e + 1, params, opt_state, record)
        if patience is not None:
            if record["val_cost"] < best_cost:
                best_cost, best_epoch, best_params = record["val_cost"], e + 1, params
            elif e + 1 - best_epoch >= patience:
                stopped_early = True
                break
    if patience is None:
        best_params, best_epoch = params, (history[-1]["epoch"] if history else start_epoch)
    return FitResult(best_params, opt_state, history, best_epoch, stopped_early, compile_seconds)


def _host(tree):
    """NumPy values of (possibly multi-process, replicated) arrays."""
    from jaxnn.parallel import to_host

    return to_host(tree)


def _progress(it, enabled: bool):
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency, but never fail a run over a progress bar
        return it
    return tqdm(it, desc="epochs", unit="epoch", leave=False)


__all__ = [
    "FitResult",
    "GRADS",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "make_epoch",
    "make_step",
]
