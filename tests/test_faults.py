"""Faults: corrupt and hostile files.

What tests/test_data.py and tests/test_checkpoint.py do not already cover: crafted IDX
headers, bit flips and truncations of IDX files, crafted checkpoint headers, each a
ValueError (or a correct load), fast and without allocating more than the file justifies;
``jaxnn evaluate`` on a bit-flipped checkpoint exits 0 or 2 with a message, never a
traceback; nothing in the package runs code when it loads a file.

(Numerical faults, divergence and determinism: tests/test_faults_numeric.py.)
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import time
import tracemalloc
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import checkpoint, data, optimizers
from jaxnn.cli import main


def _run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


# ---------------------------------------------------------------------------------------
# Hostile IDX files: crafted headers, bit flips, truncations.

IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
HUGE_DIMS = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([2**32 - 1, 2**31, 60_000, 28]))
MEMORY_BOUND = 8 * 2**20  # bytes: what any of these files can justify, with gzip's buffers


def _bounded(fn, source):
    """Run ``fn(source)``: a ValueError or an array, in under two seconds of this
    process's CPU time (not wall time, which a loaded machine stretches) and without a
    large allocation. Returns the array or None."""
    tracemalloc.start()
    t0 = time.process_time()
    try:
        try:
            out = fn(source)
        except ValueError as e:
            assert str(e), "an empty message"
            out = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.process_time() - t0 < 2.0
    assert peak < MEMORY_BOUND, peak
    return out


@st.composite
def crafted_idx(draw):
    magic = draw(st.sampled_from([b"\0\0", b"\0\0", b"\0\0", b"\x01\0", b"\0\x08"]))
    code = draw(st.sampled_from(IDX_CODES + [0x00, 0x07, 0xFF]))
    ndim = draw(st.integers(0, 6))
    dims = draw(st.lists(HUGE_DIMS, min_size=ndim, max_size=ndim))
    raw = magic + bytes([code, ndim]) + np.asarray(dims, ">u4").tobytes()
    raw += draw(st.binary(max_size=300))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return gzip.compress(raw, mtime=0) if draw(st.booleans()) else raw


@settings(max_examples=150, deadline=None)
@given(blob=crafted_idx())
def test_crafted_idx_headers_fail_fast_without_allocating(blob):
    array = _bounded(data.read_idx, blob)
    if array is not None:  # only a header that matches its payload exactly can load
        raw = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        assert 4 + 4 * array.ndim + array.nbytes == len(raw)


def _valid_idx(compress: bool) -> bytes:
    array = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    raw = bytes([0, 0, 0x0D, 3]) + np.asarray(array.shape, ">u4").tobytes()
    raw += array.astype(">f4").tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


@settings(max_examples=150, deadline=None)
@given(compress=st.booleans(), position=st.integers(0, 10**6), mask=st.integers(1, 255),
       cut=st.none() | st.integers(0, 10**6))
# Found by hypothesis: the first dimension 5 flipped to 4 and the file cut to 16 + 4·4·3·4
# bytes is a valid IDX file of shape (4, 4, 3).
@example(compress=False, position=7, mask=1, cut=208)
def test_bit_flipped_or_truncated_idx_files(compress, position, mask, cut):
    blob = bytearray(_valid_idx(compress))
    blob[position % len(blob)] ^= mask
    if cut is not None:
        blob = blob[: cut % len(blob)]
    blob = bytes(blob)
    array = _bounded(data.read_idx, blob)
    if array is not None:  # a flip in the payload, a same-size dtype code, or a flipped
        # dimension with a cut that fits it: only a header matching its payload loads
        raw = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        assert 4 + 4 * array.ndim + array.nbytes == len(raw)


def test_idx_file_on_disk_same_as_bytes(tmp_path):
    path = tmp_path / "x.idx.gz"
    blob = bytearray(_valid_idx(True))
    blob[len(blob) // 2] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"x\.idx\.gz: (corrupt gzip stream|truncated)"):
        data.read_idx(path)


# ---------------------------------------------------------------------------------------
# Hostile checkpoints: crafted headers (huge shapes, wrong dtypes, metadata not JSON).

SMALL = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
SMALL_PARAMS = jaxnn.init_params(jax.random.key(0), SMALL)


@pytest.fixture(scope="module")
def valid_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "ok.safetensors"
    checkpoint.save(path, SMALL_PARAMS, optimizers.sgd(0.1).init(SMALL_PARAMS), net=SMALL,
                    step=7, metadata={"history": [{"epoch": 1}]})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :], path.with_name("crafted.safetensors")


JUNK_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["{not json", "[1, 2]", "NaN", '{"sizes": [3, 4, 2]}', "9" * 400, "-1", "", "null"]))
SHAPES = st.lists(st.one_of(st.integers(0, 2**63), st.integers(-3, 8)), max_size=5)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(
    st.sampled_from(["params.1.W", "params.1.b", "params.2.W", "opt_state.0", "__metadata__"]),
    st.sampled_from(["dtype", "shape", "data_offsets", "network", "step", "metadata",
                     "opt_state_leaves", "format"]),
    st.one_of(JUNK_TEXT, SHAPES, st.integers(-2**64, 2**64),
              st.sampled_from(["F32", "F64", "I32", "BOOL", "Q4", "F16"]))),
    min_size=1, max_size=4), cut=st.none() | st.integers(0, 4096))
def test_crafted_checkpoint_headers_fail_fast_without_allocating(valid_checkpoint, edits, cut):
    header, buffer, path = valid_checkpoint
    header = json.loads(json.dumps(header))
    for name, key, value in edits:
        if name == "__metadata__":
            header[name][key] = value if isinstance(value, str) else json.dumps(value)
        elif key in ("dtype", "shape", "data_offsets") and isinstance(header[name], dict):
            header[name][key] = value
        else:
            header[name] = value  # an entry that is not an object at all
    text = json.dumps(header).encode()
    blob = len(text).to_bytes(8, "little") + text + buffer
    path.write_bytes(blob if cut is None else blob[:cut])
    ckpt = _bounded(checkpoint.load, path)
    if ckpt is not None:  # the edits happened to keep a valid checkpoint
        assert [W.shape for W, _ in ckpt.params] == [(4, 3), (2, 4)]


# ---------------------------------------------------------------------------------------
# `jaxnn evaluate` on a bit-flipped checkpoint: exit 0 or 2 with a message, no traceback.

MNIST_NET = jaxnn.mlp((784, 16, 10), hidden="relu", output="softmax", cost="cross_entropy")


@pytest.fixture(scope="module")
def mnist_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flip")
    params = jaxnn.init_params(jax.random.key(1), MNIST_NET, "he_normal")
    path = checkpoint.save(folder / "ok.safetensors", params,
                           optimizers.adam(1e-3).init(params), net=MNIST_NET, step=3)
    raw = path.read_bytes()
    return raw, 8 + int.from_bytes(raw[:8], "little"), folder / "flipped.safetensors"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.one_of(st.integers(0, 2000), st.integers(0, 10**6)),
       mask=st.integers(1, 255))
def test_evaluate_on_a_bit_flipped_checkpoint_never_shows_a_traceback(mnist_checkpoint,
                                                                      position, mask):
    raw, data_start, path = mnist_checkpoint
    flipped = bytearray(raw)
    position %= len(raw)
    flipped[position] ^= mask
    path.write_bytes(bytes(flipped))
    code, err = _run(["evaluate", str(path)])
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("jaxnn evaluate: error: ") and len(err.splitlines()) == 1, err


def test_evaluate_on_a_checkpoint_whose_header_is_flipped_exits_2(mnist_checkpoint):
    raw, _, path = mnist_checkpoint
    flipped = bytearray(raw)
    flipped[8] ^= ord("{") ^ ord("[")  # the header's opening brace
    path.write_bytes(bytes(flipped))
    code, err = _run(["evaluate", str(path)])
    assert code == 2 and "header is not valid JSON" in err and "Traceback" not in err


def test_nothing_in_the_package_runs_code_when_it_loads_a_file():
    """No pickle (tests/test_checkpoint.py greps for it) and no other loader that runs code."""
    package = Path(jaxnn.__file__).parent
    for source in sorted(package.rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        for banned in ("import marshal", "import shelve", "import dill", "import joblib",
                       "cloudpickle", "eval(", "exec(", "yaml.load(", "torch.load"):
            # a call of that name, not a longer one (jax.ensure_compile_time_eval())
            assert not re.search(rf"(?<!\w){re.escape(banned)}", text), \
                f"{source.name}: {banned}"
