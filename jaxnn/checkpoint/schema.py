"""What a jaxnn checkpoint holds in a safetensors file, and the checks of it.

Tensors: ``params.{l}.W`` ``(n_l, n_{l−1})`` and ``params.{l}.b`` ``(n_l,)`` for
l = 1..L, then ``opt_state.{i}``, the i-th leaf of ``jax.tree.leaves(opt_state)`` (a
scalar keeps shape ``[]``). The header's records and their checksum are
:mod:`jaxnn.checkpoint.header` (its names are re-exported here). An optimizer state
holds counts (ints ≥ 0) and finite floats (or the NaN of an unknown rate,
:data:`RATE_UNKNOWN`): save refuses anything else and load refuses it by name.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optimizers
from jaxnn._checks import short
from jaxnn.checkpoint.header import (  # noqa: F401  (re-exported: the header's parts)
    CHECKSUM,
    FORMAT,
    HEADER_CHECKSUM,
    MAX_METADATA_BYTES,
    OLDER_FORMATS,
    RECORDS,
    OlderFormat,
    Saved,
    check_step,
    header_digest,
    metadata,
    read_metadata,
    user_metadata_json,
)
from jaxnn.checkpoint.safetensors_io import DTYPES, FLOAT_CODES, Entry, bad, dtype_code
from jaxnn.network import Network
from jaxnn.optimizers import TransformationState

# ---------------------------------------------------------------------------------------
# Saving: the parameters and the optimizer state as tensors.


def param_tensors(net: Network, params) -> list[tuple[str, np.ndarray]]:
    """``[("params.1.W", W^1), ("params.1.b", b^1), …]`` as host arrays, checked."""
    L = net.num_layers
    if isinstance(params, (str, bytes)) or not isinstance(params, (tuple, list)):
        raise TypeError(
            f"params must be a tuple of {L} Layer(W, b), one per layer of the network; got "
            f"{type(params).__name__}. Fix: params = jaxnn.init_params(key, net)."
        )
    if len(params) != L:
        raise ValueError(
            f"params has {len(params)} layers; the network {net.sizes} has {L}. "
            "Fix: save the params that belong to net."
        )
    tensors = []
    layers = zip(params, net.layer_types(), net.param_shapes())  # W, b (γ, β, … with norm)
    for l, (layer, kind, fields) in enumerate(layers, start=1):
        if not isinstance(layer, tuple) or len(layer) != len(fields):
            raise TypeError(
                f"layer {l}: expected {kind.__name__}({', '.join(f for f, _ in fields)}); got "
                f"{type(layer).__name__}. Fix: params = "
                + ("tuple(jaxnn.Layer(W, b) for each layer)." if len(fields) == 2
                   else "jaxnn.init_params(key, net).")
            )
        for (field, expected), value in zip(fields, layer):
            if tuple(np.shape(value)) != expected:
                raise ValueError(
                    f"layer {l}: {field} has shape {tuple(np.shape(value))}; the network "
                    f"{net.sizes} expects {expected}. Fix: save the params that belong to net."
                )
            array = np.asarray(value)
            if dtype_code(array.dtype, f"layer {l}: {field}") not in FLOAT_CODES:
                raise TypeError(
                    f"layer {l}: {field} has dtype {array.dtype}; parameters are floating "
                    "point (float64, float32, float16, bfloat16)."
                )
            tensors.append((f"params.{l}.{field}", array))
    return tensors




# An optax transformation's state (jaxnn.optimizers.from_gradient_transformation) holds
# its rate as NaN when the transformation keeps the rate to itself: that leaf (its
# learning_rate, after the count) is NaN by design, not a divergence.
RATE_UNKNOWN = (TransformationState.__name__, TransformationState._fields.index("learning_rate"))


def _rate_unknown(type_name: str, i: int, array: np.ndarray) -> bool:
    """Whether leaf ``i`` of a state of type ``type_name`` is the NaN of :data:`RATE_UNKNOWN`."""
    return (type_name, i) == RATE_UNKNOWN and array.shape == () and bool(np.isnan(array))


def opt_state_tensors(opt_state) -> list[tuple[str, np.ndarray]]:
    """``[("opt_state.0", leaf 0), …]`` as host arrays, each a count ≥ 0 or finite (or the
    NaN of an unknown rate, :data:`RATE_UNKNOWN`)."""
    tensors = []
    for i, (key_path, leaf) in enumerate(jax.tree_util.tree_flatten_with_path(opt_state)[0]):
        where = f"opt_state{jax.tree_util.keystr(key_path)}"
        if isinstance(leaf, (bool, int, float)):  # the dtype jax gives it, not numpy's 64-bit
            leaf = jnp.asarray(leaf)
        try:
            array = np.asarray(leaf)
        except TypeError as e:  # e.g. typed PRNG keys
            raise TypeError(
                f"{where} cannot be saved: {str(e).rstrip('.')}. Fix: store "
                "jax.random.key_data(key)."
            ) from None
        dtype_code(array.dtype, where)
        problem = None if _rate_unknown(type(opt_state).__name__, i, array) else \
            value_problem(array)
        if problem:
            raise ValueError(
                f"{where} {problem}, so a checkpoint of it could not be resumed from; "
                "nothing was written. Fix: save the state of a run that has not diverged."
            )
        tensors.append((f"opt_state.{i}", array))
    return tensors


def value_problem(array: np.ndarray) -> str | None:
    """What is wrong with an optimizer-state tensor (a negative count, NaN, Inf), or None."""
    if np.issubdtype(array.dtype, np.signedinteger) and array.size and array.min() < 0:
        return f"holds {int(array.min())}, but counts of updates are never negative"
    if array.dtype.kind == "f" or array.dtype == DTYPES["BF16"]:
        finite = np.isfinite(array)
        if not finite.all():
            bad_value = array.reshape(-1)[np.argmin(finite.reshape(-1))]
            return f"holds {float(bad_value)}, but an optimizer's moments and rates are finite"
    return None


# ---------------------------------------------------------------------------------------
# Loading: the tensors against the network and the template.


def check_tensor_names(entries: dict[str, Entry], net: Network, n_leaves: int,
                       path: Path) -> list[str]:
    """Every ``params.{l}.W/b`` with the network's shapes, every ``opt_state.{i}``, no
    more; their names in that order."""
    expected = []
    for l, fields in enumerate(net.param_shapes(), start=1):
        for field, shape in fields:  # W, b (γ, β, … with norm)
            name = f"params.{l}.{field}"
            expected.append(name)
            if name not in entries:
                raise bad(
                    path,
                    f"missing tensor {name!r} (layer {l}'s {field}, shape {shape}) of "
                    f"the network {net.sizes}.",
                )
            e = entries[name]
            if e.shape != shape:
                raise bad(
                    path,
                    f"layer {l}: {field} has shape {e.shape} in the checkpoint; the "
                    f"network {net.sizes} expects {shape}.",
                )
            if e.dtype not in FLOAT_CODES:
                raise bad(
                    path,
                    f"layer {l}: {field} has dtype {e.dtype}; parameters are floating "
                    f"point ({', '.join(FLOAT_CODES)}).",
                )
    for i in range(n_leaves):
        name = f"opt_state.{i}"
        expected.append(name)
        if name not in entries:
            raise bad(
                path,
                f"missing tensor {name!r}: the metadata says {n_leaves} optimizer-state leaves.",
            )
    stray = sorted(set(entries) - set(expected))
    if stray:
        raise bad(
            path,
            f"unexpected tensor(s) {short(stray, 200)}: a jaxnn checkpoint of "
            f"{net.sizes} holds only params.{{1..{net.num_layers}}}.W/b and "
            f"opt_state.{{0..{n_leaves - 1}}}.",
        )
    return expected


def _optimizer(type_name: str) -> str:
    """``"adam"`` for ``"AdamState"``: the registry's name of the optimizer whose state has
    that type (:func:`jaxnn.optimizers.entry_of`); the type's name for any other state."""
    found = optimizers.entry_of(type_name)
    return type_name if found is None else found[0]


def check_template(entries, saved: Saved, template, path: Path):
    """The tree structure of ``template`` once its leaves agree with the saved ones, and
    each leaf's name (``AdamState.velocity[0].W``)."""
    tpl_type, type_name = type(template).__name__, saved.type_name
    if type_name == "":
        raise bad(
            path,
            f"holds no optimizer state (saved with opt_state=None), but a {tpl_type} was "
            "expected (opt_state_like). Fix: leave opt_state_like out and call "
            "opt.init(params).",
        )
    if tpl_type != type_name:
        raise bad(
            path,
            f"holds the optimizer state of {_optimizer(type_name)} ({type_name}), but the one "
            f"expected is of {_optimizer(tpl_type)} ({tpl_type}). Fix: resume with the "
            "optimizer it was saved with (jaxnn train: the same --optimizer as the run that "
            "wrote it; in Python: opt_state_like=that_optimizer.init(params)).",
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    if len(flat) != saved.n_leaves:
        raise bad(
            path,
            f"optimizer state has {saved.n_leaves} leaves in the checkpoint; the {tpl_type} "
            f"expected has {len(flat)}. Fix: build it from params of the same network with "
            "the same optimizer (opt.init(params)).",
        )
    names = []
    for i, (key_path, leaf) in enumerate(flat):
        e = entries[f"opt_state.{i}"]
        names.append(f"{tpl_type}{jax.tree_util.keystr(key_path)}")
        where = f"opt_state leaf {i} ({names[-1]})"
        shape = tuple(np.shape(leaf))
        dtype = np.dtype(leaf.dtype if hasattr(leaf, "dtype") else jnp.asarray(leaf).dtype)
        saved_dtype = DTYPES[e.dtype]
        if e.shape != shape:
            raise bad(
                path, f"{where} has shape {e.shape} in the checkpoint; the optimizer state "
                f"expected has {shape}. Fix: pass the network and optimizer it was saved with.",
            )
        if saved_dtype != dtype and saved_dtype.kind == dtype.kind == "f":
            raise bad(
                path,
                f"was saved in {saved_dtype} ({where} is {saved_dtype}), but the optimizer "
                f"state expected is {dtype}. Fix: resume in the precision it was trained in "
                f"({'with' if saved_dtype.itemsize == 8 else 'without'} --x64, i.e. "
                "jax_enable_x64), or start a new run.",
            )
        if saved_dtype != dtype:
            raise bad(
                path,
                f"{where} has dtype {saved_dtype} in the checkpoint; the optimizer state "
                f"expected has {dtype}. Fix: build it with the optimizer it was saved with.",
            )
    return treedef, names


def check_checksum(actual: str, saved: Saved, path: Path) -> None:
    if saved.checksum is not None and actual != saved.checksum:
        raise bad(
            path,
            "is damaged: its tensor data does not match its checksum (the file was changed "
            "or corrupted after it was written). Fix: resume from another checkpoint (e.g. "
            "a backup or best.safetensors), or train again.",
        )


def check_opt_state_values(arrays: dict[str, np.ndarray], saved: Saved, names, path: Path):
    """Every optimizer-state tensor a count ≥ 0 or finite, else ValueError naming it."""
    for i in range(saved.n_leaves):
        array = arrays[f"opt_state.{i}"]
        problem = None if _rate_unknown(saved.type_name, i, array) else value_problem(array)
        if problem:
            name = names[i] if names else f"leaf {i} of the {saved.type_name}"
            raise bad(
                path,
                f"optimizer-state tensor 'opt_state.{i}' ({name}) {problem}: the run that "
                "wrote it had diverged, or the file was altered. Fix: resume from an earlier "
                "checkpoint, or train again.",
            )
