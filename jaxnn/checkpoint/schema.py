"""What a jaxnn checkpoint holds in a safetensors file, and the checks of it.

Tensors: ``params.{l}.W`` ``(n_l, n_{l−1})`` and ``params.{l}.b`` ``(n_l,)`` for
l = 1..L, then ``opt_state.{i}``, the i-th leaf of ``jax.tree.leaves(opt_state)`` (a
scalar keeps shape ``[]``). ``__metadata__`` holds ``format`` ("jaxnn-checkpoint/2"),
``network`` (JSON of ``net.to_dict()``: a built-in activation or cost by its name, a user
component as ``{"name": …, "import": "module:attribute" or null}``), ``step``,
``opt_state_leaves`` (their number), ``opt_state_type`` (the state's class name, "" for
none), ``metadata`` (JSON of the user's dict, at most :data:`MAX_METADATA_BYTES`),
``checksum`` (``"sha256:<hex>"`` of every tensor, see
:func:`jaxnn.checkpoint.safetensors_io.digest`) and ``header_checksum`` (of the records
above, :func:`header_digest`), so that no edit of what the file means goes unnoticed.
Files of the older format "jaxnn-checkpoint/1" have no ``header_checksum`` (and the
oldest no ``checksum``): they load with an :class:`OlderFormat` warning that says so.
An optimizer state holds counts (ints ≥ 0) and finite floats: save refuses anything else
and load refuses it by name.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import re
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optimizers
from jaxnn._checks import short
from jaxnn.checkpoint.safetensors_io import (
    DTYPES,
    FLOAT_CODES,
    Entry,
    bad,
    clip,
    dtype_code,
    parse_json,
)
from jaxnn.network import Network
from jaxnn.optimizers import TransformationState
from jaxnn.user_components import MissingComponent

FORMAT = "jaxnn-checkpoint/2"
# Format 1: the same file, without HEADER_CHECKSUM (its header is not covered); still read.
OLDER_FORMATS = ("jaxnn-checkpoint/1",)
MAX_METADATA_BYTES = 10_000_000  # the user's metadata as JSON, UTF-8
CHECKSUM = "checksum"  # the metadata key of the tensors' digest (optional in format 1)
HEADER_CHECKSUM = "header_checksum"  # the key of the jaxnn records' digest (format 2)
# The header's jaxnn records, each a str (header_checksum covers them, in this order).
RECORDS = ("format", "network", "step", "opt_state_leaves", "opt_state_type", "metadata")
_NON_NEGATIVE_INT = re.compile(r"0|[1-9][0-9]{0,18}")  # up to 2^63 − 1, no sign or spaces


# ---------------------------------------------------------------------------------------
# Saving: the arguments of save, checked, as tensors and metadata.


def check_step(step) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(
            f"step must be an int ≥ 0; got {type(step).__name__} {step!r}. "
            "Fix: step=int(step) (e.g. int(opt_state.count))."
        )
    if not 0 <= step < 2**63:
        raise ValueError(f"step must be an int in [0, 2^63); got {step}.")
    return int(step)


def user_metadata_json(metadata) -> str:
    """``json.dumps(metadata or {})``, checked to load back equal and to fit the file."""
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(
            f"metadata must be a dict of JSON values; got {type(metadata).__name__}. "
            'Fix: metadata={"epoch": 3}.'
        )
    try:
        text = json.dumps(metadata, allow_nan=False)
        back = json.loads(text)
    except TypeError as e:
        raise TypeError(
            f"metadata must be JSON-serialisable; {e}. Fix: convert numpy or jax scalars "
            "with float()/int() and arrays with .tolist(), or save arrays as tensors."
        ) from None
    except ValueError as e:  # NaN or ±inf
        raise ValueError(
            f"metadata must be strict JSON; {e}. Fix: store NaN/inf as a string or None."
        ) from None
    except RecursionError:
        raise ValueError(
            "metadata must be nested less deeply than Python's recursion limit; it is not. "
            "Fix: flatten it."
        ) from None
    if back != metadata:
        raise TypeError(
            "metadata must come back from JSON unchanged, but it would load as "
            f"{short(back, 80)} instead of {short(metadata, 80)}. Fix: use str keys "
            "and lists instead of tuples."
        )
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON; got {size} bytes. "
            "Fix: keep large records (long histories, arrays) in a file of their own, "
            "or save arrays as tensors."
        )
    return text


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


def metadata(net: Network, step: int, n_leaves: int, type_name: str, user_json: str,
             checksum: str) -> dict[str, str]:
    """The ``__metadata__`` of a checkpoint: the jaxnn records, the tensors' ``checksum``
    and the records' own (:func:`header_digest`)."""
    records = {
        "format": FORMAT,
        "network": json.dumps(net.to_dict(), allow_nan=False),
        "step": str(step),
        "opt_state_leaves": str(n_leaves),
        "opt_state_type": type_name,
        "metadata": user_json,
    }
    return {**records, CHECKSUM: checksum, HEADER_CHECKSUM: header_digest(records)}


def header_digest(meta: dict[str, str]) -> str:
    """``"sha256:<hex>"`` of the header's jaxnn records (format, network, step, optimizer
    state's leaves and type, the user's metadata), as written: one changed character of the
    network record (``relu`` → ``tanh``, λ ``0.0`` → ``8.0``) changes it."""
    text = json.dumps([[key, meta[key]] for key in RECORDS], ensure_ascii=False)
    return f"sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


class OlderFormat(UserWarning):
    """A checkpoint of an older format was read: what it lacks is said in the message."""


# ---------------------------------------------------------------------------------------
# Loading: the metadata and the tensors against the network and the template.


class Saved(NamedTuple):
    """What the metadata of a checkpoint says."""

    net: Network
    step: int
    n_leaves: int
    type_name: str
    user: dict[str, Any]
    checksum: str | None  # None in files written before checksums


def _metadata_int(meta: dict[str, str], key: str, path: Path) -> int:
    if not _NON_NEGATIVE_INT.fullmatch(meta[key]):
        raise bad(
            path, f"metadata {key!r} must be a non-negative integer; got {short(meta[key], 80)}."
        )
    return int(meta[key])


def _metadata_json(meta: dict[str, str], key: str, path: Path):
    try:
        return parse_json(meta[key])
    except (ValueError, RecursionError) as e:
        raise bad(path, f"metadata {key!r} is not valid JSON ({clip(str(e), 120)}).") from None


def read_metadata(meta: dict[str, str], path: Path) -> Saved:
    """The jaxnn keys of ``__metadata__``, each checked."""
    if "format" not in meta:
        raise bad(
            path,
            "not a jaxnn checkpoint: __metadata__ has no 'format' key. Fix: write "
            "checkpoints with jaxnn.checkpoint.save.",
        )
    if meta["format"] != FORMAT and meta["format"] not in OLDER_FORMATS:
        raise bad(
            path,
            f"not a jaxnn checkpoint: format {short(meta['format'], 80)}; this version of "
            f"jaxnn reads {FORMAT!r} (and the older {', '.join(map(repr, OLDER_FORMATS))}).",
        )
    missing = [key for key in RECORDS if key not in meta]
    if missing:
        raise bad(
            path,
            f"metadata lacks the jaxnn keys {missing}; expected all of {list(RECORDS)}.",
        )
    description = _metadata_json(meta, "network", path)
    try:
        net = Network.from_dict(description)
    except MissingComponent as e:  # a user component this process has not built or imported
        raise bad(path, clip(str(e), 1000)) from None
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise bad(path, f"network description is invalid: {clip(str(e), 300)}") from None
    step = _metadata_int(meta, "step", path)
    n_leaves = _metadata_int(meta, "opt_state_leaves", path)
    type_name = meta["opt_state_type"]
    if type_name == "" and n_leaves:
        raise bad(path, f"metadata says {n_leaves} optimizer-state leaves but no opt_state_type.")
    user = _metadata_json(meta, "metadata", path)
    if not isinstance(user, dict):
        raise bad(path, f"metadata 'metadata' must be a JSON object; got a {type(user).__name__}.")
    checksum = meta.get(CHECKSUM)
    for key in (CHECKSUM, HEADER_CHECKSUM):
        value = meta.get(key)
        if value is None and meta["format"] == FORMAT:
            raise bad(path, f"metadata lacks {key!r}, which every {FORMAT} file has. The "
                      "file is damaged. Fix: resume from another checkpoint, or train again.")
        if value is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
            raise bad(path, f"metadata {key!r} must be 'sha256:' and 64 hex digits; got "
                      f"{short(value, 80)}. The file is damaged.")
    if meta["format"] == FORMAT and header_digest(meta) != meta[HEADER_CHECKSUM]:
        raise bad(
            path,
            "is damaged: its header's records (the network, the optimizer state's type and "
            "leaves, the step or the metadata) do not match their checksum (the file was "
            "edited or corrupted after it was written). Fix: resume from another checkpoint "
            "(e.g. a backup or best.safetensors), or train again.",
        )
    if meta["format"] != FORMAT:
        warnings.warn(OlderFormat(
            f"{path}: a checkpoint of the older format {meta['format']}, whose checksum "
            "covers the tensors only, not the network, optimizer and step records of its "
            "header; it was read as it is. Fix: save it again (jaxnn.checkpoint.save, or one "
            "more epoch with jaxnn train --resume) to have its header covered too."),
            stacklevel=4)
    return Saved(net, step, n_leaves, type_name, user, checksum)


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
