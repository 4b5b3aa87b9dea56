"""``jaxnn sweep``: a grid of settings × seeds in one fit_many call, its files, and the
runs it equals."""

import builtins
import csv
import errno
import json
import os
import signal

import pytest

from jaxnn.cli import main

TINY = ["--sizes", "784,8,10", "--batch-size", "200", "--quiet"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_writes_runs_summary_and_curves(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", *TINY, "--seeds", "2", "--lr", "0.001,0.01", "--l2", "0,1e-3",
                 "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| lr | l2 | runs | diverged | train cost |")  # --quiet: table
    rows = _rows(out / "runs.csv")
    assert len(rows) == 8
    assert list(rows[0]) == ["seed", "lr", "l2", "epochs", "best_epoch", "stopped",
                             "diverged_at", "train_cost", "train_accuracy", "test_cost",
                             "test_accuracy"]
    assert [(r["lr"], r["l2"], r["seed"]) for r in rows[:3]] == [
        ("0.001", "0.0", "0"), ("0.001", "0.0", "1"), ("0.001", "0.001", "0")]
    assert {r["stopped"] for r in rows} == {"completed"} and {r["epochs"] for r in rows} == {"2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["monitored"] == "test" and summary["runs"] == 8
    assert [(s["lr"], s["l2"], s["runs"]) for s in summary["settings"]] == [
        (0.001, 0.0, 2), (0.001, 0.001, 2), (0.01, 0.0, 2), (0.01, 0.001, 2)]
    first = summary["settings"][0]["metrics"]["test_accuracy"]
    accs = [float(r["test_accuracy"]) for r in rows[:2]]
    assert first["mean"] == pytest.approx(sum(accs) / 2)
    assert first["std"] == pytest.approx(abs(accs[0] - accs[1]) / 2 ** 0.5)
    md = (out / "summary.md").read_text()
    assert "| 0.01 | 0.001 | 2 | 0 |" in md and " ± " in md and "over 2 seeds" in md
    assert (out / "curves.png").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "jaxnn-sweep/1" and config["grid"]["runs"] == 8
    assert config["command"].startswith("jaxnn sweep --sizes 784,8,10")
    # Run (lr 0.01, l2 0, seed 1) is the run `jaxnn train` makes with those flags.
    single = tmp_path / "single"
    assert main(["train", *TINY, "--epochs", "2", "--lr", "0.01", "--seed", "1", "--out",
                 str(single)]) == 0
    alone = json.loads((single / "summary.json").read_text())
    row = next(r for r in rows if (r["lr"], r["l2"], r["seed"]) == ("0.01", "0.0", "1"))
    assert float(row["train_cost"]) == pytest.approx(alone["final_train_cost"], rel=1e-4)
    assert float(row["test_accuracy"]) == pytest.approx(alone["test_accuracy"], abs=2e-3)
    # A second sweep into the same folder is refused; nothing is overwritten.
    before = (out / "runs.csv").read_bytes()
    assert main(["sweep", *TINY, "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds a run (config.json); nothing was overwritten. Fix: --force" in \
        capsys.readouterr().err
    assert (out / "runs.csv").read_bytes() == before


def test_shared_order_runs_are_the_train_runs_with_the_first_seeds_order(tmp_path, capsys):
    """--order shared: every run shuffles as the first seed does; the run of seed 0 is still
    `jaxnn train --seed 0`, and its twin of seed 1 starts elsewhere but walks the same
    minibatches (so it differs from the per-run sweep's seed 1)."""
    shared, per_run = tmp_path / "shared", tmp_path / "per_run"
    for out, order in ((shared, "shared"), (per_run, "per_run")):
        assert main(["sweep", *TINY, "--seeds", "2", "--lr", "0.01", "--epochs", "2",
                     "--order", order, "--out", str(out)]) == 0
    rows = {o: _rows(d / "runs.csv") for o, d in (("shared", shared), ("per_run", per_run))}
    assert json.loads((shared / "config.json").read_text())["flags"]["order"] == "shared"
    cost = {o: [float(r["train_cost"]) for r in rows[o]] for o in rows}
    # Seed 0: the same run, up to float32 rounding (the wide product sums in another order).
    assert cost["shared"][0] == pytest.approx(cost["per_run"][0], rel=1e-5)
    # Seed 1: other minibatches, so a difference well beyond that rounding.
    assert cost["shared"][1] != pytest.approx(cost["per_run"][1], rel=1e-3)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", *TINY, "--order", "random", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "argument --order: invalid choice: 'random' (choose from 'per_run', 'shared')" in \
        capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_diverging_runs_early_stopping_and_no_matplotlib(tmp_path, capsys, monkeypatch):
    real = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "sweep"
    assert main(["sweep", "--sizes", "784,8,10", "--batch-size", "200", "--optimizer", "sgd",
                 "--output", "identity", "--cost", "quadratic", "--lr", "0.05,50",
                 "--seeds", "2", "--epochs", "3", "--val-size", "500", "--patience", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compiling and training 4 runs (2 settings × 2 seeds) in one program…" in printed
    assert "validation: 500 examples" in printed
    assert "(no curves.png: install the 'plot' extra, matplotlib)" in printed
    assert not (out / "curves.png").exists()
    rows = _rows(out / "runs.csv")
    assert "validation_accuracy" in rows[0] and "test_accuracy" in rows[0]
    wild = [r for r in rows if r["lr"] == "50.0"]
    assert {r["stopped"] for r in wild} == {"diverged"} and all(r["diverged_at"] for r in wild)
    tame = [r for r in rows if r["lr"] == "0.05"]
    assert {r["stopped"] for r in tame} <= {"completed", "early"}
    assert all(r["diverged_at"] == "" for r in tame)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["monitored"] == "validation" and summary["diverged"] == 2
    assert summary["settings"][1]["diverged"] == 2
    assert summary["best"] == {"lr": 0.05, "l2": 0.0, "by": "mean validation accuracy"}


def test_a_sweep_that_fails_keeps_nothing(tmp_path, capsys):
    out = tmp_path / "new" / "sweep"
    assert main(["sweep", *TINY, "--epochs", "1", "--batch-size", "5000", "--out",
                 str(out)]) == 2
    assert "--batch-size 5000 is larger than the training set (4000 examples)" in \
        capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_ctrl_c_mid_training_keeps_the_finished_epochs(tmp_path, capsys, monkeypatch):
    """SIGINT after epoch 2 of 3: exit 130, runs.csv and the summaries of the 2 finished
    epochs kept, the runs marked "interrupted", and the message says so."""
    from jaxnn.cli import sweep

    real = sweep._progress_line

    def interrupt_at_two(epoch, *rest):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(epoch, *rest)

    monkeypatch.setattr(sweep, "_progress_line", interrupt_at_two)
    out = tmp_path / "sweep"
    assert main(["sweep", *TINY, "--seeds", "2", "--lr", "0.01", "--epochs", "3", "--out",
                 str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted after epoch 2 of 3; " in err and "keeps runs.csv, summary.json and " \
        "summary.md of the 2 finished epochs" in err
    rows = _rows(out / "runs.csv")
    assert [(r["epochs"], r["best_epoch"], r["stopped"]) for r in rows] == [
        ("2", "2", "interrupted")] * 2
    assert all(r["test_accuracy"] for r in rows)  # the test set is the monitored split
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["epochs_finished"] == 2
    assert "**interrupted: 2 epochs of 3 finished**" in (out / "summary.md").read_text()


def test_a_failure_while_drawing_curves_keeps_the_results(tmp_path, capsys, monkeypatch):
    from jaxnn.cli import interrupt, plots

    for error, status, words in (
            (OSError(errno.ENOSPC, "No space left on device"), 2,
             "cannot write {out}/curves.png: No space left on device; the sweep's results "
             "are complete in {out} (runs.csv, summary.md, summary.json)"),
            (interrupt.Interrupted(signal.SIGINT), 130,
             "interrupted while drawing {out}/curves.png; the sweep's results are complete "
             "in {out}")):
        def fail(*args, error=error):
            raise error

        monkeypatch.setattr(plots, "sweep_curves", fail)
        out = tmp_path / f"sweep{status}"
        assert main(["sweep", *TINY, "--lr", "0.01", "--seeds", "1", "--epochs", "1",
                     "--out", str(out)]) == status
        assert words.format(out=out) in capsys.readouterr().err
        assert len(_rows(out / "runs.csv")) == 1
        assert json.loads((out / "summary.json").read_text())["complete"] is True
        assert (out / "summary.md").exists() and not (out / "curves.png").exists()


def test_every_run_diverged_exits_1_and_progress_lines_when_piped(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--sizes", "784,8,10", "--batch-size", "200", "--optimizer", "sgd",
                 "--output", "identity", "--cost", "quadratic", "--lr", "50", "--seeds", "2",
                 "--epochs", "2", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "epoch 1/2: 0 runs training, 2 diverged" in captured.out  # stdout is not a tty
    assert "jaxnn sweep: error: every run diverged (2 of 2); no setting has a result. " \
        "Fix: smaller --lr values" in captured.err
    assert {r["stopped"] for r in _rows(out / "runs.csv")} == {"diverged"}


def test_patience_rows_pair_the_kept_epochs_metrics():
    """With early stopping, a row's train and validation numbers are those of the epoch
    whose parameters it keeps (best_epoch), as its test numbers are; the best setting is
    ranked on that epoch."""
    from jaxnn.cli import grid
    from jaxnn.train import ManyResult

    def epoch(e, acc, cost):
        return {"epoch": e, "train_cost": cost, "train_accuracy": acc, "val_cost": cost,
                "val_accuracy": acc}

    runs = grid.runs([0.1, 1.0], [0.0], [0])
    # lr 0.1: best at epoch 1 (0.9), last epoch worse (0.5); lr 1: a steady 0.8.
    histories = [[epoch(1, 0.9, 0.1), epoch(2, 0.5, 0.7)], [epoch(1, 0.8, 0.2)] * 1]
    result = ManyResult(None, None, histories, (1, 1), ("early", "completed"), (None, None),
                        0.0)
    tests = [{"cost": 0.11, "accuracy": 0.88}, {"cost": 0.21, "accuracy": 0.79}]
    table = grid.rows(runs, result, tests, "validation")
    assert [(r["best_epoch"], r["validation_accuracy"], r["train_cost"], r["test_accuracy"])
            for r in table] == [(1, 0.9, 0.1, 0.88), (1, 0.8, 0.2, 0.79)]
    assert grid.best(grid.summarize(table, "validation"), "validation")["lr"] == 0.1
    running = grid.rows(runs, result, None, "validation", "running")
    assert [r["stopped"] for r in running] == ["early", "running"]
    assert running[0]["test_accuracy"] is None  # known only at the end


def test_a_flag_given_twice_a_memory_guard_and_evaluating_a_sweep(tmp_path, capsys,
                                                                   monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--lr", "0.1", "--lr", "1", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "argument --lr: given twice (0.1 and then 1); it takes one list. Fix: one --lr " \
        "with every value, e.g. --lr 0.1,1" in capsys.readouterr().err
    monkeypatch.setenv("JAXNN_MEMORY_LIMIT", "64M")
    out = tmp_path / "new" / "big"
    assert main(["sweep", *TINY, "--seeds", "20000", "--out", str(out)]) == 2
    assert "20,000 runs (1 setting × 20,000 seeds) of a 784-8-10 network hold about " in \
        capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # no half-made run directory
    monkeypatch.delenv("JAXNN_MEMORY_LIMIT")
    sweep_dir = tmp_path / "sweep"
    assert main(["sweep", *TINY, "--lr", "0.01", "--seeds", "1", "--epochs", "1", "--out",
                 str(sweep_dir)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(sweep_dir)]) == 2
    assert f"{sweep_dir} is a jaxnn sweep, which keeps no parameters to evaluate" in \
        capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty)]) == 2
    assert f"{empty} holds no jaxnn run (no checkpoint.safetensors). Fix:" in \
        capsys.readouterr().err
