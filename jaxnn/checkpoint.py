"""Checkpoints for training: parameters, optimizer state and step in one safetensors file.

    path = checkpoint.save("run/ckpt.safetensors", params, opt_state, net=net, step=step)
    ckpt = checkpoint.load(path, net=net, opt_state_like=opt.init(params))
    params, opt_state, step = ckpt.params, ckpt.opt_state, ckpt.step

The invariant: ``load(save(p, params, state, net=net, step=s, metadata=m),
opt_state_like=state)`` gives back ``net``, ``params``, ``state``, ``s`` and ``m``
bit for bit, dtypes included (float64, float32, float16, bfloat16, the int32 ``count``).

The file is plain safetensors (https://github.com/huggingface/safetensors), read and
written here by hand with numpy, so any safetensors reader opens it and nothing in it can
run code when it is loaded::

    8 bytes        N, the header length, little-endian unsigned
    N bytes        UTF-8 JSON header, padded with spaces to a multiple of 8 bytes:
                   {"__metadata__": {str: str},
                    "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..}
    the rest       the data buffer: every tensor's bytes, little-endian, C order,
                   contiguous; offsets count from the start of the buffer

Tensors: ``params.{l}.W`` ``(n_l, n_{l−1})`` and ``params.{l}.b`` ``(n_l,)`` for
l = 1..L (the seeds' numbering), then ``opt_state.{i}``, the i-th leaf of
``jax.tree.leaves(opt_state)`` (a scalar keeps shape ``[]``). ``__metadata__`` holds
``format`` ("jaxnn-checkpoint/1"), ``network`` (JSON of ``net.to_dict()``), ``step``,
``opt_state_leaves`` (their number), ``opt_state_type`` (the state's class name, "" for
none) and ``metadata`` (JSON of the user's dict). Dtype codes: F64 F32 F16 BF16 I64 I32
I16 I8 U8 BOOL.

:func:`save` is atomic: it writes a temporary file in the target's directory, fsyncs it,
renames it over the target with ``os.replace`` and fsyncs the directory, so a crash leaves
either the old checkpoint or the new one, never a torn file. :func:`load` checks the whole
header (lengths, dtypes, shapes, offsets, metadata, the network's shapes) against the
file's real size before it reads any tensor data, and raises ValueError starting with the
path for anything wrong, so a truncated or hostile file cannot make it allocate more than
the file holds.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from jaxnn.network import Layer, Network, Params

FORMAT = "jaxnn-checkpoint/1"
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on N

# safetensors dtype code -> numpy dtype (native byte order; the file is little-endian).
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_CODES: dict[np.dtype, str] = {dtype: code for code, dtype in _DTYPES.items()}
_FLOAT_CODES = ("F64", "F32", "F16", "BF16")
_METADATA_KEYS = ("format", "network", "step", "opt_state_leaves", "opt_state_type", "metadata")
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}
_MAX_NDIM = 64  # numpy's limit
_NON_NEGATIVE_INT = re.compile(r"0|[1-9][0-9]{0,18}")  # up to 2^63 − 1, no sign or spaces


class Checkpoint(NamedTuple):
    """What :func:`load` returns."""

    net: Network  # the architecture the parameters belong to
    params: Params  # tuple of Layer(W: (n_l, n_{l−1}), b: (n_l,)), jax arrays
    opt_state: Any  # like opt_state_like; else the tuple of saved leaves; None if none saved
    step: int  # the training step passed to save
    metadata: dict[str, Any]  # the user's JSON metadata ({} if none)


def exists(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file (a checkpoint to resume from, if :func:`load` agrees)."""
    return Path(path).is_file()


# ---------------------------------------------------------------------------------------
# Writing.


def save(
    path: str | os.PathLike,
    params: Params,
    opt_state: Any = None,
    *,
    net: Network,
    step: int,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``params`` (and ``opt_state``) of ``net`` at ``step`` to ``path``, atomically.

    Args:
      path: the file to write (``.safetensors`` by convention); missing parent
        directories are created, an existing file is replaced only once the new one is
        complete on disk.
      params: a tuple of L ``Layer(W, b)`` with ``W^l: (n_l, n_{l−1})``, ``b^l: (n_l,)``,
        floating point, matching ``net.shapes()``.
      opt_state: an optimizer state (any pytree, e.g. ``AdamState``) or None; its leaves
        ``jax.tree.leaves(opt_state)`` are saved in order, each with its shape and dtype.
      net: the :class:`~jaxnn.Network` the parameters belong to.
      step: the training step, an int ≥ 0.
      metadata: a JSON-serialisable dict (str keys; lists, not tuples) saved alongside,
        e.g. ``{"epoch": 3, "val_accuracy": 0.95}``.

    Returns:
      The path written, as a ``pathlib.Path``.

    Everything is checked before any file is touched: TypeError or ValueError for a
    params/network mismatch (naming the layer), a bad step, an unsupported dtype or
    metadata that JSON cannot carry unchanged.
    """
    path = _check_path(path, "save")
    if not isinstance(net, Network):
        raise TypeError(
            f"net must be a jaxnn.Network; got {type(net).__name__}. "
            "Fix: save(path, params, opt_state, net=net, step=step)."
        )
    if path.is_dir():
        raise _bad(path, "is a directory; a checkpoint is a file. Fix: e.g. "
                   f"save({str(path / 'checkpoint.safetensors')!r}, ...).")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _bad(path, f"cannot be written: {parent} is a file, not a directory.")
            break
    step = _check_step(step)
    user_json = _user_metadata_json(metadata)
    tensors = _param_tensors(net, params)
    if opt_state is None:
        leaves, type_name = [], ""
    else:
        leaves, type_name = _opt_state_tensors(opt_state), type(opt_state).__name__
    tensors += [(f"opt_state.{i}", leaf) for i, leaf in enumerate(leaves)]
    header = _header(
        tensors,
        {
            "format": FORMAT,
            "network": json.dumps(net.to_dict(), allow_nan=False),
            "step": str(step),
            "opt_state_leaves": str(len(leaves)),
            "opt_state_type": type_name,
            "metadata": user_json,
        },
    )
    _atomic_write(path, header, [array for _, array in tensors])
    return path


def _check_path(path, what: str) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{what}: path must be a str or os.PathLike; got {type(path).__name__} "
            f"{_short(path)}. Fix: e.g. 'run/checkpoint.safetensors'."
        )
    return Path(path)


def _check_step(step) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(
            f"step must be an int ≥ 0; got {type(step).__name__} {step!r}. "
            "Fix: step=int(step) (e.g. int(opt_state.count))."
        )
    if not 0 <= step < 2**63:
        raise ValueError(f"step must be an int in [0, 2^63); got {step}.")
    return int(step)


def _user_metadata_json(metadata) -> str:
    """``json.dumps(metadata or {})``, checked to load back equal."""
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(
            f"metadata must be a dict of JSON values; got {type(metadata).__name__}. "
            'Fix: metadata={"epoch": 3}.'
        )
    try:
        text = json.dumps(metadata, allow_nan=False)
    except TypeError as e:
        raise TypeError(
            f"metadata must be JSON-serialisable; {e}. Fix: convert numpy or jax scalars "
            "with float()/int() and arrays with .tolist(), or save arrays as tensors."
        ) from None
    except ValueError as e:  # NaN or ±inf
        raise ValueError(
            f"metadata must be strict JSON; {e}. Fix: store NaN/inf as a string or None."
        ) from None
    if json.loads(text) != metadata:
        raise TypeError(
            "metadata must come back from JSON unchanged, but it would load as "
            f"{_short(json.loads(text))} instead of {_short(metadata)}. Fix: use str keys "
            "and lists instead of tuples."
        )
    return text


def _param_tensors(net: Network, params) -> list[tuple[str, np.ndarray]]:
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
    for l, (layer, shapes) in enumerate(zip(params, net.shapes()), start=1):
        if not isinstance(layer, tuple) or len(layer) != 2:
            raise TypeError(
                f"layer {l}: expected Layer(W, b); got {type(layer).__name__}. "
                "Fix: params = tuple(jaxnn.Layer(W, b) for each layer)."
            )
        for field, value, expected in zip(("W", "b"), layer, shapes):
            if tuple(np.shape(value)) != expected:
                raise ValueError(
                    f"layer {l}: {field} has shape {tuple(np.shape(value))}; the network "
                    f"{net.sizes} expects {expected}. Fix: save the params that belong to net."
                )
            array = np.asarray(value)
            code = _code(array.dtype, f"layer {l}: {field}")
            if code not in _FLOAT_CODES:
                raise TypeError(
                    f"layer {l}: {field} has dtype {array.dtype}; parameters are floating "
                    "point (float64, float32, float16, bfloat16)."
                )
            tensors.append((f"params.{l}.{field}", array))
    return tensors


def _opt_state_tensors(opt_state) -> list[np.ndarray]:
    leaves = []
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(opt_state)[0]:
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
        _code(array.dtype, where)
        leaves.append(array)
    return leaves


def _code(dtype: np.dtype, where: str) -> str:
    """The safetensors code of ``dtype`` (any byte order), or TypeError."""
    native = dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype
    if native not in _CODES:
        raise TypeError(
            f"{where} has dtype {dtype}, which a checkpoint cannot hold; supported: "
            f"{', '.join(str(d) for d in _CODES)}. Fix: cast it, e.g. x.astype(jnp.float32)."
        )
    return _CODES[native]


def _header(tensors: list[tuple[str, np.ndarray]], metadata: dict[str, str]) -> bytes:
    """The 8-byte length and the JSON header, padded with spaces to a multiple of 8."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors:
        header[name] = {
            "dtype": _code(array.dtype, name),
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text


def _little_endian_bytes(array: np.ndarray) -> memoryview:
    """The bytes of ``array`` in C order, little-endian (no copy when already so)."""
    array = np.ascontiguousarray(array)
    order = array.dtype.byteorder
    if order == ">" or (order == "=" and sys.byteorder == "big"):
        array = array.byteswap()
    return memoryview(array.reshape(-1).view(np.uint8))


def _atomic_write(path: Path, header: bytes, arrays: list[np.ndarray]) -> None:
    """Temporary file in the same directory → fsync → os.replace → fsync the directory."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for array in arrays:
                f.write(_little_endian_bytes(array))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _file_mode(path: Path) -> int:
    """The replaced file's permissions, or 0o666 less the umask for a new file."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


# ---------------------------------------------------------------------------------------
# Reading.


def load(
    path: str | os.PathLike,
    *,
    net: Network | None = None,
    opt_state_like: Any = None,
) -> Checkpoint:
    """Read a checkpoint written by :func:`save` (or any safetensors writer, same layout).

    Args:
      path: the checkpoint file.
      net: if given, the network the checkpoint must belong to (ValueError naming the
        fields that differ otherwise); the checkpoint's own network is returned either way.
      opt_state_like: a template state with the saved structure, e.g.
        ``opt.init(params)``; the saved leaves are put back into its tree structure after
        their number, shapes, dtypes and the state's type name are checked against it.
        Without it, ``opt_state`` is the tuple of saved leaves.

    Returns:
      ``Checkpoint(net, params, opt_state, step, metadata)``: params a tuple of
      ``Layer(W: (n_l, n_{l−1}), b: (n_l,))`` and opt_state of jax arrays with the saved
      dtypes, step an int, metadata the user's dict.

    Raises:
      FileNotFoundError: no file at ``path``.
      TypeError: ``path`` is not a str or os.PathLike.
      OSError: the file cannot be opened (permissions, a symlink loop).
      ValueError: ``f"{path}: …"`` for a directory or a FIFO, for a file that is not a well-formed
        jaxnn checkpoint,
        that belongs to another network than ``net``, or whose optimizer state does not
        fit ``opt_state_like``. The whole header is checked against the file's size before
        any tensor data is read.
    """
    path = _check_path(path, "load")
    if net is not None and not isinstance(net, Network):
        raise TypeError(
            f"net must be a jaxnn.Network or None; got {type(net).__name__}. "
            "Fix: load(path, net=jaxnn.mlp(...)) or leave net out."
        )
    if path.is_dir():
        raise _bad(
            path,
            "is a directory, not a checkpoint file. Fix: pass the file inside it, e.g. "
            f"{path / 'checkpoint.safetensors'}.",
        )
    if path.exists() and not path.is_file():  # open() would wait forever on a FIFO
        raise _bad(path, "is not a regular file (a FIFO, a device?); a checkpoint is a file.")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such checkpoint file. Fix: check the path, or save one first "
            "(jaxnn.checkpoint.exists(path) tells whether there is one)."
        ) from None
    except OSError as e:  # permissions, a symlink loop: the same OSError, saying where
        raise OSError(e.errno, f"{path}: cannot open the checkpoint ({e.strerror})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        header, data_start = _read_header(f, size, path)
        meta = _check_metadata_map(header.pop("__metadata__", None), path)
        entries = _check_entries(header, size - data_start, path)
        info = _check_jaxnn_metadata(meta, path)
        saved_net, step, n_leaves, type_name, user = info
        _check_tensor_names(entries, saved_net, n_leaves, path)
        if net is not None and net != saved_net:
            raise _bad(path, _other_network(saved_net, net))
        treedef = None
        if opt_state_like is not None:
            treedef = _check_template(entries, n_leaves, type_name, opt_state_like, path)
        _check_x64(entries, path)
        arrays = _read_tensors(f, data_start, entries, path)

    params = tuple(
        Layer(jnp.asarray(arrays[f"params.{l}.W"]), jnp.asarray(arrays[f"params.{l}.b"]))
        for l in range(1, saved_net.num_layers + 1)
    )
    leaves = [jnp.asarray(arrays[f"opt_state.{i}"]) for i in range(n_leaves)]
    if treedef is not None:
        opt_state = jax.tree.unflatten(treedef, leaves)
    else:
        opt_state = None if type_name == "" else tuple(leaves)
    return Checkpoint(saved_net, params, opt_state, step, user)


class _Entry(NamedTuple):
    dtype: str  # safetensors code
    shape: tuple[int, ...]
    begin: int  # offsets into the data buffer
    end: int


def _bad(path: Path, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def _short(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (hostile headers can be huge)."""
    return _clip(repr(value), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return d


def _parse_json(text: str):
    """Strict JSON: no NaN/Infinity, no duplicate keys (ValueError, RecursionError)."""

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=reject)


def _read_header(f, size: int, path: Path) -> tuple[dict, int]:
    """The header as a dict and the offset of the data buffer in the file."""
    if size == 0:
        raise _bad(path, "empty file: not a jaxnn checkpoint (0 bytes).")
    if size < 8:
        raise _bad(
            path,
            f"too short: {size} bytes, fewer than the 8-byte header length that starts a "
            "safetensors file; not a jaxnn checkpoint, or truncated.",
        )
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise _bad(
            path,
            f"header length {n} is absurd (more than the {MAX_HEADER_BYTES}-byte limit of "
            "safetensors): not a jaxnn checkpoint, or corrupt.",
        )
    if n > size - 8:
        raise _bad(
            path,
            f"truncated: header declares {n} bytes but the file has {size - 8} after the "
            "8-byte length.",
        )
    raw = f.read(n)
    if len(raw) != n:
        raise _bad(path, f"truncated: header declares {n} bytes but only {len(raw)} could be read.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad(path, f"header is not valid UTF-8 ({e}); not a jaxnn checkpoint.") from None
    try:
        header = _parse_json(text)
    except _DuplicateKey as e:
        raise _bad(
            path, f"header is ambiguous: the key {_short(str(e.args[0]))} appears twice."
        ) from None
    except (ValueError, RecursionError) as e:
        raise _bad(
            path, f"header is not valid JSON ({_clip(str(e), 120)}); not a jaxnn checkpoint."
        ) from None
    if not isinstance(header, dict):
        raise _bad(
            path,
            f"header is JSON but not an object (got a {type(header).__name__}); "
            "not a jaxnn checkpoint.",
        )
    return header, 8 + n


def _check_metadata_map(meta, path: Path) -> dict[str, str]:
    if meta is None:
        raise _bad(
            path,
            "not a jaxnn checkpoint: the header has no __metadata__ (a plain safetensors "
            "file?). Fix: write checkpoints with jaxnn.checkpoint.save.",
        )
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad(path, f"__metadata__ must map strings to strings; got {_short(meta)}.")
    return meta


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_entries(header: dict, buffer_len: int, path: Path) -> dict[str, _Entry]:
    """Every tensor entry well formed, in bounds, and the entries tiling the buffer."""
    entries = {}
    for name, entry in header.items():
        where = f"tensor {_short(name)}"
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise _bad(
                path,
                f"{where}: expected an object with the keys dtype, shape, data_offsets; "
                f"got {_short(entry)}.",
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise _bad(
                path,
                f"{where}: unknown dtype {_short(code)}; expected one of {', '.join(_DTYPES)}.",
            )
        if not (
            isinstance(shape, list)
            and len(shape) <= _MAX_NDIM
            and all(_is_int(d) and d >= 0 for d in shape)
        ):
            raise _bad(
                path,
                f"{where}: shape must be a list of at most {_MAX_NDIM} non-negative "
                f"ints; got {_short(shape)}.",
            )
        itemsize = _DTYPES[code].itemsize
        if math.prod(max(d, 1) for d in shape) > 2**62 // itemsize:
            raise _bad(path, f"{where}: shape {_short(shape)} is too large for an array.")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(_is_int(o) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise _bad(
                path,
                f"{where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end; got "
                f"{_short(offsets)}.",
            )
        begin, end = offsets
        if end > buffer_len:
            raise _bad(
                path,
                f"offsets out of range: {where} has data_offsets [{begin}, {end}] but "
                f"the data buffer has only {buffer_len} bytes (truncated file?).",
            )
        nbytes = math.prod(shape) * itemsize
        if end - begin != nbytes:
            raise _bad(
                path,
                f"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes, but "
                f"shape {tuple(shape)} of {code} needs {nbytes}.",
            )
        entries[name] = _Entry(code, tuple(shape), begin, end)

    covered, previous = 0, None  # the tensors must tile [0, buffer_len) exactly
    for name, e in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if e.begin < covered:
            raise _bad(
                path,
                f"tensors {_short(previous)} and {_short(name)} overlap: "
                f"{_short(name)} starts at byte {e.begin}, before byte {covered} where "
                f"{_short(previous)} ends.",
            )
        if e.begin > covered:
            raise _bad(
                path,
                f"offsets not contiguous: bytes [{covered}, {e.begin}) of the data "
                f"buffer belong to no tensor (before {_short(name)}).",
            )
        covered, previous = e.end, name
    if covered != buffer_len:
        raise _bad(
            path,
            f"trailing bytes: the tensors end at byte {covered} of the data buffer but "
            f"it has {buffer_len} bytes.",
        )
    return entries


def _metadata_int(meta: dict[str, str], key: str, path: Path) -> int:
    if not _NON_NEGATIVE_INT.fullmatch(meta[key]):
        raise _bad(
            path, f"metadata {key!r} must be a non-negative integer; got {_short(meta[key])}."
        )
    return int(meta[key])


def _metadata_json(meta: dict[str, str], key: str, path: Path):
    try:
        return _parse_json(meta[key])
    except (ValueError, RecursionError) as e:
        raise _bad(path, f"metadata {key!r} is not valid JSON ({_clip(str(e), 120)}).") from None


def _check_jaxnn_metadata(meta: dict[str, str], path: Path):
    """(network, step, number of opt_state leaves, opt_state type name, user metadata)."""
    if "format" not in meta:
        raise _bad(
            path,
            "not a jaxnn checkpoint: __metadata__ has no 'format' key. Fix: write "
            "checkpoints with jaxnn.checkpoint.save.",
        )
    if meta["format"] != FORMAT:
        raise _bad(
            path,
            f"not a jaxnn checkpoint: format {_short(meta['format'])}; this version of "
            f"jaxnn reads {FORMAT!r}.",
        )
    missing = [key for key in _METADATA_KEYS if key not in meta]
    if missing:
        raise _bad(
            path,
            f"metadata lacks the jaxnn keys {missing}; expected all of {list(_METADATA_KEYS)}.",
        )
    description = _metadata_json(meta, "network", path)
    try:
        net = Network.from_dict(description)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise _bad(path, f"network description is invalid: {_clip(str(e), 300)}") from None
    step = _metadata_int(meta, "step", path)
    n_leaves = _metadata_int(meta, "opt_state_leaves", path)
    type_name = meta["opt_state_type"]
    if type_name == "" and n_leaves:
        raise _bad(path, f"metadata says {n_leaves} optimizer-state leaves but no opt_state_type.")
    user = _metadata_json(meta, "metadata", path)
    if not isinstance(user, dict):
        raise _bad(path, f"metadata 'metadata' must be a JSON object; got a {type(user).__name__}.")
    return net, step, n_leaves, type_name, user


def _check_tensor_names(entries: dict[str, _Entry], net: Network, n_leaves: int, path: Path):
    """Every ``params.{l}.W/b`` with the network's shapes, every ``opt_state.{i}``, no more."""
    expected = set()
    for l, shapes in enumerate(net.shapes(), start=1):
        for field, shape in zip(("W", "b"), shapes):
            name = f"params.{l}.{field}"
            expected.add(name)
            if name not in entries:
                raise _bad(
                    path,
                    f"missing tensor {name!r} (layer {l}'s {field}, shape {shape}) of "
                    f"the network {net.sizes}.",
                )
            e = entries[name]
            if e.shape != shape:
                raise _bad(
                    path,
                    f"layer {l}: {field} has shape {e.shape} in the checkpoint; the "
                    f"network {net.sizes} expects {shape}.",
                )
            if e.dtype not in _FLOAT_CODES:
                raise _bad(
                    path,
                    f"layer {l}: {field} has dtype {e.dtype}; parameters are floating "
                    f"point ({', '.join(_FLOAT_CODES)}).",
                )
    for i in range(n_leaves):
        name = f"opt_state.{i}"
        expected.add(name)
        if name not in entries:
            raise _bad(
                path,
                f"missing tensor {name!r}: the metadata says {n_leaves} optimizer-state leaves.",
            )
    stray = sorted(set(entries) - expected)
    if stray:
        raise _bad(
            path,
            f"unexpected tensor(s) {_short(stray, 200)}: a jaxnn checkpoint of "
            f"{net.sizes} holds only params.{{1..{net.num_layers}}}.W/b and "
            f"opt_state.{{0..{n_leaves - 1}}}.",
        )


def _other_network(saved: Network, net: Network) -> str:
    names = ("sizes", "activations", "cost", "l2")
    fields = [f for f in names if getattr(saved, f) != getattr(net, f)]
    has = ", ".join(f"{f} {getattr(saved, f)!r}" for f in fields)
    want = ", ".join(f"{f} {getattr(net, f)!r}" for f in fields)
    return (
        f"belongs to another network: checkpoint has {has}; expected {want}. Fix: pass the "
        "network it was saved with, or net=None to take the checkpoint's own (ckpt.net)."
    )


def _check_template(entries, n_leaves: int, type_name: str, template, path: Path):
    """The tree structure of ``template`` once its leaves agree with the saved ones."""
    tpl_type = type(template).__name__
    if type_name == "":
        raise _bad(
            path,
            f"holds no optimizer state (saved with opt_state=None), but opt_state_like "
            f"is a {tpl_type}. Fix: leave opt_state_like out and call opt.init(params).",
        )
    if tpl_type != type_name:
        raise _bad(
            path,
            f"optimizer state is a {type_name}, but opt_state_like is a {tpl_type}. "
            "Fix: build the template with the optimizer that was saved, e.g. "
            "jaxnn.optimizers.adam(lr).init(params).",
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    if len(flat) != n_leaves:
        raise _bad(
            path,
            f"optimizer state has {n_leaves} leaves in the checkpoint; opt_state_like "
            f"({tpl_type}) has {len(flat)}. Fix: build the template from params of the same "
            "network with the same optimizer.",
        )
    for i, (key_path, leaf) in enumerate(flat):
        e = entries[f"opt_state.{i}"]
        where = f"opt_state leaf {i} ({tpl_type}{jax.tree_util.keystr(key_path)})"
        shape = tuple(np.shape(leaf))
        dtype = np.dtype(leaf.dtype if hasattr(leaf, "dtype") else jnp.asarray(leaf).dtype)
        if e.shape != shape:
            raise _bad(
                path, f"{where} has shape {e.shape} in the checkpoint; opt_state_like has {shape}."
            )
        if _DTYPES[e.dtype] != dtype:
            raise _bad(
                path,
                f"{where} has dtype {_DTYPES[e.dtype]} in the checkpoint; "
                f"opt_state_like has {dtype}.",
            )
    return treedef


def _check_x64(entries: dict[str, _Entry], path: Path) -> None:
    """64-bit tensors need jax's x64 mode, or jnp.asarray would round them silently."""
    for name, e in entries.items():
        dtype = _DTYPES[e.dtype]
        if jax.dtypes.canonicalize_dtype(dtype) != dtype:
            raise _bad(
                path,
                f"tensor {name!r} is {dtype}, but JAX's 64-bit mode is off, so it would "
                f"become {jax.dtypes.canonicalize_dtype(dtype)}. Fix: load inside "
                "`with jax.enable_x64(True):` or call "
                "jax.config.update('jax_enable_x64', True) first.",
            )


def _read_tensors(f, data_start: int, entries: dict[str, _Entry], path: Path):
    """name -> numpy array, each read from exactly its own byte span."""
    arrays = {}
    for name, e in sorted(entries.items(), key=lambda item: item[1].begin):
        f.seek(data_start + e.begin)
        data = f.read(e.end - e.begin)
        if len(data) != e.end - e.begin:
            raise _bad(path, f"truncated while reading {name!r} (did the file change?).")
        array = np.frombuffer(data, dtype=_DTYPES[e.dtype]).reshape(e.shape)
        if sys.byteorder == "big":
            array = array.byteswap()
        arrays[name] = array
    return arrays
