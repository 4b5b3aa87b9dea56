"""Checkpoints: bit-exact round trips, the safetensors package as the reference reader and
writer, atomic writes, and every corrupt or hostile file with its message."""

import functools
import json
import os
import re
import stat
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import checkpoint, optimizers
from jaxnn.checkpoint import schema

NET = jaxnn.mlp((3, 5, 2), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.01)
USER = {"epoch": 3, "val_accuracy": 0.953125, "tags": ["a", "b"], "nested": {"lr": 1e-3}}


ADAM = optimizers.adam(1e-3)
UPDATE = jax.jit(ADAM.update)  # one compilation per dtype, shared by every test


@functools.cache
def _trained(dtype=jnp.float32, net=NET, updates=3):
    """Params of ``net`` in ``dtype`` and an Adam state after a few made-up updates."""
    rng = np.random.default_rng(0)
    params = tuple(
        jaxnn.Layer(jnp.asarray(rng.standard_normal(w), dtype), jnp.asarray(rng.standard_normal(b), dtype))
        for w, b in net.shapes()
    )
    return _updates(params, ADAM.init(params), updates)


def _updates(params, state, updates):
    for t in range(1, updates + 1):
        grads = jax.tree.map(lambda p, t=t: jnp.asarray(np.sin(t * np.asarray(p, np.float64) + t), p.dtype), params)
        params, state = UPDATE(grads, state, params)
    return params, state


def _assert_identical(a, b):
    """Same pytree structure, and every leaf the same shape, dtype and bytes."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def _split(path):
    """(header dict, data buffer) of a safetensors file."""
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header, buffer=b""):
    """A file's bytes from a header (dict, or raw bytes) and a buffer."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + buffer


def _jaxnn_metadata(net=NET, step=0, leaves=0, type_name="", user=None,
                    format="jaxnn-checkpoint/1"):
    """A header's jaxnn records (format 1, without the header's checksum, by default)."""
    return {
        "format": format,
        "network": json.dumps(net.to_dict()),
        "step": str(step),
        "opt_state_leaves": str(leaves),
        "opt_state_type": type_name,
        "metadata": json.dumps(user or {}),
    }


def _param_arrays(params):
    return {
        f"params.{l}.{f}": np.asarray(getattr(layer, f))
        for l, layer in enumerate(params, start=1)
        for f in ("W", "b")
    }


# ---------------------------------------------------------------------------------------
# Round trips.


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_round_trip_is_bit_identical(tmp_path, dtype):
    with jax.enable_x64(dtype == "float64"):
        params, state = _trained(jnp.dtype(dtype))
        path = checkpoint.save(
            tmp_path / "ckpt.safetensors", params, state, net=NET, step=1234, metadata=USER
        )
        assert path == tmp_path / "ckpt.safetensors"
        ckpt = checkpoint.load(path, net=NET, opt_state_like=ADAM.init(params))

    assert ckpt.net == NET and ckpt.step == 1234 and ckpt.metadata == USER
    assert isinstance(ckpt.step, int)
    assert all(isinstance(layer, jaxnn.Layer) for layer in ckpt.params)
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves((ckpt.params, ckpt.opt_state)))
    _assert_identical(ckpt.params, params)
    assert isinstance(ckpt.opt_state, optimizers.AdamState)
    _assert_identical(ckpt.opt_state, state)
    assert ckpt.opt_state.count.dtype == jnp.int32 and int(ckpt.opt_state.count) == 3
    assert ckpt.params[0].W.dtype == jnp.dtype(dtype)


def test_loaded_state_keeps_training_like_the_original(tmp_path):
    params, state = _trained()
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=3)
    ckpt = checkpoint.load(path, opt_state_like=ADAM.init(params))
    _assert_identical(_updates(ckpt.params, ckpt.opt_state, 2), _updates(params, state, 2))


def test_without_template_opt_state_is_the_tuple_of_leaves(tmp_path):
    params, state = _trained()
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=3)
    ckpt = checkpoint.load(path)
    assert isinstance(ckpt.opt_state, tuple) and len(ckpt.opt_state) == len(jax.tree.leaves(state))
    _assert_identical(ckpt.opt_state, tuple(jax.tree.leaves(state)))
    assert ckpt.opt_state[0].shape == () and ckpt.opt_state[0].dtype == jnp.int32  # count


def test_no_opt_state_no_metadata(tmp_path):
    params, _ = _trained()
    path = checkpoint.save(str(tmp_path / "deep" / "er" / "c.safetensors"), params, net=NET, step=0)
    assert checkpoint.exists(path) and not checkpoint.exists(tmp_path / "nothing")
    ckpt = checkpoint.load(path)
    assert ckpt.opt_state is None and ckpt.metadata == {} and ckpt.step == 0
    _assert_identical(ckpt.params, params)


def test_python_scalar_leaves_take_jax_dtypes(tmp_path):
    params, _ = _trained()
    state = {"count": 3, "rate": 0.5, "on": True}
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=0)
    ckpt = checkpoint.load(path, opt_state_like=jax.tree.map(jnp.asarray, state))
    assert ckpt.opt_state == {"count": 3, "rate": 0.5, "on": True}
    assert [x.dtype for x in jax.tree.leaves(ckpt.opt_state)] == [jnp.int32, jnp.bool_, jnp.float32]


def test_float64_needs_x64_to_load(tmp_path):
    with jax.enable_x64(True):
        params, state = _trained(jnp.float64)
        path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=1)
    with pytest.raises(ValueError, match=r"'params\.1\.W' is float64, but JAX's 64-bit mode is off.*enable_x64"):
        checkpoint.load(path)


def test_layout_on_disk(tmp_path):
    params, state = _trained()
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=9, metadata=USER)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0  # the buffer starts aligned
    header, buffer = _split(path)
    meta = header.pop("__metadata__")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", meta.pop("checksum"))
    assert meta.pop("header_checksum") == schema.header_digest(meta)
    assert meta == _jaxnn_metadata(step=9, leaves=10, type_name="AdamState", user=USER,
                                   format=checkpoint.FORMAT)
    # The safetensors package lays the tensors out (by dtype, then name), not jaxnn.
    assert set(header) == {f"params.{l}.{f}" for l in (1, 2) for f in "Wb"} | {
        f"opt_state.{i}" for i in range(10)}
    begin, end = header["params.1.W"]["data_offsets"]
    assert header["params.1.W"] == {"dtype": "F32", "shape": [5, 3], "data_offsets": [begin, begin + 60]}
    assert header["opt_state.0"]["dtype"] == "I32" and header["opt_state.0"]["shape"] == []
    assert header["opt_state.1"]["shape"] == []  # learning_rate
    assert max(e["data_offsets"][1] for e in header.values()) == len(buffer)
    W1 = np.frombuffer(buffer[begin:end], "<f4").reshape(5, 3)
    np.testing.assert_array_equal(W1, np.asarray(params[0].W))


# ---------------------------------------------------------------------------------------
# The safetensors package as the reference reader and writer.


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_safetensors_reads_ours(tmp_path, dtype):
    with jax.enable_x64(dtype == "float64"):
        params, state = _trained(jnp.dtype(dtype))
        path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=5, metadata=USER)
    tensors = safetensors.numpy.load_file(path)
    expected = _param_arrays(params) | {
        f"opt_state.{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))
    }
    assert set(tensors) == set(expected)
    for name, array in expected.items():
        assert tensors[name].dtype == array.dtype and tensors[name].tobytes() == array.tobytes()
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    assert meta.pop("checksum").startswith("sha256:")
    assert meta.pop("header_checksum") == schema.header_digest(meta)
    assert meta == _jaxnn_metadata(step=5, leaves=10, type_name="AdamState", user=USER,
                                   format=checkpoint.FORMAT)


def test_safetensors_reads_our_bfloat16(tmp_path):
    params, _ = _trained(jnp.bfloat16)
    path = checkpoint.save(tmp_path / "c.safetensors", params, net=NET, step=1)
    with safetensors.safe_open(path, framework="flax") as f:
        W = f.get_tensor("params.2.W")
    assert W.dtype == jnp.bfloat16 and np.asarray(W).tobytes() == np.asarray(params[1].W).tobytes()


def test_we_read_safetensors_files(tmp_path):
    params, state = _trained()
    leaves = jax.tree.leaves(state)
    tensors = _param_arrays(params) | {f"opt_state.{i}": np.asarray(x) for i, x in enumerate(leaves)}
    path = tmp_path / "theirs.safetensors"
    meta = _jaxnn_metadata(step=77, leaves=len(leaves), type_name="AdamState", user=USER)
    safetensors.numpy.save_file(tensors, path, metadata=meta)
    ckpt = checkpoint.load(path, net=NET, opt_state_like=state)
    assert ckpt.step == 77 and ckpt.metadata == USER
    _assert_identical(ckpt.params, params)
    _assert_identical(ckpt.opt_state, state)


# ---------------------------------------------------------------------------------------
# Atomic writes.


@pytest.fixture
def previous(tmp_path):
    """A checkpoint already at the path: (path, its bytes)."""
    params, state = _trained(updates=1)
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=1)
    return path, path.read_bytes()


def _assert_untouched(path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert checkpoint.load(path).step == 1
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


class Boom(Exception):
    pass


def _fail_on_call(k, real):
    calls = []

    def fake(*args, **kwargs):
        calls.append(1)
        if len(calls) == k:
            raise Boom(f"call {k}")
        return real(*args, **kwargs)

    return fake


@pytest.mark.parametrize(
    "target, k",
    [
        ("os.write", 2),  # mid-write, after the header
        ("os.fsync", 1),  # flushing the temporary file
        ("os.chmod", 1),
        ("os.replace", 1),  # the rename itself
    ],
)
def test_failed_save_leaves_previous_checkpoint(previous, monkeypatch, target, k):
    path, old = previous
    params, state = _trained(updates=2)
    name = target.removeprefix("os.")
    monkeypatch.setattr(os, name, _fail_on_call(k, getattr(os, name)))
    with pytest.raises(Boom):
        checkpoint.save(path, params, state, net=NET, step=2)
    monkeypatch.undo()
    _assert_untouched(path, old)


def test_interrupted_save_leaves_previous_checkpoint(previous, monkeypatch):
    path, old = previous

    def interrupt(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, *_trained(updates=2), net=NET, step=2)
    monkeypatch.undo()
    _assert_untouched(path, old)


def test_successful_save_replaces_and_keeps_permissions(previous):
    path, _ = previous
    os.chmod(path, 0o640)
    checkpoint.save(path, *_trained(updates=2), net=NET, step=2)
    assert checkpoint.load(path).step == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(path.parent) == [path.name]


def test_new_file_gets_umask_permissions(tmp_path):
    umask = os.umask(0o027)
    try:
        path = checkpoint.save(tmp_path / "c.safetensors", _trained()[0], net=NET, step=0)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(metadata={"f": object()}), TypeError, r"metadata must be JSON-serialisable.*object"),
        (dict(metadata={"x": np.float32(1)}), TypeError, r"JSON-serialisable.*float\(\)"),
        (dict(metadata={"t": (1, 2)}), TypeError, r"come back from JSON unchanged.*lists instead of tuples"),
        (dict(metadata={1: "a"}), TypeError, r"come back from JSON unchanged.*str keys"),
        (dict(metadata={"x": float("nan")}), ValueError, r"metadata must be strict JSON"),
        (dict(metadata=[1]), TypeError, r"metadata must be a dict"),
        (dict(step=-1), ValueError, r"step must be an int in \[0, 2\^63\); got -1"),
        (dict(step=1.0), TypeError, r"step must be an int ≥ 0; got float"),
        (dict(step=jnp.int32(3)), TypeError, r"Fix: step=int\(step\)"),
        (dict(net="mlp"), TypeError, r"net must be a jaxnn.Network; got str"),
        (dict(net=jaxnn.mlp((3, 6, 2))), ValueError, r"layer 1: W has shape \(5, 3\); the network \(3, 6, 2\) expects \(6, 3\)"),
        (dict(net=jaxnn.mlp((3, 5, 5, 2))), ValueError, r"params has 2 layers; the network \(3, 5, 5, 2\) has 3"),
    ],
)
def test_bad_save_writes_nothing(previous, kwargs, error, match):
    path, old = previous
    params, state = _trained()
    call = dict(net=NET, step=2) | kwargs
    with pytest.raises(error, match=match):
        checkpoint.save(path, params, state, **call)
    _assert_untouched(path, old)
    with pytest.raises(error, match=match):
        checkpoint.save(path.parent / "new" / "c.safetensors", params, state, **call)
    assert not (path.parent / "new" / "c.safetensors").exists()


def test_save_rejects_bad_params_and_leaves(tmp_path):
    params, state = _trained()
    with pytest.raises(TypeError, match=r"params must be a tuple of 2 Layer\(W, b\)"):
        checkpoint.save(tmp_path / "c", {"W": 1}, net=NET, step=0)
    with pytest.raises(TypeError, match=r"layer 2: expected Layer\(W, b\); got ArrayImpl"):
        checkpoint.save(tmp_path / "c", (params[0], params[1].W), net=NET, step=0)
    int_params = jax.tree.map(lambda x: x.astype(jnp.int32), params)
    with pytest.raises(TypeError, match=r"layer 1: W has dtype int32; parameters are floating point"):
        checkpoint.save(tmp_path / "c", int_params, net=NET, step=0)
    bad_state = state._replace(learning_rate=np.complex64(1))
    with pytest.raises(TypeError, match=r"opt_state\.learning_rate has dtype complex64, which a checkpoint cannot hold"):
        checkpoint.save(tmp_path / "c", params, bad_state, net=NET, step=0)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Corrupt and hostile files.


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A valid checkpoint without optimizer state: (header dict, buffer bytes)."""
    path = tmp_path_factory.mktemp("valid") / "c.safetensors"
    checkpoint.save(path, _trained()[0], net=NET, step=4, metadata={"k": 1})
    return _split(path)


def _edit(valid, fn):
    """The bytes of ``valid`` after ``fn(header, buffer)`` (which may return new ones), its
    header's checksum made to match the edited records (a consistent file, as a faulty
    writer would make it: each record's own check is what is tested)."""
    header, buffer = json.loads(json.dumps(valid[0])), valid[1]
    out = fn(header, buffer)
    header = out[0] if out is not None else header
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("header_checksum"), str) and all(
            isinstance(meta.get(k), str) for k in schema.RECORDS):
        meta["header_checksum"] = schema.header_digest(meta)
    return _join(*out) if out is not None else _join(header, buffer)


def _set(entry, key, value):
    def fn(header, buffer):
        header[entry][key] = value

    return fn


def _meta(key, value):
    def fn(header, buffer):
        if value is None:
            del header["__metadata__"][key]
        else:
            header["__metadata__"][key] = value

    return fn


def _shift(header, buffer):  # params.2.W moved 4 bytes later: a gap before it
    for name in ("params.2.W", "params.2.b"):
        header[name]["data_offsets"] = [o + 4 for o in header[name]["data_offsets"]]
    b = header["params.1.b"]["data_offsets"][1]
    return header, buffer[:b] + b"\0" * 4 + buffer[b:]


def _overlap(header, buffer):  # params.1.b starts 4 bytes early; the tail is 4 bytes short
    for name in ("params.1.b", "params.2.W", "params.2.b"):
        header[name]["data_offsets"] = [o - 4 for o in header[name]["data_offsets"]]
    return header, buffer[:-4]


# (id, file bytes from `valid`, message pattern, whether safetensors rejects it too)
HOSTILE = [
    ("empty", lambda v: b"", r"empty file: not a jaxnn checkpoint", True),
    ("short", lambda v: b"\x05\0\0", r"too short: 3 bytes, fewer than the 8-byte header length", True),
    ("header longer than file", lambda v: (1000).to_bytes(8, "little") + b"{}",
     r"truncated: header declares 1000 bytes but the file has 2", True),
    ("header length absurd", lambda v: (2**60).to_bytes(8, "little") + b"{}" * 8,
     r"header length 1152921504606846976 is absurd", True),
    ("header length 2**64-1", lambda v: b"\xff" * 8 + b"{}", r"is absurd", True),
    ("header not JSON", lambda v: _join(b"{not json"), r"header is not valid JSON", True),
    ("header not UTF-8", lambda v: _join(b'{"\xff": 1}'), r"header is not valid UTF-8", True),
    ("header deeply nested", lambda v: _join(b"[" * 100_000 + b"]" * 100_000), r"header is not valid JSON", True),
    ("header NaN", lambda v: _join(b'{"x": NaN}'), r"header is not valid JSON", True),
    ("header a list", lambda v: _join(b"[1, 2]"), r"header is JSON but not an object \(got a list\)", True),
    ("header a string", lambda v: _join(b'"abc"'), r"header is JSON but not an object \(got a str\)", True),
    ("duplicate key", lambda v: _join(b'{"a": 1, "a": 2}'), r"the key 'a' appears twice", False),
    ("unknown dtype", lambda v: _edit(v, _set("params.1.W", "dtype", "Q4")),
     r"tensor 'params\.1\.W': unknown dtype 'Q4'; expected one of F64, F32", True),
    ("dtype not a string", lambda v: _edit(v, _set("params.1.W", "dtype", 4)), r"unknown dtype 4", True),
    ("entry not an object", lambda v: _edit(v, lambda h, b: h.update({"params.1.W": [1]})),
     r"tensor 'params\.1\.W': expected an object with the keys dtype, shape, data_offsets", True),
    ("entry extra key", lambda v: _edit(v, _set("params.1.W", "crc", 1)), r"expected an object with the keys", False),
    ("shape negative", lambda v: _edit(v, _set("params.1.W", "shape", [-5, 3])),
     r"shape must be a list of at most 64 non-negative ints; got \[-5, 3\]", True),
    ("shape floats", lambda v: _edit(v, _set("params.1.W", "shape", [5.0, 3])), r"shape must be a list", True),
    ("shape absurd", lambda v: _edit(v, _set("params.1.W", "shape", [0, 2**62, 2**62])), r"is too large for an array", False),
    ("offsets reversed", lambda v: _edit(v, _set("params.1.W", "data_offsets", [60, 0])),
     r"data_offsets must be \[begin, end\] with 0 ≤ begin ≤ end; got \[60, 0\]", True),
    ("offsets negative", lambda v: _edit(v, _set("params.1.W", "data_offsets", [-4, 56])), r"data_offsets must be", True),
    ("offsets out of range", lambda v: _edit(v, _set("params.2.b", "data_offsets", [120, 2**40])),
     r"offsets out of range: tensor 'params\.2\.b' has data_offsets \[120, 1099511627776\] but the data buffer has only 128 bytes", True),
    ("file truncated", lambda v: _join(v[0], v[1][:-1]), r"offsets out of range: .* only 127 bytes", True),
    ("span not matching shape", lambda v: _edit(v, _set("params.2.b", "shape", [3])),
     r"tensor 'params\.2\.b': data_offsets \[120, 128\] span 8 bytes, but shape \(3,\) of F32 needs 12", True),
    ("overlapping offsets", lambda v: _edit(v, _overlap), r"tensors 'params\.1\.W' and 'params\.1\.b' overlap", True),
    ("gap between tensors", lambda v: _edit(v, _shift),
     r"offsets not contiguous: bytes \[80, 84\) of the data buffer belong to no tensor \(before 'params\.2\.W'\)", True),
    ("trailing bytes", lambda v: _join(v[0], v[1] + b"\0" * 8),
     r"trailing bytes: the tensors end at byte 128 of the data buffer but it has 136", True),
    ("no metadata", lambda v: _edit(v, lambda h, b: h.pop("__metadata__") and None), r"not a jaxnn checkpoint: the header has no __metadata__", False),
    ("metadata not str to str", lambda v: _edit(v, _meta("step", 4)), r"__metadata__ must map strings to strings", True),
    ("no format", lambda v: _edit(v, _meta("format", None)), r"not a jaxnn checkpoint: __metadata__ has no 'format' key", False),
    ("other format", lambda v: _edit(v, _meta("format", "pt")), r"not a jaxnn checkpoint: format 'pt'; this version of jaxnn reads 'jaxnn-checkpoint/2' \(and the older 'jaxnn-checkpoint/1'\)", False),
    ("jaxnn key missing", lambda v: _edit(v, _meta("opt_state_type", None)), r"metadata lacks the jaxnn keys \['opt_state_type'\]", False),
    ("network not JSON", lambda v: _edit(v, _meta("network", "{oops")), r"metadata 'network' is not valid JSON", False),
    ("user metadata not JSON", lambda v: _edit(v, _meta("metadata", "{'k': 1}")), r"metadata 'metadata' is not valid JSON", False),
    ("user metadata not an object", lambda v: _edit(v, _meta("metadata", "[1]")), r"metadata 'metadata' must be a JSON object; got a list", False),
    ("network keys wrong", lambda v: _edit(v, _meta("network", '{"sizes": [3, 5, 2]}')),
     r"network description is invalid: a network description has the keys", False),
    ("network sizes wrong", lambda v: _edit(v, _meta("network", json.dumps(NET.to_dict() | {"sizes": [3, -5, 2]}))),
     r"network description is invalid: every size must be a positive int", False),
    ("network sizes not a list", lambda v: _edit(v, _meta("network", json.dumps(NET.to_dict() | {"sizes": 7}))),
     r"network description is invalid", False),
    ("network activation unknown", lambda v: _edit(v, _meta("network", json.dumps(NET.to_dict() | {"activations": ["tanh", "softmaks"]}))),
     r"network description is invalid: unknown activation 'softmaks'", False),
    ("network a list", lambda v: _edit(v, _meta("network", "[3, 5, 2]")), r"network description is invalid: a network description is a dict; got list", False),
    ("step negative", lambda v: _edit(v, _meta("step", "-1")), r"metadata 'step' must be a non-negative integer; got '-1'", False),
    ("step with spaces", lambda v: _edit(v, _meta("step", " 4")), r"metadata 'step' must be a non-negative integer", False),
    ("step huge", lambda v: _edit(v, _meta("step", "9" * 5000)), r"metadata 'step' must be a non-negative integer", False),
    ("leaves without type", lambda v: _edit(v, _meta("opt_state_leaves", "2")), r"metadata says 2 optimizer-state leaves but no opt_state_type", False),
    ("opt_state leaf missing", lambda v: _edit(v, lambda h, b: h["__metadata__"].update(opt_state_leaves="1", opt_state_type="X")),
     r"missing tensor 'opt_state\.0': the metadata says 1 optimizer-state leaves", False),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_file_raises_value_error(tmp_path, valid, case):
    _, make, match, reference_rejects = case
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make(valid))
    with pytest.raises(ValueError, match=match) as info:
        checkpoint.load(path)
    assert info.type is ValueError and str(info.value).startswith(f"{path}: ")
    if reference_rejects:  # the safetensors package refuses the same file
        with pytest.raises(Exception):  # noqa: B017 (SafetensorError, or its own ValueErrors)
            with safetensors.safe_open(path, framework="numpy") as f:
                f.get_tensor(next(iter(f.keys())))


def _theirs(tmp_path, tensors, **meta):
    """A file written by safetensors.numpy.save_file with jaxnn metadata."""
    path = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(tensors, path, metadata=_jaxnn_metadata(**meta))
    return path


def test_missing_stray_and_misshapen_tensors(tmp_path):
    arrays = _param_arrays(_trained()[0])
    cases = [
        ({k: v for k, v in arrays.items() if k != "params.2.b"},
         r"missing tensor 'params\.2\.b' \(layer 2's b, shape \(2,\)\) of the network \(3, 5, 2\)"),
        (arrays | {"extra": np.zeros(2, np.float32)},
         r"unexpected tensor\(s\) \['extra'\]: a jaxnn checkpoint of \(3, 5, 2\) holds only params"),
        (arrays | {"params.3.W": np.zeros(2, np.float32)}, r"unexpected tensor\(s\) \['params\.3\.W'\]"),
        (arrays | {"params.2.W": np.zeros((2, 6), np.float32)},
         r"layer 2: W has shape \(2, 6\) in the checkpoint; the network \(3, 5, 2\) expects \(2, 5\)"),
        (arrays | {"params.1.b": np.zeros((5, 1), np.float32)},
         r"layer 1: b has shape \(5, 1\) in the checkpoint; the network \(3, 5, 2\) expects \(5,\)"),
        (arrays | {"params.1.b": np.zeros(5, np.int32)},
         r"layer 1: b has dtype I32; parameters are floating point \(F64, F32, F16, BF16\)"),
    ]
    for tensors, match in cases:
        path = _theirs(tmp_path, tensors)
        with pytest.raises(ValueError, match=re.escape(f"{path}: ") + match):
            checkpoint.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.safetensors"))):
        checkpoint.load(tmp_path / "nope.safetensors")


def test_net_of_another_network(tmp_path):
    path = checkpoint.save(tmp_path / "c.safetensors", _trained()[0], net=NET, step=0)
    other = jaxnn.mlp((3, 7, 2), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.01)
    with pytest.raises(
        ValueError,
        match=re.escape(f"{path}: belongs to another network: checkpoint has sizes (3, 5, 2); "
                        "expected sizes (3, 7, 2). Fix:"),
    ):
        checkpoint.load(path, net=other)
    other = jaxnn.mlp((3, 5, 2), hidden="relu", output="softmax", cost="cross_entropy", l2=0.0)
    with pytest.raises(
        ValueError,
        match=re.escape("checkpoint has activations ('tanh', 'softmax'), l2 0.01; "
                        "expected activations ('relu', 'softmax'), l2 0.0."),
    ):
        checkpoint.load(path, net=other)
    with pytest.raises(TypeError, match="net must be a jaxnn.Network or None; got tuple"):
        checkpoint.load(path, net=(3, 5, 2))


def test_opt_state_like_that_does_not_fit(tmp_path):
    params, state = _trained()
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=3)
    prefix = re.escape(f"{path}: ")
    other_params, _ = _trained(net=jaxnn.mlp((3, 7, 2)), updates=0)
    cases = [
        (optimizers.sgd(0.1).init(params),
         r"holds the optimizer state of adam \(AdamState\), but the one expected is of sgd \(SgdState\)"),
        (ADAM.init(other_params),
         r"opt_state leaf 2 \(AdamState\.velocity\[0\]\.W\) has shape \(5, 3\) in the checkpoint; the optimizer state expected has \(7, 3\)"),
        (state._replace(count=jnp.zeros((), jnp.int16)),
         r"opt_state leaf 0 \(AdamState\.count\) has dtype int32 in the checkpoint; the optimizer state expected has int16"),
        (state._replace(velocity=state.velocity[:1]),
         r"optimizer state has 10 leaves in the checkpoint; the AdamState expected has 8"),
    ]
    for template, match in cases:
        with pytest.raises(ValueError, match=prefix + match):
            checkpoint.load(path, opt_state_like=template)
    no_state = checkpoint.save(tmp_path / "n.safetensors", params, net=NET, step=3)
    with pytest.raises(ValueError, match=r"holds no optimizer state \(saved with opt_state=None\)"):
        checkpoint.load(no_state, opt_state_like=state)


# ---------------------------------------------------------------------------------------
# Random damage: a ValueError or a successful load, nothing else, never a hang; damaged
# tensor data never loads (the checksum), except from files written without one.


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """(valid bytes, where the data buffer starts, a scratch file, the state template)."""
    params, state = _trained()
    path = tmp_path_factory.mktemp("damage") / "c.safetensors"
    checkpoint.save(path, params, state, net=NET, step=3, metadata=USER)
    raw = path.read_bytes()
    return raw, 8 + int.from_bytes(raw[:8], "little"), path.with_name("d.safetensors"), state


@settings(max_examples=150, deadline=2000)
@given(cut=st.integers(0, 10**6))
def test_random_truncation_raises_value_error(damaged, cut):
    raw, _, scratch, state = damaged
    scratch.write_bytes(raw[: cut % len(raw)])
    with pytest.raises(ValueError, match=re.escape(f"{scratch}: ")):
        checkpoint.load(scratch, opt_state_like=state)


@settings(max_examples=200, deadline=2000)
@given(position=st.integers(0, 10**6), mask=st.integers(1, 255))
def test_random_byte_flip_loads_or_raises_value_error(damaged, position, mask):
    raw, data_start, scratch, state = damaged
    position %= len(raw)
    flipped = bytearray(raw)
    flipped[position] ^= mask
    scratch.write_bytes(bytes(flipped))
    for template in (None, state):
        try:
            ckpt = checkpoint.load(scratch, opt_state_like=template)
        except ValueError as e:
            assert str(e).startswith(f"{scratch}: ")
            if position >= data_start:
                assert "is damaged: its tensor data does not match its checksum" in str(e)
        else:
            assert position < data_start, "a flip in the tensor data must fail the checksum"
            assert len(ckpt.params) == NET.num_layers


@pytest.mark.parametrize("position", ["first", "last"])
def test_flip_in_data_region_changes_exactly_that_value(damaged, position):
    raw, data_start, scratch, state = damaged
    i = data_start if position == "first" else len(raw) - 1
    flipped = bytearray(raw)
    flipped[i] ^= 0x01
    scratch.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=re.escape(f"{scratch}: is damaged: its tensor data does not match its checksum")):
        checkpoint.load(scratch, opt_state_like=state)
    # A file written without a checksum (before there was one) loads the flipped value.
    header, buffer = _split(scratch)
    del header["__metadata__"]["checksum"], header["__metadata__"]["header_checksum"]
    header["__metadata__"]["format"] = "jaxnn-checkpoint/1"
    scratch.write_bytes(_join(header, buffer))
    ckpt = checkpoint.load(scratch, opt_state_like=state)
    names = list(_param_arrays(ckpt.params)) + [f"opt_state.{i}" for i in range(len(jax.tree.leaves(state)))]
    loaded = jax.tree.leaves((ckpt.params, ckpt.opt_state))
    for name, x in zip(names, loaded, strict=True):  # each tensor from its own bytes of the file
        begin, end = header[name]["data_offsets"]
        assert np.asarray(x).tobytes() == buffer[begin:end], name
    assert buffer == bytes(flipped[data_start:])


# ---------------------------------------------------------------------------------------
# No code-executing deserialisation anywhere in the package.


def test_package_never_unpickles():
    package = Path(jaxnn.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert Path(checkpoint.__file__) in sources
    for source in sources:
        text = source.read_text(encoding="utf-8")
        where = source.relative_to(package.parent)
        assert "allow_pickle=True" not in text, where
        assert "torch.load" not in text, where
        for call in re.finditer(r"\bn(?:um)?p(?:y)?\.load\(", text):
            line = text[call.start() : text.find("\n", call.start())]
            assert "allow_pickle=False" in line, f"{where}: {line}"
        assert "pickle" not in text.replace("allow_pickle=False", "").lower(), where
