"""Gradient verification: finite differences, directional derivatives, reports, the CLI."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import backprop, gradcheck
from jaxnn.cli import main


def _problem(net, m=6, dtype=jnp.float64):
    kp, kx, ky = jax.random.split(jax.random.key(0), 3)
    params = jaxnn.init_params(kp, net, "normal", dtype=dtype)
    x = jax.random.normal(kx, (m, net.n_in), dtype)
    y = jax.random.uniform(ky, (m, net.n_out), dtype)
    return params, x, y


@pytest.mark.parametrize(
    "hidden, output, cost, l2",
    [
        ("sigmoid", "sigmoid", "quadratic", 0.0),
        ("tanh", "softmax", "quadratic", 0.5),
        ("relu", "sigmoid", "binary_cross_entropy", 0.1),
        ("leaky_relu", "identity", "absolute", 0.0),
    ],
)
def test_finite_differences_agree_with_manual_float64(x64, hidden, output, cost, l2):
    net = jaxnn.mlp((3, 4, 3, 2), hidden=hidden, output=output, cost=cost, l2=l2)
    params, x, y = _problem(net)
    fd = gradcheck.finite_difference_grad(net, params, x, y, eps=1e-6)
    manual = backprop.grad(net, params, x, y)
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(fd)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    report = gradcheck.manual_vs_finite_differences(net, params, x, y)
    assert report.passed and report.max_rel_diff < 1e-6


def test_centred_difference_sign(x64):
    """Seed 004's (J(θ − ε) − J(θ + ε))/2ε has the wrong sign; ours matches the gradient."""
    net = jaxnn.mlp((1, 1), output="identity")
    params = (jaxnn.Layer(jnp.array([[2.0]]), jnp.array([0.0])),)
    x, y = jnp.array([[1.0]]), jnp.array([[0.0]])
    fd = gradcheck.finite_difference_grad(net, params, x, y)
    assert float(fd[0].W[0, 0]) == pytest.approx(2.0, rel=1e-8)  # d/dw ½(w·1)² = w


def test_manual_vs_autodiff_report(x64):
    net = jaxnn.mlp((4, 5, 3), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.2)
    params, x, _ = _problem(net)
    report = gradcheck.manual_vs_autodiff(net, params, x, jnp.array([0, 1, 2, 0, 1, 2]))
    assert report.passed and report.max_rel_diff < 1e-12
    assert [(r.layer, r.name, r.shape) for r in report.rows] == [
        (1, "W", (5, 4)), (1, "b", (5,)), (2, "W", (3, 5)), (2, "b", (3,))
    ]
    table = report.table()
    assert "manual (BP1–BP4) vs autodiff (jax.grad) (float64)" in table
    assert table.endswith("PASS")


def test_report_catches_a_wrong_gradient(x64):
    """The check can fail: a gradient with a flipped sign in one entry is reported."""
    net = jaxnn.mlp((3, 2), output="identity")
    params, x, y = _problem(net)
    good = backprop.grad(net, params, x, y)
    bad = (jaxnn.Layer(good[0].W.at[0, 0].multiply(-1.0), good[0].b),)
    report = gradcheck._report("bad", "good", bad, good, 1e-10)
    assert not report.passed
    assert [r.passed for r in report.rows] == [False, True]
    assert "FAIL" in report.table()


def test_directional_check(x64):
    net = jaxnn.mlp((20, 15, 4), hidden="relu", output="softmax", cost="quadratic")
    params, x, y = _problem(net)
    worst, numeric, analytic = gradcheck.directional_check(net, params, x, y, jax.random.key(3))
    assert worst < 1e-7
    assert numeric.shape == analytic.shape == (8,)


def test_float32_report_uses_float32_tolerance():
    net = jaxnn.mlp((4, 8, 3), hidden="sigmoid", output="softmax", cost="cross_entropy")
    params, x, _ = _problem(net, dtype=jnp.float32)
    report = gradcheck.manual_vs_autodiff(net, params, x, jnp.array([0, 1, 2, 0, 1, 2]))
    assert report.dtype == "float32" and report.rows[0].tolerance == 1e-4
    assert report.passed


def test_cli_verify_passes(capsys):
    assert main(["verify", "--sizes", "4,5,3", "--hidden", "tanh", "--output", "softmax",
                 "--cost", "cross_entropy"]) == 0
    out = capsys.readouterr().out
    assert "manual (BP1–BP4) vs autodiff (jax.grad) (float64)" in out
    assert "centred differences" in out and out.rstrip().endswith("verify: PASS")


def test_cli_verify_directional_for_large_networks(capsys):
    assert main(["verify", "--sizes", "50,40,3", "--max-fd-params", "100"]) == 0
    assert "random directional derivatives" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["verify", "--output", "tanh", "--cost", "binary_cross_entropy"],
         "the cost 'binary_cross_entropy' needs an output activation among sigmoid; got 'tanh'"),
        (["verify", "--hidden", "softmax"], "softmax is an output activation"),
        (["verify", "--batch", "0"], "--batch must be a positive integer; got 0"),
        (["verify", "--sizes", "4"], "sizes needs at least two entries"),
    ],
)
def test_cli_verify_bad_input(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_verify_bad_sizes_text(capsys):
    with pytest.raises(SystemExit) as e:
        main(["verify", "--sizes", "4,a"])
    assert e.value.code == 2
    assert "sizes are comma-separated integers such as 784,30,10; got '4,a'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Kinks and random points: a correct derivative at a kink passes, a wrong one between the
# grid's points fails.


def test_a_subderivative_at_a_kink_passes_and_a_wrong_one_fails(monkeypatch):
    monkeypatch.setattr(jaxnn.activations, "USER", dict(jaxnn.activations.USER))
    custom = jaxnn.activations.custom
    for act in (custom("kink_relu", lambda z: jnp.maximum(z, 0.0),
                       lambda z, a: (z > 0).astype(z.dtype)),  # 0 at 0; jax.grad says 0.5
                custom("kink_abs", jnp.abs, lambda z, a: jnp.sign(z))):  # 0 at 0
        report = gradcheck.check_activation(act)
        assert report.ok, str(report)
        assert "note: at z = 0, a kink, the derivative lies between autodiff's one-sided " \
            "derivatives: accepted as a subderivative" in str(report)
    outside = custom("kink_relu_two", lambda z: jnp.maximum(z, 0.0),
                     lambda z, a: jnp.where(z == 0, 2.0, (z > 0).astype(z.dtype)))
    assert gradcheck.check_activation(outside).verdict().startswith(
        "FAIL: activation 'kink_relu_two': the hand-written deriv(z, a) disagrees with "
        "jax.grad(fn) at z = 0 (manual 2, autodiff")


@pytest.mark.parametrize("seed", [0, 7])
def test_a_derivative_wrong_between_grid_points_fails_on_random_points(monkeypatch, seed):
    monkeypatch.setattr(jaxnn.activations, "USER", dict(jaxnn.activations.USER))
    wrong = jaxnn.activations.custom(
        "tanh_gap", jnp.tanh,
        lambda z, a: jnp.where((jnp.abs(z) > 4.2) & (jnp.abs(z) < 4.8), 2.0, 1.0) * (1 - a * a))
    report = gradcheck.check_activation(wrong, seed=seed)
    assert not report.ok and 4.2 < abs(report.worst[0].where["z"]) < 4.8, str(report)
    assert f"note: {gradcheck.RANDOM_POINTS} of the points are random (seed {seed})" in \
        str(report)
    cost = gradcheck.check_cost("quadratic", seed=seed)
    assert cost.ok and f"random (seed {seed})" in str(cost)


def test_finite_differences_accept_batch_norms_exact_zeros_and_still_catch_errors(x64):
    """Under batch norm ∂J/∂b is exactly 0 (the mean subtraction cancels b) while centred
    differences give rounding noise: agreement below the differences' rounding floor
    passes; an error of 1e-6 does not."""
    net = jaxnn.mlp((5, 4, 4, 3), hidden="tanh", output="softmax", cost="cross_entropy",
                    norm="batch")
    params = jaxnn.init_params(jax.random.key(0), net, dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (8, 5), jnp.float64)
    y = jnp.arange(8) % 3
    report = gradcheck.manual_vs_finite_differences(net, params, x, y)
    assert report.passed, report.table()
    b_row = next(r for r in report.rows if r.layer == 1 and r.name == "b")
    assert b_row.rel_diff > b_row.tolerance and b_row.max_abs_diff <= b_row.floor < 1e-8
    off = gradcheck.Row(1, "b", (4,), max_abs_diff=1e-6, rel_diff=1e-3,
                        tolerance=b_row.tolerance, floor=b_row.floor)
    assert not off.passed  # an error of 1e-6 is far above the floor


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_verify_covers_normalised_residual_networks(capsys, norm):
    """``jaxnn verify --norm … --residual``: manual vs autodiff vs centred differences in
    the per-layer report, γ, β (and batch norm's statistics) among the rows; PASS."""
    assert main(["verify", "--sizes", "4,5,5,3", "--norm", norm, "--residual"]) == 0
    out = capsys.readouterr().out
    assert " gamma " in out and " beta " in out and out.rstrip().endswith("verify: PASS")
    assert (" mean " in out) == (norm == "batch")
