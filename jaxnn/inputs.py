"""Checks of a call's arrays at the public boundary, in Python, before anything is traced.

The parameters, the inputs ``x``, the targets or labels ``y`` and the PRNG key are checked
against a :class:`~jaxnn.architecture.Network` here. Every check raises ValueError or
TypeError whose message says what was expected, what came, and how to fix it. Shape and
dtype checks work on tracers too (they only read ``.shape``/``.dtype``); value checks
(NaN/Inf in x and y as cast to the parameters' dtype, and in the parameters; label ranges;
targets in [0, 1] for the cross entropies) run only on concrete arrays, so inside a user's
``jax.jit`` they are skipped rather than failing with a tracer error. Other libraries'
arrays go through NumPy (``__array__``, else ``__dlpack__``), and JAX arrays on another
device than the parameters are moved to theirs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import costs, memory
from jaxnn.architecture import Network, check_net

# The parameter dtypes jaxnn computes in (float64 with JAX's 64-bit mode on). float8 types
# cannot hold an activation, longdouble is no JAX dtype.
DTYPES = ("float16", "bfloat16", "float32", "float64")


def check_param_dtype(what: str, dtype, fix: str = ".astype(jnp.float32)") -> None:
    """TypeError unless ``dtype`` is one of :data:`DTYPES`."""
    if np.dtype(dtype).name not in DTYPES:
        raise TypeError(
            f"{what} must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}; got "
            f"{np.dtype(dtype).name}. Fix: {fix}.")


def is_concrete(a) -> bool:
    """Whether ``a`` holds values we can read now (not a tracer inside jit/grad/vmap)."""
    return not isinstance(a, jax.core.Tracer)


# What reading a value inside a trace raises: a concrete array closed over by a user's
# jit/vmap still gives traced results when JAX operations touch it.
_TRACE_ERRORS = (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError,
                 jax.errors.TracerIntegerConversionError)


def _read(fn):
    """``fn()`` evaluated now, or ``None`` when it cannot be read (inside a trace): value
    checks are then skipped, shape checks still run."""
    try:
        return fn()
    except _TRACE_ERRORS:
        return None


# One compiled program per shape and dtype, instead of an eager compile of each operation.
_device_all_finite = jax.jit(lambda *leaves: jnp.all(jnp.stack([jnp.all(jnp.isfinite(a))
                                                                for a in leaves])))
_device_min_max = jax.jit(lambda a: (jnp.min(a), jnp.max(a)))


def check_params(net, params):
    """``net`` a :class:`~jaxnn.architecture.Network` (checked when it was built), and
    ``params`` as a tuple of ``Layer(W, b)`` matching its shapes, one dtype."""
    if not isinstance(net, Network):
        check_net(net)  # raises: the message of every entry point
    if not isinstance(params, (tuple, list)):
        raise TypeError(
            f"params must be a tuple of Layer(W, b), one per layer; got "
            f"{type(params).__name__}. Fix: params = jaxnn.init_params(key, net)."
        )
    if len(params) != net.num_layers:
        raise ValueError(
            f"the network has {net.num_layers} layers (sizes {net.sizes}) but params has "
            f"{len(params)} entries. Fix: params = jaxnn.init_params(key, net)."
        )
    out = []
    dtype = None
    for l, (layer, kind, fields) in enumerate(
            zip(params, net.layer_types(), net.param_shapes()), start=1):
        names = tuple(f for f, _ in fields)
        if not isinstance(layer, (tuple, list)) or len(layer) != len(fields):
            raise TypeError(
                f"params[{l - 1}] (layer {l}) must be a {kind.__name__}({', '.join(names)})"
                f"{' pair' if len(names) == 2 else ''}; got {type(layer).__name__}"
                f"{_length(layer)}. Fix: params = "
                "jaxnn.init_params(key, net)."
            )
        for arr, (label, shape) in zip(layer, fields):
            if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
                raise TypeError(
                    f"params[{l - 1}].{label} (layer {l}) must be an array; got "
                    f"{type(arr).__name__}."
                )
            if tuple(arr.shape) != shape:
                raise ValueError(
                    f"params[{l - 1}].{label} (layer {l}, {net.sizes[l - 1]} → {net.sizes[l]}) "
                    f"has shape {tuple(arr.shape)}; the network expects {shape}. Fix: params "
                    "built for another network? Use jaxnn.init_params(key, net)."
                )
            if not jnp.issubdtype(arr.dtype, jnp.floating):
                raise TypeError(
                    f"params[{l - 1}].{label} (layer {l}) must be floating point; got "
                    f"{arr.dtype}. Fix: .astype(jnp.float32)."
                )
            check_param_dtype(f"params[{l - 1}].{label} (layer {l})", arr.dtype)
            if dtype is None:
                dtype = arr.dtype
            elif arr.dtype != dtype:
                raise TypeError(
                    f"all parameters must share one dtype; params[0].W is {dtype} but "
                    f"params[{l - 1}].{label} (layer {l}) is {arr.dtype}. Fix: cast them all, "
                    "e.g. jax.tree.map(lambda p: p.astype(jnp.float32), params)."
                )
        out.append(kind(*layer))
    _check_finite_params(out)
    return tuple(out)


def _length(layer) -> str:
    """`` of 3 entries`` for a sequence (what a wrong-length layer got), else ``""``."""
    return f" of {len(layer)} entries" if isinstance(layer, (tuple, list)) else ""


def _check_finite_params(params) -> None:
    """NaN or Inf in concrete parameters (a diverged run's, a damaged file's) is an error."""
    leaves = [leaf for layer in params for leaf in layer]
    if not all(is_concrete(leaf) and getattr(leaf, "is_fully_addressable", True)
               for leaf in leaves):
        return  # traced, or spread over processes (replicated copies checked before)
    on_device = [leaf for leaf in leaves if _host_view(leaf) is None]
    finite = all(bool(_all_finite(leaf)) for leaf in leaves if _host_view(leaf) is not None)
    if finite and on_device:  # one compiled program, one device-to-host sync
        finite = _read(lambda: bool(_device_all_finite(*on_device)))
    if finite is None or finite:
        return
    for l, layer in enumerate(params, start=1):
        for label, leaf in zip(layer._fields, layer):
            if not bool(_all_finite(leaf)):
                raise ValueError(
                    f"params[{l - 1}].{label} (layer {l}) contains NaN or Inf. Fix: these are "
                    "not usable parameters (from a diverged run, or a damaged file?); "
                    "re-initialise with jaxnn.init_params, or load the last good checkpoint."
                )


def _host_view(a) -> np.ndarray | None:
    """``a`` as a NumPy array when it already lives in host memory (a NumPy array, or a
    concrete JAX array on the CPU: a check there compiles nothing), else ``None``."""
    if isinstance(a, np.ndarray):
        return a
    if (isinstance(a, jax.Array) and is_concrete(a) and a.is_fully_addressable
            and all(d.platform == "cpu" for d in a.devices())):
        return np.asarray(a)
    return None


def _all_finite(a):
    """Whether every entry is finite: on the host for NumPy arrays (float64 stays float64
    there without x64) and CPU arrays, else on the device."""
    host = _host_view(a)
    if host is not None:
        return np.all(np.isfinite(host))
    return _device_all_finite(a)


def as_array(name: str, value):
    """``value`` as a NumPy or JAX array: JAX arrays (and tracers) and NumPy arrays pass
    through; anything else NumPy can read — lists of lists, scalars, another library's
    arrays (torch tensors through ``__array__`` or ``__dlpack__``), array-likes — becomes a
    NumPy array. A masked array with masked entries is refused (jaxnn reads no masks: the
    values under them would be used)."""
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        return value
    if isinstance(value, np.ma.MaskedArray) and np.ma.count_masked(value):
        raise ValueError(
            f"{name} is a masked array with {np.ma.count_masked(value)} masked entries; jaxnn "
            "reads no masks (the values under them would be used, NaN included). Fix: drop "
            f"the masked rows, or fill them: {name}.filled(0.0).")
    out = np.ma.getdata(value) if isinstance(value, np.ndarray) else _to_numpy(name, value)
    if out.dtype == object and out.ndim == 0:  # None, or an object NumPy cannot read
        held = out.item()
        raise TypeError(
            f"{name} must be an array (NumPy, JAX, or anything NumPy can read); got "
            f"{'None' if held is None else _kind(held)}. Fix: pass the data, e.g. "
            f"np.asarray({name}, np.float32).")
    return out


def _to_numpy(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, or through DLPack for an object that offers only
    ``__dlpack__`` (NumPy would wrap it in a 0-d object array); a clear error else."""
    error = "it offers only __dlpack__"
    try:
        if hasattr(value, "__array__") or not hasattr(value, "__dlpack__"):
            return np.asarray(value)
    except (ValueError, TypeError) as e:
        error = e
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (TypeError, ValueError, RuntimeError, BufferError):
            pass
    if hasattr(value, "__array__") or hasattr(value, "__dlpack__"):
        raise TypeError(
            f"{name} must be an array NumPy can read; got a {_kind(value)} that it cannot "
            f"({error}). Fix: convert it on the host first, e.g. {name}.cpu().numpy() for a "
            "torch tensor.")
    raise ValueError(
        f"{name} must be a rectangular array; got a {type(value).__name__} that NumPy cannot "
        f"turn into one ({error}). Fix: give every row the same length, e.g. "
        f"np.asarray({name}, np.float32).")


def _kind(value) -> str:
    """``module.Type`` of a value, for messages (``torch.Tensor``)."""
    kind = type(value)
    return (kind.__name__ if kind.__module__ == "builtins"
            else f"{kind.__module__.split('.')[0]}.{kind.__name__}")


def to_device_of(a, like):
    """``a`` on the device(s) of ``like`` when both are concrete JAX arrays on different
    devices and ``like`` is on one device or replicated; otherwise ``a`` as it is. (A
    computation on arrays committed to different devices is a JAX error.)"""
    if not (isinstance(a, jax.Array) and isinstance(like, jax.Array)
            and is_concrete(a) and is_concrete(like)):
        return a
    if a.sharding.device_set == like.sharding.device_set:
        return a
    if not (like.is_fully_addressable and like.sharding.is_fully_replicated):
        return a
    return jax.device_put(a, like.sharding)  # one device, or a copy on each (rank-agnostic)


def check_x(net, x, params, fits=None) -> tuple[jax.Array, bool]:
    """``x`` as ``(m, n_0)`` in the parameters' dtype, and whether it was one example.
    ``fits(net, m, dtype)``: a memory check (:mod:`jaxnn.memory`) made before the copy, from
    the shapes alone (at trace time under jit too; skipped for a symbolic row count)."""
    return check_rows(x, net.sizes, params[0].W,
                      None if fits is None else (lambda m, dtype: fits(net, m, dtype)))


def check_rows(x, sizes: tuple[int, ...], like, fits=None) -> tuple[jax.Array, bool]:
    """:func:`check_x` given the network's ``sizes`` and one parameter ``like`` (its dtype
    and device): what a plan's door calls once per data set. ``fits(m, dtype)``."""
    n_in = sizes[0]
    x = as_array("x", x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"x must be floating point; got dtype {x.dtype}. Fix: x.astype(jnp.float32) "
            "(and scale pixels, e.g. x / 255)."
        )
    if x.ndim == 1:
        single = True
    elif x.ndim == 2:
        single = False
    else:
        raise ValueError(
            f"x must have shape (m, {n_in}) or ({n_in},); got {tuple(x.shape)}. "
            f"Fix: flatten each example, x.reshape(len(x), -1)."
        )
    if x.shape[-1] != n_in:
        raise ValueError(
            f"x's last dimension must be n_0 = {n_in} (sizes {sizes}); got shape "
            f"{tuple(x.shape)}. Fix: check the data, or build the network with n_0 = "
            f"{x.shape[-1]}."
        )
    if not single and x.shape[0] == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}); a batch needs at least one row.")
    if fits is not None and isinstance(m := 1 if single else x.shape[0], int):  # not symbolic
        fits(m, like.dtype)
    original = x
    x = cast(x, like.dtype)
    if is_concrete(x) and _read(lambda: bool(_all_finite(x))) is False:
        raise ValueError(_not_finite("x", original, x.dtype,
                                     "clean the data (e.g. np.nan_to_num, or drop rows)"))
    x = to_device_of(to_jax(x, copy=x is original), like)  # one host copy, not two
    return (x[None] if single else x), single


def to_jax(a, dtype=None, *, copy: bool = True) -> jax.Array:
    """``a`` as a JAX array (in ``dtype``). A NumPy array is copied (and cast) on the host
    and the copy handed to ``jax.device_put``, which compiles nothing, where
    ``jnp.asarray`` compiles a "stage" program per new shape (~0.03 s each, three in a
    first ``fit`` and ``accuracy``). The copy is ours because JAX's CPU client may alias a
    host buffer instead of copying it (in jax 0.10 even with ``may_alias=False``): the
    caller may change its array afterwards. ``copy=False``: ``a`` is already a private
    array (a cast just made it), handed over as it is. Anything else (a JAX array, a
    tracer) goes through ``jnp.asarray``."""
    if isinstance(a, np.ndarray) and not isinstance(a, np.ma.MaskedArray):  # memmaps too
        dtype = jax.dtypes.canonicalize_dtype(a.dtype if dtype is None else dtype)
        if copy or a.dtype != dtype:
            a = np.array(a, dtype=dtype, copy=True)
        return jax.device_put(a)
    return jnp.asarray(a, dtype)


def cast(a, dtype):
    """``a`` in ``dtype`` as JAX will compute in it (float64 is float32 without x64): a
    NumPy array cast on the host, still a NumPy array (overflow becomes Inf, for the
    finiteness check that follows); a JAX array on its device."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    if isinstance(a, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            return a.astype(dtype, copy=False)
    return jnp.asarray(a, dtype=dtype)


def _not_finite(name: str, original, dtype, fix: str) -> str:
    """The message for NaN or Inf in ``name`` after its cast to ``dtype``: in the data
    itself, or made by the cast (values beyond the range of the parameters' dtype)."""
    if _read(lambda: bool(_all_finite(original))) is not False:
        big = _read(lambda: float(np.max(np.abs(np.asarray(original, np.float64)))))
        return (f"{name} holds values up to {big:.3g} in magnitude, beyond the range of the "
                f"parameters' dtype {jnp.dtype(dtype).name} (largest finite value "
                f"{float(jnp.finfo(dtype).max):.5g}): cast to it, they become Inf. Fix: scale "
                f"{name} (e.g. standardise it), or use parameters of a wider dtype (float32).")
    return f"{name} contains NaN or Inf. Fix: {fix}."


def check_call(net, params, x, y,
               fits=memory.check_batch) -> tuple[tuple, jax.Array, jax.Array]:
    """``(params, x, targets)`` of a ``f(net, params, x, y)`` call, all checked: ``x`` as
    ``(m, n_0)`` in the parameters' dtype (a single example gets a leading axis), ``y`` as
    float targets ``(m, n_L)`` (integer labels become one-hot rows). ``fits``: the memory
    check of the call (:func:`check_x`), by default a forward and backward pass."""
    params = check_params(net, params)
    x, single = check_x(net, x, params, fits)
    return params, x, to_device_of(check_y(net, y, x.shape[0], single, x.dtype), x)


def check_y(net, y, m: int, single: bool, dtype) -> jax.Array:
    """Targets as ``(m, n_L)`` floats in ``dtype``; integer labels become one-hot rows."""
    return check_targets(y, net.n_out, net.cost, m, single, dtype)


def check_targets(y, n: int, cost, m: int, single: bool, dtype,
                  labels: bool = False) -> jax.Array:
    """:func:`check_y` given the network's output width ``n`` and ``cost``. With
    ``labels=True`` integer (or bool) labels are kept as int32 ``(m,)``, range-checked in
    one pass, instead of becoming one-hot rows (what training needs: the compiled step
    one-hot encodes each minibatch)."""
    y = as_array("y", y)
    if jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_:
        want = () if single else (m,)
        if tuple(y.shape) != want:
            raise ValueError(
                f"integer labels must have shape {want} (one class index per row of x); got "
                f"{tuple(y.shape)}. Fix: pass labels of shape (m,), or float targets of shape "
                f"(m, {n})."
            )
        _check_label_range(n, y)
        y = y[None] if single else y
        if labels:
            return to_jax(y, jnp.int32)
        return _compiled_targets(n, y, np.dtype(dtype))
    if not jnp.issubdtype(y.dtype, jnp.floating):
        raise TypeError(f"y must be floating point targets or integer labels; got {y.dtype}.")
    want = (n,) if single else (m, n)
    if tuple(y.shape) != want:
        raise ValueError(
            f"y must be shaped like the output, {want}; got {tuple(y.shape)}. Fix: one row of "
            f"{n} targets per row of x, or integer class labels of shape (m,)."
        )
    original = y
    y = cast(y, dtype)
    if is_concrete(y) and _read(lambda: bool(_all_finite(y))) is False:
        raise ValueError(_not_finite("y", original, y.dtype, "clean the targets"))
    y = to_jax(y, copy=y is original)
    bounds = (_read(lambda: _min_max(y))
              if costs.get(cost).probabilities and is_concrete(y) and y.size else None)
    if bounds is not None:
        lo_v, hi_v = bounds
        if lo_v < 0 or hi_v > 1:
            raise ValueError(
                f"the cost {costs.name_of(cost)!r} needs targets in [0, 1] (probabilities); "
                f"got values from {lo_v:g} to {hi_v:g}. Fix: one-hot or 0/1 targets, integer "
                "class labels, or cost='quadratic' for regression targets.")
    return y[None] if single else y


def _min_max(a) -> tuple:
    """(min, max) of a concrete array: on the host for NumPy input (so int64 labels are not
    truncated to int32, JAX without x64, before they are checked) and for CPU arrays."""
    host = _host_view(a)
    if host is not None:
        return host.min().item(), host.max().item()
    lo, hi = _device_min_max(a)
    return lo.item(), hi.item()


def _check_label_range(n: int, labels) -> None:
    """Integer labels in [0, n_L) (in {0, 1} for a single output unit), ``n`` = n_L."""
    hi = 2 if n == 1 else n
    bounds = _read(lambda: _min_max(labels)) if is_concrete(labels) and labels.size else None
    if bounds is not None:
        lo_v, hi_v = bounds
        if lo_v < 0 or hi_v >= hi:
            raise ValueError(
                f"labels must lie in [0, {hi}) for a network with n_L = {n} outputs; got "
                f"values from {int(lo_v)} to {int(hi_v)}. Fix: check the labels, or widen the "
                "output layer."
            )


def as_targets(n_out: int, y, dtype) -> jax.Array:
    """Integer labels ``(m,)`` → targets ``(m, n_out)``: one-hot rows, or for n_out = 1
    the 0/1 label as a column. Float targets pass through, cast to ``dtype``. Jit-able."""
    if jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_:
        if n_out == 1:
            return y.astype(dtype)[:, None]
        return jax.nn.one_hot(y.astype(jnp.int32), n_out, dtype=dtype)  # one_hot refuses bool
    return y.astype(dtype)


_compiled_targets = jax.jit(as_targets, static_argnums=(0, 2))  # eager one_hot: 4 compiles


def check_labels_for_accuracy(net, labels, m: int) -> jax.Array:
    """Integer labels ``(m,)`` from labels or targets."""
    labels = as_array("labels", labels)
    if jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == jnp.bool_:
        if tuple(labels.shape) != (m,):
            raise ValueError(f"labels must have shape ({m},); got {tuple(labels.shape)}.")
        _check_label_range(net.n_out, labels)
        return to_jax(labels, jnp.int32)
    if not jnp.issubdtype(labels.dtype, jnp.floating):
        raise TypeError(
            f"labels must be integer class labels or float targets; got {labels.dtype}."
        )
    if tuple(labels.shape) != (m, net.n_out):
        raise ValueError(
            f"targets must have shape ({m}, {net.n_out}) or be integer labels ({m},); got "
            f"{tuple(labels.shape)}."
        )
    if net.n_out == 1:
        return (labels[:, 0] > 0.5).astype(jnp.int32)
    return jnp.argmax(labels, axis=-1).astype(jnp.int32)


def check_key(key):
    """A new-style typed key or a raw uint32[2] key (``jax.random.PRNGKey``)."""
    if hasattr(key, "dtype") and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if tuple(key.shape) != ():
            raise TypeError(
                f"key must be one jax.random key (shape ()); got a key array of shape "
                f"{tuple(key.shape)}. Fix: pass one of them, e.g. keys[0]."
            )
        return key
    if hasattr(key, "shape") and key.dtype == jnp.uint32 and tuple(key.shape) == (2,):
        return key
    raise TypeError(
        f"key must be a jax.random key; got {key!r}. Fix: key = jax.random.key(0) "
        "(or jax.random.PRNGKey(0))."
    )


def check_optional_key(key):
    """``None`` (no randomness: evaluation), or a key checked as :func:`check_key`."""
    return None if key is None else check_key(key)
