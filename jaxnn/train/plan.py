"""The plan of a training job: its arguments checked once at the door, its compiled epoch
cached by the job's static signature.

Every public entry point (``fit``, ``fit_many``, ``make_epoch``, ``evaluate``, and through
them the command line) turns its arguments into a :class:`Plan` and checked arrays before
anything is traced; below the door nothing checks again. The plan splits the job as
``optax.inject_hyperparams`` and Equinox's ``filter_jit`` do:

- **static** (the :class:`Plan`, hashable: the key of the compiled program): the network's
  structure (sizes, activations, cost; whether it drops units), the optimizer's kind
  (:mod:`jaxnn.recipes`), the gradient mode, batch size, number of examples, DP-SGD
  settings and the device mesh. The arrays' shapes, dtypes and devices complete the key;
- **values** (:class:`Hyper`, arrays the compiled epoch takes as inputs): the optimizer's
  float hyper-parameters (learning rate, β, ε, weight decay, a schedule's rates), L2's λ
  and the probability of keeping a hidden unit under dropout.

So a second ``fit`` with a new optimizer object, learning rate, λ, dropout rate, seed,
number of epochs or initial parameters runs the program the first one compiled
(:func:`jaxnn.train.programs.compiled_epoch` keeps the :data:`CACHE_SIZE` most recent).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import _checks, inputs, privacy, recipes
from jaxnn import optimizers as optim
from jaxnn.architecture import Network, check_net
from jaxnn.train import core, parallel, steps

Array = jax.Array

# A network's dropout rate is an input of the compiled epoch; its static structure says
# only whether units are dropped, with this rate standing for "on".
DROPOUT_ON = 0.5

CACHE_SIZE = 64  # compiled epochs kept (least recently used dropped first)

# fit_many's runs computed side by side (vmap) in one group; groups run one after another,
# so a group's weights, gradients and moments stay in cache (on the CPU each core's part
# of the runs, jaxnn.train.spread, is grouped so). Measured (python
# scripts/many_group_sizes.py 128 --wall; 784-30-10, batch 10, 2 cores, load 0.5): per-run
# throughput against one run, groups of 4: 1.95×; 2: 1.75×; 8: 2.05×; all 64 of a part:
# 0.81×.
RUN_GROUP = 4
# With a shared minibatch order, one wide product over this many runs (python -m
# experiments.sweep_benchmark: the shared-order columns).
SHARED_GROUP = 16


class Hyper(NamedTuple):
    """The numbers of a job, inputs of its compiled epoch (one per run in ``fit_many``).

    Attributes:
      opt: the optimizer's float hyper-parameters, a dict of scalars
        (:func:`jaxnn.recipes.split`); empty for an optimizer without a recipe.
      l2: λ of the cost's L2 term, in the parameters' dtype.
      keep: 1 − p, the probability of keeping a hidden unit under dropout, in JAX's default
        float (as the Python float the network holds: masks draw in its dtype).
    """

    opt: dict
    l2: Any
    keep: Any


@dataclass(frozen=True)
class Plan:
    """The static signature of a training job (hashable; see the module docstring).

    Attributes:
      net: the network's structure: λ = 0, and dropout :data:`DROPOUT_ON` or 0.
      opt: the optimizer's :class:`~jaxnn.recipes.Kind`, or the optimizer itself when it
        has none (then a new object compiles anew).
      grad: ``"manual"`` or ``"autodiff"``.
      batch_size, num_examples: the minibatch size and the training set's rows.
      dp: DP-SGD settings or ``None``; mesh: the data-parallel mesh or ``None``.
      runs: ``None`` for one run (``fit``), K for K runs side by side (``fit_many``).
      shared_order: with runs, every run takes the first run's minibatch order.
      group: with runs, the runs ``vmap``-ed side by side in one group (groups run one
        after another); ``None``: :func:`run_group`'s choice for ``runs``.
    """

    net: Network
    opt: Any
    grad: str
    batch_size: int
    num_examples: int
    dp: Any = None
    mesh: Any = None
    runs: int | None = None
    shared_order: bool = False
    group: int | None = None

    def optimizer(self, values: dict):
        """The optimizer, built from its kind with ``values`` (traced in the program)."""
        return optimizer_of(self.opt, values)


def optimizer_of(opt, values: dict):
    """The optimizer of a plan's ``opt`` (a kind, an :class:`OptimizerFunction` or an
    optimizer) with ``values``."""
    if isinstance(opt, recipes.Kind):
        return recipes.build(opt, values)
    if isinstance(opt, OptimizerFunction):
        return steps.check_opt(opt.function(**values))
    return opt


class OptimizerFunction(NamedTuple):
    """``fit_many``'s ``opt(**values) -> Optimizer`` for per-run optimizer settings: the
    function (static, by identity) and the names of the values it takes."""

    function: Any
    names: tuple[str, ...]


def structure(net: Network) -> Network:
    """``net`` with λ = 0 and dropout :data:`DROPOUT_ON` or 0: what shapes the program."""
    return net.replace(l2=0.0, dropout=DROPOUT_ON if net.dropout else 0.0)


def split_optimizer(opt, params_dtype) -> tuple[Any, dict]:
    """``(kind or opt, values as arrays)``: the static and the numeric part of ``opt``."""
    kind, values = recipes.split(opt)
    if kind is None:
        return opt, {}
    return kind, recipes.as_arrays(kind, values, params_dtype)


def hyper(net: Network, opt_values: dict, params_dtype) -> Hyper:
    """The :class:`Hyper` of one run: ``opt_values`` (arrays), and λ and the keep
    probability of ``net``."""
    keep_dtype = jax.dtypes.canonicalize_dtype(np.float64)
    return Hyper(opt_values, np.asarray(net.l2, params_dtype),
                 np.asarray(1.0 - net.dropout, keep_dtype))


def epoch_function(plan: Plan):
    """``epoch(params, opt_state, hyper, x, y, key, e, x_val, y_val) -> (params, opt_state,
    metrics)`` of ``plan`` (raw, un-jitted): epoch ``e`` (0-based) shuffles with
    ``fold_in(key, e)``, computed inside the program."""

    if plan.runs is not None:
        return _runs_epoch(plan)

    def epoch(params, opt_state, hyper: Hyper, x, y, key, e, x_val, y_val):
        opt = plan.optimizer(hyper.opt)
        key = jax.random.fold_in(key, e)
        if plan.mesh is None:
            run = steps.epoch_program(
                plan.net, opt, core.gradient_fn(plan.grad), batch_size=plan.batch_size,
                num_examples=plan.num_examples, dp=plan.dp, l2=hyper.l2, keep=hyper.keep)
        else:
            run = parallel.epoch_program(
                plan.net, opt, batch_size=plan.batch_size, num_examples=plan.num_examples,
                mesh=plan.mesh, l2=hyper.l2, keep=hyper.keep)
        return run(params, opt_state, x, y, key, x_val, y_val)

    return epoch


def run_group(runs: int, shared_order: bool) -> int:
    """The runs ``vmap``-ed side by side in one group: the largest divisor of ``runs`` up
    to :data:`RUN_GROUP`, or with a shared minibatch order up to :data:`SHARED_GROUP` (the
    first layer's products are then one wide product over the group's runs). The group
    decides how XLA batches a run's products, so run k's last bits depend on it and on
    nothing else (not on the cores: :mod:`jaxnn.train.spread` deals whole groups)."""
    return core.divisor_at_most(runs, SHARED_GROUP if shared_order else RUN_GROUP)


def _runs_epoch(plan: Plan):
    """K runs' epoch: one run's, ``vmap``-ed over groups of ``plan.group`` runs
    (:func:`run_group`) that run one after another (``lax.map``), so a group's weights,
    gradients and moments stay in cache. Run k's arithmetic is one run's."""
    one = epoch_function(dataclasses.replace(plan, runs=None, shared_order=False, group=None))
    key_axis = None if plan.shared_order else 0
    together = jax.vmap(one, in_axes=(0, 0, 0, None, None, key_axis, None, None, None))
    K = plan.runs
    group = plan.group or run_group(K, plan.shared_order)
    if group == K:
        return together

    def grouped(params, opt_state, hyper, x, y, keys, e, x_val, y_val):
        def split(tree):  # (K, …) → (K / group, group, …)
            return jax.tree.map(lambda a: a.reshape(K // group, group, *a.shape[1:]), tree)

        def one_group(args):
            p, s, h, k = args
            return together(p, s, h, x, y, keys if k is None else k, e, x_val, y_val)

        group_keys = None if plan.shared_order else split(keys)  # shared: one key for all
        out = jax.lax.map(one_group, (split(params), split(opt_state), split(hyper),
                                      group_keys))
        return jax.tree.map(lambda a: a.reshape(K, *a.shape[2:]), out)

    return grouped


@functools.lru_cache(maxsize=CACHE_SIZE)
def init_state(kind, runs: bool = False):
    """``init(values, params) -> opt.init(params)`` compiled once per optimizer kind (a
    :class:`~jaxnn.recipes.Kind` or an :class:`OptimizerFunction`; jit caches it per
    parameter shapes): a new optimizer object of a known kind compiles nothing. ``runs``:
    vmapped over a leading run axis of both."""
    def init(values, params):
        return optimizer_of(kind, values).init(params)

    return jax.jit(jax.vmap(init) if runs else init)


class FitJob(NamedTuple):
    """A checked ``fit`` (:func:`for_fit`): the plan, the arrays, the values, the loop's
    settings. Everything below the door takes this and checks nothing."""

    plan: Plan
    opt: Any            # the optimizer as given, as a jaxnn Optimizer (eager fallbacks)
    params: Any
    opt_state: Any      # None: to be made by opt.init
    hyper: Hyper
    x: Array
    y: Array
    x_val: Array | None
    y_val: Array | None
    key: Any
    epochs: int
    patience: int | None
    start_epoch: int
    history: list
    best_params: Any
    on_epoch: Any


def for_fit(net, params, opt, train, *, epochs, batch_size, key, grad, validation, patience,
            opt_state, start_epoch, history, best_params, on_epoch, devices,
            dp) -> FitJob:
    """``fit``'s door: every argument checked once, in the order and with the messages
    ``fit`` has always had; the :class:`FitJob` it hands on."""
    if not isinstance(net, Network):
        check_net(net)  # raises
    opt = steps.check_opt(opt)
    params = inputs.check_params(net, params)
    _checks.one_of("grad", grad, core.GRADS)
    epochs = _checks.integer("epochs", epochs, minimum=1, fix="e.g. epochs=10")
    batch_size = _checks.integer("batch_size", batch_size, minimum=1, fix="e.g. batch_size=32")
    x, y = core.check_data(net, params, train, "train")
    n = x.shape[0]
    if batch_size > n:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({n} examples). Fix: "
            f"batch_size ≤ {n}."
        )
    if validation is not None:
        x_val, y_val = core.check_data(net, params, validation, "validation")
    else:
        x_val = y_val = None
    if patience is not None:
        patience = _checks.integer("patience", patience, minimum=1, fix="e.g. patience=5")
        if validation is None:
            raise ValueError("early stopping (patience) needs validation=(x_val, y_val).")
    if (isinstance(start_epoch, bool) or not isinstance(start_epoch, numbers.Integral)
            or not 0 <= start_epoch <= epochs):
        raise ValueError(
            f"start_epoch must be an int in [0, epochs={epochs}]; got {start_epoch!r}."
        )
    key = inputs.check_key(key)
    history = check_history(history, start_epoch)
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(
            f"on_epoch must be a function on_epoch(epoch, params, opt_state, record) or None; "
            f"got {type(on_epoch).__name__}."
        )
    if dp is not None:
        if not isinstance(dp, privacy.DPSGD):
            raise TypeError(f"dp must come from jaxnn.privacy.dp_sgd(...); got {dp!r}.")
        if devices is not None:
            raise ValueError("DP-SGD runs on one device here; drop devices= or dp=.")
        if grad != "manual":
            raise ValueError(
                f"DP-SGD uses the hand-written per-example gradients; got {grad=}.")
        privacy.check_network(net)
    mesh = None
    if devices is not None:
        if net.norm == "batch":
            raise ValueError(_checks.message(
                "devices", "one device for a network with batch norm (data-parallel "
                "training would normalise each device's share of the batch by its own "
                "statistics, so the model would change with the number of devices)",
                f"devices={devices!r}", "drop devices=, or use norm='layer'"))
        mesh = devices if isinstance(devices, jax.sharding.Mesh) else parallel.data_mesh(devices)
        parallel.check_mesh(mesh, batch_size, grad)
    dtype = params[0].W.dtype
    kind, values = split_optimizer(opt, dtype)
    plan = Plan(structure(net), kind, grad, batch_size, n, dp, mesh)
    core.check_memory(plan, x, x_val)
    if best_params is not None:
        best_params = inputs.check_params(net, best_params)
    return FitJob(plan, opt, params, opt_state, hyper(net, values, dtype), x, y, x_val, y_val,
                  key, epochs, patience, start_epoch, history, best_params, on_epoch)


def check_history(history, start_epoch: int) -> list[dict]:
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


def init_opt_state(job: FitJob):
    """``opt.init(params)`` for a fresh run: one compiled program per optimizer kind (a new
    object of a known kind compiles nothing), else per optimizer object; eagerly for an
    optimizer that cannot be a static argument or whose ``init`` reads values in Python (a
    tracer error under jit). A bad first rate falls back to the eager init, whose checks
    name the schedule; then the start rate is checked (:func:`core.check_start_rate`)."""
    opt, params = job.opt, job.params
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a rate past the dtype: refused
            if isinstance(job.plan.opt, recipes.Kind):        # by check_start_rate below
                state = init_state(job.plan.opt)(job.hyper.opt, params)
            else:
                hash(opt)
                state = _compiled_init(opt, params)
    except TypeError:  # unhashable
        state = opt.init(params)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerIntegerConversionError):
        state = opt.init(params)
    if not isinstance(optim.rate_state(state), optim.TransformationState):
        rate = np.asarray(optim.learning_rate(state))
        if not np.all(np.isfinite(rate) & (rate >= 0)):
            state = opt.init(params)  # the eager init checks the schedule and says so
    core.check_start_rate(state)
    return state


@functools.partial(jax.jit, static_argnums=0)
def _compiled_init(opt, params):
    """``opt.init(params)`` traced and compiled; ``opt`` is static (hashable)."""
    return opt.init(params)
