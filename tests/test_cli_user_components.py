"""``jaxnn train`` and ``jaxnn sweep`` with ``--hidden/--output/--cost
package.module:attribute``: the run records the component, ``jaxnn evaluate`` and
``--resume`` import it again when its module is importable, and say what is missing when
it is not. Real ``jaxnn`` processes, with a module written into tmp_path."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxnn import activations, costs
from jaxnn.cli import main
from jaxnn.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
MODULE = "cli_user_parts"
SOURCE = """
    import jax.numpy as jnp
    import jaxnn

    softsign = jaxnn.activations.custom(
        "softsign", lambda z: z / (1 + jnp.abs(z)), lambda z, a: (1 - jnp.abs(a)) ** 2)
    log_cosh = jaxnn.costs.custom(
        "log_cosh", lambda a, y: jnp.sum(jnp.log(jnp.cosh(a - y)), axis=-1),
        lambda a, y: jnp.tanh(a - y))
    plain = jnp.tanh
"""
SMALL = ["--sizes", "784,8,10", "--batch-size", "200"]
MISSING = "the network uses the user activation 'softsign', which this process does not have"


@pytest.fixture
def module_dir(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    return folder


@pytest.fixture
def in_process(module_dir, monkeypatch):
    """The module importable in this process; its components out of this process's
    tables once the test is over."""
    monkeypatch.syspath_prepend(str(module_dir))
    monkeypatch.setattr(activations, "USER", dict(activations.USER))
    monkeypatch.setattr(costs, "USER", dict(costs.USER))
    yield module_dir
    sys.modules.pop(MODULE, None)


def _jaxnn(argv, cwd, module_dir=None):
    """``python -m jaxnn.cli ARGV`` with the module on PYTHONPATH (or not)."""
    path = [str(ROOT)] + ([str(module_dir)] if module_dir else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "jaxnn.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_train_evaluate_and_resume_with_a_user_activation(tmp_path, module_dir):
    run = tmp_path / "run"
    first = _jaxnn(["train", *SMALL, "--epochs", "1", "--hidden", f"{MODULE}:softsign",
                    "--out", str(run)], tmp_path, module_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == ("network 784-8-10, softsign hidden, softmax output, "
                                            "cross_entropy cost")
    config = json.loads((run / "config.json").read_text())
    assert config["flags"]["hidden"] == f"{MODULE}:softsign"
    record = config["network"]["activations"][0]
    assert {k: record[k] for k in ("name", "import")} == {"name": "softsign",
                                                         "import": f"{MODULE}:softsign"}
    assert len(record["fingerprint"]["fn"]) == len(record["fingerprint"]["deriv"]) == 12

    seen = _jaxnn(["evaluate", str(run), "--worst", "0"], tmp_path, module_dir)
    assert seen.returncode == 0, seen.stderr
    assert "checkpoint.safetensors: epoch 1, test accuracy" in seen.stdout

    for argv in (["evaluate", str(run)], ["train", "--resume", "--out", str(run), "--epochs", "2"]):
        gone = _jaxnn(argv, tmp_path)  # the module is not importable
        assert gone.returncode == 2, gone.stderr
        err = gone.stderr
        assert MISSING in err and f"records it as '{MODULE}:softsign'" in err, err
        assert f"tried: it imports the user components that the run's config.json names, " \
               f"and cannot import '{MODULE}'" in err, err
        assert "Traceback" not in err and err.count("\n") == 1, err

    resumed = _jaxnn(["train", "--resume", "--out", str(run), "--epochs", "2", "--quiet"],
                     tmp_path, module_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] \
        == [1, 2]

    # The module edited after training: softsign is another function under the same name.
    (module_dir / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE).replace(
        "z / (1 + jnp.abs(z))", "z / (2 + jnp.abs(z))"))
    for argv in (["evaluate", str(run)], ["train", "--resume", "--out", str(run), "--epochs", "3"]):
        edited = _jaxnn(argv, tmp_path, module_dir)
        assert edited.returncode == 2, edited.stderr
        assert f"the user activation 'softsign' ({MODULE}:softsign) is not the one the network " \
               "was saved with: on jaxnn's fixed probe its fn value 0: saved" in edited.stderr
        assert "Traceback" not in edited.stderr


def test_sweep_with_a_user_cost(tmp_path, module_dir):
    out = tmp_path / "sweep"
    proc = _jaxnn(["sweep", *SMALL, "--epochs", "1", "--seeds", "1", "--output", "sigmoid",
                   "--cost", f"{MODULE}:log_cosh", "--out", str(out)], tmp_path, module_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "network 784-8-10, relu hidden, sigmoid output, log_cosh cost")
    config = json.loads((out / "config.json").read_text())
    assert config["flags"]["cost"] == f"{MODULE}:log_cosh"
    assert config["network"]["cost"]["import"] == f"{MODULE}:log_cosh"
    assert config["network"]["cost"]["name"] == "log_cosh"


@pytest.mark.parametrize("command", ["train", "sweep"])
@pytest.mark.parametrize("flag, spec, message", [
    ("--hidden", "no_such_module_xyz:act", "cannot import 'no_such_module_xyz' for the user "
     "activation 'no_such_module_xyz:act': ModuleNotFoundError: No module named "
     "'no_such_module_xyz'. Fix: put the directory that holds no_such_module_xyz.py on "
     "PYTHONPATH"),
    ("--output", f"{MODULE}:nothing", f"module '{MODULE}' has no attribute 'nothing' (the "
     f"user activation '{MODULE}:nothing'). Fix: check the name after ':'."),
    ("--hidden", f"{MODULE}:plain", f"{MODULE}:plain must be a jaxnn activation (built with "
     "jaxnn.activations.custom); got a plain function"),
    ("--cost", f"{MODULE}:softsign", f"{MODULE}:softsign must be a jaxnn cost (built with "
     "jaxnn.costs.custom); got"),
    ("--cost", ":huber", "a user cost must be given as package.module:attribute; got ':huber'"),
])
def test_a_bad_user_component_exits_2_before_anything_runs(tmp_path, in_process, command,
                                                           flag, spec, message, capsys):
    out = tmp_path / "run"
    assert main([command, flag, spec, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err, captured.err
    assert captured.out == "" and not out.exists()


def test_a_bad_user_component_through_a_real_process(tmp_path):
    proc = _jaxnn(["train", "--hidden", "no_such_module_xyz:act"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("jaxnn train: error: cannot import 'no_such_module_xyz' for "
                                  "the user activation 'no_such_module_xyz:act': "
                                  "ModuleNotFoundError"), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_help_offers_user_components_on_every_command_that_builds_a_network():
    _, subparsers = build_parser()
    for command in ("train", "sweep", "verify"):
        helps = {a.dest: a.help for a in subparsers[command].added}
        for dest in ("hidden", "cost"):
            assert "package.module:attribute for a user component" in helps[dest], command


def test_evaluate_imports_nothing_a_run_does_not_need(tmp_path, monkeypatch, capsys):
    """A run of built-in components whose config.json names a module (edited, or from
    elsewhere): evaluate loads the checkpoint without importing it; no code runs."""
    run, code = tmp_path / "run", tmp_path / "code"
    assert main(["train", *SMALL, "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    code.mkdir()
    marker = tmp_path / "imported"
    (code / "planted_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((run / "config.json").read_text())
    config["flags"]["hidden"] = "planted_mod:act"
    (run / "config.json").write_text(json.dumps(config))
    monkeypatch.syspath_prepend(str(code))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--worst", "0"]) == 0, capsys.readouterr().err
    assert not marker.exists() and "planted_mod" not in sys.modules
