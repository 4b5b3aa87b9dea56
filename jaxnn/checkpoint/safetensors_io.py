"""The safetensors format: encoded and decoded by the ``safetensors`` package, written
atomically by jaxnn, and checked before any tensor is read.

A safetensors file (https://github.com/huggingface/safetensors) holds no code::

    8 bytes        N, the header length, little-endian unsigned
    N bytes        UTF-8 JSON header, padded with spaces to a multiple of 8 bytes:
                   {"__metadata__": {str: str},
                    "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..}
    the rest       the data buffer: every tensor's bytes, little-endian, C order,
                   contiguous; offsets count from the start of the buffer

:func:`encode` is ``safetensors.numpy.save``, :func:`decode` ``safetensors.deserialize``
(bfloat16 through ``ml_dtypes``). jaxnn's own: :func:`write_atomic` (temporary file, fsync,
rename, the file's mode, write errors that name the path) and the checks of
:func:`read_header` and :func:`check_entries` (header size, strict JSON, every entry
against the file's real size): a truncated or hostile file is refused with a ValueError
starting with its path before it can make anything allocate more than the file holds.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import ml_dtypes
import numpy as np
import safetensors
import safetensors.numpy

from jaxnn._checks import short

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on N

# safetensors dtype code -> numpy dtype (native byte order; the file is little-endian).
DTYPES: dict[str, np.dtype] = {code: np.dtype(t) for code, t in [
    ("F64", np.float64), ("F32", np.float32), ("F16", np.float16), ("BF16", ml_dtypes.bfloat16),
    ("I64", np.int64), ("I32", np.int32), ("I16", np.int16), ("I8", np.int8),
    ("U8", np.uint8), ("BOOL", np.bool_),
]}
FLOAT_CODES = ("F64", "F32", "F16", "BF16")
_CODES: dict[np.dtype, str] = {dtype: code for code, dtype in DTYPES.items()}
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}
_MAX_NDIM = 64  # numpy's limit
_CHUNK = 1 << 20  # bytes per os.write
_BIG_ENDIAN = sys.byteorder == "big"


class Entry(NamedTuple):  # one tensor of the header, checked
    dtype: str  # safetensors code
    shape: tuple[int, ...]
    begin: int  # offsets into the data buffer
    end: int


def bad(path: Path, message: str) -> ValueError:
    """The ValueError of a file that cannot be a checkpoint: ``"<path>: <message>"``."""
    return ValueError(f"{path}: {message}")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with ``...`` (hostile headers can be huge)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dtype_code(dtype: np.dtype, where: str) -> str:
    """The safetensors code of ``dtype`` (any byte order), or TypeError naming ``where``."""
    native = dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype
    if native not in _CODES:
        raise TypeError(
            f"{where} has dtype {dtype}, which a checkpoint cannot hold; supported: "
            f"{', '.join(str(d) for d in _CODES)}. Fix: cast it, e.g. x.astype(jnp.float32)."
        )
    return _CODES[native]


# ---------------------------------------------------------------------------------------
# Writing.


def encode(tensors: Mapping[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and ``metadata``."""
    # The package copies each array's memory as it lies: make it C order first.
    return safetensors.numpy.save(
        {name: np.asarray(a, order="C") for name, a in tensors.items()}, metadata=metadata
    )


def header_length(blob: bytes) -> int:
    """N, the length of the JSON header of the safetensors file ``blob``."""
    return int.from_bytes(blob[:8], "little")


def digest(tensors: Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` of the tensors' names, dtypes, shapes and little-endian bytes.

    Taken in the order of the names, so it does not depend on where a writer put each
    tensor in the data buffer; a swap of two tensors of one shape changes it too.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        code = dtype_code(array.dtype, name)
        if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and _BIG_ENDIAN):
            array = array.byteswap()
        h.update(json.dumps([name, code, list(array.shape)]).encode() + b"\n")
        h.update(memoryview(array.reshape(-1).view(np.uint8)))
    return f"sha256:{h.hexdigest()}"


def write_atomic(path: Path, pieces: list[bytes]) -> None:
    """Write ``pieces`` to ``path``: a temporary file in the same directory, fsync,
    ``os.replace``, fsync of the directory. A crash leaves the old file or the new one.

    An OSError (a full disk, a file size limit, no permission) leaves no temporary file
    and the old file as it was, and is raised again as an OSError of the same errno whose
    message starts with ``path`` and says what to do.
    """
    directory, tmp, replaced = path.parent, None, False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        mode = _file_mode(path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            for piece in pieces:
                _write_all(fd, piece)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # mkstemp makes it 0600
        os.replace(tmp, path)
        replaced = True
        if os.name == "posix":  # make the rename itself durable
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except BaseException as e:
        if tmp is not None and not replaced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_error(path, e, replaced) from None
        raise


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view[:_CHUNK])
        if n <= 0:  # a regular file never does this but on a full device
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


_WRITE_FIXES = {
    errno.ENOSPC: "free space on that file system, or save to another one",
    errno.EDQUOT: "free space within your disk quota, or save to another file system",
    errno.EFBIG: "the file is larger than the file system or the process allows "
                 "(`ulimit -f`); raise the limit, or save to another file system",
    errno.EACCES: "make the directory writable for this user, or save somewhere else",
    errno.EPERM: "make the directory writable for this user, or save somewhere else",
    errno.EROFS: "that file system is read-only; save somewhere else",
}


def write_error(path: Path, e: OSError, replaced: bool = False) -> OSError:
    """``e`` again (same errno, hence same subclass), saying which file and what to do."""
    if replaced:  # only the fsync of the directory failed
        text = (f"{path}: the checkpoint was written, but its directory could not be synced "
                f"({e.strerror or e}), so a crash now could lose it. Fix: check the disk.")
    else:
        text = (f"{path}: cannot write the checkpoint ({e.strerror or e}); nothing was "
                "changed there and a previous checkpoint at that path is intact. Fix: "
                f"{_WRITE_FIXES.get(e.errno, 'check the path and the disk, then save again')}.")
    return OSError(text) if e.errno is None else OSError(e.errno, text)


def _file_mode(path: Path) -> int:
    """The replaced file's permissions, or 0o666 less the umask for a new file."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


# ---------------------------------------------------------------------------------------
# Reading: the checks before any tensor is read, then the package.


def parse_json(text: str):
    """Strict JSON: no NaN/Infinity, no duplicate keys (ValueError, RecursionError)."""

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=reject)


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


def read_header(f, size: int, path: Path) -> tuple[dict, bytes]:
    """The header of the open file ``f`` of ``size`` bytes as a dict, and the bytes it was
    read from (the 8-byte length and the JSON: the data buffer starts after them)."""
    if size == 0:
        raise bad(path, "empty file: not a jaxnn checkpoint (0 bytes).")
    if size < 8:
        raise bad(
            path,
            f"too short: {size} bytes, fewer than the 8-byte header length that starts a "
            "safetensors file; not a jaxnn checkpoint, or truncated.",
        )
    prefix = f.read(8)
    n = header_length(prefix)
    if n > MAX_HEADER_BYTES:
        raise bad(
            path,
            f"header length {n} is absurd (more than the {MAX_HEADER_BYTES}-byte limit of "
            "safetensors): not a jaxnn checkpoint, or corrupt.",
        )
    if n > size - 8:
        raise bad(
            path,
            f"truncated: header declares {n} bytes but the file has {size - 8} after the "
            "8-byte length.",
        )
    raw = f.read(n)
    if len(raw) != n:
        raise bad(path, f"truncated: header declares {n} bytes but only {len(raw)} could be read.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad(path, f"header is not valid UTF-8 ({e}); not a jaxnn checkpoint.") from None
    try:
        header = parse_json(text)
    except _DuplicateKey as e:
        raise bad(
            path, f"header is ambiguous: the key {short(str(e.args[0]), 80)} appears twice."
        ) from None
    except (ValueError, RecursionError) as e:
        raise bad(
            path, f"header is not valid JSON ({clip(str(e), 120)}); not a jaxnn checkpoint."
        ) from None
    if not isinstance(header, dict):
        raise bad(
            path,
            f"header is JSON but not an object (got a {type(header).__name__}); "
            "not a jaxnn checkpoint.",
        )
    return header, prefix + raw


def check_metadata_map(meta, path: Path) -> dict[str, str]:
    """``__metadata__`` as it must be: present, strings to strings."""
    if meta is None:
        raise bad(
            path,
            "not a jaxnn checkpoint: the header has no __metadata__ (a plain safetensors "
            "file?). Fix: write checkpoints with jaxnn.checkpoint.save.",
        )
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad(path, f"__metadata__ must map strings to strings; got {short(meta, 80)}.")
    return meta


def check_entries(header: dict, buffer_len: int, path: Path) -> dict[str, Entry]:
    """Every tensor entry well formed, in bounds, and the entries tiling the buffer."""
    entries = {}
    for name, entry in header.items():
        where = f"tensor {short(name, 80)}"
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise bad(
                path,
                f"{where}: expected an object with the keys dtype, shape, data_offsets; "
                f"got {short(entry, 80)}.",
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in DTYPES:
            raise bad(
                path,
                f"{where}: unknown dtype {short(code, 80)}; expected one of {', '.join(DTYPES)}.",
            )
        if not (
            isinstance(shape, list)
            and len(shape) <= _MAX_NDIM
            and all(type(d) is int and d >= 0 for d in shape)
        ):
            raise bad(
                path,
                f"{where}: shape must be a list of at most {_MAX_NDIM} non-negative "
                f"ints; got {short(shape, 80)}.",
            )
        itemsize = DTYPES[code].itemsize
        if math.prod(max(d, 1) for d in shape) > 2**62 // itemsize:
            raise bad(path, f"{where}: shape {short(shape, 80)} is too large for an array.")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise bad(
                path,
                f"{where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end; got "
                f"{short(offsets, 80)}.",
            )
        begin, end = offsets
        if end > buffer_len:
            raise bad(
                path,
                f"offsets out of range: {where} has data_offsets [{begin}, {end}] but "
                f"the data buffer has only {buffer_len} bytes (truncated file?).",
            )
        nbytes = math.prod(shape) * itemsize
        if end - begin != nbytes:
            raise bad(
                path,
                f"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes, but "
                f"shape {tuple(shape)} of {code} needs {nbytes}.",
            )
        entries[name] = Entry(code, tuple(shape), begin, end)
    _check_tiling(entries, buffer_len, path)
    return entries


def _check_tiling(entries: dict[str, Entry], buffer_len: int, path: Path) -> None:
    """The tensors cover ``[0, buffer_len)`` exactly: no overlap, no gap, no tail."""
    covered, previous = 0, None
    for name, e in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if e.begin < covered:
            raise bad(
                path,
                f"tensors {short(previous, 80)} and {short(name, 80)} overlap: "
                f"{short(name, 80)} starts at byte {e.begin}, before byte {covered} where "
                f"{short(previous, 80)} ends.",
            )
        if e.begin > covered:
            raise bad(
                path,
                f"offsets not contiguous: bytes [{covered}, {e.begin}) of the data "
                f"buffer belong to no tensor (before {short(name, 80)}).",
            )
        covered, previous = e.end, name
    if covered != buffer_len:
        raise bad(
            path,
            f"trailing bytes: the tensors end at byte {covered} of the data buffer but "
            f"it has {buffer_len} bytes.",
        )


def read_all(f, size: int, prefix: bytes, path: Path) -> bytes:
    """The whole file, once its header (``prefix``) has passed the checks."""
    f.seek(0)
    blob = f.read(size)
    if len(blob) != size or blob[: len(prefix)] != prefix:
        raise bad(path, "changed while it was being read (another process writing it?). "
                  "Fix: load it again once it is complete.")
    return blob


def decode(blob: bytes, path: Path) -> dict[str, np.ndarray]:
    """name -> numpy array of the safetensors file ``blob``, by the package."""
    try:
        views = safetensors.deserialize(blob)
    except safetensors.SafetensorError as e:  # our checks came first: not expected
        raise bad(path, f"not a valid safetensors file ({clip(str(e), 200)}).") from None
    arrays = {}
    for name, view in views:
        array = np.frombuffer(view["data"], dtype=DTYPES[view["dtype"]]).reshape(view["shape"])
        arrays[name] = array.byteswap() if _BIG_ENDIAN else array
    return arrays
