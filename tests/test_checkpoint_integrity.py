"""Checkpoint integrity (issue 14): the checksum of the tensor data, optimizer-state values,
the bound on user metadata, write errors that name the file, paths that are directories,
and files written before the safetensors package and the checksum."""

import base64
import errno
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import jaxnn
from jaxnn import checkpoint, optimizers
from jaxnn.checkpoint import safetensors_io

NET = jaxnn.mlp((3, 5, 2), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.01)
ADAM = optimizers.adam(1e-3)


def _params(net, dtype=jnp.float32):
    """Params of ``net`` counting up from −1 in steps of 1/8 (W^1, b^1, W^2, …)."""
    values, layers = np.arange(jaxnn.num_params(net)) / 8 - 1, []
    for w, b in net.shapes():
        W, values = values[: np.prod(w)].reshape(w), values[np.prod(w):]
        bias, values = values[: np.prod(b)].reshape(b), values[np.prod(b):]
        layers.append(jaxnn.Layer(jnp.asarray(W, dtype), jnp.asarray(bias, dtype)))
    return tuple(layers)


def _adam_state(params, count=5):
    return ADAM.init(params)._replace(
        count=jnp.asarray(count, jnp.int32),
        velocity=jax.tree.map(lambda x: x / 2, params),
        square_avg=jax.tree.map(lambda x: x * x, params),
    )


def _assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def _split(path):
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header, buffer):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + buffer


@pytest.fixture
def saved(tmp_path):
    """A checkpoint of NET with an Adam state: (path, params, state, its bytes)."""
    params = _params(NET)
    state = _adam_state(params)
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=5)
    return path, params, state, path.read_bytes()


def _assert_untouched(path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


# ---------------------------------------------------------------------------------------
# Files written by jaxnn before it used the safetensors package and wrote checksums (the
# bytes of `checkpoint.save` of that version): they load, bit for bit.

OLD_ADAM = (  # mlp((2, 3, 2), tanh, softmax, cross_entropy), _params, _adam_state(count=5), step 5
    'yAQAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJqYXhubi1jaGVja3BvaW50LzEiLCJuZXR3b3JrIjoi'
    'e1wic2l6ZXNcIjogWzIsIDMsIDJdLCBcImFjdGl2YXRpb25zXCI6IFtcInRhbmhcIiwgXCJzb2Z0bWF4XCJdLCBc'
    'ImNvc3RcIjogXCJjcm9zc19lbnRyb3B5XCIsIFwibDJcIjogMC4wfSIsInN0ZXAiOiI1Iiwib3B0X3N0YXRlX2xl'
    'YXZlcyI6IjEwIiwib3B0X3N0YXRlX3R5cGUiOiJBZGFtU3RhdGUiLCJtZXRhZGF0YSI6IntcImVwb2NoXCI6IDUs'
    'IFwiaGlzdG9yeVwiOiBbe1wiY29zdFwiOiAwLjV9XX0ifSwicGFyYW1zLjEuVyI6eyJkdHlwZSI6IkYzMiIsInNo'
    'YXBlIjpbMywyXSwiZGF0YV9vZmZzZXRzIjpbMCwyNF19LCJwYXJhbXMuMS5iIjp7ImR0eXBlIjoiRjMyIiwic2hh'
    'cGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbMjQsMzZdfSwicGFyYW1zLjIuVyI6eyJkdHlwZSI6IkYzMiIsInNoYXBl'
    'IjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbMzYsNjBdfSwicGFyYW1zLjIuYiI6eyJkdHlwZSI6IkYzMiIsInNoYXBl'
    'IjpbMl0sImRhdGFfb2Zmc2V0cyI6WzYwLDY4XX0sIm9wdF9zdGF0ZS4wIjp7ImR0eXBlIjoiSTMyIiwic2hhcGUi'
    'OltdLCJkYXRhX29mZnNldHMiOls2OCw3Ml19LCJvcHRfc3RhdGUuMSI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpb'
    'XSwiZGF0YV9vZmZzZXRzIjpbNzIsNzZdfSwib3B0X3N0YXRlLjIiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzMs'
    'Ml0sImRhdGFfb2Zmc2V0cyI6Wzc2LDEwMF19LCJvcHRfc3RhdGUuMyI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpb'
    'M10sImRhdGFfb2Zmc2V0cyI6WzEwMCwxMTJdfSwib3B0X3N0YXRlLjQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6'
    'WzIsM10sImRhdGFfb2Zmc2V0cyI6WzExMiwxMzZdfSwib3B0X3N0YXRlLjUiOnsiZHR5cGUiOiJGMzIiLCJzaGFw'
    'ZSI6WzJdLCJkYXRhX29mZnNldHMiOlsxMzYsMTQ0XX0sIm9wdF9zdGF0ZS42Ijp7ImR0eXBlIjoiRjMyIiwic2hh'
    'cGUiOlszLDJdLCJkYXRhX29mZnNldHMiOlsxNDQsMTY4XX0sIm9wdF9zdGF0ZS43Ijp7ImR0eXBlIjoiRjMyIiwi'
    'c2hhcGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbMTY4LDE4MF19LCJvcHRfc3RhdGUuOCI6eyJkdHlwZSI6IkYzMiIs'
    'InNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbMTgwLDIwNF19LCJvcHRfc3RhdGUuOSI6eyJkdHlwZSI6IkYz'
    'MiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzIwNCwyMTJdfX0gICAAAIC/AABgvwAAQL8AACC/AAAAvwAA'
    'wL4AAIC+AAAAvgAAAAAAAAA+AACAPgAAwD4AAAA/AAAgPwAAQD8AAGA/AACAPwUAAABvEoM6AAAAvwAA4L4AAMC+'
    'AACgvgAAgL4AAEC+AAAAvgAAgL0AAAAAAACAPQAAAD4AAEA+AACAPgAAoD4AAMA+AADgPgAAAD8AAIA/AABEPwAA'
    'ED8AAMg+AACAPgAAED4AAIA9AACAPAAAAAAAAIA8AACAPQAAED4AAIA+AADIPgAAED8AAEQ/AACAPw=='
)
OLD_ADAM_SHA256 = "e977e33a7bbb45e0e65566618f69523c2bf30261f11ed8e627c3eda75ca7cda8"
OLD_BF16 = (  # mlp((2, 2), sigmoid, binary_cross_entropy), _params in bfloat16, step 2
    'aAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJqYXhubi1jaGVja3BvaW50LzEiLCJuZXR3b3JrIjoi'
    'e1wic2l6ZXNcIjogWzIsIDJdLCBcImFjdGl2YXRpb25zXCI6IFtcInNpZ21vaWRcIl0sIFwiY29zdFwiOiBcImJp'
    'bmFyeV9jcm9zc19lbnRyb3B5XCIsIFwibDJcIjogMC4wfSIsInN0ZXAiOiIyIiwib3B0X3N0YXRlX2xlYXZlcyI6'
    'IjAiLCJvcHRfc3RhdGVfdHlwZSI6IiIsIm1ldGFkYXRhIjoie30ifSwicGFyYW1zLjEuVyI6eyJkdHlwZSI6IkJG'
    'MTYiLCJzaGFwZSI6WzIsMl0sImRhdGFfb2Zmc2V0cyI6WzAsOF19LCJwYXJhbXMuMS5iIjp7ImR0eXBlIjoiQkYx'
    'NiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzgsMTJdfX2Av2C/QL8gvwC/wL4='
)
OLD_BF16_SHA256 = "b5d85f2bbdd1796ab51363bda67e5dffb5eea07e00e612831c325ead4a56edec"


def _old_file(tmp_path, name, chunks, sha256):
    raw = base64.b64decode("".join(chunks))
    assert hashlib.sha256(raw).hexdigest() == sha256
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def test_checkpoints_written_before_the_package_still_load(tmp_path):
    net = jaxnn.mlp((2, 3, 2), hidden="tanh", output="softmax", cost="cross_entropy")
    params = _params(net)
    path = _old_file(tmp_path, "adam.safetensors", OLD_ADAM, OLD_ADAM_SHA256)
    header, _ = _split(path)
    assert "checksum" not in header["__metadata__"]
    assert header["params.1.W"]["data_offsets"] == [0, 24]  # jaxnn's own layout, not the package's
    ckpt = checkpoint.load(path, net=net, opt_state_like=ADAM.init(params))
    assert ckpt.step == 5 and ckpt.metadata == {"epoch": 5, "history": [{"cost": 0.5}]}
    _assert_identical(ckpt.params, params)
    _assert_identical(ckpt.opt_state, _adam_state(params))
    # Saved again, it takes the new layout and a checksum, and loads the same.
    again = checkpoint.save(path, ckpt.params, ckpt.opt_state, net=net, step=5, metadata=ckpt.metadata)
    assert _split(again)[0]["__metadata__"]["checksum"].startswith("sha256:")
    reloaded = checkpoint.load(again, opt_state_like=ckpt.opt_state)
    assert reloaded.net == net and reloaded.step == 5 and reloaded.metadata == ckpt.metadata
    _assert_identical(reloaded.params, ckpt.params)
    _assert_identical(reloaded.opt_state, ckpt.opt_state)

    net = jaxnn.mlp((2, 2), output="sigmoid", cost="binary_cross_entropy")
    path = _old_file(tmp_path, "bf16.safetensors", OLD_BF16, OLD_BF16_SHA256)
    ckpt = checkpoint.load(path, net=net)
    assert ckpt.step == 2 and ckpt.opt_state is None and ckpt.metadata == {}
    assert ckpt.params[0].W.dtype == jnp.bfloat16
    _assert_identical(ckpt.params, _params(net, jnp.bfloat16))


# ---------------------------------------------------------------------------------------
# The checksum of the tensor data.


def _zero(name):
    def edit(header, buffer):
        begin, end = header[name]["data_offsets"]
        return header, buffer[:begin] + bytes(end - begin) + buffer[end:]

    return edit


def _swap(a, b):  # two tensors of one shape and dtype trade places: still a tiling
    def edit(header, buffer):
        header[a]["data_offsets"], header[b]["data_offsets"] = (
            header[b]["data_offsets"], header[a]["data_offsets"])
        return header, buffer

    return edit


def _all_zero(header, buffer):
    return header, bytes(len(buffer))


@pytest.mark.parametrize("edit", [_all_zero, _zero("params.2.W"), _zero("opt_state.0"),
                                  _swap("params.1.W", "opt_state.2")],
                         ids=["all zero", "one tensor zeroed", "count zeroed", "two swapped"])
def test_damaged_tensor_data_is_refused(saved, edit):
    path, params, state, _ = saved
    path.write_bytes(_join(*edit(*_split(path))))
    message = f"{path}: is damaged: its tensor data does not match its checksum"
    for template in (None, state):
        with pytest.raises(ValueError, match=re.escape(message)):
            checkpoint.load(path, opt_state_like=template)


def test_jaxnn_evaluate_refuses_a_zeroed_checkpoint(saved, capsys):
    from jaxnn.cli import main

    path, *_ = saved
    path.write_bytes(_join(*_all_zero(*_split(path))))
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is damaged: its tensor data does not match its checksum" in err
    assert "Traceback" not in err


def test_checksum_that_is_not_one(saved):
    path, *_ = saved
    header, buffer = _split(path)
    header["__metadata__"]["checksum"] = "md5:1234"
    path.write_bytes(_join(header, buffer))
    with pytest.raises(ValueError, match=re.escape(f"{path}: metadata 'checksum' must be 'sha256:' and 64 hex digits; got 'md5:1234'")):
        checkpoint.load(path)


def test_checksum_does_not_depend_on_the_layout(saved, tmp_path):
    """Another writer's layout of the same tensors (safetensors' save_file) verifies too."""
    path, params, state, _ = saved
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    tensors = safetensors.numpy.load_file(path)
    tensors = {name: tensors[name] for name in sorted(tensors, reverse=True)}
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file(tensors, other, metadata=meta)
    _assert_identical(checkpoint.load(other, opt_state_like=state).opt_state, state)


# ---------------------------------------------------------------------------------------
# Optimizer-state values: counts ≥ 0, finite moments and rates.


def _with_leaf(state, i, value):
    leaves, treedef = jax.tree.flatten(state)
    leaves[i] = value
    return jax.tree.unflatten(treedef, leaves)


BAD_LEAVES = [  # (leaf index, the bad value from the leaf, message)
    (0, lambda x: jnp.asarray(-3, jnp.int32),
     r"'opt_state\.0' \({}count\) holds -3, but counts of updates are never negative"),
    (1, lambda x: jnp.asarray(jnp.inf, x.dtype),
     r"'opt_state\.1' \({}learning_rate\) holds inf, but an optimizer's moments and rates are finite"),
    (2, lambda x: x.at[1, 2].set(jnp.nan),
     r"'opt_state\.2' \({}velocity\[0\]\.W\) holds nan, but an optimizer's moments and rates are finite"),
    (9, lambda x: x.at[0].set(-jnp.inf), r"'opt_state\.9' \({}square_avg\[1\]\.b\) holds -inf"),
]


@pytest.mark.parametrize("i, bad, match", BAD_LEAVES, ids=["count", "rate", "moment NaN", "moment -inf"])
@pytest.mark.parametrize("checksum", [True, False], ids=["with checksum", "old file"])
def test_bad_optimizer_state_values_are_refused_by_name(saved, i, bad, match, checksum):
    path, params, state, _ = saved
    leaves = jax.tree.leaves(state)
    tensors = {f"params.{l}.{f}": np.asarray(getattr(layer, f))
               for l, layer in enumerate(params, start=1) for f in ("W", "b")}
    tensors |= {f"opt_state.{j}": np.asarray(bad(x) if j == i else x) for j, x in enumerate(leaves)}
    meta = _split(path)[0]["__metadata__"]
    if checksum:  # a file whose checksum matches what is in it: the values are still checked
        meta["checksum"] = safetensors_io.digest(tensors)
    else:  # a file of format 1, from before the checksums
        del meta["checksum"], meta["header_checksum"]
        meta["format"] = "jaxnn-checkpoint/1"
    safetensors.numpy.save_file(tensors, path, metadata=meta)
    with pytest.raises(ValueError, match=re.escape(f"{path}: optimizer-state tensor ") + match.format(r"AdamState\.")):
        checkpoint.load(path, opt_state_like=state)
    without = match.split(" holds")[0].replace(r"\({}", r"\(").split(r"\(")[0]
    with pytest.raises(ValueError, match=without + r"\(leaf \d of the AdamState\) holds"):
        checkpoint.load(path)


@pytest.mark.parametrize("i, bad, match", BAD_LEAVES, ids=["count", "rate", "moment NaN", "moment -inf"])
def test_save_refuses_optimizer_state_it_could_not_load(saved, i, bad, match):
    path, params, state, old = saved
    state = _with_leaf(state, i, bad(jax.tree.leaves(state)[i]))
    field = match.split(r"\({}")[1].split(r"\)")[0]
    with pytest.raises(ValueError, match=r"opt_state\." + field + r" holds .*could not be resumed from; nothing was written"):
        checkpoint.save(path, params, state, net=NET, step=6)
    _assert_untouched(path, old)


# ---------------------------------------------------------------------------------------
# User metadata: bounded at save, so that load never refuses what save wrote.


def _metadata_of(size):
    """A dict whose JSON is ``size`` bytes."""
    return {"log": "x" * (size - len('{"log": ""}'))}


def test_metadata_over_the_limit_is_refused_at_save(saved):
    path, params, state, old = saved
    limit = checkpoint.MAX_METADATA_BYTES
    with pytest.raises(ValueError, match=rf"metadata must be at most {limit} bytes as JSON; got {limit + 1} bytes"):
        checkpoint.save(path, params, state, net=NET, step=6, metadata=_metadata_of(limit + 1))
    _assert_untouched(path, old)
    checkpoint.save(path, params, state, net=NET, step=6, metadata=_metadata_of(limit))
    assert checkpoint.load(path).metadata == _metadata_of(limit)  # the largest save takes loads


def test_metadata_nested_too_deeply_is_refused_at_save(saved):
    path, params, state, old = saved
    deep = []
    for _ in range(sys.getrecursionlimit() + 10):
        deep = [deep]
    with pytest.raises(ValueError, match=r"metadata must be nested less deeply than Python's recursion limit"):
        checkpoint.save(path, params, state, net=NET, step=6, metadata={"deep": deep})
    _assert_untouched(path, old)


def test_header_over_the_safetensors_limit_is_refused_at_save(saved, monkeypatch):
    path, params, state, old = saved
    monkeypatch.setattr(checkpoint, "MAX_HEADER_BYTES", 500)
    with pytest.raises(ValueError, match=r"the checkpoint's header must be at most 500 bytes .*; this one would be \d+"):
        checkpoint.save(path, params, state, net=NET, step=6)
    _assert_untouched(path, old)


# ---------------------------------------------------------------------------------------
# Write errors: an OSError of the same errno that names the file and says what to do; no
# temporary file left, the previous checkpoint intact.


def _failing_write(code):
    real, calls = os.write, []

    def write(fd, data):
        calls.append(1)
        if len(calls) > 1:  # the header went through; the tensor data does not
            raise OSError(code, os.strerror(code))
        return real(fd, data)

    return write


@pytest.mark.parametrize("code, fix", [
    (errno.ENOSPC, "free space on that file system, or save to another one"),
    (errno.EDQUOT, "free space within your disk quota"),
    (errno.EFBIG, "(`ulimit -f`); raise the limit"),
    (errno.EIO, "check the path and the disk, then save again"),
], ids=["ENOSPC", "EDQUOT", "EFBIG", "EIO"])
def test_write_error_names_the_file(saved, monkeypatch, code, fix):
    path, params, state, old = saved
    monkeypatch.setattr(os, "write", _failing_write(code))
    with pytest.raises(OSError) as info:
        checkpoint.save(path, params, _adam_state(params, 6), net=NET, step=6)
    monkeypatch.undo()
    e = info.value
    assert e.errno == code and type(e) is type(OSError(code, "x"))  # e.g. PermissionError stays one
    assert str(e).startswith(f"[Errno {code}] {path}: cannot write the checkpoint ({os.strerror(code)}); "
                             "nothing was changed there and a previous checkpoint at that path is intact. Fix: ")
    assert fix in str(e)
    _assert_untouched(path, old)


def test_unwritable_directory_names_the_file(saved, monkeypatch):
    path, params, state, old = saved
    if os.geteuid() == 0:  # root writes anywhere: make the temporary file fail as it would
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        os.chmod(path.parent, 0o500)
    try:
        with pytest.raises(PermissionError, match=re.escape(f"{path}: cannot write the checkpoint (Permission denied)") + ".*Fix: make the directory writable"):
            checkpoint.save(path, params, state, net=NET, step=6)
    finally:
        os.chmod(path.parent, 0o700)
    monkeypatch.undo()
    _assert_untouched(path, old)


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    import jax, jaxnn
    from jaxnn import checkpoint
    net = jaxnn.mlp((300, 300, 2))
    params = jaxnn.init_params(jax.random.key(0), net)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    try:
        checkpoint.save(sys.argv[1], params, net=net, step=1)
    except OSError as e:
        print(type(e).__name__, e.errno, e, sep="|")
    else:
        print("saved")
""")


def test_file_size_limit_in_a_subprocess(saved):
    """A real EFBIG: RLIMIT_FSIZE below the new checkpoint's size (360 kB of weights)."""
    path, _, _, old = saved
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    kind, code, message = out.stdout.strip().split("|")
    assert (kind, int(code)) == ("OSError", errno.EFBIG)
    assert message.startswith(f"[Errno {errno.EFBIG}] {path}: cannot write the checkpoint (")
    assert "a previous checkpoint at that path is intact" in message and "ulimit -f" in message
    _assert_untouched(path, old)
    assert checkpoint.load(path).step == 5


# ---------------------------------------------------------------------------------------
# Paths that are directories: a suggestion that exists, never …/x.safetensors/x.safetensors.


def test_directory_named_like_a_checkpoint(tmp_path):
    params = _params(NET)
    folder = tmp_path / "run" / "checkpoint.safetensors"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape(f"{folder}: is a directory, not a checkpoint file. Fix: pass the path of a checkpoint file; this directory holds none")) as info:
        checkpoint.load(folder)
    assert "checkpoint.safetensors/checkpoint.safetensors" not in str(info.value)
    with pytest.raises(ValueError, match=re.escape(f"{folder}: is a directory; a checkpoint is a file. Fix: remove that directory, or save to another name such as '{folder.parent / 'checkpoint-1.safetensors'}'")) as info:
        checkpoint.save(folder, params, net=NET, step=0)
    assert "checkpoint.safetensors/checkpoint.safetensors" not in str(info.value)


def test_directory_holding_a_checkpoint_suggests_it(tmp_path):
    path = checkpoint.save(tmp_path / "run" / "best.safetensors", _params(NET), net=NET, step=0)
    with pytest.raises(ValueError, match=re.escape(f"{path.parent}: is a directory, not a checkpoint file. Fix: pass the file inside it, e.g. {path}.")):
        checkpoint.load(path.parent)


# ---------------------------------------------------------------------------------------
# Resuming in another precision or with another optimizer: said in user terms.


def test_resume_in_another_precision(tmp_path):
    params = _params(NET)
    path32 = checkpoint.save(tmp_path / "f32.safetensors", params, _adam_state(params), net=NET, step=1)
    with jax.enable_x64(True):
        p64 = _params(NET, jnp.float64)
        path64 = checkpoint.save(tmp_path / "f64.safetensors", p64, _adam_state(p64), net=NET, step=1)
        with pytest.raises(ValueError, match=re.escape(f"{path32}: was saved in float32 (opt_state leaf 1 (AdamState.learning_rate) is float32), but the optimizer state expected is float64. Fix: resume in the precision it was trained in (without --x64")):
            checkpoint.load(path32, opt_state_like=ADAM.init(p64))
    with pytest.raises(ValueError, match=re.escape(f"{path64}: was saved in float64") + r".*\(with --x64"):
        checkpoint.load(path64, opt_state_like=ADAM.init(params))


# ---------------------------------------------------------------------------------------
# The header: its checksum covers the network, optimizer and step records (format 2).


def _rewrite(path, old: bytes, new: bytes, after: bytes = b'"network":"') -> None:
    """Replace the first ``old`` after ``after`` by ``new`` (same length): an edit of what
    the file means (the header's keys come in any order)."""
    raw = path.read_bytes()
    at = raw.find(old, raw.find(after))
    assert len(old) == len(new) and at >= 0, (old, raw[:400])
    path.write_bytes(raw[:at] + new + raw[at + len(old):])


@pytest.mark.parametrize("old, new", [(b"relu", b"tanh"), (b'\\"l2\\": 0.0', b'\\"l2\\": 8.0'),
                                      (b'"step":"3"', b'"step":"7"')],
                         ids=["activation", "l2 (one bit)", "step"])
def test_an_edited_header_is_damage(tmp_path, old, new):
    net = jaxnn.mlp((3, 4, 2), hidden="relu", output="softmax", cost="cross_entropy")
    path = checkpoint.save(tmp_path / "c.safetensors", _params(net), net=net, step=3)
    assert checkpoint.load(path).net == net
    _rewrite(path, old, new, after=b"" if old.startswith(b'"step"') else b'"network":"')
    with pytest.raises(ValueError, match=re.escape(
            f"{path}: is damaged: its header's records (the network, the optimizer state's "
            "type and leaves, the step or the metadata) do not match their checksum")):
        checkpoint.load(path)


def test_an_older_file_loads_and_says_so(tmp_path):
    path = checkpoint.save(tmp_path / "c.safetensors", _params(NET), net=NET, step=3)
    header, _ = _split(path)
    meta = header["__metadata__"]
    del meta["header_checksum"]
    meta["format"] = "jaxnn-checkpoint/1"
    safetensors.numpy.save_file(safetensors.numpy.load_file(path), path, metadata=meta)
    with pytest.warns(checkpoint.schema.OlderFormat, match=re.escape(
            f"{path}: a checkpoint of the older format jaxnn-checkpoint/1, whose checksum "
            "covers the tensors only")):
        assert checkpoint.load(path).net == NET


def test_resume_and_evaluate_blame_an_edited_file(tmp_path, capsys):
    from jaxnn.cli import main

    run = tmp_path / "run"
    assert main(["train", "--sizes", "784,8,10", "--batch-size", "500", "--epochs", "1",
                 "--quiet", "--out", str(run)]) == 0
    ckpt = run / "checkpoint.safetensors"
    _rewrite(ckpt, b'[\\"relu\\", \\"softmax\\"]', b'[\\"tanh\\", \\"softmax\\"]')
    capsys.readouterr()
    for argv in (["train", "--resume", "--out", str(run), "--epochs", "2"],
                 ["evaluate", str(run)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{ckpt}: is damaged: its header's records" in err, err
        assert "flags" not in err and "another network" not in err, err
    # An older file (no header checksum) edited the same way: evaluate compares it with
    # the run's config.json, and says the file is of the older format.
    header, _ = _split(ckpt)
    meta = header["__metadata__"]
    del meta["header_checksum"]
    meta["format"] = "jaxnn-checkpoint/1"
    safetensors.numpy.save_file(safetensors.numpy.load_file(ckpt), ckpt, metadata=meta)
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "jaxnn evaluate: warning: " + f"{ckpt}: a checkpoint of the older format" in err
    assert f"jaxnn evaluate: error: {ckpt} and the config.json beside it record different " \
        "networks: activations ['tanh', 'softmax'] in the checkpoint, ['relu', 'softmax'] in " \
        "config.json. One of the two files was edited" in err, err


def test_an_optax_state_with_an_unknown_rate_round_trips(tmp_path):
    """The adapter's NaN for "rate unknown" is saved and loaded; a NaN moment is not."""
    optax = pytest.importorskip("optax")
    opt = optimizers.from_gradient_transformation(optax.adam(1e-3))
    params = _params(NET)
    state = opt.init(params)
    assert np.isnan(state.learning_rate)
    path = checkpoint.save(tmp_path / "c.safetensors", params, state, net=NET, step=2)
    loaded = checkpoint.load(path, opt_state_like=state)
    _assert_identical(loaded.opt_state, state)
    assert checkpoint.load(path).step == 2  # without a template too
    moments = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), state.inner[0].mu)
    broken = state._replace(inner=(state.inner[0]._replace(mu=moments), *state.inner[1:]))
    with pytest.raises(ValueError, match=r"opt_state\.inner\[0\]\.mu.* holds nan, but an "
                                         r"optimizer's moments and rates are finite"):
        checkpoint.save(tmp_path / "d.safetensors", params, broken, net=NET, step=2)
