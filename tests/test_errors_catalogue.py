"""docs/errors.md, machine-checked: every bad input it lists raises what it says.

The document holds tables ``| id | call | what is wrong | exception | message excerpt |``.
Each id names a callable in :data:`CASES` below that makes that bad call. For a Python
API entry the test asserts the exception's type (or a base class of it), that the excerpt
appears in its message, and that it was raised by jaxnn's own code (the last frame of the
traceback lies in the package: a check made up front, not an XLA, tracer or NumPy error
from deep inside). For a CLI entry (exception ``exit 2``) ``jaxnn.cli.main([...])`` must
exit with status 2 and print the excerpt, and no traceback, on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import json
import os
import re
import resource
import signal
import traceback
import types
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import jaxnn
from jaxnn import (
    backprop,
    checkpoint,
    data,
    gradcheck,
    optimizers,
    privacy,
    schedules,
    train,
)
from jaxnn.checkpoint import safetensors_io, schema
from jaxnn.cli import main
from jaxnn.train import parallel

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
PACKAGE = Path(jaxnn.__file__).resolve().parent
EXIT_2 = "exit 2"

# Entries whose fix lives in a file of another owner, handed over as a patch under
# /tmp/hardening_patches/; they pass once it is applied. Empty this once it is.
NEEDS_PATCH: dict[str, str] = {}

# ---------------------------------------------------------------------------------------
# The values the bad calls are made with.

NET = jaxnn.mlp((3, 4, 2), hidden="tanh", output="softmax", cost="cross_entropy")
BCE = jaxnn.mlp((3, 2), output="sigmoid", cost="binary_cross_entropy")
P = jaxnn.init_params(jax.random.key(0), NET)
X = np.ones((6, 3), np.float32)
Y = np.array([0, 1, 0, 1, 1, 0], np.int32)
KEY = jax.random.key(0)
SGD = optimizers.sgd(0.1)
MNIST_NET = jaxnn.mlp((784, 16, 10), hidden="relu", output="softmax", cost="cross_entropy")
RUN_FLAGS = ["--sizes", "784,16,10", "--epochs", "1", "--batch-size", "100", "--quiet"]


def _layer(l, W=None, b=None):
    """``P[l]`` with W and/or b replaced."""
    return jaxnn.Layer(P[l].W if W is None else W, P[l].b if b is None else b)


def _with(l, **kw):
    """``P`` with layer ``l`` changed."""
    return tuple(_layer(i, **kw) if i == l else P[i] for i in range(len(P)))


def _fit(**kw):
    args = dict(net=NET, params=P, opt=SGD, train=(X, Y), epochs=1, batch_size=2, key=KEY)
    args.update(kw)
    return train.fit(**args)


class _OnDevice:
    """A tensor on an accelerator (as torch's CUDA tensors): NumPy cannot read it."""

    def __array__(self, dtype=None, copy=None):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")


def _limited(fn, limit="16G"):
    """``fn`` run with JAXNN_MEMORY_LIMIT=``limit``: the same refusal on every machine."""
    def run(c):
        old = os.environ.get("JAXNN_MEMORY_LIMIT")
        os.environ["JAXNN_MEMORY_LIMIT"] = limit
        try:
            return fn(c)
        finally:
            if old is None:
                del os.environ["JAXNN_MEMORY_LIMIT"]
            else:
                os.environ["JAXNN_MEMORY_LIMIT"] = old
    return run


def _rows(n):
    """n rows of x and of labels for NET, as zero-copy broadcasts (nothing is allocated)."""
    return (np.broadcast_to(np.zeros(3, np.float32), (n, 3)),
            np.broadcast_to(np.zeros((), np.int32), (n,)))


def _wide():
    net = jaxnn.mlp((3, 100_000, 2), hidden="tanh", output="softmax", cost="cross_entropy")
    return net, jaxnn.init_params(KEY, net)


def _many(net=NET, params=P, k=2, **kw):
    """``train.fit_many`` of ``k`` copies of ``params`` with ``kw`` changed."""
    args = dict(net=net, params=jax.tree.map(lambda a: jnp.stack([a] * k), params), opt=SGD,
                train=(X, Y), epochs=1, batch_size=2, keys=jax.random.split(KEY, k))
    args.update(kw)
    return train.fit_many(**args)


def _x64(fn):
    """``fn`` run with JAX's 64-bit mode on."""
    def run(c):
        with jax.enable_x64(True):
            return fn(c)
    return run


def _probability_cost():
    """A user cost defined for probabilities only, on a sigmoid output."""
    mine = jaxnn.costs.custom("catalogue_sq", lambda a, y: jnp.sum((a - y) ** 2, axis=-1),
                              lambda a, y: 2 * (a - y), probabilities=True)
    net = jaxnn.mlp((3, 2), output="sigmoid", cost=mine)
    return net, jaxnn.init_params(KEY, net)


def _idx(code: int, dims, payload: bytes = b"") -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes() + payload


def _crafted_checkpoint(path: Path, leaves=(), **meta) -> Path:
    """A checkpoint of NET and optimizer-state ``leaves`` whose jaxnn metadata entries are
    replaced by ``meta`` (written by the safetensors package, its checksums matching what
    it holds: a faulty writer's file, whose records' own checks are what is tested)."""
    tensors = {f"params.{l}.{f}": np.asarray(getattr(layer, f))
               for l, layer in enumerate(P, start=1) for f in ("W", "b")}
    tensors |= {f"opt_state.{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    metadata = {"format": checkpoint.FORMAT, "network": json.dumps(NET.to_dict()), "step": "0",
                "opt_state_leaves": "0", "opt_state_type": "", "metadata": "{}", **meta}
    if metadata["format"] == checkpoint.FORMAT:
        metadata["checksum"] = safetensors_io.digest(tensors)
        metadata["header_checksum"] = schema.header_digest(metadata)
    safetensors.numpy.save_file(tensors, path, metadata=metadata)
    return path


def _over_file_size_limit(fn, limit=1000):
    """``fn()`` while writes past ``limit`` bytes of a file fail with EFBIG, as on a full
    disk (RLIMIT_FSIZE, with SIGXFSZ ignored so that write raises instead of killing)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        return fn()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Files on disk for the bad calls: checkpoints good and bad, IDX files, MNIST folders."""
    tmp = tmp_path_factory.mktemp("catalogue")
    c = types.SimpleNamespace(tmp=tmp)
    adam = optimizers.adam(1e-3)
    c.ckpt = checkpoint.save(tmp / "ok.safetensors", P, adam.init(P), net=NET, step=2)
    c.no_state = checkpoint.save(tmp / "no_state.safetensors", P, net=NET, step=2)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), P)
        c.f64 = checkpoint.save(tmp / "f64.safetensors", p64, net=NET, step=0)
        c.adam64 = adam.init(p64)  # the state --x64 expects
    c.text = tmp / "notes.txt"
    c.text.write_text("these are my notes, not a checkpoint\n")
    c.empty = tmp / "empty.safetensors"
    c.empty.write_bytes(b"")
    c.truncated = tmp / "truncated.safetensors"
    c.truncated.write_bytes(c.ckpt.read_bytes()[:100])
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    c.plain = tmp / "plain.safetensors"
    c.plain.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    c.bad_json = _crafted_checkpoint(tmp / "bad_json.safetensors", network="{not json")
    c.bad_step = _crafted_checkpoint(tmp / "bad_step.safetensors", step="-3")
    c.other_format = _crafted_checkpoint(tmp / "other_format.safetensors", format="pickle/1")
    raw = c.ckpt.read_bytes()  # its tensor data zeroed after the header
    c.damaged = tmp / "damaged.safetensors"
    c.damaged.write_bytes(raw[: 8 + int.from_bytes(raw[:8], "little")].ljust(len(raw), b"\0"))
    leaves = [np.array(x) for x in jax.tree.leaves(adam.init(P))]  # count, rate, V, S
    leaves[2][0, 0] = np.nan  # a NaN moment: velocity[0].W
    c.nan_moment = _crafted_checkpoint(tmp / "nan_moment.safetensors", leaves,
                                       opt_state_leaves="10", opt_state_type="AdamState")
    leaves = [np.array(x) for x in jax.tree.leaves(adam.init(P))]
    leaves[0] = np.int32(-1)  # a negative count
    c.negative_count = _crafted_checkpoint(tmp / "negative_count.safetensors", leaves,
                                           opt_state_leaves="10", opt_state_type="AdamState")
    # MNIST-shaped checkpoints for `jaxnn evaluate` and `jaxnn train --resume`.
    mp = jaxnn.init_params(KEY, MNIST_NET, "he_normal")
    c.run = tmp / "run"
    checkpoint.save(c.run / "checkpoint.safetensors", mp, adam.init(mp), net=MNIST_NET, step=1)
    c.corrupt_run = tmp / "corrupt_run"
    c.corrupt_run.mkdir()
    (c.corrupt_run / "checkpoint.safetensors").write_bytes(
        (c.run / "checkpoint.safetensors").read_bytes()[:200]
    )
    # A run of `jaxnn train --sizes 784,16,10 --batch-size 100 --schedule cosine --epochs 2`
    # after its first epoch; one that never finished an epoch; one another process writes.
    flags = {"sizes": [784, 16, 10], "hidden": "relu", "output": "softmax",
             "cost": "cross_entropy", "l2": 0.0, "init": "he_normal", "optimizer": "adam",
             "lr": 1e-3, "schedule": "cosine", "epochs": 2, "batch_size": 100,
             "grad": "manual", "data": None, "val_size": 0, "patience": None, "seed": 0,
             "x64": False}
    c.cosine_run = tmp / "cosine_run"
    checkpoint.save(c.cosine_run / "checkpoint.safetensors", mp, adam.init(mp), net=MNIST_NET,
                    step=1, metadata={"config": {"flags": flags}, "history": []})
    c.unstarted = tmp / "unstarted"
    c.unstarted.mkdir()
    (c.unstarted / "config.json").write_text(json.dumps({"format": "jaxnn-run/1"}))
    c.project = tmp / "project"
    c.project.mkdir()
    (c.project / "config.json").write_text('{"my": "settings"}\n')
    c.busy = tmp / "busy"
    c.busy.mkdir()
    c.busy_lock = open(c.busy / ".jaxnn.lock", "w")  # noqa: SIM115 (held by the fixture)
    fcntl.flock(c.busy_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    nan_params = (jaxnn.Layer(mp[0].W.at[0, 0].set(jnp.nan), mp[0].b), mp[1])
    c.nan_ckpt = checkpoint.save(tmp / "nan.safetensors", nan_params, net=MNIST_NET, step=1)
    c.small_ckpt = c.ckpt  # a (3, 4, 2) network: not MNIST's
    c.dir_ckpt = tmp / "dir_ckpt"
    (c.dir_ckpt / "checkpoint.safetensors").mkdir(parents=True)
    c.loop = tmp / "loop.safetensors"  # a symlink to itself: open() fails with ELOOP
    os.symlink(c.loop, c.loop)
    c.fifo = tmp / "fifo"  # open() of a FIFO would wait for a writer forever
    os.mkfifo(c.fifo)
    # IDX files.
    c.idx_magic = tmp / "magic.idx"
    c.idx_magic.write_bytes(b"<!DOCTYPE html><html>")
    c.idx_short = tmp / "short.idx"
    c.idx_short.write_bytes(_idx(0x08, (10, 10), bytes(50)))
    c.idx_huge = tmp / "huge.idx"
    c.idx_huge.write_bytes(_idx(0x0E, (2**32 - 1,) * 3, bytes(64)))
    c.idx_zero = tmp / "zero.idx"
    c.idx_zero.write_bytes(_idx(0x08, (2, 0)))
    blob = gzip.compress(_idx(0x08, (100,), bytes(100)))
    c.idx_gz = tmp / "cut.idx.gz"
    c.idx_gz.write_bytes(blob[: len(blob) // 2])
    # MNIST folders.
    rng = np.random.default_rng(0)

    def mnist(name, n_train=(12, 12), n_test=5, labels_max=9, shape=(28, 28)):
        folder = tmp / name
        folder.mkdir()
        data.write_idx(folder / "train-images-idx3-ubyte",
                       rng.integers(0, 256, (n_train[0], *shape), dtype=np.uint8))
        data.write_idx(folder / "train-labels-idx1-ubyte",
                       rng.integers(0, labels_max + 1, n_train[1], dtype=np.uint8))
        data.write_idx(folder / "t10k-images-idx3-ubyte",
                       rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
        data.write_idx(folder / "t10k-labels-idx1-ubyte",
                       rng.integers(0, 10, n_test, dtype=np.uint8))
        return folder

    c.mnist_count = mnist("count", n_train=(12, 11))
    c.mnist_labels = mnist("labels", labels_max=200)
    c.mnist_shape = mnist("shape", shape=(27, 28))
    # Datasets a user brings: .npz files (3 classes of 2 × 3 images) and IDX folders.

    def npz(name, **change):
        arrays = {"x_train": np.ones((6, 2, 3), np.uint8), "y_train": np.array([0, 1, 2] * 2),
                  "x_test": np.ones((2, 2, 3), np.uint8), "y_test": np.array([0, 1]), **change}
        np.savez(tmp / f"{name}.npz", **{k: v for k, v in arrays.items() if v is not None})
        return tmp / f"{name}.npz"

    c.npz_key = npz("key", y_test=None)
    c.npz_extra = npz("extra", x_val=np.ones((1, 6)))
    c.npz_object = npz("object", x_test=np.array([[1, None]] * 2, dtype=object))
    c.npz_rows = npz("rows", y_train=np.array([0, 1, 2]))
    c.npz_text = npz("text", x_train=np.full((6, 3), "a"))
    c.npz_nan = npz("nan", x_test=np.array([[0.5, np.nan], [0.0, 1.0]]))
    c.npz_shape = npz("shape", x_test=np.ones((2, 3, 2), np.uint8))
    c.npz_mixed = npz("mixed", x_test=np.full((2, 2, 3), 255.0, np.float32))
    c.npz_range = npz("range", y_test=np.array([0, 7]))
    c.npz_negative = npz("negative", y_test=np.array([0, -1]))
    c.npz_float = npz("float", y_train=np.array([0, 1, 2, 0, 1.5, 2]))
    c.npz_one_hot = npz("one_hot", y_train=np.full((6, 3), 0.5))
    c.not_npz = tmp / "notes.npz"
    c.not_npz.write_text("these are my notes, not an .npz\n")
    c.idx_count = mnist("idx_count", n_train=(12, 11), shape=(10, 10))
    c.idx_lack = mnist("idx_lack")
    (c.idx_lack / "t10k-labels-idx1-ubyte").unlink()
    return c


def cli(*argv: str):
    """A CLI call; ``{tmp}``, ``{ckpt}``, … in an argument are filled from the fixture."""
    return lambda c: main([a.format(**vars(c)) for a in argv])


def cli_with_files(*argv: str):
    """:func:`cli`, after writing ``{tmp}/three_classes.npz`` (3 classes of 2 × 3 images)
    and ``{tmp}/sweep`` (a folder holding a jaxnn sweep)."""
    def call(c):
        np.savez(c.tmp / "three_classes.npz", x_train=np.ones((6, 2, 3), np.uint8),
                 y_train=np.array([0, 1, 2] * 2), x_test=np.ones((2, 2, 3), np.uint8),
                 y_test=np.array([0, 1]))
        (c.tmp / "sweep").mkdir(exist_ok=True)
        (c.tmp / "sweep" / "config.json").write_text('{"format": "jaxnn-sweep/1"}')
        return cli(*argv)(c)
    return call


def _with_env(env: dict, fn, c):
    """``fn(c)`` with the environment variables ``env`` set, restored after."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn(c)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _with_files(files: dict, fn, c):
    """``fn(c)`` after writing ``files`` (``{"folder/name": text}``) under ``{tmp}``."""
    for name, text in files.items():
        (c.tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (c.tmp / name).write_text(text)
    return fn(c)


def _huge_npz(c) -> Path:
    """An .npz whose x_train header declares 4e12 × 3 float32 numbers (176 bytes held)."""
    path = c.tmp / "huge.npz"
    np.savez(path, x_train=np.ones((4, 3), np.float32), y_train=np.arange(4) % 2,
             x_test=np.ones((2, 3), np.float32), y_test=np.array([0, 1]))
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    old = members["x_train.npy"]
    head = old[:old.index(b"\n") + 1]
    new = head.replace(b"(4, 3), }", b"(4000000000000, 3), }")
    new = new.replace(b" " * (len(new) - len(head) + 1) + b"\n", b" \n")  # same length
    members["x_train.npy"] = new + old[len(head):]
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return path


def _softsign():
    """The working user activation the architecture rows call ``softsign``."""
    return jaxnn.activations.custom("softsign", lambda z: z / (1 + jnp.abs(z)),
                                    lambda z, a: (1 - jnp.abs(a)) ** 2)


def _fn(z):  # a working function and derivative for the custom(...) rows
    return jnp.tanh(z)


def _deriv(z, a):
    return 1 - a * a


def _twins():
    """Modules ``one`` and ``two`` each build a user activation named ``twin``."""
    for module in ("one", "two"):
        fn = lambda z: jnp.tanh(z)  # noqa: E731
        fn.__module__ = module
        jaxnn.activations.custom("twin", fn, _deriv)
    return True


def _edited_record():
    """NET's description with ``softsign`` hidden, recorded as another function was."""
    d = jaxnn.mlp((3, 4, 2), hidden=_softsign(), output="softmax").to_dict()
    d["activations"][0]["fingerprint"]["fn"][0] = 0.0
    return d


def _rowsum():
    """An Activation built by hand whose fn mixes a row: not elementwise."""
    fn = lambda z: z - jnp.mean(z, axis=-1, keepdims=True)  # noqa: E731
    return jaxnn.activations.Activation("rowsum", fn, lambda z, a: jnp.ones_like(z),
                                        lambda z, a, g: g)


def _user_network_checkpoint(c):
    """A checkpoint of NET whose hidden activation is a user one no process here built."""
    description = {**NET.to_dict(), "activations": [{"name": "gone_act", "import": None},
                                                    "softmax"]}
    return _crafted_checkpoint(c.tmp / "user_act.safetensors", network=json.dumps(description))


# ---------------------------------------------------------------------------------------
# Every bad call of docs/errors.md, by id.

CASES = {
    # Architecture: Network, mlp.
    "net-sizes-short": lambda c: jaxnn.mlp((784,)),
    "net-sizes-zero": lambda c: jaxnn.mlp((784, 0, 10)),
    "net-sizes-float": lambda c: jaxnn.mlp((784, 30.5, 10)),
    "net-sizes-str": lambda c: jaxnn.mlp("784,30,10"),
    "net-sizes-set": lambda c: jaxnn.mlp({784, 10}),
    "net-sizes-array": lambda c: jaxnn.Network([784, np.array(10)], ["sigmoid"], "quadratic"),
    "net-sizes-huge": lambda c: jaxnn.mlp((784, 2**40)),
    "net-acts-count": lambda c: jaxnn.Network((3, 4, 2), ("tanh",), "quadratic"),
    "net-acts-str": lambda c: jaxnn.Network((3, 2), "sigmoid", "quadratic"),
    "net-act-unknown": lambda c: jaxnn.mlp((3, 2), hidden="sigmoidd"),
    "net-act-not-str": lambda c: jaxnn.Network((3, 2), [["sigmoid"]], "quadratic"),
    "net-cost-unknown": lambda c: jaxnn.mlp((3, 2), cost="mse"),
    "net-cost-not-str": lambda c: jaxnn.Network((3, 2), ("sigmoid",), None),
    "net-hidden-softmax": lambda c: jaxnn.mlp((3, 4, 2), hidden="softmax"),
    "net-bce-tanh": lambda c: jaxnn.mlp((3, 2), output="tanh", cost="binary_cross_entropy"),
    "net-ce-relu": lambda c: jaxnn.mlp((3, 2), output="relu", cost="cross_entropy"),
    "net-l2-negative": lambda c: jaxnn.mlp((3, 2), l2=-1.0),
    "net-l2-nan": lambda c: jaxnn.mlp((3, 2), l2=float("nan")),
    "net-l2-list": lambda c: jaxnn.Network([784, 10], ["sigmoid"], "quadratic", l2=[0.1]),
    "net-l2-array": lambda c: jaxnn.Network((3, 2), ("sigmoid",), "quadratic", jnp.array(0.1)),
    "net-from-dict-keys": lambda c: jaxnn.Network.from_dict({"sizes": [3, 2]}),
    "net-from-dict-type": lambda c: jaxnn.Network.from_dict([3, 2]),
    "net-act-object-alone": lambda c: jaxnn.Network((3, 2), _softsign(), "quadratic"),
    "net-act-cost-object": lambda c: jaxnn.mlp((3, 2), output=jaxnn.costs.get("quadratic")),
    "net-ce-user-output": lambda c: jaxnn.mlp((3, 2), output=_softsign(), cost="cross_entropy"),
    "net-from-dict-user-missing": lambda c: jaxnn.Network.from_dict(
        {**NET.to_dict(), "activations": [{"name": "gone", "import": "nowhere:gone"}, "softmax"]}),
    "net-from-dict-user-record": lambda c: jaxnn.Network.from_dict(
        {**NET.to_dict(), "cost": {"name": "mine"}}),
    "ckpt-load-user-missing": lambda c: checkpoint.load(_user_network_checkpoint(c)),
    "custom-name-clash": lambda c: _twins() and jaxnn.activations.get("twin"),
    "net-from-dict-user-changed": lambda c: jaxnn.Network.from_dict(_edited_record()),
    "custom-name-type": lambda c: jaxnn.activations.custom(3, _fn, _deriv),
    "custom-name-empty": lambda c: jaxnn.activations.custom("", _fn, _deriv),
    "custom-float16": lambda c: jaxnn.activations.custom(
        "half", lambda z: jnp.tanh(z).astype(jnp.float16), _deriv),
    "custom-int32": lambda c: jaxnn.activations.custom(
        "step", _fn, lambda z, a: (z > 0).astype(jnp.int32)),
    "custom-prob-cost-output": lambda c: jaxnn.mlp((3, 2), output="identity", cost=(
        jaxnn.costs.custom("my_bce", lambda a, y: -jnp.sum(y * jnp.log(a), axis=-1),
                           lambda a, y: -y / a, probabilities=True))),
    "custom-fn-not-callable": lambda c: jaxnn.activations.custom("mine", "abs", _deriv),
    "custom-deriv-missing": lambda c: jaxnn.activations.custom("mine", _fn, None),
    "custom-grad-not-callable": lambda c: jaxnn.costs.custom(
        "mine", lambda a, y: jnp.sum(a, axis=-1), 2.0),
    "custom-deriv-shape": lambda c: jaxnn.activations.custom(
        "mine", jnp.tanh, lambda z, a: jnp.sum(z)),
    "custom-cost-shape": lambda c: jaxnn.costs.custom(
        "mine", lambda a, y: (a - y) ** 2, lambda a, y: 2 * (a - y)),
    "custom-python-if": lambda c: jaxnn.activations.custom(
        "mine", lambda z: z if z > 0 else 0 * z, _deriv),
    "custom-register-type": lambda c: jaxnn.activations.register(jax.nn.relu),
    "net-from-dict-sizes": lambda c: jaxnn.Network.from_dict(
        {"sizes": 3, "activations": ["sigmoid"], "cost": "quadratic", "l2": 0.0}),
    "num-params-not-net": lambda c: jaxnn.num_params((3, 2)),
    # init_params.
    "init-scheme-unknown": lambda c: jaxnn.init_params(KEY, NET, "xavier"),
    "init-option-typo": lambda c: jaxnn.init_params(KEY, NET, "uniform", epsilom=0.1),
    "init-epsilon-zero": lambda c: jaxnn.init_params(KEY, NET, "uniform", epsilon=0),
    "init-epsilon-str": lambda c: jaxnn.init_params(KEY, NET, "uniform", epsilon="0.1"),
    "init-dtype-int": lambda c: jaxnn.init_params(KEY, NET, dtype=jnp.int32),
    "init-dtype-bogus": lambda c: jaxnn.init_params(KEY, NET, dtype="floaty"),
    "init-dtype-f64": lambda c: jaxnn.init_params(KEY, NET, dtype=jnp.float64),
    "init-key-int": lambda c: jaxnn.init_params(0, NET),
    "init-key-batch": lambda c: jaxnn.init_params(jax.random.split(KEY, 3), NET),
    "init-net-tuple": lambda c: jaxnn.init_params(KEY, (3, 2)),
    "init-dtype-float8": lambda c: jaxnn.init_params(KEY, NET, dtype="float8_e4m3fn"),
    "init-dtype-longdouble": lambda c: jaxnn.init_params(KEY, NET, dtype=np.longdouble),
    "init-too-large": lambda c: jaxnn.init_params(KEY, jaxnn.mlp((2**31 - 1, 2**31 - 1))),
    "init-million-wide": lambda c: jaxnn.init_params(KEY, jaxnn.mlp((10**6, 10**6))),
    "init-memory-limit": lambda c: jaxnn.init_params(KEY, NET, memory_limit=-1),
    # Parameters (every function that takes net, params checks them the same way).
    "net-not-network": lambda c: jaxnn.forward((3, 4, 2), P, X),
    "params-dict": lambda c: jaxnn.forward(NET, {"W": P[0].W, "b": P[0].b}, X),
    "params-list-of-dicts": lambda c: jaxnn.forward(NET, [dict(W=W, b=b) for W, b in P], X),
    "params-count": lambda c: jaxnn.cost(NET, P[:1], X, Y),
    "params-1d-w": lambda c: jaxnn.forward(NET, _with(0, W=jnp.ones(4)), X),
    "params-transposed": lambda c: jaxnn.forward(NET, _with(0, W=P[0].W.T), X),
    "params-w-list": lambda c: jaxnn.forward(NET, _with(0, W=P[0].W.tolist()), X),
    "params-int": lambda c: jaxnn.forward(NET, _with(1, W=P[1].W.astype(jnp.int32)), X),
    "params-mixed-dtype": lambda c: jaxnn.forward(
        NET, _with(1, W=P[1].W.astype(jnp.float16), b=P[1].b.astype(jnp.float16)), X),
    "params-nan": lambda c: jaxnn.forward(NET, _with(0, W=P[0].W.at[1, 2].set(jnp.nan)), X),
    "params-inf": lambda c: backprop.value_and_grad(NET, _with(1, b=P[1].b.at[0].set(jnp.inf)),
                                                    X, Y),
    "params-float8": lambda c: jaxnn.forward(
        NET, jax.tree.map(lambda a: a.astype(jnp.float8_e4m3fn), P), X),
    # Inputs x.
    "x-width": lambda c: jaxnn.forward(NET, P, np.ones((6, 4), np.float32)),
    "x-3d": lambda c: jaxnn.forward(NET, P, np.ones((6, 3, 1), np.float32)),
    "x-scalar": lambda c: jaxnn.forward(NET, P, 1.0),
    "x-int": lambda c: jaxnn.forward(NET, P, X.astype(np.int32)),
    "x-int-list": lambda c: jaxnn.forward(NET, P, [[1, 2, 3], [4, 5, 6]]),
    "x-ragged": lambda c: jaxnn.forward(NET, P, [[1.0, 2.0, 3.0], [1.0]]),
    "x-str": lambda c: jaxnn.forward(NET, P, "abc"),
    "x-empty": lambda c: jaxnn.forward(NET, P, np.ones((0, 3), np.float32)),
    "x-nan": lambda c: jaxnn.cost(NET, P, np.where(np.eye(6, 3) > 0, np.nan, X), Y),
    "x-inf": lambda c: jaxnn.forward(NET, P, np.full((6, 3), np.inf, np.float32)),
    "x-overflow": lambda c: jaxnn.forward(
        NET, jax.tree.map(lambda a: a.astype(jnp.float16), P), np.full((6, 3), 1e5, np.float32)),
    "x-masked": lambda c: jaxnn.cost(NET, P, np.ma.masked_invalid(
        np.where(np.eye(6, 3) > 0, np.nan, X)), Y),
    "x-none": lambda c: jaxnn.forward(NET, P, None),
    "x-unreadable": lambda c: jaxnn.forward(NET, P, _OnDevice()),
    "x-batch-memory": lambda c: backprop.value_and_grad(*_wide(), *_rows(10**7)),
    "x-forward-memory": lambda c: jaxnn.forward(*_wide(), _rows(10**7)[0]),
    "accuracy-memory": lambda c: jaxnn.accuracy(*_wide(), *_rows(10**7)),
    # Targets y.
    "y-shape": lambda c: jaxnn.cost(NET, P, X, np.ones((6, 3), np.float32)),
    "y-float-labels": lambda c: jaxnn.cost(NET, P, X, Y.astype(np.float32)),
    "y-labels-shape": lambda c: jaxnn.cost(NET, P, X, Y[:3]),
    "y-label-range": lambda c: jaxnn.cost(NET, P, X, Y + 1),
    "y-label-negative": lambda c: jaxnn.cost(NET, P, X, Y - 1),
    "y-label-int64": lambda c: jaxnn.cost(NET, P, X, np.array([0, 1, 0, 1, 1, 2**40])),
    "y-nan": lambda c: jaxnn.cost(NET, P, X, np.full((6, 2), np.nan, np.float32)),
    "y-overflow": lambda c: jaxnn.cost(NET, jax.tree.map(lambda a: a.astype(jnp.float16), P),
                                       X, np.full((6, 2), 1e5, np.float32)),
    "y-complex": lambda c: jaxnn.cost(NET, P, X, np.ones((6, 2), np.complex64)),
    "y-ce-negative": lambda c: jaxnn.cost(NET, P, X, np.full((6, 2), -1.0, np.float32)),
    "y-user-cost-range": lambda c: jaxnn.cost(*_probability_cost(), X,
                                              np.full((6, 2), 3.0, np.float32)),
    "y-bce-above-one": lambda c: jaxnn.cost(BCE, jaxnn.init_params(KEY, BCE), X,
                                            np.full((6, 2), 3.0, np.float32)),
    "y-ragged": lambda c: jaxnn.cost(NET, P, X, [[0.0, 1.0], [1.0]] * 3),
    "accuracy-single": lambda c: jaxnn.accuracy(NET, P, X[0], Y[:1]),
    "accuracy-label-range": lambda c: jaxnn.accuracy(NET, P, X, Y + 5),
    "accuracy-shape": lambda c: jaxnn.accuracy(NET, P, X, np.ones((6, 3), np.float32)),
    # backprop and gradcheck.
    "vag-bad-x": lambda c: backprop.value_and_grad(NET, P, np.ones((6, 4), np.float32), Y),
    "grad-bad-y": lambda c: backprop.grad(NET, P, X, np.ones((6, 3), np.float32)),
    "deltas-labels": lambda c: backprop.deltas(NET, P, X, Y + 2),
    "forward-pass-params": lambda c: backprop.forward_pass(NET, P[:1], X),
    "peg-labels-shape": lambda c: backprop.per_example_grads(NET, P, X, Y[:2]),
    "forward-pass-memory": lambda c: backprop.forward_pass(*_wide(), _rows(10**7)[0]),
    "peg-memory": _limited(lambda c: backprop.per_example_grads(*_wide(), *_rows(10**5))),
    "cmv-labels": lambda c: backprop.cost_with_manual_vjp(NET, P, X, Y + 5),
    "jit-bad-x": lambda c: jax.jit(jaxnn.cost, static_argnums=0)(
        NET, P, np.ones((6, 4), np.float32), Y),
    "gc-labels": lambda c: gradcheck.manual_vs_autodiff(NET, P, X, Y + 5),
    "gc-eps-zero": lambda c: gradcheck.manual_vs_finite_differences(NET, P, X, Y, eps=0.0),
    "gc-eps-nan": lambda c: gradcheck.finite_difference_grad(NET, P, X, Y, eps=float("nan")),
    "gc-directions-zero": lambda c: gradcheck.directional_check(NET, P, X, Y, KEY, 0, 1e-3),
    "gc-key-int": lambda c: gradcheck.directional_check(NET, P, X, Y, 0, 3, 1e-3),
    "gc-rtol-negative": lambda c: gradcheck.manual_vs_autodiff(NET, P, X, Y, rtol=-1.0),
    "gc-fd-memory": lambda c: gradcheck.manual_vs_finite_differences(
        jaxnn.mlp((784, 256, 10)), jaxnn.init_params(KEY, jaxnn.mlp((784, 256, 10))),
        np.zeros((16, 784), np.float32), np.zeros((16, 10), np.float32), memory_limit=2**20),
    "gc-check-nan-deriv": lambda c: gradcheck.check_activation(jaxnn.activations.custom(
        "naive_softplus", jax.nn.softplus, lambda z, a: jnp.exp(z) / (1 + jnp.exp(z)))),
    "gc-check-cost-domain": lambda c: gradcheck.check_cost(jaxnn.costs.custom(
        "log_loss", lambda a, y: -jnp.sum(y * jnp.log(a), axis=-1), lambda a, y: -y / a)),
    "gc-check-not-elementwise": lambda c: gradcheck.check_activation(_rowsum()),
    "gc-check-unknown": lambda c: gradcheck.check_activation("tanhh"),
    "gc-check-cost-kind": lambda c: gradcheck.check_cost(jaxnn.activations.get("tanh")),
    "gc-check-rtol": lambda c: gradcheck.check_activation("tanh", rtol=-1.0),
    # Optimizers.
    "opt-lr-zero": lambda c: optimizers.sgd(0.0),
    "opt-lr-nan": lambda c: optimizers.adam(float("nan")),
    "opt-lr-overflow": lambda c: optimizers.adam(1e308),
    "opt-lr-str": lambda c: optimizers.sgd("0.1"),
    "opt-lr-array": lambda c: optimizers.sgd(jnp.array(0.1)),
    "opt-beta-one": lambda c: optimizers.momentum(0.1, beta=1.0),
    "opt-eps-negative": lambda c: optimizers.rmsprop(0.1, eps=-1e-8),
    "opt-weight-decay": lambda c: optimizers.adamw(0.1, weight_decay=-0.1),
    "opt-mask": lambda c: optimizers.adamw(0.1, mask=[True]),
    "opt-clip-zero": lambda c: optimizers.clip_by_global_norm(0.0, SGD),
    "opt-clip-inner": lambda c: optimizers.clip_by_global_norm(1.0, "sgd"),
    "opt-get-unknown": lambda c: optimizers.get("adan", 1e-3),
    "opt-get-not-str": lambda c: optimizers.get(["adam"], 1e-3),
    "opt-get-typo": lambda c: optimizers.get("adam", 1e-3, beta=0.9),
    "opt-init-int": lambda c: SGD.init((jnp.ones(3, jnp.int32),)),
    "opt-init-empty": lambda c: SGD.init(()),
    "opt-init-str": lambda c: SGD.init(("W",)),
    "opt-update-state": lambda c: optimizers.adam(0.1).update(P, SGD.init(P), P),
    "opt-update-structure": lambda c: SGD.update(P[:1], SGD.init(P), P),
    "opt-update-shape": lambda c: SGD.update(_with(0, W=P[0].W.T), SGD.init(P), P),
    "opt-update-other-net": lambda c: optimizers.adam(0.1).update(
        P, optimizers.adam(0.1).init(jaxnn.init_params(KEY, jaxnn.mlp((3, 5, 2)))), P),
    "opt-update-jit": lambda c: jax.jit(SGD.update)(P[:1], SGD.init(P), P),
    "opt-schedule-nan": lambda c: optimizers.sgd(lambda count: jnp.nan).init(P),
    "opt-schedule-negative": lambda c: optimizers.adam(lambda count: -1e-3).init(P),
    "opt-schedule-vector": lambda c: optimizers.sgd(lambda count: jnp.ones(3)).init(P),
    "opt-schedule-str": lambda c: optimizers.sgd(lambda count: "fast").init(P),
    "opt-schedule-arity": lambda c: optimizers.sgd(lambda: 0.1).init(P),
    "opt-schedule-python-if": lambda c: jax.jit(
        optimizers.sgd(lambda count: 0.1 if count < 10 else 0.01).update)(P, SGD.init(P), P),
    "opt-learning-rate-state": lambda c: optimizers.learning_rate(3),
    "opt-keyword-optax-name": lambda c: optimizers.adam(1e-3, b1=0.9),
    "opt-in-optax-chain": lambda c: __import__("optax").chain(
        __import__("optax").identity(), SGD).init(P),
    "opt-in-optax-update": lambda c: __import__("optax").chain(SGD).update(
        P, (SGD.init(P),), P),
    "opt-to-optax-not-jaxnn": lambda c: optimizers.as_gradient_transformation(
        __import__("optax").sgd(0.1)),
    "opt-to-optax-no-params": lambda c: optimizers.as_gradient_transformation(SGD).update(
        P, SGD.init(P)),
    "opt-from-optax-jaxnn": lambda c: optimizers.from_gradient_transformation(SGD),
    "opt-as-optimizer-name": lambda c: optimizers.as_optimizer("adam"),
    "opt-as-optimizer-factory": lambda c: optimizers.as_optimizer(__import__("optax").adam),
    # Schedules.
    "sched-constant-zero": lambda c: schedules.constant(0.0),
    "sched-decay-rate-zero": lambda c: schedules.exponential_decay(0.1, 0.0, 10),
    "sched-steps-float": lambda c: schedules.exponential_decay(0.1, 0.5, 2.5),
    "sched-staircase-str": lambda c: schedules.exponential_decay(0.1, 0.5, 10, staircase="yes"),
    "sched-cosine-order": lambda c: schedules.cosine_decay(0.1, 10, warmup_steps=20),
    "sched-cosine-nan": lambda c: schedules.cosine_decay(0.1, 100, init=float("nan")),
    "sched-piecewise-forms": lambda c: schedules.piecewise_constant(),
    "sched-piecewise-order": lambda c: schedules.piecewise_constant(
        boundaries=[20, 10], values=[1.0, 2.0, 3.0]),
    "sched-piecewise-negative": lambda c: schedules.piecewise_constant(
        boundaries=[10], values=[1.0, -2.0]),
    # Training: fit, make_step, make_epoch, evaluate.
    "fit-net": lambda c: _fit(net=(3, 4, 2)),
    "fit-opt": lambda c: _fit(opt="adam"),
    "fit-train-not-pair": lambda c: _fit(train=X),
    "fit-empty": lambda c: _fit(train=(X[:0], Y[:0])),
    "fit-batch-big": lambda c: _fit(batch_size=50),
    "fit-batch-zero": lambda c: _fit(batch_size=0),
    "fit-batch-float": lambda c: _fit(batch_size=2.0),
    "fit-epochs-zero": lambda c: _fit(epochs=0),
    "fit-x-nan": lambda c: _fit(train=(np.full_like(X, np.nan), Y)),
    "fit-x-int": lambda c: _fit(train=(X.astype(np.int32), Y)),
    "fit-y-nan": lambda c: _fit(train=(X, np.full((6, 2), np.nan, np.float32))),
    "fit-float-labels": lambda c: _fit(train=(X, Y.astype(np.float32))),
    "fit-labels-range": lambda c: _fit(train=(X, Y + 1)),
    "fit-grad": lambda c: _fit(grad="numeric"),
    "fit-patience-no-val": lambda c: _fit(patience=2),
    "fit-patience-zero": lambda c: _fit(patience=0, validation=(X, Y)),
    "fit-validation": lambda c: _fit(validation=(X, Y + 5)),
    "fit-key-int": lambda c: _fit(key=3),
    "fit-key-batch": lambda c: _fit(key=jax.random.split(KEY, 2)),
    "fit-start-epoch": lambda c: _fit(start_epoch=5),
    "fit-start-epoch-bool": lambda c: _fit(start_epoch=True),
    "fit-history-junk": lambda c: _fit(history=[1, 2]),
    "fit-history-longer": lambda c: _fit(epochs=3, start_epoch=1, history=[{"epoch": 1}] * 2),
    "fit-on-epoch": lambda c: _fit(on_epoch=3),
    "fit-params-nan": lambda c: _fit(params=_with(0, W=P[0].W * jnp.nan)),
    "fit-opt-state": lambda c: _fit(opt=optimizers.adam(0.1), opt_state=SGD.init(P)),
    "fit-schedule-nan": lambda c: _fit(opt=optimizers.sgd(lambda count: jnp.float32(jnp.nan))),
    "fit-schedule-nan-later": lambda c: _fit(
        opt=optimizers.sgd(lambda count: jnp.where(count >= 2, jnp.nan, 0.1))),
    "fit-diverges": lambda c: _fit(
        net=jaxnn.mlp((3, 4, 2), hidden="relu", output="identity", cost="quadratic"),
        params=jaxnn.init_params(KEY, jaxnn.mlp((3, 4, 2))), opt=optimizers.sgd(1e3),
        train=(X * 100, Y), epochs=20),
    "fit-validation-none": lambda c: _fit(validation=(X, None)),
    "fit-lr-overflow-x64": _x64(lambda c: _fit(opt=optimizers.adam(1e308))),
    "fit-y-overflow": lambda c: _fit(
        net=jaxnn.mlp((3, 2), output="identity", cost="quadratic"),
        params=jaxnn.init_params(KEY, jaxnn.mlp((3, 2)), dtype=jnp.float16),
        train=(X, np.full((6, 2), 1e5, np.float32))),
    "fit-diverges-l2": lambda c: _fit(net=NET.replace(l2=1e30)),
    "fit-diverges-dp-noise": lambda c: _fit(dp=privacy.dp_sgd(1.0, 1e300)),
    "fit-diverges-opt-state": lambda c: _fit(
        opt=optimizers.adam(1e-3), opt_state=optimizers.adam(1e-3).init(P)._replace(
            velocity=_with(0, W=P[0].W * jnp.nan))),
    "fit-diverges-optax": lambda c: _fit(
        net=jaxnn.mlp((3, 4, 2), hidden="relu", output="identity", cost="quadratic"),
        params=jaxnn.init_params(KEY, jaxnn.mlp((3, 4, 2))),
        opt=__import__("optax").sgd(1e3), train=(X * 100, Y), epochs=20),
    "fit-dp-junk": lambda c: _fit(dp=(1.0, 1.0)),
    "fit-dp-autodiff": lambda c: _fit(dp=privacy.dp_sgd(1.0, 1.0), grad="autodiff"),
    "fit-dp-devices": lambda c: _fit(dp=privacy.dp_sgd(1.0, 1.0), devices=1),
    "fit-devices-zero": lambda c: _fit(devices=0),
    "fit-devices-many": lambda c: _fit(devices=10**6),
    "step-opt": lambda c: train.make_step(NET, "sgd"),
    "step-grad": lambda c: train.make_step(NET, SGD, "numeric"),
    "step-net": lambda c: train.make_step((3, 4, 2), SGD),
    "step-bad-x": lambda c: train.make_step(NET, SGD)(
        P, SGD.init(P), np.ones((4, 5), np.float32), Y[:4]),
    "step-float-labels": lambda c: train.make_step(NET, SGD)(
        P, SGD.init(P), X, Y.astype(np.float32)),
    "epoch-batch-zero": lambda c: train.make_epoch(NET, SGD, batch_size=0, num_examples=10),
    "epoch-batch-big": lambda c: train.make_epoch(NET, SGD, batch_size=20, num_examples=10),
    "epoch-bad-x": lambda c: train.make_epoch(NET, SGD, batch_size=2, num_examples=6)(
        P, SGD.init(P), np.ones((6, 4), np.float32), Y, KEY, None, None),
    "epoch-rows": lambda c: train.make_epoch(NET, SGD, batch_size=2, num_examples=10)(
        P, SGD.init(P), X, Y, KEY, None, None),
    "evaluate-labels": lambda c: train.evaluate(NET, P, X, Y + 5),
    "evaluate-empty": lambda c: train.evaluate(NET, P, X[:0], Y[:0]),
    "evaluate-params-nan": lambda c: train.evaluate(NET, _with(1, b=P[1].b * jnp.nan), X, Y),
    "many-labels-range": lambda c: _many(train=(X, Y + 1)),
    "many-y-overflow": lambda c: _many(
        net=jaxnn.mlp((3, 2), output="identity", cost="quadratic"),
        params=jaxnn.init_params(KEY, jaxnn.mlp((3, 2)), dtype=jnp.float16),
        train=(X, np.full((6, 2), 1e5, np.float32))),
    "many-validation-none": lambda c: _many(validation=(X, None)),
    "many-hyperparam-overflow": lambda c: _many(hyperparams={"l2": [0.1, 1e39]}),
    "many-memory": _limited(lambda c: _many(*_wide(), k=8), "16M"),
    # Checkpoints.
    "ckpt-save-net": lambda c: checkpoint.save(c.tmp / "x.safetensors", P, net=(3, 4, 2),
                                               step=0),
    "ckpt-save-step-negative": lambda c: checkpoint.save(c.tmp / "x.safetensors", P, net=NET,
                                                         step=-1),
    "ckpt-save-step-float": lambda c: checkpoint.save(c.tmp / "x.safetensors", P, net=NET,
                                                      step=1.5),
    "ckpt-save-params": lambda c: checkpoint.save(c.tmp / "x.safetensors",
                                                  [dict(W=W, b=b) for W, b in P], net=NET, step=0),
    "ckpt-save-other-net": lambda c: checkpoint.save(c.tmp / "x.safetensors", P,
                                                     net=jaxnn.mlp((3, 5, 2)), step=0),
    "ckpt-save-metadata-nan": lambda c: checkpoint.save(
        c.tmp / "x.safetensors", P, net=NET, step=0, metadata={"loss": float("nan")}),
    "ckpt-save-metadata-numpy": lambda c: checkpoint.save(
        c.tmp / "x.safetensors", P, net=NET, step=0, metadata={"loss": np.float32(1)}),
    "ckpt-save-metadata-tuple": lambda c: checkpoint.save(
        c.tmp / "x.safetensors", P, net=NET, step=0, metadata={"sizes": (3, 4)}),
    "ckpt-save-key": lambda c: checkpoint.save(c.tmp / "x.safetensors", P, {"key": KEY},
                                               net=NET, step=0),
    "ckpt-save-dir": lambda c: checkpoint.save(c.tmp, P, net=NET, step=0),
    "ckpt-save-under-file": lambda c: checkpoint.save(c.text / "x.safetensors", P, net=NET,
                                                      step=0),
    "ckpt-save-path": lambda c: checkpoint.save(3, P, net=NET, step=0),
    "ckpt-load-missing": lambda c: checkpoint.load(c.tmp / "nothing.safetensors"),
    "ckpt-load-dir": lambda c: checkpoint.load(c.tmp),
    "ckpt-load-path": lambda c: checkpoint.load(None),
    "ckpt-load-text": lambda c: checkpoint.load(c.text),
    "ckpt-load-empty": lambda c: checkpoint.load(c.empty),
    "ckpt-load-truncated": lambda c: checkpoint.load(c.truncated),
    "ckpt-load-plain": lambda c: checkpoint.load(c.plain),
    "ckpt-load-bad-json": lambda c: checkpoint.load(c.bad_json),
    "ckpt-load-bad-step": lambda c: checkpoint.load(c.bad_step),
    "ckpt-load-format": lambda c: checkpoint.load(c.other_format),
    "ckpt-load-other-net": lambda c: checkpoint.load(c.ckpt, net=jaxnn.mlp((3, 4, 2))),
    "ckpt-load-net-junk": lambda c: checkpoint.load(c.ckpt, net=(3, 4, 2)),
    "ckpt-load-other-opt": lambda c: checkpoint.load(c.ckpt, opt_state_like=SGD.init(P)),
    "ckpt-load-no-state": lambda c: checkpoint.load(c.no_state, opt_state_like=SGD.init(P)),
    "ckpt-load-f64": lambda c: checkpoint.load(c.f64),
    "ckpt-load-fifo": lambda c: checkpoint.load(c.fifo),
    "ckpt-load-loop": lambda c: checkpoint.load(c.loop),
    "ckpt-save-metadata-large": lambda c: checkpoint.save(
        c.tmp / "x.safetensors", P, net=NET, step=0,
        metadata={"log": "x" * checkpoint.MAX_METADATA_BYTES}),
    "ckpt-save-opt-nan": lambda c: checkpoint.save(
        c.tmp / "x.safetensors", P, SGD.init(P)._replace(learning_rate=jnp.nan), net=NET, step=0),
    "ckpt-save-disk-full": lambda c: _over_file_size_limit(lambda: checkpoint.save(
        c.tmp / "big.safetensors", P, net=NET, step=3, metadata={"log": "x" * 2000})),
    "ckpt-load-damaged": lambda c: checkpoint.load(c.damaged),
    "ckpt-load-opt-nan": lambda c: checkpoint.load(
        c.nan_moment, opt_state_like=optimizers.adam(1e-3).init(P)),
    "ckpt-load-negative-count": lambda c: checkpoint.load(c.negative_count),
    "ckpt-load-x64": lambda c: checkpoint.load(c.ckpt, opt_state_like=c.adam64),
    "ckpt-load-dir-named-like-file": lambda c: checkpoint.load(
        c.dir_ckpt / "checkpoint.safetensors"),
    # Data.
    "idx-missing": lambda c: data.read_idx(c.tmp / "nothing.idx"),
    "idx-dir": lambda c: data.read_idx(c.tmp),
    "idx-fifo": lambda c: data.read_idx(c.fifo),
    "idx-type": lambda c: data.read_idx(3),
    "idx-magic": lambda c: data.read_idx(c.idx_magic),
    "idx-truncated": lambda c: data.read_idx(c.idx_short),
    "idx-huge": lambda c: data.read_idx(c.idx_huge),
    "idx-zero-dim": lambda c: data.read_idx(c.idx_zero),
    "idx-gzip": lambda c: data.read_idx(c.idx_gz),
    "idx-write-dtype": lambda c: data.write_idx(c.tmp / "w.idx", np.zeros(3, np.float16)),
    "idx-write-shape": lambda c: data.write_idx(c.tmp / "w.idx", np.zeros((0, 3), np.uint8)),
    "mnist-missing": lambda c: data.load_mnist(c.tmp / "nothing"),
    "mnist-file": lambda c: data.load_mnist(c.text),
    "mnist-path-type": lambda c: data.load_mnist(3),
    "mnist-count": lambda c: data.load_mnist(c.mnist_count),
    "mnist-labels": lambda c: data.load_mnist(c.mnist_labels),
    "mnist-shape": lambda c: data.load_mnist(c.mnist_shape),
    "one-hot-float": lambda c: data.one_hot(np.array([0.0, 1.0]), 2),
    "one-hot-2d": lambda c: data.one_hot(np.zeros((2, 2), np.int32), 2),
    "one-hot-range": lambda c: data.one_hot(np.array([0, 3]), 2),
    "one-hot-k-float": lambda c: data.one_hot(np.array([0, 1]), 2.0),
    "one-hot-k-zero": lambda c: data.one_hot(np.array([0, 1]), 0),
    "one-hot-ragged": lambda c: data.one_hot([[0], [1, 2]], 3),
    "standardize-1d": lambda c: data.standardize(np.ones(3)),
    "standardize-empty": lambda c: data.standardize(np.ones((0, 3))),
    "standardize-others": lambda c: data.standardize(np.ones((3, 3)), np.ones((3, 4))),
    "standardize-nan": lambda c: data.standardize(np.full((3, 3), np.nan)),
    "standardize-str": lambda c: data.standardize(np.array([["a", "b"]])),
    "standardize-eps": lambda c: data.standardize(np.ones((3, 3)), eps=0.0),
    "standardize-eps-str": lambda c: data.standardize(np.ones((3, 3)), eps="1e-8"),
    "split-rows": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(3)),
    "split-both": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4), val_size=1,
                                                 val_fraction=0.5),
    "split-fraction": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4),
                                                     val_fraction=1.0),
    "split-fraction-str": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4),
                                                         val_fraction="0.5"),
    "split-size-float": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4),
                                                       val_size=1.5),
    "split-size-all": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4), val_size=4),
    "split-seed": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4), val_size=1,
                                                 seed=-1),
    "split-stratify": lambda c: data.train_val_split(np.ones((4, 2)), np.ones(4), val_size=1,
                                                     stratify=True),
    "spirals-n": lambda c: data.two_spirals(0),
    "spirals-noise": lambda c: data.two_spirals(10, noise="a"),
    "spirals-huge": lambda c: data.two_spirals(10**13),
    "cubic-range": lambda c: data.cubic(10, 1, 1, 1, 1, x_range=(0,)),
    "cubic-coefficient": lambda c: data.cubic(10, float("nan"), 1, 1, 1),
    "data-unknown": lambda c: data.load("fashion"),
    "data-type": lambda c: data.load(3),
    "data-missing": lambda c: data.load(c.tmp / "nothing.npz"),
    "data-not-a-dataset": lambda c: data.load(c.text),
    "data-path-twice": lambda c: data.load(c.tmp, path=c.tmp),
    "fashion-missing": lambda c: data.load("fashion-mnist", path=c.tmp / "nothing"),
    "npz-not-npz": lambda c: data.load(c.not_npz),
    "npz-key": lambda c: data.load(c.npz_key),
    "npz-extra-key": lambda c: data.load(c.npz_extra),
    "npz-object": lambda c: data.load(c.npz_object),
    "npz-rows": lambda c: data.load(c.npz_rows),
    "npz-text": lambda c: data.load(c.npz_text),
    "npz-nan": lambda c: data.load(c.npz_nan),
    "npz-shape": lambda c: data.load(c.npz_shape),
    "npz-mixed-kinds": lambda c: data.load(c.npz_mixed),
    "npz-huge-header": lambda c: data.load(_huge_npz(c)),
    "npz-label-range": lambda c: data.load(c.npz_range),
    "npz-label-negative": lambda c: data.load(c.npz_negative),
    "npz-label-float": lambda c: data.load(c.npz_float),
    "npz-one-hot": lambda c: data.load(c.npz_one_hot),
    "idx-folder-count": lambda c: data.load(c.idx_count),
    "idx-folder-missing": lambda c: data.load(c.idx_lack),
    # Privacy.
    "dp-clip-zero": lambda c: privacy.dp_sgd(0.0, 1.0),
    "dp-noise-negative": lambda c: privacy.dp_sgd(1.0, -1.0),
    "dp-noise-str": lambda c: privacy.dp_sgd(1.0, "1.1"),
    "dp-clip-list": lambda c: privacy.clip_per_example([[1.0, 2.0], [3.0, 4.0]], 1.0),
    "dp-direct": lambda c: privacy.DPSGD(-1.0, 1.1),
    # Parallel.
    "par-devices-zero": lambda c: parallel.data_mesh(0),
    "par-devices-many": lambda c: parallel.data_mesh(10**6),
    "par-address": lambda c: parallel.initialize("localhost", 2, 0),
    "par-port": lambda c: parallel.initialize("localhost:99999", 2, 0),
    "par-process-id": lambda c: parallel.initialize("localhost:1234", 2, 2),
    "par-processes": lambda c: parallel.initialize("localhost:1234", 0, 0),
    "par-no-coordinator": lambda c: parallel.initialize("127.0.0.1:1", 2, 1, timeout=0.5),
    "par-timeout": lambda c: parallel.initialize("127.0.0.1:1234", 2, 1, timeout=0),
    "par-grad": lambda c: parallel.make_parallel_epoch(
        NET, SGD, batch_size=2, num_examples=6, mesh=parallel.data_mesh(1), grad="autodiff"),
    "par-mesh-junk": lambda c: parallel.make_parallel_epoch(
        NET, SGD, batch_size=2, num_examples=6, mesh=3),
    "par-opt-junk": lambda c: parallel.make_parallel_epoch(
        NET, "sgd", batch_size=2, num_examples=6, mesh=parallel.data_mesh(1)),
    # CLI: jaxnn train.
    "cli-train-sizes-text": cli("train", "--sizes", "784,x,10"),
    "cli-train-sizes-short": cli("train", "--sizes", "784"),
    "cli-train-sizes-zero": cli("train", "--sizes", "784,0,10"),
    "cli-train-sizes-mnist": cli("train", "--sizes", "100,10"),
    "cli-train-classes": cli("train", "--sizes", "784,30,5"),
    "cli-train-lr-zero": cli("train", "--lr", "0"),
    "cli-train-lr-nan": cli("train", "--lr", "nan"),
    "cli-train-lr-text": cli("train", "--lr", "fast"),
    "cli-train-l2": cli("train", "--l2", "-1"),
    "cli-train-epochs": cli("train", "--epochs", "0"),
    "cli-train-epochs-float": cli("train", "--epochs", "1.5"),
    "cli-train-batch": cli("train", "--batch-size", "-1"),
    "cli-train-batch-big": cli("train", "--epochs", "1", "--batch-size", "5000"),
    "cli-train-optimizer": cli("train", "--optimizer", "adan"),
    "cli-train-schedule": cli("train", "--schedule", "linear"),
    "cli-train-hidden": cli("train", "--hidden", "softmax"),
    "cli-train-activation": cli("train", "--hidden", "sigmoidd"),
    "cli-train-cost": cli("train", "--cost", "mse"),
    "cli-train-output-cost": cli("train", "--output", "tanh", "--cost", "binary_cross_entropy"),
    "cli-train-data-fifo": cli("train", "--data", "{fifo}"),
    "cli-train-dataset-fifo": cli("train", "--dataset", "fashion-mnist", "--data", "{fifo}"),
    "cli-resume-checkpoint-dir": lambda c: (
        (c.tmp / "rr" / "checkpoint.safetensors").mkdir(parents=True, exist_ok=True)
        or cli("train", "--resume", "--out", "{tmp}/rr")(c)),
    "cli-train-init": cli("train", "--init", "xavier"),
    "cli-train-init-prefix": cli("train", "--init", "he"),
    "cli-train-flag-typo": cli("train", "--epocs", "3"),
    "cli-train-grad": cli("train", "--grad", "numeric"),
    "cli-train-val-size": cli("train", "--val-size", "-1"),
    "cli-train-val-size-all": cli("train", "--epochs", "1", "--val-size", "4000"),
    "cli-train-patience": cli("train", "--patience", "3"),
    "cli-train-resume-no-out": cli("train", "--resume"),
    "cli-train-resume-missing": cli("train", "--epochs", "1", "--resume", "--out",
                                    "{tmp}/no_run"),
    "cli-train-existing-run": cli("train", *RUN_FLAGS, "--out", "{run}"),
    "cli-train-resume-other-net": cli("train", *RUN_FLAGS, "--sizes", "784,20,10", "--resume",
                                      "--out", "{run}"),
    "cli-train-resume-corrupt": cli("train", *RUN_FLAGS, "--resume", "--out", "{corrupt_run}"),
    "cli-train-data-missing": cli("train", "--dataset", "mnist", "--data", "{tmp}/no_mnist"),
    "cli-train-data-nothing": cli("train", *RUN_FLAGS, "--data", "{tmp}/no_such_folder"),
    "cli-train-data-file": cli("train", *RUN_FLAGS, "--data", "{text}"),
    "cli-train-dataset": cli("train", "--dataset", "cifar"),
    "cli-train-fashion-missing": cli("train", *RUN_FLAGS, "--dataset", "fashion-mnist",
                                     "--data", "{tmp}/no_fashion"),
    "cli-train-npz-classes": cli_with_files("train", "--epochs", "1", "--data",
                                            "{tmp}/three_classes.npz", "--sizes", "6,4,10"),
    "cli-train-python-fix": cli("train", "--l2", "-1"),
    "cli-train-data-labels": cli("train", *RUN_FLAGS, "--dataset", "mnist", "--data",
                                 "{mnist_labels}"),
    "cli-train-devices": cli("train", "--epochs", "1", "--devices", "0"),
    "cli-train-coordinator-alone": cli("train", "--coordinator", "127.0.0.1:1234"),
    "cli-train-coordinator": cli("train", "--coordinator", "localhost", "--num-processes", "2",
                                 "--process-id", "0"),
    "cli-train-seed-huge": cli("train", "--seed", str(2**64)),
    "cli-train-out-file": cli("train", "--epochs", "1", "--out", "{text}"),
    "cli-train-sizes-negative": cli("train", "--sizes", "-784,16,10"),
    "cli-train-epochs-huge": cli("train", "--epochs", str(2**32)),
    "cli-train-epochs-steps": cli("train", "--epochs", str(2**31 - 1), "--schedule", "cosine",
                                  "--batch-size", "100", "--out", "{tmp}/steps"),
    "cli-train-batch-huge": cli("train", "--batch-size", str(2**32)),
    "cli-train-seed-negative": cli("train", "--seed", "-1"),
    "cli-train-num-processes": cli("train", "--coordinator", "127.0.0.1:1234",
                                   "--num-processes", "0", "--process-id", "0"),
    "cli-train-process-id": cli("train", "--coordinator", "127.0.0.1:1234", "--num-processes",
                                "2", "--process-id", "2"),
    "cli-train-out-foreign": cli("train", *RUN_FLAGS, "--out", "{project}"),
    "cli-train-out-busy": cli("train", *RUN_FLAGS, "--out", "{busy}"),
    "cli-train-resume-force": cli("train", "--resume", "--force", "--out", "{run}"),
    "cli-train-resume-unstarted": cli("train", "--resume", "--out", "{unstarted}"),
    "cli-train-resume-epochs": cli("train", "--epochs", "4", "--resume", "--out",
                                   "{cosine_run}"),
    "cli-train-resume-flags": cli("train", "--optimizer", "sgd", "--resume", "--out",
                                  "{cosine_run}"),
    "cli-train-resume-x64": cli("train", "--x64", "--resume", "--out", "{cosine_run}"),
    "cli-train-import": cli("train", "--hidden", "no_such_module:act"),
    "cli-train-attribute": cli("train", "--cost", "jaxnn.costs:nothing"),
    "cli-train-not-component": cli("train", "--hidden", "jax.nn:relu"),
    "cli-train-coordinator-timeout": cli("train", "--coordinator", "127.0.0.1:1234",
                                         "--num-processes", "2", "--process-id", "1",
                                         "--coordinator-timeout", "0"),
    "cli-train-coordinator-timeout-alone": cli("train", "--coordinator-timeout", "5"),
    # CLI: jaxnn evaluate.
    "cli-evaluate-missing": cli("evaluate", "{tmp}/nothing.safetensors"),
    "cli-evaluate-sweep": cli_with_files("evaluate", "{tmp}/sweep"),
    "cli-evaluate-no-run": cli("evaluate", "{mnist_count}"),
    "cli-evaluate-text": cli("evaluate", "{text}"),
    "cli-evaluate-empty": cli("evaluate", "{empty}"),
    "cli-evaluate-truncated": cli("evaluate", "{truncated}"),
    "cli-evaluate-dir": cli("evaluate", "{dir_ckpt}"),
    "cli-evaluate-unreadable": cli("evaluate", "{loop}"),
    "cli-evaluate-fifo": cli("evaluate", "{fifo}"),
    "cli-evaluate-not-mnist": cli("evaluate", "{small_ckpt}"),
    "cli-evaluate-nan": cli("evaluate", "{nan_ckpt}"),
    "cli-evaluate-data": cli("evaluate", "{run}", "--data", "{mnist_count}"),
    "cli-evaluate-dataset": cli("evaluate", "{run}", "--dataset", "emnist"),
    "cli-evaluate-worst": cli("evaluate", "{run}", "--worst", "-1"),
    "cli-evaluate-out-file": cli("evaluate", "{run}", "--out", "{text}"),
    # CLI: jaxnn sweep.
    "cli-sweep-lr-text": cli("sweep", "--lr", "0.1,fast"),
    "cli-sweep-lr-gap": cli("sweep", "--lr", "0.1,,1"),
    "cli-sweep-empty": cli("sweep", "--lr", ""),
    "cli-sweep-l2-empty": cli("sweep", "--l2", ""),
    "cli-sweep-seeds": cli("sweep", "--seeds", "0"),
    "cli-sweep-seed-range": cli("sweep", "--seed", str(2**32 - 1), "--seeds", "2"),
    "cli-sweep-lr-zero": cli("sweep", "--lr", "0,0.1"),
    "cli-sweep-l2-negative": cli("sweep", "--l2", "-1e-4,0"),
    "cli-sweep-lr-twice": cli("sweep", "--lr", "0.1,0.1"),
    "cli-sweep-lr-flag-twice": cli("sweep", "--lr", "0.1", "--lr", "1"),
    "cli-sweep-memory": lambda c: _with_env(
        {"JAXNN_MEMORY_LIMIT": "64M"}, cli("sweep", "--seeds", "20000", "--sizes", "784,8,10",
                                           "--out", "{tmp}/sweep_memory"), c),
    "cli-sweep-force-user-file": lambda c: _with_files(
        {"mine/summary.md": "# my notes\n"}, cli("sweep", "--force", "--out", "{tmp}/mine"), c),
    "cli-sweep-epochs": cli("sweep", "--epochs", "0"),
    "cli-sweep-patience": cli("sweep", "--patience", "2"),
    "cli-sweep-optimizer": cli("sweep", "--optimizer", "adan"),
    "cli-sweep-dataset": cli("sweep", "--dataset", "cifar"),
    "cli-sweep-sizes": cli("sweep", "--epochs", "1", "--seeds", "1", "--sizes", "100,10",
                           "--out", "{tmp}/sweep_sizes"),
    "cli-sweep-existing-run": cli("sweep", "--epochs", "1", "--out", "{run}"),
    "cli-sweep-resume": cli_with_files("train", "--resume", "--out", "{tmp}/sweep"),
    "cli-sweep-import": cli("sweep", "--output", "no_such_module:act"),
    # CLI: jaxnn verify.
    "cli-verify-sizes": cli("verify", "--sizes", "4,0,3"),
    "cli-verify-batch": cli("verify", "--batch", "0"),
    "cli-verify-eps": cli("verify", "--eps", "0"),
    "cli-verify-eps-inf": cli("verify", "--sizes", "2,2", "--eps", "inf"),
    "cli-verify-l2": cli("verify", "--l2", "nan"),
    "cli-verify-hidden": cli("verify", "--hidden", "softmax"),
    "cli-verify-output": cli("verify", "--output", "relu"),
    "cli-verify-init": cli("verify", "--init", "xavier"),
    "cli-verify-dtype": cli("verify", "--dtype", "float16"),
    "cli-verify-max-fd": cli("verify", "--sizes", "2,2", "--max-fd-params", "-1"),
    "cli-verify-seed": cli("verify", "--seed", str(2**32)),
    "cli-verify-batch-huge": cli("verify", "--batch", str(2**32)),
    "cli-verify-sizes-memory": _limited(cli("verify", "--sizes", "100000,100000,10")),
    "cli-verify-import": cli("verify", "--hidden", "no_such_module:act"),
    "cli-verify-attribute": cli("verify", "--hidden", "jaxnn.activations:nothing"),
    "cli-verify-not-component": cli("verify", "--output", "jax.nn:sigmoid"),
    "cli-verify-spec": cli("verify", "--cost", ":huber"),
    # CLI: jaxnn bench.
    "cli-bench-json-dir": cli("bench", "--quick", "--json", "{tmp}"),
    "cli-bench-json-missing": cli("bench", "--quick", "--json", "{tmp}/no/such/out.json"),
    "cli-bench-rounds": cli("bench", "--rounds", "0"),
    "cli-bench-sizes": cli("bench", "--sizes", "784,30,10"),
    "cli-bench-optimizers": cli("bench", "--optimizers", "rmsprop"),
    "cli-bench-seed": cli("bench", "--seed", str(2**32)),
}


# ---------------------------------------------------------------------------------------
# The document.

_ROW = re.compile(r"^\|\s*`([a-z0-9][a-z0-9-]*)`\s*\|")


def _unquote(cell: str) -> str:
    cell = cell.strip()
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def catalogue() -> dict[str, tuple[str, str, str, str]]:
    """id -> (call, what is wrong, exception, message excerpt), from docs/errors.md."""
    rows = {}
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        match = _ROW.match(line)
        if not match:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, f"docs/errors.md:{number}: expected 5 cells, got {cells}"
        case_id = match.group(1)
        assert case_id not in rows, f"docs/errors.md:{number}: id {case_id} appears twice"
        rows[case_id] = (_unquote(cells[1]), cells[2], _unquote(cells[3]), _unquote(cells[4]))
    return rows


ROWS = catalogue()


def test_every_entry_has_a_call_and_every_call_an_entry():
    assert sorted(set(ROWS) - set(CASES)) == [], "entries in docs/errors.md without a call"
    assert sorted(set(CASES) - set(ROWS)) == [], "calls without an entry in docs/errors.md"
    assert set(NEEDS_PATCH) <= set(CASES)


def _params():
    for case_id in sorted(ROWS):
        marks = ()
        if case_id in NEEDS_PATCH:
            marks = pytest.mark.xfail(
                reason=f"fixed by /tmp/hardening_patches/{NEEDS_PATCH[case_id]}", strict=False)
        yield pytest.param(case_id, marks=marks, id=case_id)


def _run_cli(fn, c) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = fn(c)
        except SystemExit as e:  # argparse's own errors exit 2 with a usage line
            code = e.code
    return code, err.getvalue()


@pytest.mark.parametrize("case_id", _params())
def test_catalogue_entry(case_id, ctx):
    _, _, expected, excerpt = ROWS[case_id]
    fn = CASES[case_id]
    if expected == EXIT_2:
        code, err = _run_cli(fn, ctx)
        assert code == 2, f"exit status {code}; stderr: {err[-2000:]}"
        assert excerpt in err, err[-2000:]
        assert "Traceback" not in err, err[-2000:]
        return
    with pytest.raises(Exception) as info:
        fn(ctx)
    error = info.value
    names = [k.__name__ for k in type(error).__mro__]
    assert expected in names, f"{type(error).__name__}: {error}"
    assert excerpt in str(error), str(error)
    raised_at = Path(traceback.extract_tb(info.tb)[-1].filename).resolve()
    assert PACKAGE in raised_at.parents, (
        f"raised at {raised_at}, not by a check in jaxnn: {type(error).__name__}: {error}"
    )
