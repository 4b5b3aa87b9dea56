"""The IDX file format (the format of the MNIST files): :func:`read_idx` and :func:`write_idx`.

Format (big-endian): a magic number ``00 00 <type code> <ndim>``, then ``ndim`` uint32
dimensions, then ``prod(dims)`` items, row-major. Type codes: 0x08 uint8, 0x09 int8,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64 (:data:`IDX_DTYPES`). A file may be
gzip-compressed; gzip is recognised by its content (``1f 8b``), not by the file name.

Invariant: ``read_idx(p)`` equals ``array`` after ``write_idx(p, array)``.

A file is checked before its payload is allocated, so a forged header in a tiny file (or a
gzip bomb) cannot make :func:`read_idx` allocate more than the file justifies. File errors
follow the file convention: ``FileNotFoundError``, ``IsADirectoryError``, or a
``ValueError`` whose message starts with the file's name.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from typing import BinaryIO

import numpy as np

from jaxnn import _checks

# IDX type code (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read from a gzip stream at a time


def _idx_header(magic: bytes, name: str) -> tuple[np.dtype, int]:
    """Checks the 4-byte magic number ``00 00 <type code> <ndim>``; returns (dtype, ndim)."""
    codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
    if len(magic) < 4:
        raise ValueError(
            f"{name}: truncated IDX file: expected a 4-byte magic number, found "
            f"{len(magic)} bytes. Re-download or re-create the file."
        )
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES:
        raise ValueError(
            f"{name}: bad IDX magic number: expected 00 00 <type code in {codes}> <ndim>, "
            f"found {magic[:4].hex(' ')}. Is this an IDX file (and not, say, an HTML "
            "error page saved under its name)?"
        )
    ndim = magic[3]
    if not 1 <= ndim <= IDX_MAX_NDIM:
        raise ValueError(
            f"{name}: bad IDX magic number {magic[:4].hex(' ')}: expected 1 to "
            f"{IDX_MAX_NDIM} dimensions, found {ndim}."
        )
    return IDX_DTYPES[magic[2]], ndim


def _idx_dims(raw: bytes, ndim: int, name: str) -> tuple[int, ...]:
    """Decodes the ``ndim`` big-endian uint32 dimensions; each must be positive."""
    if len(raw) < 4 * ndim:
        raise ValueError(
            f"{name}: truncated IDX header: expected {ndim} dimensions "
            f"({4 * ndim} bytes) after the magic number, found {len(raw)} bytes."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim))
    if any(d == 0 for d in dims):
        raise ValueError(
            f"{name}: IDX header declares shape {dims}: expected every dimension to be positive."
        )
    return dims


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Reads up to ``limit`` bytes in chunks, so memory grows with the data found.

    ``stream.read(limit)`` would allocate ``limit`` bytes up front, which a forged header
    in a tiny file could make enormous.
    """
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_idx(stream: BinaryIO, total: int | None, name: str) -> np.ndarray:
    """Reads one IDX array from ``stream``.

    ``total`` is the stream's length in bytes when known (raw files, bytes), ``None`` for a
    gzip stream; in both cases at most header + payload + 1 bytes are ever read.
    """
    dtype, ndim = _idx_header(stream.read(4), name)
    dims = _idx_dims(stream.read(4 * ndim), ndim, name)
    header = 4 + 4 * ndim
    payload = math.prod(dims) * dtype.itemsize
    items = " × ".join(str(d) for d in dims)
    expected = (
        f"{header + payload:,} bytes ({header}-byte header + {items} items of "
        f"{dtype.itemsize} byte{'s' if dtype.itemsize > 1 else ''})"
    )
    if total is not None and total != header + payload:
        # Known length: refuse before reading (or allocating) anything.
        kind = "truncated" if total < header + payload else "over-long"
        raise ValueError(
            f"{name}: {kind} IDX file: header declares shape {dims} of {dtype.name}, "
            f"expected {expected}, found {total:,} bytes."
        )
    data = _read_at_most(stream, payload + 1)
    if len(data) != payload:
        kind = "truncated" if len(data) < payload else "over-long"
        found = f"{header + len(data):,} bytes" if len(data) < payload else "more than that"
        raise ValueError(
            f"{name}: {kind} IDX file (decompressed): header declares shape {dims} of "
            f"{dtype.name}, expected {expected}, found {found}."
        )
    # Native byte order, in memory the array owns.
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(source: str | os.PathLike | bytes | bytearray | memoryview) -> np.ndarray:
    """Reads an IDX file (the MNIST format), raw or gzip-compressed.

    Format (big-endian): magic ``00 00 <type> <ndim>``, then ``ndim`` uint32 dimensions,
    then ``prod(dims)`` items, row-major. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64. Gzip is recognised by its content (``1f 8b``),
    not by the file name.

    Checks, before allocating the payload: the magic number (two zero bytes, a known type
    code, 1 to 4 dimensions), that every dimension is positive, and that the length is
    exactly header + prod(dims) × itemsize. For gzip the decompressed length is unknown
    in advance, so at most that many bytes + 1 are decompressed (a gzip bomb cannot make
    it allocate more than its header justifies) and the count is checked.

    Args:
      source: a path (str or PathLike) or the file's bytes.

    Returns:
      An array of shape ``dims`` in the file's dtype, native byte order.

    Raises:
      FileNotFoundError, IsADirectoryError: no such file; a folder.
      ValueError: the file is truncated, over-long, or not an IDX file (the message starts
        with the file's name and says what was expected and what was found).
      TypeError: ``source`` is neither a path nor bytes.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        name = "<IDX bytes>"
        data = bytes(source)
        if data[:2] == _GZIP_MAGIC:
            return _read_gzip(io.BytesIO(data), name)
        return _parse_idx(io.BytesIO(data), len(data), name)
    if not isinstance(source, str | os.PathLike):
        raise _checks.type_error("source of read_idx",
                                 "a path (str or os.PathLike) or the file's bytes", source)
    name = os.fspath(source)
    if os.path.isdir(source):
        raise IsADirectoryError(
            f"{name}: is a directory; read_idx reads one IDX file. Fix: pass the file, e.g. "
            f"{os.path.join(name, 'train-images-idx3-ubyte.gz')}, or load the whole set with "
            f"jaxnn.data.load({name!r})."
        )
    if not os.path.exists(source):
        raise FileNotFoundError(f"{name}: no such IDX file. Fix: check the path.")
    if not os.path.isfile(source):  # open() would wait forever on a FIFO
        raise ValueError(f"{name}: not a regular file (a FIFO, a device?); expected an IDX file.")
    with open(source, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            f.seek(0)
            return _read_gzip(f, name)
        f.seek(0)
        return _parse_idx(f, os.fstat(f.fileno()).st_size, name)


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an IDX file (raw or gzip) declares, from its header alone:
    :func:`read_idx`'s result's, without reading the payload (a few bytes, even from a
    gzip file). The payload itself is not checked here; :func:`read_idx` checks it.

    Raises:
      FileNotFoundError, IsADirectoryError: no such file; a folder.
      ValueError: not a regular file, a header that is not IDX's, or a corrupt gzip
        stream (the message starts with the file's name).
    """
    name = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name}: is a directory; expected one IDX file. Fix: pass "
                                "the file, e.g. train-images-idx3-ubyte.gz in it.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name}: no such IDX file. Fix: check the path.")
    if not os.path.isfile(path):  # open() would wait forever on a FIFO
        raise ValueError(f"{name}: not a regular file (a FIFO, a device?); expected an IDX file.")
    with open(path, "rb") as f:
        return idx_header_of(f, name)


def idx_header_of(stream: BinaryIO, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """:func:`read_idx_header` of an open, seekable binary stream at the file's start (raw
    or gzip), ``name`` naming it in messages."""
    gzipped = stream.read(2) == _GZIP_MAGIC
    stream.seek(0)
    if not gzipped:
        return _header(stream, name)
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as g:  # decompresses a block or two
            return _header(g, name)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(
            f"{name}: corrupt gzip stream ({type(e).__name__}: {e}); expected a complete "
            "gzip file. Fix: re-download it, or decompress it with `gunzip` to see what is "
            "wrong.") from e


def _header(stream: BinaryIO, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    dtype, ndim = _idx_header(stream.read(4), name)
    return dtype.newbyteorder("="), _idx_dims(stream.read(4 * ndim), ndim, name)


def _read_gzip(fileobj: BinaryIO, name: str) -> np.ndarray:
    """Parses a gzip-compressed IDX stream, turning gzip errors into ValueError."""
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as g:
            return _parse_idx(g, None, name)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(
            f"{name}: corrupt gzip stream ({type(e).__name__}: {e}); expected a complete "
            "gzip file. Re-download it, or decompress it with `gunzip` to see what is wrong."
        ) from e


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`: ``read_idx(p)`` equals ``array`` after
    ``write_idx(p, array)``. The gzip header carries no time stamp or file name, so the
    same array always gives the same bytes.

    Args:
      path: where to write.
      array: 1 to 4 dimensions, each positive, dtype one of uint8, int8, int16, int32,
        float32, float64.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        names = ", ".join(dt.name for dt in codes)
        raise TypeError(_checks.message(
            "array of write_idx", f"of dtype {names}", f"dtype {array.dtype}",
            "convert it first, e.g. array.astype(np.uint8) for pixels"))
    if not 1 <= array.ndim <= IDX_MAX_NDIM or 0 in array.shape:
        raise _checks.value_error(
            "array of write_idx", f"of 1 to {IDX_MAX_NDIM} dimensions, each positive",
            f"shape {array.shape}")
    if max(array.shape) >= 2**32:
        raise _checks.value_error("each dimension of the array of write_idx",
                                  "below 2**32 (IDX stores it as uint32)", f"shape {array.shape}")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=dtype.newbyteorder(">")).tobytes()
    with open(path, "wb") as f:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
                g.write(header + body)
        else:
            f.write(header + body)
