"""A CLI that explains itself: what ``jaxnn`` prints and records for people — the header,
the compile time, the epoch table, one name per split, the version, help with defaults,
messages with flags (never Python calls), and ``jaxnn bench``'s tables."""

import datetime
import json
import sys

import pytest

import jaxnn
from jaxnn import activations, costs, data, optimizers
from jaxnn.cli import flags, main
from jaxnn.cli.bench import command as bench_command
from jaxnn.cli.bench import report
from jaxnn.cli.main import build_parser
from jaxnn.train import GRADS

SMALL = ["--sizes", "784,8,10", "--batch-size", "200"]


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"jaxnn {jaxnn.__version__}"


def _value_options(parser):
    """The options that take a value (switches such as --quiet take none: nargs 0)."""
    return [a for a in parser.added if a.option_strings and a.nargs is None]


@pytest.mark.parametrize("command", ["train", "sweep", "evaluate", "bench"])
def test_every_flag_shows_its_default(command):
    _, subparsers = build_parser()
    missing = [a.option_strings[0] for a in _value_options(subparsers[command])
               if "default" not in (a.help or "")]
    assert missing == []


def test_help_lists_the_valid_names_from_the_registries(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for registry in (activations.NAMES, costs.NAMES, jaxnn.SCHEMES, optimizers.NAMES,
                     data.DATASETS, GRADS):
        assert ", ".join(registry) in text, list(registry)


def test_a_training_run_explains_itself(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == "network 784-8-10, relu hidden, softmax output, cross_entropy cost"
    assert lines[1].startswith("training adam lr 0.001 (constant), batch 200, 1 epoch on "
                               "4,000 training examples of mnist; test: 1,000 examples")
    assert lines[3].startswith("compiling… (") and lines[3].endswith(" s)")
    assert lines[4].split() == ["epoch", "train", "cost", "train", "acc", "test", "cost",
                                "test", "acc", "seconds"]
    assert lines[5].split()[0] == "1"
    assert lines[6].startswith("parameters sha256 ") and "bit-identical" in lines[6]
    assert lines[7].startswith("test accuracy ") and "after 1 epoch (" in lines[7]
    assert "epochs" not in lines[7]
    config = json.loads((out / "config.json").read_text())
    assert config["jaxnn_version"] == jaxnn.__version__
    assert config["command"] == "jaxnn train " + " ".join(SMALL) + f" --epochs 1 --out {out}"
    env = config["environment"]
    assert {"python", "jax", "platform", "device"} <= set(env)
    assert config["data"]["monitored"] == "test" and config["data"]["monitored_examples"] == 1000
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    stamp = datetime.datetime.fromisoformat(record["time"])
    assert stamp.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.UTC) - stamp).total_seconds()) < 600
    summary = json.loads((out / "summary.json").read_text())
    assert summary["monitored"] == "test" and "validation_accuracy" not in summary
    assert summary["train_seconds"] == round(summary["train_seconds"], 3)


def test_a_validation_split_is_called_validation_everywhere(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "2", "--val-size", "500", "--patience", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "; validation: 500 examples" in printed
    header = next(line for line in printed.splitlines() if line.split()[:1] == ["epoch"])
    assert header.split() == ["epoch", "train", "cost", "train", "acc", "validation", "cost",
                              "validation", "acc", "seconds"]
    assert "parameters of epoch " in printed and "kept (validation accuracy " in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["monitored"] == "validation"
    assert 0 < summary["validation_accuracy"] <= 1 and "test_accuracy" in summary
    assert json.loads((out / "config.json").read_text())["data"]["monitored"] == "validation"
    assert (out / "learning_curve.png").stat().st_size > 1000


def test_messages_name_flags_not_python_calls(capsys):
    text = flags.for_the_command_line(
        "the cost 'x' needs …; got 'relu'. Fix: change it, or use cost='quadratic'.",
        {"cost"})
    assert text.endswith("Fix: change it, or use --cost quadratic.")
    assert flags.for_the_command_line("bad. Fix: e.g. sizes=(2, 1) for one layer.",
                                      {"sizes"}) == "bad. Fix: e.g. --sizes 2,1 for one layer."
    assert flags.for_the_command_line("l2=1 is bad. Fix: pass l2=0.0.", {"l2"}) == \
        "l2=1 is bad. Fix: pass --l2 0.0."  # only the advice is rewritten
    assert main(["train", "--sizes", "784", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert "Fix: e.g. --sizes 2,1 for one layer." in err and "sizes=(" not in err


def test_resume_refusals_round_floats_for_people(tmp_path, capsys):
    from jaxnn.cli import resume

    assert resume.shown(0.0010000000474974513) == "0.001"
    assert resume.shown("adam") == "'adam'"
    assert flags.plural(1, "epoch") == "1 epoch" and flags.plural(4000, "example") == \
        "4,000 examples"


def _fake_result(quick: bool) -> dict:
    group = {"size": "4-5-3", "batch": 8, "optimizer": "sgd", "flops_per_step": 2e6,
             "steps_per_call": 10, "matmul_gflops": 50.0, "reference": None, "rows": [
                 {"name": "jaxnn manual", "ms_per_step": 0.05, "ratio_to_reference": None,
                  "gflops": 40.0, "pct_roofline": 80.0, "ms_per_step_min": 0.04,
                  "cpu_ms_per_step": 0.05, "compile_seconds": 0.3}]}
    return {"machine": {"cpu": "cpu", "cpu_flags": [], "cores": 2, "memory_gb": 4,
                        "python": "3", "jax": "x", "jaxlib": "x", "numpy": "x",
                        "jax_backend": "cpu"},
            "config": {"architecture": "relu MLP", "quick": quick}, "groups": [group],
            "compile": {"jaxnn_epoch_compile_seconds_max": None,
                        "jaxnn_epoch_compile_seconds": []},
            "memory": {"process_peak_rss_mb": 100.0, "device_memory_stats": None}}


def test_bench_tables_without_a_reference_drop_the_ratio_column():
    table = report.format_group(_fake_result(False)["groups"][0])
    assert "reference" not in table and "×" not in table
    assert table.splitlines()[2].count("|") == table.splitlines()[4].count("|") == 8
    with_ref = dict(_fake_result(False)["groups"][0], reference="plain JAX")
    with_ref["rows"] = [dict(with_ref["rows"][0], ratio_to_reference=1.25)]
    assert "| × plain JAX |" in report.format_group(with_ref) and "| 1.25 |" in \
        report.format_group(with_ref)


def test_bench_prints_each_table_once_on_a_terminal_and_cautions_quick(capsys, monkeypatch):
    seen = {}

    def fake_benchmark(**kwargs):
        seen.update(kwargs)
        return _fake_result(kwargs["quick"])

    monkeypatch.setattr(bench_command.timing, "run_jaxnn_benchmark", fake_benchmark)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["bench", "--quick"]) == 0
    assert seen["log_tables"] is False  # the tables once, in the report on stdout
    captured = capsys.readouterr()
    assert report.QUICK_CAUTION in captured.err and report.QUICK_CAUTION not in captured.out
    assert captured.out.count("**4-5-3, batch 8, sgd**") == 1
    assert "not meaningful" in report.QUICK_CAUTION
    assert report.format_report(_fake_result(True)).startswith(report.QUICK_CAUTION)
    assert report.QUICK_CAUTION not in report.format_report(_fake_result(False))


class _ClosedPipe:
    """A stdout whose reader went away (``| head``): every write is a BrokenPipeError."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass

    def isatty(self):
        return False


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    import sys

    from jaxnn.cli import main

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["verify", "--sizes", "2,2"]) == 0
    assert capsys.readouterr().err == ""  # no "Broken pipe", no traceback


def test_an_interrupted_command_ends_the_process_at_once(monkeypatch, capsys):
    """`jaxnn …` stopped by a signal exits with os._exit after its message: tearing the
    interpreter down under XLA's compiler threads (Ctrl-C while compiling) could crash.
    A call from Python gets the status back instead."""
    import importlib
    import signal
    import sys

    from jaxnn.cli import interrupt, main, verify

    main_module = importlib.import_module("jaxnn.cli.main")

    def stopped(args):
        raise interrupt.Interrupted(signal.SIGINT, "interrupted while compiling")

    exits = []
    monkeypatch.setattr(verify, "run", stopped)
    monkeypatch.setattr(main_module.os, "_exit", exits.append)
    monkeypatch.setattr(sys, "argv", ["jaxnn", "verify"])
    assert main(["verify"]) == 130 and exits == []
    main()
    assert exits == [130]
    assert capsys.readouterr().err.splitlines() == ["jaxnn verify: interrupted while compiling"] * 2
