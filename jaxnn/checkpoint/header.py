"""The header of a jaxnn checkpoint: its records, their checksum, and their checks.

``__metadata__`` holds the jaxnn records (:data:`RECORDS`): ``format``
("jaxnn-checkpoint/2"), ``network`` (JSON of ``net.to_dict()``: a built-in activation or
cost by its name, a user component as ``{"name": …, "import": "module:attribute" or null,
"fingerprint": …}``), ``step``, ``opt_state_leaves`` (their number), ``opt_state_type``
(the state's class name, "" for none) and ``metadata`` (JSON of the user's dict, at most
:data:`MAX_METADATA_BYTES`); then ``checksum`` (of the tensors,
:func:`jaxnn.checkpoint.safetensors_io.digest`) and ``header_checksum`` (of the records,
:func:`header_digest`), so that no edit of what the file means goes unnoticed. Files of
the older format "jaxnn-checkpoint/1" have no ``header_checksum`` (and the oldest no
``checksum``): they load with an :class:`OlderFormat` warning that says so.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import re
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from jaxnn._checks import short
from jaxnn.checkpoint.safetensors_io import bad, clip, parse_json
from jaxnn.network import Network
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
