"""Compiled epochs, cached by their plan and their arguments' signature, and compiled
ahead on a thread of their own.

:func:`compiled_epoch` gives ``fit`` and ``fit_many`` the compiled program of a
:class:`~jaxnn.train.plan.Plan` (its static signature) and the epoch's arguments (their
shapes, dtypes, weak types and placement), compiling it the first time and keeping the
:data:`jaxnn.train.plan.CACHE_SIZE` most recently used. :func:`compile_ahead` starts such
a compile on a thread from ``jax.ShapeDtypeStruct`` arguments, before the data exists
(:func:`jaxnn.train.precompile`): a later :func:`compiled_epoch` of the same key takes
the program, waiting for it if it has not ended.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from collections import OrderedDict
from typing import Any

import jax
import numpy as np

from jaxnn.train import plan as plan_
from jaxnn.train.plan import Plan

_COMPILED: OrderedDict = OrderedDict()
# Compiles started by compile_ahead and not finished yet, by key: their futures.
_PENDING: dict[tuple, concurrent.futures.Future] = {}
_LOCK = threading.Lock()  # guards _COMPILED and _PENDING across threads


def _signature(args) -> tuple:
    """The part of a compiled program's key that the arrays give: tree structure, and each
    leaf's shape, dtype, weak type and placement. A ``jax.ShapeDtypeStruct`` stands for
    the array it describes (:func:`compile_ahead`)."""
    leaves, treedef = jax.tree.flatten(args)

    def leaf_key(a):
        if isinstance(a, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
            return (tuple(a.shape), str(a.dtype), bool(getattr(a, "weak_type", False)),
                    getattr(a, "sharding", None))
        return (type(a),)

    return treedef, tuple(leaf_key(a) for a in leaves)


def compiled_epoch(plan: Plan, args: tuple) -> tuple[Any, float]:
    """``(compiled epoch, seconds spent compiling it now)`` for ``plan`` and the epoch's
    arguments ``args`` (those of :func:`jaxnn.train.plan.epoch_function`'s epoch); 0
    seconds when the same plan and argument signature were compiled before. When
    :func:`compile_ahead` is compiling it, the seconds spent waiting for that compile (a
    failed one is compiled again here, where its error is raised). Under
    ``jax_debug_nans`` the jitted function itself, which JAX re-runs op by op to find the
    first NaN."""
    jitted = _jitted(plan)
    if jax.config.jax_debug_nans:
        return jitted, 0.0
    key = (plan, _signature(args))
    t0 = time.perf_counter()
    with _LOCK:
        compiled = _COMPILED.get(key)
        if compiled is not None:
            _COMPILED.move_to_end(key)
            return compiled, 0.0
        ahead = _PENDING.get(key)
    if ahead is not None and ahead.exception() is None:  # waits for it
        return ahead.result(), time.perf_counter() - t0
    compiled = jitted.lower(*args).compile()
    _keep(key, compiled)
    return compiled, time.perf_counter() - t0


def compile_ahead(plan: Plan, args: tuple) -> concurrent.futures.Future:
    """Start compiling :func:`compiled_epoch`'s program for ``plan`` and ``args`` on a
    thread of its own, and return its future at once (already running: it cannot be
    cancelled). ``args`` may hold ``jax.ShapeDtypeStruct`` leaves (shape, dtype, weak
    type and sharding as the arrays will have them): the data's shapes, known before the
    data is read. A later ``compiled_epoch`` with the same key takes the program, waiting
    for it if needed. The thread compiles under the caller's ``jax_enable_x64`` setting
    (a thread-local one; no other thread-local setting is carried over); it is not a
    daemon, so the interpreter exits only after the compile ends (:func:`compiling`)."""
    key = (plan, _signature(args))
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()
    if jax.config.jax_debug_nans:  # compiled_epoch then runs the jitted function op by op
        future.set_result(_jitted(plan))
        return future
    with _LOCK:
        if key in _PENDING:
            return _PENDING[key]
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            future.set_result(_COMPILED[key])
            return future
        _PENDING[key] = future
    x64 = bool(jax.config.jax_enable_x64)

    def compile_it():
        try:
            with jax.enable_x64(x64):
                compiled = _jitted(plan).lower(*args).compile()
        except BaseException as e:  # compiled_epoch compiles again and raises it there
            _finish(key, future, error=e)
        else:
            _finish(key, future, compiled)

    try:
        threading.Thread(target=compile_it, name="jaxnn-compile-ahead").start()
    except BaseException as e:  # no thread (at interpreter exit, say): nothing to wait for
        _finish(key, future, error=e)
        raise
    return future


def compiling() -> bool:
    """Whether a compile started by :func:`compile_ahead` is still running (a process
    that ends early, on an error, need not wait for it: ``jaxnn``'s exit)."""
    with _LOCK:
        return bool(_PENDING)


def _finish(key, future, compiled=None, error=None) -> None:
    """The end of an ahead compile: no longer pending; its program into the cache unless
    :func:`clear_cache` forgot it meanwhile; its future resolved."""
    with _LOCK:
        current = _PENDING.get(key) is future
        if current:
            del _PENDING[key]
    if error is not None:
        future.set_exception(error)
        return
    if current:
        _keep(key, compiled)
    future.set_result(compiled)


def _keep(key, compiled) -> None:
    """``compiled`` into the cache (the least recently used dropped past
    :data:`jaxnn.train.plan.CACHE_SIZE`)."""
    with _LOCK:
        _COMPILED[key] = compiled
        _COMPILED.move_to_end(key)
        while len(_COMPILED) > plan_.CACHE_SIZE:
            _COMPILED.popitem(last=False)


@functools.lru_cache(maxsize=plan_.CACHE_SIZE)
def _jitted(plan: Plan):
    return jax.jit(plan_.epoch_function(plan))


def clear_cache() -> None:
    """Forget every compiled epoch, and every compile still running ahead (the next
    ``fit`` of each plan compiles again)."""
    with _LOCK:
        _COMPILED.clear()
        _PENDING.clear()
    _jitted.cache_clear()
    plan_.init_state.cache_clear()
