"""``jaxnn train`` and ``jaxnn evaluate``: run directories, resumption, and bad input."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxnn import checkpoint, data
from jaxnn.cli import main, rundir

ROOT = Path(__file__).resolve().parents[1]

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
    config = json.loads((part / "config.json").read_text())
    assert config["command"] == f"jaxnn train {' '.join(partial)} --out {part}"
    assert config["resumed_with"] == [f"jaxnn train {' '.join(SMALL)} --out {part} --resume"]
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
    (["--sizes", "100,10"], "the data and the network sizes disagree: mnist has 784 inputs "
                            "(28×28) and 10 classes"),
    (["--sizes", "784,30,5"], "the network 784-30-5 has n_0 = 784 and n_L = 5. Fix: --sizes "
                              "784,30,10, or leave out --sizes for 784,256,10"),
    (["--dataset", "fashion_mnist"], "unknown dataset 'fashion_mnist'; expected one of: "
                                     "mnist, fashion-mnist. Fix: --dataset fashion-mnist"),
    (["--hidden", "softmax"], "softmax is an output activation"),
    (["--output", "tanh", "--cost", "binary_cross_entropy"], "needs an output activation among sigmoid"),
    (["--init", "xavier"], "unknown init scheme 'xavier'"),
    (["--patience", "3"], "--patience needs a positive value and a validation split"),
    (["--resume"], "--resume: no checkpoint at"),
    (["--devices", "8"], "asked for 8 devices but JAX sees 1"),
    (["--sizes", "-784,16,10"], "every size must be a positive int; got sizes[0] = -784"),
    (["--epochs", str(2**40)], f"--epochs must be at most {2**31 - 1}"),
    (["--epochs", str(2**31 - 1), "--schedule", "cosine", "--batch-size", "100"],
     "× 40 steps per epoch = 85899345880 optimizer steps, more than its int32 step counter"),
    (["--batch-size", str(2**40)], f"--batch-size must be at most {2**31 - 1}"),
    (["--seed", str(2**32)], "--seed must be an integer in [0, 2^32); got 4294967296"),
    (["--seed", "-1"], "--seed must be an integer in [0, 2^32); got -1"),
    (["--val-size", str(2**40)], f"--val-size must be at most {2**31 - 1}"),
    (["--devices", "0"], "--devices must be a positive integer; got 0"),
    (["--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"],
     "--num-processes must be a positive integer; got 0"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
     "--process-id must be at most 1 (--num-processes − 1); got 2"),
    (["--resume", "--force"], "--resume and --force contradict each other"),
])
def test_bad_flags(tmp_path, capsys, extra, message):
    _fails(["train", "--epochs", "1", *extra, "--out", str(tmp_path / "r")], capsys, message)
    assert not (tmp_path / "r" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "r").exists()  # a run that never started leaves no folder


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


# ---------------------------------------------------------------------------------------
# The run directory is jaxnn's alone.


def test_default_run_directories_are_new_even_within_one_second(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20250101-120000")
    names = iter(["aaaaaa", "aaaaaa", "bbbbbb", "cccccc"])  # the second draw collides
    monkeypatch.setattr(rundir.secrets, "token_hex", lambda n: next(names))
    made = [rundir.create_default(tmp_path / "runs")[0] for _ in range(3)]
    assert [p.name for p in made] == ["20250101-120000-aaaaaa", "20250101-120000-bbbbbb",
                                      "20250101-120000-cccccc"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)


def test_a_folder_of_other_files_is_refused_unless_force(tmp_path, capsys, monkeypatch):
    out = tmp_path / "project"
    out.mkdir()
    mine = {"config.json": '{"lr": 0.5}\n', "summary.json": "{}\n", "metrics.jsonl": "1\n",
            "notes.txt": "my notes\n"}
    for name, text in mine.items():
        (out / name).write_text(text)
    _fails(["train", *SMALL, "--out", str(out)], capsys,
           "is not empty and holds files that are not a jaxnn run (config.json, metrics.jsonl, "
           "notes.txt and 1 more); nothing was written")
    assert {p.name: p.read_text() for p in out.iterdir() if p.name in mine} == mine
    monkeypatch.chdir(out)  # --out . is the same folder
    _fails(["train", *SMALL, "--out", "."], capsys, "holds files that are not a jaxnn run")
    assert {p.name: p.read_text() for p in out.iterdir() if p.name in mine} == mine
    # --force writes beside the user's files, and never over one of them.
    _fails(["train", *SMALL, "--epochs", "1", "--out", ".", "--force"], capsys,
           ". holds config.json, metrics.jsonl, summary.json, "
           "which no jaxnn run wrote and this run would replace; nothing was written")
    assert {p.name: p.read_text() for p in out.iterdir() if p.name in mine} == mine
    for name in ("config.json", "summary.json", "metrics.jsonl"):
        (out / name).unlink()
    assert main(["train", *SMALL, "--epochs", "1", "--out", ".", "--force"]) == 0
    assert (out / "notes.txt").read_text() == "my notes\n"  # --force replaces only run files
    assert json.loads((out / "config.json").read_text())["format"] == rundir.FORMAT
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is fine
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(empty)]) == 0


def test_resume_keeps_the_runs_meaning_and_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    cosine = [*SMALL, "--schedule", "cosine", "--epochs", "2"]
    assert main(["train", *cosine, "--out", str(out)]) == 0
    summary = (out / "summary.json").read_bytes()
    _fails(["train", *cosine, "--epochs", "4", "--resume", "--out", str(out)], capsys,
           "--epochs 4 differs from the run's --epochs 2, and the cosine schedule decays over "
           "the whole run")
    _fails(["train", "--optimizer", "sgd", "--resume", "--out", str(out)], capsys,
           "was made with other flags: --optimizer 'adam' (now 'sgd')")
    _fails(["train", "--x64", "--resume", "--out", str(out)], capsys,
           "was made with other flags: --x64 False (now True)")
    _fails(["train", "--hidden", "tanh", "--resume", "--out", str(out)], capsys,
           "belongs to another network")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(out)]) == 0  # the run's own flags
    assert f"{out} is finished (epoch 2 of 2); nothing to resume, summary.json is left as it " \
           "is" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == summary


DIVERGE = ["--optimizer", "sgd", "--lr", "50", "--output", "identity", "--cost", "quadratic",
           "--sizes", "784,16,10", "--batch-size", "100", "--epochs", "3", "--quiet"]


def test_a_diverged_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *DIVERGE, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "the cost became NaN or Inf" in err and f"The run in {out} keeps the checkpoint" in err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fails(["train", *DIVERGE, "--lr", "0.1", "--out", str(out)], capsys, "already holds a run")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_full_disk_after_the_checkpoint_keeps_the_run_resumable(tmp_path, capsys,
                                                                   monkeypatch):
    full, run = tmp_path / "full", tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(full)]) == 0
    append = rundir.append_line

    def append_fails_at_epoch_2(path, line):
        if json.loads(line)["epoch"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        append(path, line)

    monkeypatch.setattr(rundir, "append_line", append_fails_at_epoch_2)
    _fails(["train", *SMALL, "--out", str(run)], capsys,
           f"No space left on device while writing the run in {run}; its checkpoint of epoch "
           f"2 is intact. Fix: free the space, then jaxnn train --resume --out {run}")
    assert _params(run) is not None and checkpoint.load(run / "checkpoint.safetensors").step == 2
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # behind, never ahead
    monkeypatch.setattr(rundir, "append_line", append)
    assert main(["train", "--resume", "--out", str(run)]) == 0
    for a, b in zip(jax.tree.leaves(_params(full)), jax.tree.leaves(_params(run))):
        np.testing.assert_array_equal(a, b)
    assert [json.loads(x)["train_cost"] for x in (run / "metrics.jsonl").read_text().splitlines()] \
        == [json.loads(x)["train_cost"] for x in (full / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("argv, message", [
    (["train", "--sizes", "-784,16,10"], "every size must be a positive int; got sizes[0] = -784"),
    (["train", "--epochs", str(2**64)], f"--epochs must be at most {2**31 - 1}"),
    (["train", "--seed", str(2**64)], "--seed must be an integer in [0, 2^32)"),
    (["bench", "--quick", "--json", "{tmp}"], "--json must be a file path; got"),
    (["bench", "--quick", "--json", "{tmp}/no/such/folder/out.json"],
     "--json must be a file in an existing folder"),
])
def test_bad_input_through_the_command_line(tmp_path, argv, message):
    """A real ``jaxnn`` process: exit 2, one line, no traceback, nothing run."""
    argv = [a.format(tmp=tmp_path) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "jaxnn.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == "" and not (tmp_path / "runs").exists()


def test_dropout_flag_trains_and_resume_refuses_another_rate(tmp_path):
    out = tmp_path / "run"
    flags = ["--sizes", "784,16,10", "--hidden", "relu", "--output", "softmax", "--cost",
             "cross_entropy", "--batch-size", "100", "--quiet", "--out", str(out)]
    assert main(["train", *flags, "--epochs", "1", "--dropout", "0.2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["network"]["dropout"] == 0.2
    status = main(["train", "--resume", "--out", str(out), "--epochs", "2", "--dropout", "0.5"])
    assert status == 2
