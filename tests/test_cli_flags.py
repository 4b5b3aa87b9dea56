"""The flags ``jaxnn train`` and ``jaxnn sweep`` share (one block,
:func:`jaxnn.cli.common.add_arguments`), and ``--coordinator-timeout`` for multi-process
runs: its range checks and a process that gives up waiting, in real processes."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxnn.cli import common
from jaxnn.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("sizes", "hidden", "output", "cost", "init", "optimizer", "epochs", "batch_size",
          "grad", "dataset", "data", "val_size", "patience", "seed", "out", "force", "quiet")
# A C++ abort (LOG(FATAL)) from jax.distributed prints lines such as these.
CRASH_MARKS = ("Traceback", "Check failure", "*** ", "Aborted", "stack trace", "F0000")


def _actions(command):
    _, subparsers = build_parser()
    return {a.dest: a for a in subparsers[command].added}


def test_train_and_sweep_share_one_flag_block():
    train, sweep = _actions("train"), _actions("sweep")
    assert set(SHARED) <= set(train) and set(SHARED) <= set(sweep)
    for dest in SHARED:
        if dest in common.TEXTS:  # worded for each command
            assert train[dest].help and sweep[dest].help, dest
            continue
        assert train[dest].help == sweep[dest].help, dest
        assert train[dest].default == sweep[dest].default, dest
        assert train[dest].option_strings == sweep[dest].option_strings, dest


def test_train_keeps_its_flags_in_their_order():
    assert [a.option_strings[0] for d, a in _actions("train").items() if d != "help"] == [
        "--sizes", "--hidden", "--output", "--cost", "--init", "--optimizer", "--lr",
        "--schedule", "--epochs", "--batch-size", "--l2", "--dropout", "--norm", "--residual", "--grad", "--dataset",
        "--data", "--val-size", "--patience", "--seed", "--out", "--resume", "--force",
        "--x64", "--quiet", "--debug-nans", "--devices", "--coordinator", "--num-processes",
        "--process-id", "--coordinator-timeout"]


def _jaxnn(argv, cwd, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "jaxnn.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


MULTI = ["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "1"]


@pytest.mark.parametrize("argv, message", [
    ([*MULTI, "--coordinator-timeout", "0"],
     "--coordinator-timeout must be a positive integer; got 0. Fix: e.g. "
     "--coordinator-timeout 60."),
    ([*MULTI, "--coordinator-timeout", "-5"],
     "--coordinator-timeout must be a positive integer; got -5."),
    ([*MULTI, "--coordinator-timeout", "1.5"],
     "argument --coordinator-timeout: invalid int value: '1.5'"),
    ([*MULTI, "--coordinator-timeout", "soon"],
     "argument --coordinator-timeout: invalid int value: 'soon'"),
    ([*MULTI, "--coordinator-timeout", "100000"],
     "--coordinator-timeout must be at most 86400 (a day); got 100000."),
    (["--coordinator-timeout", "5"],
     "--coordinator-timeout is for a multi-process run; got it without --coordinator. Fix:"),
])
def test_coordinator_timeout_is_range_checked(tmp_path, monkeypatch, capsys, argv, message):
    """In this process: each is refused while parsing, before any run folder or
    jax.distributed call (the subprocess cases below cover what follows a valid value)."""
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["train", *argv])
    except SystemExit as e:  # argparse's own "invalid int value"
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "runs").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("process_id, message", [
    (1, "no coordinator answered at 127.0.0.1:{port} within 5 s"),
    (0, "process 0 of 2 waited 5 s at 127.0.0.1:{port} for the other processes to join"),
])
def test_a_process_alone_gives_up_after_the_coordinator_timeout(tmp_path, process_id, message):
    """Process 1 with nobody at the address, or process 0 with nobody joining: exit 2 with
    one clear message soon after the timeout (not JAX's own, minutes later), no C++ abort."""
    port = _free_port()
    t0 = time.monotonic()
    proc = _jaxnn(["train", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                   "--process-id", str(process_id), "--coordinator-timeout", "5", "--epochs",
                   "1", "--out", str(tmp_path / "run")], tmp_path, timeout=240)
    seconds = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert message.format(port=port) in proc.stderr, proc.stderr
    assert "--coordinator-timeout" in proc.stderr
    assert not any(mark in proc.stderr for mark in CRASH_MARKS), proc.stderr
    # 5 s of waiting plus starting Python and JAX (18-20 s seen under load 17), far below
    # JAX's own give-up of 300 s, which is what this tells apart.
    assert 5 <= seconds < 200, seconds
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------
# Typos: a flag or a name in another case is taken, a misspelt one gets the nearest.


@pytest.mark.parametrize("argv, message", [
    (["train", "--epocs", "3"], "jaxnn train: error: unrecognized argument --epocs; did you "
                                "mean --epochs?"),
    (["sweep", "--lrs", "0.1"], "jaxnn sweep: error: unrecognized argument --lrs; did you mean "
                                "--lr?"),
    (["train", "--optimizer", "adan"], "unknown optimizer 'adan'; expected one of: sgd, "
                                       "momentum, nesterov, rmsprop, adam, adamw. Did you mean "
                                       "'adam'? Fix: --optimizer adam."),
    (["train", "--init", "he"], "unknown init scheme 'he'; expected one of: lecun_normal, "
                                "he_normal, glorot_normal, uniform, normal, zeros. Did you mean "
                                "'he_normal'? Fix: --init he_normal."),
    (["verify", "--hidden", "rleu"], "unknown activation 'rleu'; expected one of: "),
    (["verify", "--hidden", "rleu"], "Did you mean 'relu'? Fix: --hidden relu."),
])
def test_a_typo_gets_the_nearest_name(argv, message, capsys):
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_names_in_another_case_are_the_names():
    import argparse

    from jaxnn.cli import flags, user

    args = argparse.Namespace(optimizer="Adam", init="HE_NORMAL", hidden="Relu", output="SoftMax",
                              cost="Cross_Entropy")
    for dest, names, what in (("optimizer", ("sgd", "adam"), "optimizer"),
                              ("init", ("he_normal",), "init scheme")):
        assert flags.choose(args, dest, names, what) == getattr(args, dest)
    pieces = user.pieces(args)
    assert (args.optimizer, args.init) == ("adam", "he_normal")
    assert pieces == {"hidden": "relu", "output": "softmax", "cost": "cross_entropy"}
    assert (args.hidden, args.output, args.cost) == ("relu", "softmax", "cross_entropy")


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_norm_and_residual_flags_build_the_network(command):
    from jaxnn.cli import resume, session

    parser, _ = build_parser()
    args = parser.parse_args([command, "--sizes", "4,3,3,2", "--norm", "batch", "--residual"])
    if command == "sweep":
        args.l2 = 0.0  # a sweep's λ grid goes per run (sweep.check sets the network's to 0)
    net = session.network(args)
    assert (net.norm, net.residual, net.skips) == ("batch", True, (False, True, False))
    assert {"norm", "residual"} <= set(resume.ARCHITECTURE)
    args = parser.parse_args([command, "--sizes", "4,3,2"])
    args.l2 = 0.0
    plain = session.network(args)
    assert (plain.norm, plain.residual) == (None, False)
