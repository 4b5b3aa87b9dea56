"""``jaxnn train`` and ``jaxnn evaluate``: run directories, resumption, and bad input."""

import json

import jax
import numpy as np
import pytest

from jaxnn import checkpoint, data
from jaxnn.cli import main

SMALL = ["--sizes", "784,16,10", "--epochs", "3", "--batch-size", "100", "--quiet"]


def _params(run):
    return checkpoint.load(run / "checkpoint.safetensors").params


def test_train_writes_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("test accuracy ")
    for name in ("config.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors",
                 "learning_curve.png"):
        assert (out / name).is_file(), name
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    summary = json.loads((out / "summary.json").read_text())
    assert {"test_accuracy", "test_cost", "epochs", "train_seconds"} <= set(summary)
    assert summary["epochs"] == 3 and 0.5 < summary["test_accuracy"] <= 1.0
    config = json.loads((out / "config.json").read_text())
    assert config["network"]["sizes"] == [784, 16, 10] and config["flags"]["optimizer"] == "adam"
    ckpt = checkpoint.load(out / "checkpoint.safetensors")
    assert ckpt.step == 3 and len(ckpt.metadata["history"]) == 3
    assert main(["evaluate", str(out)]) == 0
    assert f"test accuracy {summary['test_accuracy']:.4f}" in capsys.readouterr().out


def test_resume_gives_the_parameters_of_an_uninterrupted_run(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", *SMALL, "--out", str(full)]) == 0
    partial = [a if a != "3" else "2" for a in SMALL]  # --epochs 2
    assert main(["train", *partial, "--out", str(part)]) == 0
    stale = part / ".checkpoint.safetensors.x1y2.tmp"  # as a killed write leaves it
    stale.write_bytes(b"half a checkpoint")
    assert main(["train", *SMALL, "--out", str(part), "--resume"]) == 0
    assert not stale.exists()
    for a, b in zip(jax.tree.leaves(_params(full)), jax.tree.leaves(_params(part))):
        np.testing.assert_array_equal(a, b)
    assert (full / "metrics.jsonl").read_text().count("\n") == 3
    assert [json.loads(x)["train_cost"] for x in (part / "metrics.jsonl").read_text().splitlines()] \
        == [json.loads(x)["train_cost"] for x in (full / "metrics.jsonl").read_text().splitlines()]


def test_training_without_matplotlib_still_succeeds(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "run"
    assert main(["train", "--sizes", "784,8,10", "--epochs", "1", "--batch-size", "200",
                 "--out", str(out)]) == 0
    assert "install the 'plot' extra" in capsys.readouterr().out
    assert not (out / "learning_curve.png").exists() and (out / "summary.json").exists()


def _fails(argv, capsys, message, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err, err


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "--epochs must be a positive integer; got 0"),
    (["--batch-size", "-1"], "--batch-size must be a positive integer; got -1"),
    (["--batch-size", "5000"], "--batch-size 5000 is larger than the training set (4000 examples)"),
    (["--lr", "0"], "--lr must be a finite number > 0; got 0.0"),
    (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
    (["--optimizer", "adan"], "unknown optimizer 'adan'"),
    (["--schedule", "linear"], "unknown schedule 'linear'; expected one of: constant, exponential, cosine"),
    (["--sizes", "100,10"], "the data and the network sizes disagree: MNIST has 784 inputs and 10 classes"),
    (["--sizes", "784,30,5"], "the network (784, 30, 5) has n_0 = 784 and n_L = 5"),
    (["--hidden", "softmax"], "softmax is an output activation"),
    (["--output", "tanh", "--cost", "binary_cross_entropy"], "needs an output activation among sigmoid"),
    (["--init", "xavier"], "unknown init scheme 'xavier'"),
    (["--patience", "3"], "--patience needs a positive value and a validation split"),
    (["--resume"], "--resume: no checkpoint at"),
    (["--devices", "8"], "asked for 8 devices but JAX sees 1"),
])
def test_bad_flags(tmp_path, capsys, extra, message):
    _fails(["train", "--epochs", "1", *extra, "--out", str(tmp_path / "r")], capsys, message)
    assert not (tmp_path / "r" / "checkpoint.safetensors").exists()


def test_resume_needs_out(capsys):
    _fails(["train", "--resume"], capsys, "--resume needs --out RUN_DIR, the run to continue")


def test_data_folder_without_mnist_names_the_files(tmp_path, capsys):
    _fails(["train", "--data", str(tmp_path)], capsys, "train-images-idx3-ubyte")


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    before = (out / "checkpoint.safetensors").read_bytes()
    _fails(["train", *SMALL, "--out", str(out)], capsys, "already holds a run")
    _fails(["train", *SMALL, "--lr", "0.01", "--out", str(out), "--resume"], capsys,
           "the checkpoint in")
    _fails(["train", *SMALL, "--sizes", "784,20,10", "--out", str(out), "--resume"], capsys,
           "belongs to another network")
    assert (out / "checkpoint.safetensors").read_bytes() == before


def test_corrupt_checkpoint_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    path = out / "checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    _fails(["train", *SMALL, "--out", str(out), "--resume"], capsys, "truncated")
    assert path.stat().st_size == 100  # nothing overwritten


def test_evaluate_errors(tmp_path, capsys):
    _fails(["evaluate", str(tmp_path / "nothing.safetensors")], capsys, "no such checkpoint")


def test_full_size_mnist_folder_loads(tmp_path, capsys):
    """--data with the four IDX files (tiny ones here) trains through the same path."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 300), ("t10k", 100)):
        data.write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
                       rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte",
                       rng.integers(0, 10, n, dtype=np.uint8))
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path), "--epochs", "1", "--batch-size", "50",
                 "--sizes", "784,8,10", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["train_examples"] == 300


def test_bench_subcommand_is_wired(capsys):
    assert main(["bench", "--rounds", "0"]) == 2
    assert "jaxnn bench" in capsys.readouterr().err
