"""Crash safety: SIGKILL a training run while it writes checkpoints, again and again; and
the run directory's other guards with real processes: a second writer refused while the
first holds the lock, SIGINT and SIGTERM stopping a run cleanly, resumed to the same bits.

``jaxnn train`` writes ``checkpoint.safetensors`` after every epoch (temporary file, fsync,
rename), then appends that epoch's line to ``metrics.jsonl``. A small network and many
short epochs make it write one every few milliseconds; the test kills the process
(SIGKILL: no handler, no cleanup) at a random moment after it has finished at least one
new epoch, five times, resuming in between. After every kill the checkpoint on disk must
load and be a complete, earlier state of the same run: its step the epochs in
metrics.jsonl or one more (never fewer), its history exactly ``step`` records equal to an
uninterrupted run's, its parameters and optimizer state finite. The run resumed after the
last kill must end with exactly the parameters of an uninterrupted run with the same flags
(bit for bit).

Every process is ``python -m jaxnn.cli train …`` in the repository root, and every wait is
bounded.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

import jaxnn
from jaxnn import checkpoint, optimizers

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 200  # about 15 ms each: more than five kills can eat
KILLS = 3  # each kill is a fresh process (JAX import, compile): 3 resumes suffice
FLAGS = ["--sizes", "784,8,10", "--epochs", str(EPOCHS), "--batch-size", "1000",
         "--optimizer", "adam", "--lr", "1e-3", "--seed", "0", "--quiet"]
NET = jaxnn.mlp((784, 8, 10), hidden="relu", output="softmax", cost="cross_entropy")
STARTUP_TIMEOUT = 60.0  # seconds for a process to import JAX, load MNIST and compile
RUN_TIMEOUT = 120.0


def _timeless(records: list[dict]) -> list[dict]:
    """Epoch records without what differs between two runs of the same computation: their
    ``seconds`` and their ISO ``time``."""
    return [{k: v for k, v in r.items() if k not in ("seconds", "time")} for r in records]


def _start(out: Path, *extra: str) -> subprocess.Popen:
    """``python -m jaxnn.cli train`` into ``out``; stderr to a file (a pipe could fill)."""
    log = open(out.parent / f"{out.name}.{time.monotonic_ns()}.stderr", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxnn.cli", "train", *FLAGS, "--out", str(out), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},  # one backend for every run compared
    )
    proc.log = log
    return proc


def _stderr(proc: subprocess.Popen) -> str:
    proc.log.flush()
    return Path(proc.log.name).read_text()


def _finished_epochs(out: Path) -> list[dict]:
    """The complete lines of metrics.jsonl (a killed write may leave half a line)."""
    try:
        text = (out / "metrics.jsonl").read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # whatever follows the last newline is incomplete
    return [json.loads(line) for line in lines]


def _kill_after_progress(proc: subprocess.Popen, out: Path, done_before: int,
                         delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after it has finished an epoch past
    ``done_before`` and a checkpoint exists. False if it ended by itself first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while (len(_finished_epochs(out)) <= done_before
           or not (out / "checkpoint.safetensors").exists()):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early ({proc.returncode}): {_stderr(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError("no epoch finished within the startup timeout")
        time.sleep(0.005)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)  # this process only, no chance to clean up
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return True


def _load(out: Path):
    params = jaxnn.init_params(jax.random.key(0), NET)
    template = optimizers.adam(1e-3).init(params)
    return checkpoint.load(out / "checkpoint.safetensors", net=NET, opt_state_like=template)


def _finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(t)))) for t in jax.tree.leaves(tree))


def _bits(tree) -> bytes:
    return b"".join(np.asarray(t).tobytes() for t in jax.tree.leaves(tree))


def test_sigkill_during_checkpointing_then_resume_gives_the_uninterrupted_result(tmp_path):
    seed = int(time.time())
    rng = random.Random(seed)
    ref_dir, run = tmp_path / "reference", tmp_path / "killed"
    procs = [_start(ref_dir)]  # the uninterrupted run, alongside
    snapshots = []  # (epochs finished, checkpoint) after each kill
    try:
        done, previous_step, kills = 0, 0, 0
        while kills < KILLS:
            proc = _start(run, *(["--resume"] if kills else []))
            procs.append(proc)
            delay = rng.uniform(0.0, 0.4)
            if not _kill_after_progress(proc, run, done, delay):
                break  # it finished all epochs before the kill came
            kills += 1
            finished = _finished_epochs(run)
            ckpt = _load(run)  # always loads: never a torn file
            where = f"kill {kills} (seed {seed}, delay {delay:.3f}s)"
            # metrics.jsonl gets an epoch's line after its checkpoint: never ahead of it.
            assert previous_step <= ckpt.step and len(finished) <= ckpt.step <= len(finished) + 1, where
            assert ckpt.step >= 1, where
            history = ckpt.metadata["history"]
            assert [r["epoch"] for r in history] == list(range(1, ckpt.step + 1)), where
            assert history[: len(finished)] == finished, where  # the epochs it says it holds
            assert _finite((ckpt.params, ckpt.opt_state)), where
            assert int(ckpt.opt_state.count) == ckpt.step * 4, where  # 4 batches per epoch
            snapshots.append((len(finished), ckpt))
            previous_step, done = ckpt.step, len(finished)
        assert kills == KILLS, f"only {kills} kills landed (seed {seed})"
        torn = sorted(run.glob(".checkpoint.safetensors.*.tmp"))  # saves cut short by a kill
        print(f"seed {seed}: checkpoint steps after the kills "
              f"{[c.step for _, c in snapshots]}; {len(torn)} torn temporary file(s)")

        final = _start(run, "--resume")
        procs.append(final)
        assert final.wait(timeout=RUN_TIMEOUT) == 0, _stderr(final)
        assert procs[0].wait(timeout=RUN_TIMEOUT) == 0, _stderr(procs[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            p.log.close()

    reference, resumed = _load(ref_dir), _load(run)
    assert resumed.step == reference.step == EPOCHS
    assert _bits(resumed.params) == _bits(reference.params)  # bit for bit
    assert _bits(resumed.opt_state) == _bits(reference.opt_state)
    strip = _timeless(reference.metadata["history"])
    assert _timeless(resumed.metadata["history"]) == strip
    summaries = [json.loads((d / "summary.json").read_text()) for d in (ref_dir, run)]
    assert summaries[0]["params_sha256"] == summaries[1]["params_sha256"]
    # Every checkpoint seen after a kill was a state of the uninterrupted run.
    for _, ckpt in snapshots:
        assert _timeless(ckpt.metadata["history"]) == strip[: ckpt.step]


def test_a_torn_temporary_file_is_never_read(tmp_path):
    """A kill during a save leaves ``.checkpoint.safetensors.*.tmp``; nothing reads it: a
    resume loads the last complete checkpoint, and the next save writes its own file."""
    run = tmp_path / "run"
    run.mkdir()
    params = jaxnn.init_params(jax.random.key(0), NET)
    state = optimizers.adam(1e-3).init(params)
    checkpoint.save(run / "checkpoint.safetensors", params, state, net=NET, step=1)
    stale = run / ".checkpoint.safetensors.abc123.tmp"
    torn = (run / "checkpoint.safetensors").read_bytes()[:57]
    stale.write_bytes(torn)
    ckpt = _load(run)
    assert ckpt.step == 1 and _bits(ckpt.params) == _bits(params)
    checkpoint.save(run / "checkpoint.safetensors", params, state, net=NET, step=2)
    assert _load(run).step == 2 and stale.read_bytes() == torn


# ---------------------------------------------------------------------------------------
# One writer at a time; SIGINT and SIGTERM.


def _spawn(tag: Path, *argv: str) -> subprocess.Popen:
    """``python -m jaxnn.cli *argv``; stderr to a file named after ``tag``."""
    log = open(tag.parent / f"{tag.name}.{time.monotonic_ns()}.stderr", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "jaxnn.cli", *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    proc.log = log
    return proc


def _wait_for_epochs(proc: subprocess.Popen, out: Path, n: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while len(_finished_epochs(out)) < n:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early ({proc.returncode}): {_stderr(proc)}")
        assert time.monotonic() < deadline, "no epoch finished within the startup timeout"
        time.sleep(0.01)


def _interrupt(proc: subprocess.Popen, sig: int, out: Path) -> int:
    """Send ``sig``; check exit status 128 + sig, the message and no traceback; return the
    epoch the message names (the checkpoint's and metrics.jsonl's last)."""
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == 128 + sig, _stderr(proc)
    err = _stderr(proc)
    assert "Traceback" not in err, err
    match = re.search(r"^jaxnn train: interrupted at epoch (\d+); resume with: jaxnn train "
                      r"--resume --out (\S+)$", err, re.MULTILINE)
    assert match and match.group(2) == str(out), err
    epoch = int(match.group(1))
    assert _load(out).step == epoch == len(_finished_epochs(out))
    return epoch


def test_a_second_writer_is_refused_and_signals_stop_a_run_cleanly(tmp_path):
    """While a long run writes ``run``, a new run and a resume into it are refused; SIGINT
    stops it (130), then the resume its message gives is stopped by SIGTERM (143), each
    saying how to resume; resumed to the end (a constant rate: --epochs may change), it
    equals an uninterrupted run of as many epochs, bit for bit."""
    run, reference = tmp_path / "run", tmp_path / "reference"
    procs = [_start(run, "--epochs", "100000")]  # runs until it is stopped
    try:
        _wait_for_epochs(procs[0], run, 1)
        others = [_spawn(run, "train", *FLAGS, "--out", str(run)),
                  _spawn(run, "train", "--resume", "--out", str(run))]
        procs += others
        for p in others:
            assert p.wait(timeout=RUN_TIMEOUT) == 2, _stderr(p)
            err = _stderr(p)
            assert f"{run} is in use: another jaxnn process (pid {procs[0].pid}) is writing " \
                   "this run; nothing was written" in err, err
            assert "Traceback" not in err
        assert procs[0].poll() is None  # refused for the lock, not for a finished run
        first = _interrupt(procs[0], signal.SIGINT, run)  # Ctrl-C: 130
        procs.append(_spawn(run, "train", "--resume", "--out", str(run)))  # the run's flags
        _wait_for_epochs(procs[-1], run, first + 1)
        second = _interrupt(procs[-1], signal.SIGTERM, run)  # 143
        assert second > first
        epochs = str(second + 3)
        finals = [_spawn(run, "train", "--resume", "--out", str(run), "--epochs", epochs),
                  _start(reference, "--epochs", epochs)]
        procs += finals
        for p in finals:
            assert p.wait(timeout=RUN_TIMEOUT) == 0, _stderr(p)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            p.log.close()
    resumed, uninterrupted = _load(run), _load(reference)
    assert resumed.step == uninterrupted.step == int(epochs)
    assert _bits(resumed.params) == _bits(uninterrupted.params)
    assert _bits(resumed.opt_state) == _bits(uninterrupted.opt_state)
    assert _timeless(_finished_epochs(run)) == _timeless(_finished_epochs(reference))
    summaries = [json.loads((d / "summary.json").read_text()) for d in (run, reference)]
    assert summaries[0]["params_sha256"] == summaries[1]["params_sha256"]
