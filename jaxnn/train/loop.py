"""The ``fit`` loop: one compiled epoch called ``epochs`` times, with early stopping,
divergence detection, resumption and an ``on_epoch`` callback (checkpoints, logs).

:func:`fit` checks its arguments once (:func:`jaxnn.train.plan.for_fit`) and runs the
compiled epoch of its plan: the single-device epoch of :mod:`jaxnn.train.steps`, or the
data-parallel one of :mod:`jaxnn.train.parallel`, compiled on the first fit of its static
signature and reused by every later one (new learning rate, λ, dropout rate, seed, epochs
or parameters compile nothing). :func:`evaluate` is the compiled cost and accuracy of a set.

**Randomness.** Epoch ``e`` (counted from 0) shuffles with ``jax.random.fold_in(key, e)``,
so a run resumed at epoch ``e`` sees exactly the shuffles of an uninterrupted one.

**Metrics.** ``train_cost``, ``train_accuracy``, ``grad_norm`` and ``layer_grad_norms`` (one
‖∂J/∂W^l‖ per layer) are means over the epoch's minibatches, taken during the epoch (each
with the parameters before its update); ``val_cost`` and ``val_accuracy`` are computed on
the whole validation set after the epoch (batch norm: with the training set's statistics).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, inputs, network
from jaxnn import optimizers as optim
from jaxnn.architecture import Network, Params, check_net
from jaxnn.train import core, parallel, plan, programs, tally

Array = jax.Array

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
      compile_seconds: time to trace and compile the epoch function (when
        :func:`precompile` started that compile, the time ``fit`` waited for it).
    """

    params: Params
    opt_state: Any
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    compile_seconds: float


def evaluate(net: Network, params: Params, x, y) -> dict[str, float]:
    """``{"cost": J, "accuracy": …}`` of a whole data set (chunked; compiled).

    Args:
      x: ``(n, n_0)``; y: targets ``(n, n_L)`` or integer labels ``(n,)``.
    """
    params = inputs.check_params(net, params)
    x, y = core.check_data(net, params, (x, y), "evaluate")
    cost, acc = _evaluate(net, params, x, y)
    return {"cost": float(cost), "accuracy": float(acc)}


_evaluate = jax.jit(core.evaluate_in_chunks, static_argnums=0)


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
      devices: data-parallel training (:mod:`jaxnn.train.parallel`): an int N (the first N
        devices) or a ``jax.sharding.Mesh`` with a ``"data"`` axis; ``batch_size`` must be a
        multiple of N. ``None``: one device.
      dp: :func:`jaxnn.privacy.dp_sgd` settings: train with DP-SGD gradients (per-example
        clipping plus Gaussian noise). One device, ``grad="manual"``.
    Returns:
      a :class:`FitResult`.
    Raises:
      TrainingDiverged: the cost became NaN/Inf; carries the last finite parameters.
    """
    job = plan.for_fit(net, params, opt, train, epochs=epochs, batch_size=batch_size, key=key,
                       grad=grad, validation=validation, patience=patience,
                       opt_state=opt_state, start_epoch=start_epoch, history=history,
                       best_params=best_params, on_epoch=on_epoch, devices=devices, dp=dp)
    return run(job, net, progress)


def precompile(net: Network, params: Params, opt, train, *, batch_size: int, key,
               grad: str = "manual", validation=None) -> concurrent.futures.Future:
    """Start compiling the epoch that ``fit(net, params, opt, train, batch_size=…,
    key=…, grad=…, validation=…)`` will run, on a thread of its own, and return at once:
    compile while the data loads.

    ``train`` and ``validation`` are pairs ``(x, y)`` of anything with ``shape`` and
    ``dtype``: the arrays ``fit`` will get, or ``jax.ShapeDtypeStruct`` (e.g. from file
    headers) before they are read. The network, parameters, optimizer, batch size, key
    and the data's shapes and dtypes are checked as ``fit`` checks them; the data's values
    (finite, labels in range) and the memory they need are ``fit``'s to check. A later
    ``fit`` of the same network structure, kind of optimizer (a registered one: an optax
    transformation is its own kind, per object), gradient, batch size, shapes and dtypes
    (one device, no DP-SGD; any learning rate, λ, seed, epochs, patience or parameter
    values) takes the program, waiting for the compile if it has not ended; another
    ``fit`` compiles its own. The compile runs under the caller's ``jax_enable_x64``
    setting (the only thread-local setting it carries).

    Returns:
      a ``concurrent.futures.Future`` of the compiled epoch (``.result()`` waits for it).
    """
    check_net(net)

    def sized(pair, name):  # the rows; the shapes as fit's checks would find them
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(
                hasattr(a, "shape") and hasattr(a, "dtype") and len(a.shape) >= 1
                for a in pair):
            raise TypeError(
                f"{name} must be a pair (x, y) of arrays or jax.ShapeDtypeStruct; got "
                f"{type(pair).__name__}. Fix: {name}=(jax.ShapeDtypeStruct((n, n_0), "
                "jnp.float32), jax.ShapeDtypeStruct((n,), jnp.int32)).")
        x, y = (tuple(a.shape) for a in pair)
        labels = jnp.issubdtype(pair[1].dtype, jnp.integer)
        if (len(x) != 2 or x[1] != net.n_in or y[0] != x[0] or len(y) > 2
                or (len(y) == 2 and (labels or y[1] != net.n_out))):
            raise _checks.value_error(
                f"{name}", f"x of shape (n, n_0 = {net.n_in}) and y of as many rows (integer "
                f"labels (n,) or targets (n, {net.n_out}))",
                f"x of shape {x}, y of shape {y} ({pair[1].dtype})",
                "give the shapes of the data fit will get")
        return x[0]

    def stand_in(pair, rows):  # zeros, fit's checks then give the arrays' dtypes
        return tuple(np.zeros((rows, *a.shape[1:]), a.dtype) for a in pair)

    def spec(a, n=None):  # an array's shape (n rows), dtype, weak type and device
        return jax.ShapeDtypeStruct(a.shape if n is None else (n, *a.shape[1:]), a.dtype,
                                    sharding=a.sharding, weak_type=a.weak_type)

    n = sized(train, "train")
    n_val = None if validation is None else sized(validation, "validation")
    sensible = isinstance(batch_size, int) and not isinstance(batch_size, bool)
    rows = min(n, batch_size) if sensible and batch_size > 0 else min(n, 1)
    job = plan.for_fit(
        net, params, opt, stand_in(train, rows), epochs=1, batch_size=batch_size, key=key,
        grad=grad, validation=None if validation is None else stand_in(validation, min(n_val, 1)),
        patience=None, opt_state=None, start_epoch=0, history=None, best_params=None,
        on_epoch=None, devices=None, dp=None)
    # Specs, not arrays, for the parameters and the state too: the thread holds no copy.
    def specs(tree):
        return jax.tree.map(lambda a: spec(a) if isinstance(a, jax.Array) else a, tree)

    args = (specs(job.params), specs(plan.init_opt_state(job)), job.hyper,
            spec(job.x, n), spec(job.y, n),
            job.key, 0, None if validation is None else spec(job.x_val, n_val),
            None if validation is None else spec(job.y_val, n_val))
    return programs.compile_ahead(dataclasses.replace(job.plan, num_examples=n), args)


def run(job: plan.FitJob, net: Network, progress: bool = False) -> FitResult:
    """The loop of a checked fit (:func:`jaxnn.train.plan.for_fit`): the compiled epoch
    ``epochs − start_epoch`` times, with early stopping and divergence detection. ``net``
    is the network as given (for the divergence diagnosis)."""
    params, x, y, x_val, y_val, key = job.params, job.x, job.y, job.x_val, job.y_val, job.key
    opt_state = plan.init_opt_state(job) if job.opt_state is None else job.opt_state
    best_params, history = job.best_params, job.history
    start_epoch, patience, on_epoch = job.start_epoch, job.patience, job.on_epoch
    hyper = job.hyper
    if job.plan.mesh is not None:
        params, opt_state, hyper, x, y, x_val, y_val = parallel.replicate(
            (params, opt_state, hyper, x, y, x_val, y_val), job.plan.mesh)
        if best_params is not None:
            best_params = parallel.replicate(best_params, job.plan.mesh)
    compiled, compile_seconds = programs.compiled_epoch(
        job.plan, (params, opt_state, hyper, x, y, key, start_epoch, x_val, y_val))

    # Early-stopping state; a resumed run recovers it from the history.
    best_epoch, best_cost = start_epoch, math.inf
    for record in history:
        if record.get("val_cost", math.inf) < best_cost:
            best_cost, best_epoch = record["val_cost"], record["epoch"]
    best_params = params if best_params is None else best_params
    stopped_early = False
    bar = _progress(range(start_epoch, job.epochs), progress)
    for e in bar:
        t = time.perf_counter()
        new_params, new_state, metrics = compiled(params, opt_state, hyper, x, y, key, e,
                                                  x_val, y_val)
        metrics = parallel.to_host(metrics)
        tally.raise_on_faults(metrics, e + 1)
        seconds = time.perf_counter() - t
        if not bool(metrics.pop("finite")):
            fix = diagnose(net, params, opt_state, new_state, (x, y), job.plan.batch_size,
                           job.plan.dp)
            raise TrainingDiverged(
                f"the cost became NaN or Inf in epoch {e + 1}; training stopped and the "
                f"parameters of epoch {e} (the last finite ones) were kept. Fix: {fix}.",
                e + 1,
                params,
                opt_state,
                history,
            )
        params, opt_state = new_params, new_state
        record = {"epoch": e + 1, **{k: tally.host_value(v) for k, v in metrics.items()},
                  "seconds": seconds}
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


def diagnose(net: Network, params, opt_state, new_state, train, batch_size: int,
             dp=None) -> str:
    """Why a run diverged, as the fix to make (the text after "Fix: "), from the epoch's
    inputs: the causes checked in order are the data (NaN or Inf, or huge values, in x or
    y), the L2 strength λ (its term dwarfs the data term, or SGD's decay step overshoots),
    the optimizer state passed in (NaN, Inf, a negative second moment), the DP-SGD noise,
    the learning rate (non-finite or huge: the constant given, or the schedule), and last
    the learning rate in general (unknown for an optax transformation)."""
    host = parallel.to_host
    params, state = host(params), host(opt_state)
    dtype = jnp.dtype(params[0].W.dtype)
    for name, a in zip(("x", "y"), host(train)):
        if jnp.issubdtype(a.dtype, jnp.floating):
            a = np.asarray(a, np.float64)
            with np.errstate(over="ignore", invalid="ignore"):
                cast = a.astype(dtype)
            if not np.all(np.isfinite(cast)):
                return (f"clean the data: {name} holds NaN or Inf as the epoch sees it (in "
                        f"{dtype.name}, whose largest value is {float(jnp.finfo(dtype).max):.4g})")
            if a.size and np.max(np.abs(a)) > 1e6:
                return (f"scale the data: {name} holds values up to {np.max(np.abs(a)):.3g} in "
                        "magnitude; standardise it (jaxnn.data.standardize) or rescale it")
    rate = float(host(optim.learning_rate(state)))
    last = float(host(optim.learning_rate(new_state)))  # the rate of the epoch's last update
    if net.l2:
        x, y = (a[: min(len(a), 1000)] for a in host(train))
        data = float(network.raw_cost(net.without_l2(), params, jnp.asarray(x, dtype),
                                      inputs.as_targets(net.n_out, jnp.asarray(y), dtype)))
        reg = float(network.l2_term(net, params, batch_size))
        decay = rate * net.l2 / batch_size
        entry = optim.entry_of(optim.rate_state(state))
        sgd_like = entry is not None and entry[1].sgd_like
        if not math.isfinite(reg) or reg > 1e3 * max(abs(data), 1e-12):
            return (f"lower the L2 strength λ (l2={net.l2:g}): its term (λ/2m) Σ‖W‖² = "
                    f"{reg:.3g} dwarfs the data term ({data:.3g}); λ is usually 1e-4 to 10")
        if sgd_like and math.isfinite(decay) and decay >= 2:
            return (f"lower the L2 strength λ (l2={net.l2:g}) or the learning rate ({rate:g}): "
                    f"each step scales W by 1 − ηλ/m = {1 - decay:.3g}, so |W| grows; keep ηλ/m "
                    f"< 2, e.g. l2 < {2 * batch_size / rate:.3g}")
    bad = _bad_state(state)
    if bad:
        return (f"start from a fresh optimizer state (opt_state=None) or an intact checkpoint: "
                f"the one passed in holds {bad}")
    if dp is not None:
        noise = dp.noise_multiplier * dp.clip_norm
        if noise >= 1e4 or noise / batch_size > float(jnp.finfo(dtype).max):
            return (f"lower the DP-SGD noise: noise_multiplier · clip_norm = {noise:.3g} adds "
                    f"noise of standard deviation {noise / batch_size:.3g} to every gradient "
                    "entry; typical settings are dp_sgd(clip_norm=1.0, noise_multiplier=0.5 to 5)")
    if isinstance(optim.rate_state(state), optim.TransformationState) and math.isnan(rate):
        return ("lower the learning rate given to the optax transformation, e.g. tenfold (jaxnn "
                "cannot see it: optax keeps it out of the state unless the transformation is "
                "built with optax.inject_hyperparams)")
    if not math.isfinite(rate):
        return (f"give a learning rate that {dtype.name} can hold: the optimizer state's rate "
                f"is {rate} (the largest {jnp.dtype(optim.learning_rate(state).dtype).name} is "
                f"{float(jnp.finfo(optim.learning_rate(state).dtype).max):.3g}; e.g. adam(1e308) "
                "overflows), e.g. 1e-3")
    if not math.isfinite(last):
        return (f"the learning-rate schedule returned {last} during the epoch; fix the "
                "schedule")
    if last != rate:
        return (f"lower the learning-rate schedule, e.g. tenfold (its rates ran from {rate:g} "
                f"to {last:g} in this epoch)")
    return f"lower the learning rate (now {rate:g}), e.g. to {rate / 10:g}"


def _bad_state(state) -> str | None:
    """What is wrong in an optimizer state's values, or ``None``: NaN or Inf (an optax
    state's unknown ``learning_rate`` is NaN by design), a negative second moment (the
    fields each registry entry declares ``nonnegative``, in the state or a wrapper's)."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    for path, leaf in flat:
        where = f"opt_state{jax.tree_util.keystr(path)}"
        a = np.asarray(leaf)
        if not jnp.issubdtype(a.dtype, jnp.floating) or where.endswith(".learning_rate"):
            continue
        if not np.all(np.isfinite(a)):
            return f"NaN or Inf (in {where})"
    for where, moments in _nonnegative(state, "opt_state"):
        for path, leaf in jax.tree_util.tree_flatten_with_path(moments)[0]:
            a = np.asarray(leaf)
            if a.size and np.min(a) < 0:
                where_leaf = f"{where}{jax.tree_util.keystr(path)}"
                return (f"negative second moments (in {where_leaf}: {np.min(a):.3g}), which "
                        "are ≥ 0")
    return None


def _nonnegative(state, where: str):
    """``(where, moments)`` for each field a registry entry declares ``nonnegative``, in
    ``state`` and the states nested in it (a wrapper's ``inner``)."""
    entry = optim.entry_of(state)
    if entry is not None:
        for field in entry[1].nonnegative:
            yield f"{where}.{field}", getattr(state, field)
    if isinstance(state, tuple):
        for name, value in zip(getattr(state, "_fields", ()), state):
            if isinstance(value, tuple) and hasattr(value, "_fields"):
                yield from _nonnegative(value, f"{where}.{name}")


def _progress(it, enabled: bool):
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency, but never fail a run over a progress bar
        return it
    return tqdm(it, desc="epochs", unit="epoch", leave=False)
