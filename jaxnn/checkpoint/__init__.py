"""Checkpoints for training: parameters, optimizer state and step in one safetensors file.

    path = checkpoint.save("run/ckpt.safetensors", params, opt_state, net=net, step=step)
    ckpt = checkpoint.load(path, net=net, opt_state_like=opt.init(params))
    params, opt_state, step = ckpt.params, ckpt.opt_state, ckpt.step

The invariant: ``load(save(p, params, state, net=net, step=s, metadata=m),
opt_state_like=state)`` gives back ``net``, ``params``, ``state``, ``s`` and ``m``
bit for bit, dtypes included (float64, float32, float16, bfloat16, the int32 ``count``),
and load never refuses a file that save wrote and nobody changed since.

The file is plain safetensors, written and read through the ``safetensors`` package, so
any safetensors reader opens it and nothing in it can run code when it is loaded. Two
modules hold the parts:

* :mod:`~jaxnn.checkpoint.safetensors_io`: the format, the atomic write (temporary file,
  fsync, ``os.replace``, fsync of the directory: a crash leaves the old checkpoint or the
  new one, never a torn file; a full disk leaves the old one and says which file) and the
  checks of the header against the file's real size before any tensor is read;
* :mod:`~jaxnn.checkpoint.schema`: what jaxnn puts in it (tensor names, metadata keys,
  the sha256 checksums of the tensors and of the header's network, optimizer-state and
  step records, format "jaxnn-checkpoint/2"; the older format 1 is still read, with a
  warning) and the checks against the network and the optimizer-state template.

Every file that cannot be loaded raises a ValueError starting with its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn._checks import describe
from jaxnn.checkpoint import safetensors_io, schema
from jaxnn.checkpoint.safetensors_io import MAX_HEADER_BYTES, bad
from jaxnn.checkpoint.schema import FORMAT, MAX_METADATA_BYTES
from jaxnn.network import Network, Params

__all__ = ["FORMAT", "MAX_HEADER_BYTES", "MAX_METADATA_BYTES", "Checkpoint", "exists", "load",
           "save"]


class Checkpoint(NamedTuple):
    """What :func:`load` returns."""

    net: Network  # the architecture the parameters belong to
    params: Params  # tuple of Layer(W: (n_l, n_{l−1}), b: (n_l,)) (NormLayer, … with norm)
    opt_state: Any  # like opt_state_like; else the tuple of saved leaves; None if none saved
    step: int  # the training step passed to save
    metadata: dict[str, Any]  # the user's JSON metadata ({} if none)


def exists(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file (a checkpoint to resume from, if :func:`load` agrees)."""
    return Path(path).is_file()


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
        Integer leaves (counts) must be ≥ 0 and float leaves finite.
      net: the :class:`~jaxnn.Network` the parameters belong to.
      step: the training step, an int ≥ 0.
      metadata: a JSON-serialisable dict (str keys; lists, not tuples) saved alongside,
        e.g. ``{"epoch": 3, "val_accuracy": 0.95}``, at most
        :data:`MAX_METADATA_BYTES` as JSON.

    Returns:
      The path written, as a ``pathlib.Path``.

    Raises:
      TypeError, ValueError: before any file is touched, for a params/network mismatch
        (naming the layer), a bad step, an unsupported dtype, a negative count or a
        NaN/Inf in the optimizer state, or metadata that JSON cannot carry unchanged or
        that is too large.
      OSError: the file cannot be written (a full disk, a file size limit, no
        permission): same errno, a message starting with ``path``; no temporary file is
        left and a previous checkpoint at ``path`` is intact.
    """
    path = _check_path(path, "save")
    if not isinstance(net, Network):
        raise TypeError(
            f"net must be a jaxnn.Network; got {type(net).__name__}. "
            "Fix: save(path, params, opt_state, net=net, step=step)."
        )
    if path.is_dir():
        example = (f"remove that directory, or save to another name such as "
                   f"{str(path.with_name(path.stem + '-1.safetensors'))!r}"
                   if path.suffix == ".safetensors" else
                   f"e.g. save({str(path / 'checkpoint.safetensors')!r}, ...)")
        raise bad(path, f"is a directory; a checkpoint is a file. Fix: {example}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise bad(path, f"cannot be written: {parent} is a file, not a directory.")
            break
    step = schema.check_step(step)
    user_json = schema.user_metadata_json(metadata)
    tensors = dict(schema.param_tensors(net, params))
    type_name = "" if opt_state is None else type(opt_state).__name__
    state = [] if opt_state is None else schema.opt_state_tensors(opt_state)
    tensors.update(state)
    meta = schema.metadata(net, step, len(state), type_name, user_json,
                           safetensors_io.digest(tensors))
    blob = safetensors_io.encode(tensors, meta)
    n = safetensors_io.header_length(blob)
    if n > MAX_HEADER_BYTES:  # a network of millions of layers: load would refuse it
        raise ValueError(
            f"the checkpoint's header must be at most {MAX_HEADER_BYTES} bytes (the limit "
            f"of safetensors); this one would be {n}. Fix: save less metadata."
        )
    safetensors_io.write_atomic(path, [blob[: 8 + n], memoryview(blob)[8 + n :]])
    return path


def _check_path(path, what: str) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{what}: path must be a str or os.PathLike; got {describe(path)}. "
            "Fix: e.g. 'run/checkpoint.safetensors'."
        )
    return Path(path)


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
      ValueError: ``f"{path}: …"`` for a directory or a FIFO; for a file that is not a
        well-formed jaxnn checkpoint (the whole header is checked against the file's size
        before any tensor data is read); whose tensor data does not match its checksum;
        whose optimizer state holds a negative count, NaN or Inf; that belongs to another
        network than ``net``; or whose optimizer state does not fit ``opt_state_like``.
    """
    path = _check_path(path, "load")
    if net is not None and not isinstance(net, Network):
        raise TypeError(
            f"net must be a jaxnn.Network or None; got {type(net).__name__}. "
            "Fix: load(path, net=jaxnn.mlp(...)) or leave net out."
        )
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        header, prefix = safetensors_io.read_header(f, size, path)
        meta = safetensors_io.check_metadata_map(header.pop("__metadata__", None), path)
        entries = safetensors_io.check_entries(header, size - len(prefix), path)
        saved = schema.read_metadata(meta, path)
        order = schema.check_tensor_names(entries, saved.net, saved.n_leaves, path)
        if net is not None and net != saved.net:
            raise bad(path, _other_network(saved.net, net))
        treedef, names = None, None
        if opt_state_like is not None:
            treedef, names = schema.check_template(entries, saved, opt_state_like, path)
        _check_x64({name: entries[name] for name in order}, path)
        blob = safetensors_io.read_all(f, size, prefix, path)
    arrays = safetensors_io.decode(blob, path)
    del blob
    schema.check_checksum(safetensors_io.digest(arrays), saved, path)
    schema.check_opt_state_values(arrays, saved, names, path)

    params = tuple(
        kind(*(jnp.asarray(arrays[f"params.{l}.{field}"]) for field, _ in fields))
        for l, (kind, fields) in enumerate(
            zip(saved.net.layer_types(), saved.net.param_shapes()), start=1)
    )
    leaves = [jnp.asarray(arrays[f"opt_state.{i}"]) for i in range(saved.n_leaves)]
    if treedef is not None:
        opt_state = jax.tree.unflatten(treedef, leaves)
    else:
        opt_state = None if saved.type_name == "" else tuple(leaves)
    return Checkpoint(saved.net, params, opt_state, saved.step, saved.user)


def _other_network(saved: Network, net: Network) -> str:
    names = ("sizes", "activations", "cost", "l2")
    fields = [f for f in names if getattr(saved, f) != getattr(net, f)]
    has = ", ".join(f"{f} {getattr(saved, f)!r}" for f in fields)
    want = ", ".join(f"{f} {getattr(net, f)!r}" for f in fields)
    return (
        f"belongs to another network: checkpoint has {has}; expected {want}. Fix: pass the "
        "network it was saved with, or net=None to take the checkpoint's own (ckpt.net)."
    )


def _check_x64(entries: dict[str, safetensors_io.Entry], path: Path) -> None:
    """64-bit tensors need jax's x64 mode, or jnp.asarray would round them silently."""
    for name, e in entries.items():
        dtype = safetensors_io.DTYPES[e.dtype]
        if jax.dtypes.canonicalize_dtype(dtype) != dtype:
            raise bad(
                path,
                f"tensor {name!r} is {dtype}, but JAX's 64-bit mode is off, so it would "
                f"become {jax.dtypes.canonicalize_dtype(dtype)}. Fix: load inside "
                "`with jax.enable_x64(True):` or call "
                "jax.config.update('jax_enable_x64', True) first.",
            )


def _open(path: Path):
    """``open(path, "rb")``, with the errors of a path that is not a readable file."""
    if path.is_dir():
        inside = sorted(p for p in path.glob("*.safetensors") if p.is_file())
        fix = (f"pass the file inside it, e.g. {inside[0]}" if inside else
               "pass the path of a checkpoint file; this directory holds none (a run "
               "directory holds checkpoint.safetensors)")
        raise bad(path, f"is a directory, not a checkpoint file. Fix: {fix}.")
    if path.exists() and not path.is_file():  # open() would wait forever on a FIFO
        raise bad(path, "is not a regular file (a FIFO, a device?); a checkpoint is a file.")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such checkpoint file. Fix: check the path, or save one first "
            "(jaxnn.checkpoint.exists(path) tells whether there is one)."
        ) from None
    except OSError as e:  # permissions, a symlink loop: the same OSError, saying where
        raise OSError(e.errno, f"{path}: cannot open the checkpoint ({e.strerror})") from None

