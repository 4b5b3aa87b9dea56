"""User components (activations.custom, costs.custom) and the checks that point at a wrong
derivative (gradcheck.check_activation, check_cost, jaxnn verify)."""

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import activations, backprop, checkpoint, components, costs, gradcheck
from jaxnn.cli import main

# Module-level components: one name each, so the tests do not depend on their order.
SOFTSIGN = activations.custom(
    "test_softsign", lambda z: z / (1 + jnp.abs(z)), lambda z, a: (1 - jnp.abs(a)) ** 2)
WRONG_SIGMOID = activations.custom(  # the AI Okinawa course slides' σ' = a(1 − a), as a(1 + a)
    "test_wrong_sigmoid", jax.nn.sigmoid, lambda z, a: a * (1 + a))
LOG_COSH = costs.custom(
    "test_log_cosh",
    lambda a, y: jnp.sum(jnp.logaddexp(a - y, y - a) - jnp.log(2.0), axis=-1),
    lambda a, y: jnp.tanh(a - y))
_BCE = costs.get("binary_cross_entropy")
BCE_NO_MINUS = costs.custom(  # the maths.md cheat sheet's BCE has no minus sign: its gradient
    "test_bce_no_minus", _BCE.fn, lambda a, y: -_BCE.grad(a, y), probabilities=True)


def _problem(net, m=7, key=0):
    kp, kx, ky = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_params(kp, net, "glorot_normal", dtype=jnp.float64)
    x = 2.0 * jax.random.normal(kx, (m, net.n_in), jnp.float64)
    y = jax.random.uniform(ky, (m, net.n_out), jnp.float64)
    return params, x, y


# ---------------------------------------------------------------------------------------
# Building, looking up, using.


def test_custom_objects_are_accepted_wherever_a_name_is():
    net = jaxnn.mlp((3, 5, 4, 2), hidden=SOFTSIGN, output="sigmoid", cost=LOG_COSH)
    assert net.activations == (SOFTSIGN, SOFTSIGN, "sigmoid") and net.cost is LOG_COSH
    same = jaxnn.Network((3, 5, 4, 2), ("test_softsign", SOFTSIGN, "sigmoid"), "test_log_cosh")
    assert same == net and hash(same) == hash(net)
    # A built-in passed as an object is stored by its name: equal to the named network.
    assert jaxnn.mlp((3, 2), output=activations.get("tanh")) == jaxnn.mlp((3, 2), output="tanh")
    assert activations.get("test_softsign") is SOFTSIGN is activations.get(SOFTSIGN)
    assert costs.get("test_log_cosh") is LOG_COSH is costs.get(LOG_COSH)
    assert "test_softsign" not in activations.ACTIVATIONS  # the registry is the built-ins
    assert "test_softsign" in activations.USER and "test_log_cosh" in costs.USER


def test_user_components_backprop_equals_autodiff_and_jit(x64):
    """BP1/BP2 use the hand-written derivative, jax.grad uses fn: they agree when it is right."""
    net = jaxnn.mlp((3, 5, 4, 2), hidden=SOFTSIGN, output=SOFTSIGN, cost=LOG_COSH, l2=0.3)
    params, x, y = _problem(net)
    report = gradcheck.manual_vs_autodiff(net, params, x, y)
    assert report.passed and report.max_rel_diff < 1e-13, report.table()
    jitted = jax.jit(backprop.value_and_grad, static_argnums=0)(net, params, x, y)
    eager = backprop.value_and_grad(net, params, x, y)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-16)


def test_a_wrong_derivative_shows_in_backprop_not_in_autodiff(x64):
    net = jaxnn.mlp((3, 5, 2), hidden=WRONG_SIGMOID, output="identity", cost="quadratic")
    params, x, y = _problem(net)
    report = gradcheck.manual_vs_autodiff(net, params, x, y)
    assert not report.passed
    assert [r.passed for r in report.rows] == [False, False, True, True]  # layer 1 only
    right = net.replace(activations=("sigmoid", "identity"))
    auto = jax.grad(jaxnn.cost, argnums=1)(net, params, x, y)
    for a, b in zip(jax.tree.leaves(auto), jax.tree.leaves(backprop.grad(right, params, x, y))):
        np.testing.assert_allclose(a, b, rtol=1e-12)  # autodiff differentiates fn = σ


def test_same_name_again_is_a_new_component_under_jit(x64):
    """custom() twice with one name (a notebook cell run again): the table keeps the latest,
    a network built with the first keeps the first, and jit never confuses the two."""
    first = activations.custom("test_rerun", lambda z: 2 * z, lambda z, a: 2 + 0 * z)
    net1 = jaxnn.mlp((2, 1), output=first)
    second = activations.custom("test_rerun", lambda z: 3 * z, lambda z, a: 3 + 0 * z)
    net2 = jaxnn.mlp((2, 1), output="test_rerun")
    assert activations.get("test_rerun") is second and net1.activations[0] is first
    assert net1 != net2
    f = jax.jit(jaxnn.forward, static_argnums=0)
    params = (jaxnn.Layer(jnp.ones((1, 2)), jnp.zeros(1)),)
    x = jnp.ones((1, 2))
    assert float(f(net1, params, x)[0, 0]) == 4.0 and float(f(net2, params, x)[0, 0]) == 6.0


def test_custom_options_and_output_rules():
    step = activations.custom("test_step_out", jax.nn.sigmoid, lambda z, a: a * (1 - a),
                              threshold=0.5, hidden=False)
    with pytest.raises(ValueError, match="test_step_out is an output activation; layer 1"):
        jaxnn.mlp((2, 3, 1), hidden=step)
    net = jaxnn.mlp((2, 1), output=step, cost="quadratic")
    params = (jaxnn.Layer(jnp.ones((1, 2)), jnp.zeros(1)),)
    assert jaxnn.predict(net, params, jnp.array([[1.0, 1.0], [-1.0, -1.0]])).tolist() == [1, 0]
    # A user activation has no log forms: a cross entropy cannot follow it.
    with pytest.raises(ValueError, match="needs an output activation among sigmoid, softmax; "
                                         "got 'test_softsign'"):
        jaxnn.mlp((2, 2), output=SOFTSIGN, cost="cross_entropy")


@pytest.mark.parametrize("call, error, message", [
    (lambda: activations.custom(3, jnp.abs, lambda z, a: jnp.sign(z)), TypeError,
     "a user activation's name must be a str; got int 3"),
    (lambda: activations.custom("", jnp.abs, lambda z, a: jnp.sign(z)), ValueError,
     "a user activation's name must be a non-empty str"),
    (lambda: activations.custom("x", "abs", lambda z, a: jnp.sign(z)), TypeError,
     "activation 'x': fn must be a function fn(z) → g(z); got str 'abs'"),
    (lambda: activations.custom("x", jnp.abs, None), TypeError,
     "activation 'x': deriv must be a function deriv(z, a) → g'(z); got NoneType None"),
    (lambda: costs.custom("x", lambda a, y: a, 2.0), TypeError,
     "cost 'x': grad must be a function grad(a, y) → ∇_a C; got float 2.0"),
    (lambda: activations.custom("x", jnp.abs, lambda z, a: jnp.sum(z)), ValueError,
     "activation 'x': deriv(z, a) must be of shape (2, 3) for inputs of shape (2, 3); got ()"),
    (lambda: costs.custom("x", lambda a, y: (a - y) ** 2, lambda a, y: 2 * (a - y)), ValueError,
     "cost 'x': fn(a, y) must be of shape (2,) for inputs of shape (2, 3); got (2, 3). Fix: a "
     "cost is per example: sum over the last axis"),
    (lambda: activations.custom("x", lambda z: z if z > 0 else 0 * z, lambda z, a: 1 + 0 * z),
     ValueError, "activation 'x': fn(z) must be a JAX function of arrays"),
    (lambda: activations.register(jax.nn.relu), TypeError,
     "register's argument must be a jaxnn.activations.Activation"),
    (lambda: jaxnn.Network((3, 2), SOFTSIGN, "quadratic"), TypeError,
     "activations must be a sequence of 1 names"),
    (lambda: jaxnn.mlp((3, 2), output=LOG_COSH), TypeError,
     "an activation name must be a string such as 'sigmoid' (or an Activation"),
    (lambda: jaxnn.mlp((3, 2), cost=SOFTSIGN), TypeError,
     "a cost name must be a string such as 'quadratic' (or a Cost"),
])
def test_bad_components(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert "x" not in activations.USER and "x" not in costs.USER  # nothing half-registered


def test_unknown_name_lists_user_components_too():
    with pytest.raises(ValueError, match=r"unknown activation 'nope'; expected one of: sigmoid, "
                       r"tanh.*; or a user activation made with jaxnn.activations.custom: .*"
                       r"test_softsign"):
        activations.get("nope")


# ---------------------------------------------------------------------------------------
# The component checks.


@pytest.mark.parametrize("name", activations.NAMES)
def test_every_builtin_activation_passes_its_check(name):
    report = gradcheck.check_activation(name)
    assert report.ok and report.max_rel_error < 1e-13, str(report)
    assert not report.skipped, str(report)  # finite everywhere on the grid, ±1e300 included


@pytest.mark.parametrize("name", costs.NAMES)
def test_every_builtin_cost_passes_its_check(name):
    report = gradcheck.check_cost(name)
    assert report.ok and report.max_rel_error < 1e-13, str(report)


def test_check_activation_points_at_a_wrong_sigmoid_derivative():
    report = gradcheck.check_activation(WRONG_SIGMOID)
    assert not report.ok and report.name == "test_wrong_sigmoid"
    worst = report.worst[0]
    assert worst.rel_error == pytest.approx(1.0) and worst.where["z"] > 0
    at_zero = next(p for p in report.worst if p.where["z"] == 0)
    assert (at_zero.manual, at_zero.reference) == (0.75, 0.25)  # a(1 + a) vs a(1 − a) at ½
    text = str(report)
    assert "activation 'test_wrong_sigmoid'" in text and "FAIL" in text
    assert "disagrees with jax.grad(fn) at z = 40" in text and "relative error 1.0e+00" in text


def test_check_cost_points_at_a_missing_minus_sign():
    report = gradcheck.check_cost(BCE_NO_MINUS)
    assert not report.ok
    assert report.worst[0].rel_error == pytest.approx(2.0)  # the opposite sign
    assert report.worst[0].manual == -report.worst[0].reference
    text = str(report)
    assert "cost 'test_bce_no_minus'" in text and "relative error 2.0e+00" in text
    assert all(0 < p.where["a"] < 1 and 0 <= p.where["y"] <= 1 for p in report.worst)


def test_checks_pass_a_right_user_component_and_skip_overflow():
    square = activations.custom("test_square", lambda z: z * z, lambda z, a: 2 * z)
    report = gradcheck.check_activation(square)
    assert report.ok and "fn(z) overflows" in report.skipped[0]  # z² at |z| ≥ 1e200
    assert gradcheck.check_cost(LOG_COSH).ok


def test_non_finite_derivative_on_finite_input_is_a_clear_error():
    naive = activations.custom("test_naive_softplus", jax.nn.softplus,
                               lambda z, a: jnp.exp(z) / (1 + jnp.exp(z)))  # ∞/∞ at z = 1000
    with pytest.raises(components.ComponentError,
                       match=r"activation 'test_naive_softplus': deriv\(z, a\) must be finite on "
                             r"finite input; got nan at z = 1000"):
        gradcheck.check_activation(naive)
    log_cost = costs.custom("test_log_cost", lambda a, y: -jnp.sum(y * jnp.log(a), axis=-1),
                            lambda a, y: -y / a)
    with pytest.raises(ValueError, match=r"cost 'test_log_cost': fn\(a, y\) must be finite on "
                                         r"finite input.*probabilities=True"):
        gradcheck.check_cost(log_cost)


def test_check_arguments():
    with pytest.raises(ValueError, match="rtol must be finite and ≥ 0; got -1.0"):
        gradcheck.check_activation("tanh", rtol=-1.0)
    with pytest.raises(ValueError, match="unknown activation 'tanhh'"):
        gradcheck.check_activation("tanhh")
    with pytest.raises(TypeError, match="a cost name must be a string"):
        gradcheck.check_cost(SOFTSIGN)


# ---------------------------------------------------------------------------------------
# Checkpoints and network descriptions.


def test_description_records_name_and_import_path():
    net = jaxnn.mlp((3, 4, 2), hidden=SOFTSIGN, output="sigmoid", cost=LOG_COSH)
    d = net.to_dict()
    for record, values in ((d["activations"][0], 12), (d["cost"], 4)):  # 4 examples
        fingerprint = record.pop("fingerprint")
        assert len(fingerprint["fn"]) == values and len(fingerprint["deriv"]) == 12
    assert d["activations"] == [{"name": "test_softsign", "import": f"{__name__}:SOFTSIGN"},
                                "sigmoid"]
    assert d["cost"] == {"name": "test_log_cosh", "import": f"{__name__}:LOG_COSH"}
    d = net.to_dict()
    assert jaxnn.Network.from_dict(json.loads(json.dumps(d))) == net
    assert jaxnn.mlp((3, 2)).to_dict()["activations"] == ["sigmoid"]  # built-ins: names


def test_description_of_a_missing_component(monkeypatch):
    d = jaxnn.mlp((3, 2), output=SOFTSIGN).to_dict()
    monkeypatch.delitem(activations.USER, "test_softsign")
    # Its module is imported, so the recorded path still finds it (nothing is imported).
    assert jaxnn.Network.from_dict(d).activations[0] is SOFTSIGN
    d["activations"] = [{"name": "test_gone", "import": "no_such_module:GONE"}]
    with pytest.raises(components.MissingComponent,
                       match=r"the network uses the user activation 'test_gone', which this "
                             r"process does not have \(the checkpoint records it as "
                             r"'no_such_module:GONE'\). Fix: import no_such_module first"):
        jaxnn.Network.from_dict(d)
    d["activations"] = [{"name": "test_gone"}]
    with pytest.raises(ValueError, match="a user activation is recorded as"):
        jaxnn.Network.from_dict(d)


def _module(tmp_path, text):
    (tmp_path / "usermod.py").write_text(textwrap.dedent(text))
    return {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "JAX_PLATFORMS": "cpu"}


USER_MODULE = """
    import jax, jax.numpy as jnp, jaxnn
    softsign = jaxnn.activations.custom(
        "softsign", lambda z: z / (1 + jnp.abs(z)), lambda z, a: (1 - jnp.abs(a)) ** 2)
    wrong_sigmoid = jaxnn.activations.custom(
        "wrong_sigmoid", jax.nn.sigmoid, lambda z, a: a * (1 + a))
    bce_no_minus = jaxnn.costs.custom(
        "bce_no_minus", jaxnn.costs.get("binary_cross_entropy").fn,
        lambda a, y: -jaxnn.costs.get("binary_cross_entropy").grad(a, y), probabilities=True)
    naive_softplus = jaxnn.activations.custom(
        "naive_softplus", jax.nn.softplus, lambda z, a: jnp.exp(z) / (1 + jnp.exp(z)))
    plain_function = jax.nn.sigmoid
"""


def _run(args, env):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_checkpoint_with_a_user_component_in_a_new_process(tmp_path):
    """Saved by a process that imported usermod; loaded by one that has not (a clear error
    naming the component and the module) and by one that has (the same network)."""
    env = _module(tmp_path, USER_MODULE)
    path = tmp_path / "ck.safetensors"
    save = f"""
import jax, jaxnn, usermod
net = jaxnn.mlp((3, 4, 2), hidden=usermod.softsign, output="sigmoid", cost="quadratic")
jaxnn.checkpoint.save({str(path)!r}, jaxnn.init_params(jax.random.key(0), net), net=net, step=1)
"""
    assert _run(["-c", save], env).returncode == 0
    missing = _run(["-c", f"import jaxnn; jaxnn.checkpoint.load({str(path)!r})"], env)
    assert missing.returncode == 1
    assert (f"{path}: the network uses the user activation 'softsign', which this process does "
            "not have (the checkpoint records it as 'usermod:softsign'). Fix: import usermod "
            "first") in missing.stderr
    found = _run(["-c", f"import jaxnn, usermod; ck = jaxnn.checkpoint.load({str(path)!r}); "
                        "assert ck.net.activations[0] is usermod.softsign; print('ok')"], env)
    assert found.returncode == 0 and found.stdout.strip() == "ok", found.stderr


def test_checkpoint_load_in_process_with_a_user_component(tmp_path):
    net = jaxnn.mlp((3, 4, 2), hidden=SOFTSIGN, output="sigmoid", cost=LOG_COSH)
    params = jaxnn.init_params(jax.random.key(0), net)
    path = checkpoint.save(tmp_path / "ck.safetensors", params, net=net, step=3)
    ck = checkpoint.load(path, net=net)
    assert ck.net == net and ck.net.cost is LOG_COSH


# ---------------------------------------------------------------------------------------
# jaxnn verify with a user's components.


def test_verify_exits_1_with_the_report_for_a_wrong_component(tmp_path):
    env = _module(tmp_path, USER_MODULE)
    result = _run(["-m", "jaxnn.cli", "verify", "--sizes", "3,4,2",
                   "--hidden", "usermod:wrong_sigmoid", "--max-fd-params", "0"], env)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "FAIL: activation 'wrong_sigmoid': the hand-written deriv(z, a) disagrees with " \
           "jax.grad(fn) at z = 40" in out
    assert "PASS (activation 'softmax'" in out and "PASS (cost 'cross_entropy'" in out
    assert out.index("activation 'wrong_sigmoid'") < out.index("network: sizes")
    assert "activations ('wrong_sigmoid', 'softmax')" in out and out.rstrip().endswith("FAIL")


def test_verify_passes_a_right_component_and_fails_a_wrong_cost(tmp_path):
    env = _module(tmp_path, USER_MODULE)
    ok = _run(["-m", "jaxnn.cli", "verify", "--sizes", "3,4,2", "--hidden", "usermod:softsign",
               "--output", "usermod:softsign", "--cost", "huber"], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS (activation 'softsign'" in ok.stdout and "verify: PASS" in ok.stdout
    bad = _run(["-m", "jaxnn.cli", "verify", "--sizes", "3,2", "--output", "sigmoid",
                "--cost", "usermod:bce_no_minus", "--max-fd-params", "0"], env)
    assert bad.returncode == 1 and "FAIL: cost 'bce_no_minus'" in bad.stdout
    nan = _run(["-m", "jaxnn.cli", "verify", "--sizes", "3,4,2", "--hidden",
                "usermod:naive_softplus", "--max-fd-params", "0"], env)
    assert nan.returncode == 1
    assert "FAIL: activation 'naive_softplus': deriv(z, a) must be finite on finite input" \
        in nan.stdout


@pytest.mark.parametrize("flag, spec, message", [
    ("--hidden", "no_such_module_xyz:act", "cannot import 'no_such_module_xyz' for the user "
     "activation 'no_such_module_xyz:act': ModuleNotFoundError"),
    ("--hidden", "jaxnn.activations:nothing", "module 'jaxnn.activations' has no attribute "
     "'nothing'"),
    ("--output", "jax.nn:sigmoid", "jax.nn:sigmoid must be a jaxnn activation (built with "
     "jaxnn.activations.custom); got a plain function"),
    ("--cost", ":huber", "a user cost must be given as package.module:attribute"),
])
def test_verify_import_errors_exit_2(flag, spec, message, capsys):
    assert main(["verify", flag, spec]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


# ---------------------------------------------------------------------------------------
# The docs' "Bring your own pieces" (README.md or a page under docs/): its examples run,
# and the report it shows is true.

ROOT = Path(__file__).resolve().parents[1]


def _readme_blocks() -> list[tuple[str, str]]:
    """The code blocks of every "Bring your own pieces" section in README.md and docs/."""
    blocks = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        level, fenced, section = None, False, []
        for line in page.read_text(encoding="utf-8").splitlines(keepends=True):
            fenced ^= line.startswith("```")
            heading = re.match(r"(#+) ", line) if not fenced and not line.startswith(
                "```") else None
            if heading and level is not None and len(heading.group(1)) <= level:
                level = None  # the section ends at the next heading of its level or above
            if heading and "Bring your own pieces" in line:
                level = len(heading.group(1))
            elif level is not None:
                section.append(line)
        blocks += re.findall(r"```(\w+)\n(.*?)```", "".join(section), re.S)
    return blocks


def test_readme_new_builtin_is_one_registry_entry(monkeypatch):
    code = next(body for lang, body in _readme_blocks() if "in ACTIVATIONS" in body)
    entry = eval("{" + code + "}", vars(activations))  # the dict entry, as the module reads it
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", entry["softsign"])
    assert "softsign" in activations.hidden_names()
    assert gradcheck.check_activation("softsign").ok
    with jax.enable_x64(True):
        net = jaxnn.mlp((3, 4, 2), hidden="softsign", output="softsign", cost="huber")
        params, x, y = _problem(net)
        assert gradcheck.manual_vs_autodiff(net, params, x, y).passed


def test_readme_user_component_and_checked_derivative(tmp_path, monkeypatch, capsys):
    blocks = [body for lang, body in _readme_blocks() if lang == "python"]
    module = next(b for b in blocks if b.startswith("# mypieces.py"))
    (tmp_path / "mypieces.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mypieces", raising=False)
    use = next(b for b in blocks if "import jax, jax.numpy as jnp, jaxnn, mypieces" in b)
    exec(use, {})
    ck = checkpoint.load(tmp_path / "run.safetensors")
    assert ck.net.activations[0] is sys.modules["mypieces"].softsign
    assert json.loads(json.dumps(ck.net.to_dict()))["activations"][0]["import"] == \
        "mypieces:softsign"
    report = gradcheck.check_cost(sys.modules["mypieces"].log_cosh)
    assert report.ok, str(report)
    wrong = next(b for b in blocks if "wrong_sigmoid" in b)
    capsys.readouterr()
    exec(wrong, {})
    shown = next(body for lang, body in _readme_blocks() if lang == "text")
    assert capsys.readouterr().out == shown


# ---------------------------------------------------------------------------------------
# Component identity: the user namespace, one module's name, the fingerprint.


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """Write modules into tmp_path, importable; the tables and sys.modules restored."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(activations, "USER", dict(activations.USER))
    monkeypatch.setattr(costs, "USER", dict(costs.USER))
    written = []

    def write(name, text):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        importlib.invalidate_caches()
        sys.modules.pop(name, None)
        written.append(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_user_names_live_in_their_own_namespace(user_modules):
    """A user component may share a built-in's name (a later built-in breaks nothing): a
    name means the built-in, the record means the user's object."""
    mine = activations.custom("relu", jnp.abs, lambda z, a: jnp.sign(z))
    assert activations.get("relu") is activations.ACTIVATIONS["relu"]
    net = jaxnn.mlp((3, 2), output=mine)
    record = net.to_dict()["activations"][0]
    assert record["name"] == "relu" and "fingerprint" in record
    assert jaxnn.Network.from_dict(net.to_dict()).activations[0] is mine
    assert jaxnn.mlp((3, 2), output="relu").activations[0] == "relu"


def test_another_modules_component_is_neither_replaced_nor_loaded(user_modules):
    source = """
        import jax.numpy as jnp, jaxnn
        act = jaxnn.activations.custom("test_twin", lambda z: {body}, lambda z, a: 1 + 0 * z)
    """
    user_modules("twin_a", source.format(body="z + 1"))
    user_modules("twin_b", source.format(body="z - 1"))
    import twin_b

    record = jaxnn.mlp((3, 2), output=twin_b.act).to_dict()
    record["activations"][0]["import"] = "twin_a:act"  # a checkpoint of module twin_a's
    with pytest.raises(components.MissingComponent, match=r"the network uses the user "
                       r"activation 'test_twin', which this process does not have \(the "
                       r"checkpoint records it as 'twin_a:act'\). Fix: import twin_a first"):
        jaxnn.Network.from_dict(record)  # not twin_b's, found in the table by name
    import twin_a

    own = jaxnn.mlp((3, 2), output=twin_a.act).to_dict()
    assert jaxnn.Network.from_dict(own).activations[0] is twin_a.act  # by its import path
    assert twin_b.act.fn(1.0) == 0.0  # twin_a's custom() replaced nothing
    with pytest.raises(ValueError, match=r"the user activation name 'test_twin' must be one "
                       r"component's; got one built by each of the modules twin_b and twin_a\. "
                       r"Fix: pass the activation object itself"):
        activations.get("test_twin")


def test_an_edited_component_is_refused_by_name(user_modules):
    source = """
        import jax.numpy as jnp, jaxnn
        act = jaxnn.activations.custom("test_edited", lambda z: {fn}, lambda z, a: {deriv})
    """
    user_modules("edited", source.format(fn="jnp.tanh(z)", deriv="1 - a ** 2"))
    import edited

    record = jaxnn.mlp((3, 2), output=edited.act).to_dict()
    assert jaxnn.Network.from_dict(record).activations[0] is edited.act
    user_modules("edited", source.format(fn="jnp.tanh(2 * z)", deriv="2 * (1 - a ** 2)"))
    import edited  # noqa: F811  (the edited module, built again under the same name)

    with pytest.raises(components.ComponentChanged, match=r"the user activation "
                       r"'test_edited' \(edited:act\) is not the one the network was saved "
                       r"with: on jaxnn's fixed probe its fn value 2: saved -0\.99945\d*, now "
                       r"-1\.0 \(its code was edited after training\)\. Fix: restore"):
        jaxnn.Network.from_dict(record)
