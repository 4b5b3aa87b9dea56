"""``jaxnn sweep``: a grid of settings × seeds in one fit_many call, its files, and the
runs it equals."""

import builtins
import csv
import json

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
    assert cost["shared"][1] != pytest.approx(cost["per_run"][1], rel=1e-2)  # seed 1
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
