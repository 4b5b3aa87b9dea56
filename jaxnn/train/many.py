"""Many runs in one compiled program: seeds and hyper-parameter sweeps (:func:`fit_many`).

K runs of one architecture and batch size train together: the epoch of
:mod:`jaxnn.train.steps` (shuffle, ``lax.scan`` over minibatches, validation) is
``vmap``-ed over a leading run axis of the parameters, the optimizer states, the PRNG keys
and the per-run hyper-parameters, and compiled once. On the CPU the runs are cut into one
part per core, each part that one program, called side by side from threads
(:mod:`jaxnn.train.spread`); on a GPU or TPU all K are one program. Run k is the run
``fit(net, params[k], opt_k, train, epochs=E, batch_size=B, key=keys[k])`` would make —
the same shuffles, the same steps — only computed side by side.

Per-run hyper-parameters (``hyperparams``): ``{"learning_rate": [...], "l2": [...], …}``,
one value per run. ``"l2"`` is λ of the cost; every other name is passed to ``opt``, which
is then a function ``opt(**values) -> Optimizer`` (e.g. ``lambda learning_rate, beta1:
jaxnn.optimizers.adam(learning_rate, beta1=beta1)``); inside the compiled program the
values are traced scalars, checked concretely (each run's optimizer built once in Python)
before anything is traced.

Per-run early stopping and divergence: a run that stops (its validation cost has not
improved for ``patience`` epochs) or diverges (a NaN/Inf cost or parameter) is frozen — its
parameters and state stay those of its last good epoch — and reported in the result; the
other runs go on. The frozen runs are still computed (one program for all), and discarded.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, inputs, memory
from jaxnn import optimizers as optim
from jaxnn.architecture import Network, Params, check_net
from jaxnn.train import core, plan, programs, spread, steps, tally


class ManyResult(NamedTuple):
    """What :func:`fit_many` returns; every array has the leading run axis K.

    Attributes:
      params: each run's final parameters, or its best ones (lowest validation cost) when
        early stopping is on; a diverged run's last finite ones.
      opt_state: each run's optimizer state after its last good epoch.
      histories: K lists of per-epoch dicts, as :attr:`jaxnn.train.FitResult.history`.
      best_epochs: the epoch whose parameters each run returns.
      stopped: per run ``"completed"``, ``"early"`` (early stopping), ``"diverged"`` or
        ``"bad_rate"`` (its learning rate became negative or not finite: frozen before).
      diverged_at: per run the epoch whose cost became NaN/Inf, or ``None``.
      compile_seconds: time to trace and compile the K-run epoch (once).
    """

    params: Params
    opt_state: Any
    histories: list[list[dict]]
    best_epochs: tuple[int, ...]
    stopped: tuple[str, ...]
    diverged_at: tuple[int | None, ...]
    compile_seconds: float


def _num_runs(keys) -> int:
    """K from a stack of K PRNG keys (typed ``(K,)`` or raw ``(K, 2)`` uint32)."""
    if hasattr(keys, "dtype") and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        shape = tuple(keys.shape)
        if len(shape) == 1:
            return shape[0]
    elif hasattr(keys, "shape") and keys.dtype == jnp.uint32 and keys.ndim == 2 \
            and keys.shape[1] == 2:
        return keys.shape[0]
    raise TypeError(_checks.message(
        "keys", "K jax.random keys stacked along a leading axis", _checks.describe(keys),
        "keys = jax.random.split(jax.random.key(0), K)"))


def _check_stacked_params(net: Network, params, K: int):
    """Params whose every leaf has the leading run axis K; each run's slice checked."""
    leaves = jax.tree.leaves(params)
    if not leaves or any(getattr(leaf, "ndim", 0) < 1 for leaf in leaves):
        raise TypeError(_checks.message(
            "params", "a tuple of Layer(W, b) stacked along a leading run axis",
            _checks.describe(params),
            "params = jax.vmap(jaxnn.init_params, (0, None))(keys, net)"))
    lead = {leaf.shape[0] for leaf in leaves}
    if lead != {K}:
        raise ValueError(_checks.message(
            "the leading axis of every parameter", f"K = {K}, the number of keys",
            f"leading axes {sorted(lead)}", "stack one set of parameters per key"))
    inputs.check_params(net, jax.tree.map(lambda leaf: leaf[0], params))
    return params


def _check_hyperparams(hyperparams, K: int) -> dict[str, np.ndarray]:
    """``{name: (K,) values}``; every sequence of length K."""
    if hyperparams is None:
        return {}
    if not isinstance(hyperparams, Mapping):
        raise _checks.type_error("hyperparams", "a dict {name: K values}", hyperparams,
                                 "e.g. hyperparams={'learning_rate': [0.01, 0.1, 1.0]}")
    out = {}
    for name, values in hyperparams.items():
        if not isinstance(name, str):
            raise _checks.type_error("each hyperparams name", "a string", name)
        values = np.asarray(values)
        if values.shape != (K,):
            raise ValueError(_checks.message(
                f"hyperparams[{name!r}]", f"{K} values, one per run (K = {K} keys)",
                f"shape {values.shape}" + (f" ({values.item()!r}, one value)" if values.ndim == 0
                                           else ""),
                f"give {K} values" + (f", or use {len(values)} keys" if values.ndim == 1
                                      else f", e.g. [{_checks.short(values.tolist(), 20)}] * {K}")))
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_):
            raise _checks.type_error(f"hyperparams[{name!r}]", "numbers", values.tolist())
        out[name] = values
    return out


def _in_dtype(name: str, values: np.ndarray, dtype) -> jax.Array:
    """One hyper-parameter's K values in the parameters' dtype, each still finite there
    (``learning_rate=1e300`` is Inf in float32: the run would diverge at its first step)."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = np.asarray(values).astype(dtype)
    bad = np.flatnonzero(~np.isfinite(cast))
    if bad.size:
        k = int(bad[0])
        raise _checks.value_error(
            f"hyperparams[{name!r}][{k}]", f"finite in the parameters' dtype {dtype.name} (at "
            f"most {float(jnp.finfo(dtype).max):.6g})", repr(float(values[k])),
            f"a value {dtype.name} can hold, or parameters of a wider dtype")
    return jnp.asarray(cast)


def _optimizer_kind(opt, hyper: dict[str, np.ndarray], K: int, dtype):
    """``(static part, values)`` of the runs' optimizer for the plan: a shared optimizer's
    kind and its float hyper-parameters repeated K times, or (when ``hyperparams`` name
    optimizer settings) the function ``opt`` and those settings' K values. Every run's
    optimizer is built once with concrete values first (so each value is checked), and
    they must be of one kind."""
    opt_names = [name for name in hyper if name != "l2"]
    if isinstance(opt, optim.Optimizer) or not callable(opt):
        if opt_names:
            raise TypeError(_checks.message(
                "opt", f"a function opt({', '.join(opt_names)}) -> Optimizer when "
                "hyperparams name optimizer settings", _checks.describe(opt),
                f"opt=lambda {', '.join(opt_names)}: jaxnn.optimizers.adam(...)"))
        kind, values = plan.split_optimizer(steps.check_opt(opt), dtype)
        return kind, jax.tree.map(lambda v: np.broadcast_to(v, (K,)), values)
    kinds = set()
    for k in range(K):
        try:
            built = opt(**{name: float(hyper[name][k]) for name in opt_names})
        except TypeError as e:
            if "keyword argument" not in str(e) and "positional argument" not in str(e):
                raise
            raise TypeError(_checks.message(
                "opt", f"a function taking the hyperparams it is given, opt("
                f"{', '.join(opt_names)}) -> Optimizer", f"{_checks.describe(opt)}: {e}",
                f"opt=lambda {', '.join(opt_names)}: jaxnn.optimizers.adam(...), or drop the "
                "names it does not take from hyperparams")) from None
        built = steps.check_opt(built)
        kinds.add(type(built.init(jnp.zeros((1,), jnp.float32))).__name__)
    if len(kinds) > 1:
        raise ValueError(_checks.message(
            "the runs' optimizers", "of one kind (one state type for the whole sweep)",
            ", ".join(sorted(kinds)), "sweep one optimizer's settings per call"))
    values = {name: _in_dtype(name, hyper[name], dtype) for name in opt_names}
    return plan.OptimizerFunction(opt, tuple(opt_names)), values


ORDERS = ("per_run", "shared")  # the minibatch orders fit_many offers (``order=``)


def fit_many(net: Network, params: Params, opt, train, *, epochs: int, batch_size: int, keys,
             grad: str = "manual", validation=None, patience: int | None = None,
             hyperparams: dict | None = None, order: str = "per_run",
             progress: bool = False,
             on_epoch: Callable[[ManyResult], None] | None = None) -> ManyResult:
    """Train K runs together in one compiled program (see the module docstring).

    Args:
      net: the architecture, shared by the runs (``hyperparams["l2"]`` overrides λ).
      params: K parameter sets stacked along a leading axis, e.g.
        ``jax.vmap(jaxnn.init_params, (0, None))(keys, net)``: ``W^l: (K, n_l, n_{l−1})``.
      opt: a jaxnn ``Optimizer`` shared by the runs, or ``opt(**values) -> Optimizer``
        when ``hyperparams`` names optimizer settings.
      train: ``(x, y)`` shared by the runs; ``x: (n, n_0)``, ``y`` targets or labels.
      epochs, batch_size, grad, validation, patience: as :func:`jaxnn.train.fit`, per run.
      keys: K PRNG keys (``jax.random.split(key, K)``); run k shuffles epoch e with
        ``fold_in(keys[k], e)``.
      hyperparams: ``{name: K values}`` (see the module docstring), or ``None``.
      order: ``"per_run"`` (each run its own minibatch order and dropout masks, from its
        key) or ``"shared"``: every run takes the order and masks of ``keys[0]``, so run k
        is ``fit(net, params[k], opt_k, train, ..., key=keys[0])`` and the runs differ only
        in their initial parameters and hyper-parameters. One minibatch then feeds all K
        runs: the first layer's products (Z¹ = X W¹ᵀ and BP4's Δ¹ᵀ X) become one wide
        matrix product over each group of up to ``plan.SHARED_GROUP`` runs instead of
        one small one per run (measured in ``experiments.sweep_benchmark``).
    Returns:
      a :class:`ManyResult`.
    """
    check_net(net)
    shared = _checks.one_of("order", order, ORDERS) == "shared"
    K = _num_runs(keys)
    if K < 1:
        raise ValueError(_checks.message("the number of runs K", "at least 1", "K = 0",
                                         "keys = jax.random.split(key, K) with K ≥ 1"))
    params = _check_stacked_params(net, params, K)
    _checks.one_of("grad", grad, core.GRADS)
    epochs = _checks.integer("epochs", epochs, minimum=1, fix="e.g. epochs=10")
    hyper = _check_hyperparams(hyperparams, K)
    l2s = hyper.get("l2")
    if l2s is not None:
        for value in l2s:
            _checks.real("hyperparams['l2']", float(value), minimum=0.0, fix="λ ≥ 0")
    one = jax.tree.map(lambda leaf: leaf[0], params)
    dtype = one[0].W.dtype
    opt_kind, opt_values = _optimizer_kind(opt, hyper, K, dtype)
    # The checks fit makes: foreign arrays read, targets in the parameters' dtype, labels in
    # range, the arrays moved to the parameters' device; errors prefixed with the pair.
    x, y = core.check_data(net, one, train, "train")
    n = x.shape[0]
    n, batch_size = steps.check_epoch_sizes(n, batch_size)
    x_val = y_val = None
    if validation is not None:
        x_val, y_val = core.check_data(net, one, validation, "validation")
    if patience is not None:
        patience = _checks.integer("patience", patience, minimum=1, fix="e.g. patience=5")
        if validation is None:
            raise ValueError("early stopping (patience) needs validation=(x_val, y_val).")
    the_plan = plan.Plan(plan.structure(net), opt_kind, grad, batch_size, n, runs=K,
                         shared_order=shared, group=plan.run_group(K, shared))
    core.check_memory(the_plan, x, x_val, runs=K, who="fit_many")
    single = plan.hyper(net, {}, dtype)
    hyper_values = plan.Hyper(
        opt_values,
        _in_dtype("l2", l2s, dtype) if l2s is not None else np.broadcast_to(single.l2, (K,)),
        np.broadcast_to(single.keep, (K,)))
    try:
        opt_state = plan.init_state(opt_kind, runs=True)(opt_values, params)
        core.check_start_rate(opt_state)
        if shared:  # keys[0], unbatched: one minibatch order for all runs
            keys = keys[0]
        epoch, compile_seconds = _spread_epoch(the_plan, params, opt_state, hyper_values,
                                               keys, (x, y, x_val, y_val))
    except (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerIntegerConversionError) as e:
        if not isinstance(opt_kind, plan.OptimizerFunction):
            raise
        raise TypeError(_checks.message(
            "opt", "a function of the hyperparams made of jnp operations: each run's values "
            "are traced arrays inside the compiled program", f"{_checks.describe(opt)}, "
            f"which reads a value in Python ({type(e).__name__})",
            "no Python `if`/`int()`/`float()` on the values; use jnp.where, or sweep "
            "that setting in separate fit_many calls")) from None
    return _loop(epoch, params, opt_state, K=K, epochs=epochs, patience=patience,
                 progress=progress, compile_seconds=compile_seconds, on_epoch=on_epoch)


_select = jax.jit(lambda keep, new, old: jax.tree.map(
    lambda a, b: jnp.where(keep.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old))


def _spread_epoch(the_plan: plan.Plan, params, opt_state, values, keys, data):
    """``(epoch(params, opt_state, e) -> (params, opt_state, metrics), compile seconds)``
    for the K runs of ``the_plan``: on the CPU, its groups of runs (``the_plan.group``)
    dealt into equal parts, one per core, compiled once and called side by side
    (:mod:`jaxnn.train.spread`); elsewhere one program for all K. Every run is computed in
    a group of the same size either way, so its bits do not depend on the cores."""
    x, y, x_val, y_val = data
    K, group = the_plan.runs, the_plan.group
    examples = the_plan.num_examples // the_plan.batch_size * the_plan.batch_size
    flops_per_group = 6 * examples * memory.num_params(the_plan.net) * group  # fwd 2, bwd 4
    parts, groups = spread.parts_of(K // group, next(iter(x.devices())).platform,
                                    flops_per_group)
    if parts == 1:
        compiled, seconds = programs.compiled_epoch(
            the_plan, (params, opt_state, values, x, y, keys, 0, x_val, y_val))
        return (lambda params, opt_state, e: compiled(params, opt_state, values, x, y, keys,
                                                      e, x_val, y_val)), seconds
    size = groups * group  # runs per part; the last part padded with copies of run 0
    part_values = spread.split(values, parts, size)
    part_keys = [keys] * parts if the_plan.shared_order else spread.split(keys, parts, size)

    def arguments(params, opt_state, e):
        return [(p, s, v, x, y, k, e, x_val, y_val) for p, s, v, k in zip(
            spread.split(params, parts, size), spread.split(opt_state, parts, size),
            part_values, part_keys)]

    compiled, seconds = programs.compiled_epoch(dataclasses.replace(the_plan, runs=size),
                                            arguments(params, opt_state, 0)[0])

    def epoch(params, opt_state, e):
        return spread.join(spread.call_parts(compiled, arguments(params, opt_state, e)), K)

    return epoch, seconds


def _loop(epoch, params, opt_state, *, K, epochs, patience, progress, compile_seconds,
          on_epoch=None) -> ManyResult:
    """The host loop: one compiled epoch per epoch; per-run freezing, histories, stopping."""
    histories: list[list[dict]] = [[] for _ in range(K)]
    active = np.ones(K, bool)
    stopped = ["completed"] * K
    diverged_at: list[int | None] = [None] * K
    best_cost = np.full(K, math.inf)
    best_epoch = np.zeros(K, int)
    best_params = params
    epochs_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc=f"epochs ({K} runs)", unit="epoch", leave=False)
    for e in epochs_iter:
        if not active.any():
            break
        t = time.perf_counter()
        new_params, new_state, metrics = epoch(params, opt_state, e)
        metrics = jax.device_get(metrics)
        seconds = time.perf_counter() - t
        finite = np.asarray(metrics.pop("finite"), bool)
        bad_rate = np.asarray(metrics.pop("rate_fault_step")) > 0
        metrics.pop("label_fault_step")  # labels were checked on the host before
        for k in np.flatnonzero(active & bad_rate):
            active[k], stopped[k] = False, "bad_rate"
        for k in np.flatnonzero(active & ~finite):
            active[k], stopped[k], diverged_at[k] = False, "diverged", e + 1
        keep = jnp.asarray(active)
        params = _select(keep, new_params, params)
        opt_state = _select(keep, new_state, opt_state)
        improved = np.zeros(K, bool)
        for k in np.flatnonzero(active):
            record = {"epoch": e + 1,
                      **{name: tally.host_value(v[k]) for name, v in metrics.items()},
                      "seconds": seconds}
            histories[k].append(record)
            if patience is None:
                best_epoch[k] = e + 1
            elif record["val_cost"] < best_cost[k]:
                best_cost[k], best_epoch[k], improved[k] = record["val_cost"], e + 1, True
            elif e + 1 - best_epoch[k] >= patience:
                active[k], stopped[k] = False, "early"
        if patience is not None:
            best_params = _select(jnp.asarray(improved), params, best_params)
        if on_epoch is not None:
            on_epoch(ManyResult(params if patience is None else best_params, opt_state,
                                histories, tuple(int(b) for b in best_epoch), tuple(stopped),
                                tuple(diverged_at), compile_seconds))
    final = params if patience is None else best_params
    return ManyResult(final, opt_state, histories, tuple(int(b) for b in best_epoch),
                      tuple(stopped), tuple(diverged_at), compile_seconds)
