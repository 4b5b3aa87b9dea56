"""Experiments 7–12 in quick mode: each claim holds and its key numbers are sane.

Each test runs one experiment through ``experiments._common.run_and_write`` into a
temporary folder, as ``python -m experiments.<name> --quick`` would, and reads back the
JSON and the figures it wrote.
"""

import json

import numpy as np
import pytest

from experiments import (
    cubic_regression,
    gradient_checking,
    mnist,
    normalization,
    optimizers,
    regularization,
)
from experiments._common import run_and_write


def _run(module, tmp_path):
    record = run_and_write(module.NAME, module.CLAIM, module.run, quick=True, seed=0,
                           out=tmp_path)
    on_disk = json.loads((tmp_path / f"{module.NAME}.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(record))
    assert record["claim"]["statement"] == module.CLAIM
    assert record["config"]["quick"] is True
    assert record["figures"], "every experiment draws at least one figure"
    for fig in record["figures"]:
        png = tmp_path / fig
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
        assert fig.startswith(module.NAME + "_")
    assert record["summary"]
    return record


def _check_seed_stats(stats, K):
    """A ``mean_std`` dict: K per-seed values whose mean and sample std are numpy's."""
    values = np.asarray(stats["per_seed"], np.float64)
    assert values.shape == (K,)
    assert stats["mean"] == pytest.approx(np.mean(values), rel=1e-12, abs=1e-15)
    assert stats["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12, abs=1e-15)


def test_optimizers(tmp_path):
    record = _run(optimizers, tmp_path)
    assert record["claim"]["held"], record["summary"]
    r = record["results"]
    K = optimizers.SEEDS["quick"]
    assert record["config"]["seeds"] == r["seeds"] == K >= 2
    assert record["config"]["held_if"] == r["rule"] == optimizers.RULE
    # A timing is judged in full runs only: quick mode reports it as not judged, and the
    # claim holds on every other check.
    assert record["config"]["timing_judged"] is False
    assert r["not_judged_in_quick_mode"] == list(optimizers.TIMING_CHECKS)
    assert all(r["checks"][k] is None for k in optimizers.TIMING_CHECKS)
    assert "(not judged in quick mode)" in record["summary"]
    judged = {k: v for k, v in r["checks"].items() if k not in optimizers.TIMING_CHECKS}
    assert judged and all(v is True for v in judged.values()), r["checks"]
    gd, mom = r["valley"]["gradient descent"], r["valley"]["momentum"]
    assert mom["steps_to_target"] < gd["steps_to_target"]
    # Gradient descent at α h₂ = 1.8 flips w₂'s sign on every step.
    assert gd["w2_sign_changes_before_target"] == gd["steps_to_target"]
    assert r["valley"]["gradient_check_max_abs_vs_jax_grad"] == 0.0
    b = r["batch_sizes"]
    for regime in b.values():
        _check_seed_stats(regime["final_train_cost"], K)
        _check_seed_stats(regime["final_test_accuracy"], K)
        assert len(regime["train_cost_per_epoch_mean"]) == record["config"]["digits"]["epochs"]
        secs = regime["seconds_per_epoch_all_seeds"]
        assert secs["mean"] == pytest.approx(np.mean(secs["per_epoch"]), rel=1e-12)
    _check_seed_stats(b["mini-batch"]["noise"]["uphill_fraction"], K)
    # Full batch: the cost only falls, in every seed.
    assert b["batch"]["noise"]["uphill_fraction"]["per_seed"] == [0.0] * K
    mb_cost, b_cost = b["mini-batch"]["final_train_cost"], b["batch"]["final_train_cost"]
    assert mb_cost["mean"] + mb_cost["std"] < b_cost["mean"] - b_cost["std"]
    assert max(mb_cost["per_seed"]) < min(b_cost["per_seed"])
    assert b["stochastic"]["updates_per_epoch"] == record["config"]["digits"]["n_train"]
    initial = r["initial_train_cost"]
    _check_seed_stats(initial, K)
    for curve in r["optimizer_curves"].values():
        _check_seed_stats(curve["final_train_cost"], K)
        assert all(np.less(curve["final_train_cost"]["per_seed"],
                           0.5 * np.asarray(initial["per_seed"])))
    # The sgd curve is part 2's mini-batch run.
    assert r["optimizer_curves"]["sgd"]["final_train_cost"] == mb_cost


def test_normalization(tmp_path):
    record = _run(normalization, tmp_path)
    assert record["claim"]["held"], record["summary"]
    K = normalization.SEEDS["quick"]
    assert record["config"]["seeds"] == record["results"]["seeds"] == K >= 2
    assert record["config"]["held_if"] == record["results"]["rule"] == normalization.RULE
    c = record["results"]["conditions"]
    std, raw = c["standardized"], c["raw (scaled pixels)"]
    for cond in (std, raw):
        _check_seed_stats(cond["final_train_cost"], K)
        _check_seed_stats(cond["test_accuracy"], K)
        epochs = cond["epochs_to_target"][str(normalization.MAIN_TARGET)]
        assert len(epochs["per_seed"]) == K
        if epochs["reached"] == K:
            _check_seed_stats(epochs, K)
        assert len(cond["train_cost_per_epoch_mean"]) == record["config"]["epochs"]
        assert len(cond["final_cost_per_lr_mean"]) == len(record["config"]["learning_rates"])
    # The rule: one std apart, and sooner in every seed (None: never).
    assert (std["final_train_cost"]["mean"] + std["final_train_cost"]["std"]
            < raw["final_train_cost"]["mean"] - raw["final_train_cost"]["std"])
    main = str(normalization.MAIN_TARGET)
    for a, b in zip(std["epochs_to_target"][main]["per_seed"],
                    raw["epochs_to_target"][main]["per_seed"]):
        assert a is not None and (b is None or a < b)
    assert std["best_lr"] > raw["best_lr"]  # the raw features force a smaller rate
    lo, hi = std["feature_std_range"]
    assert 0.99 < lo <= hi < 1.01  # unit variance (constant pixels are only centred)


def test_regularization(tmp_path):
    record = _run(regularization, tmp_path)
    assert record["claim"]["held"], record["summary"]
    assert record["config"]["held_if"] == regularization.RULE
    K = record["config"]["seeds"]
    assert K == regularization.SEEDS["quick"] >= 2
    sweep = record["results"]["sweep"]
    assert [s["lambda"] for s in sweep] == list(regularization.LAMBDAS["quick"])
    assert sweep[0]["lambda"] == 0.0
    # Seed statistics: K values per λ, and their mean and sample std (ddof = 1) as numpy's.
    for s in sweep:
        for key in ("weight_norm_sq", "train_accuracy", "test_accuracy", "gap"):
            v = np.asarray(s[key]["per_seed"])
            assert v.shape == (K,)
            assert s[key]["mean"] == pytest.approx(np.mean(v), rel=1e-12, abs=1e-15)
            assert s[key]["std"] == pytest.approx(np.std(v, ddof=1), rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(
            s["gap"]["per_seed"],
            np.subtract(s["train_accuracy"]["per_seed"], s["test_accuracy"]["per_seed"]))
        assert len(s["test_accuracy_per_epoch_mean"]) == record["config"]["epochs"]
    # The paired differences are per seed against λ = 0.
    base, best = sweep[0], sweep[1]
    np.testing.assert_allclose(
        best["test_accuracy_gain_vs_lambda_0"]["per_seed"],
        np.subtract(best["test_accuracy"]["per_seed"], base["test_accuracy"]["per_seed"]))
    np.testing.assert_allclose(
        best["gap_reduction_vs_lambda_0"]["per_seed"],
        np.subtract(base["gap"]["per_seed"], best["gap"]["per_seed"]))
    # The seeds differ (else the statistics say nothing), and the rule's numbers hold.
    assert base["test_accuracy"]["std"] > 0
    gain = best["test_accuracy_gain_vs_lambda_0"]
    assert gain["mean"] - gain["std"] > 0
    assert all(record["results"]["checks"]["weight_norm_falls_per_seed"])
    assert np.all(np.less(sweep[-1]["weight_norm_sq"]["per_seed"],
                          0.5 * np.asarray(sweep[0]["weight_norm_sq"]["per_seed"])))
    assert min(base["gap"]["per_seed"]) > 0.1  # it over-fits, in every seed
    check = record["results"]["l2_gradient_check"]
    assert check["manual_vs_autodiff_passed"]
    assert check["regularised_cost_manual"] == pytest.approx(
        check["regularised_cost_jaxnn_cost"], rel=1e-6)


def test_cubic_regression(tmp_path):
    record = _run(cubic_regression, tmp_path)
    assert record["claim"]["held"], record["summary"]
    r = record["results"]
    for name, true in r["true"].items():
        assert abs(r["gradient_descent"][name] - true) < 0.1
    assert r["max_abs_gd_minus_least_squares"] < 1e-3
    assert r["max_abs_manual_minus_autodiff"] is None  # the autodiff run is full mode only
    assert r["rmse_to_true_curve_on_grid"]["tanh_network"] < 0.05
    # Fresh noisy points can be fitted no better than the noise: RMSE ≈ σ.
    fresh = r["rmse_on_fresh_noisy_points"]
    assert 0.8 * fresh["noise_sigma"] < fresh["cubic_features_gd"] < 1.2 * fresh["noise_sigma"]


def test_gradient_checking(tmp_path):
    record = _run(gradient_checking, tmp_path)
    assert record["claim"]["held"], record["summary"]
    r = record["results"]
    assert r["manual_vs_autodiff"]["float64"]["max_rel_diff"] <= 1e-12
    assert r["manual_vs_autodiff"]["float32"]["max_rel_diff"] <= 1e-5
    f64, f32 = r["eps_sweep"]["float64"], r["eps_sweep"]["float32"]
    assert 1e-8 <= f64["best_eps"] <= 1e-4 and f64["best_error"] < 1e-8
    assert 1e-4 <= f32["best_eps"] <= 1e-1
    assert f32["best_eps"] > f64["best_eps"]  # coarser round-off, larger best ε
    # Both ends of the V are worse than its bottom by more than a decade.
    for s in (f64, f32):
        assert min(s["error_at_largest_eps"], s["error_at_smallest_eps"]) > 10 * s["best_error"]
    seed004 = r["seed004_sign"]
    assert seed004["rel_diff_vs_minus_gradient"] < 1e-6
    assert seed004["rel_diff_vs_gradient"] == pytest.approx(2.0)
    assert seed004["cost_after_step_along_seed_form"] > seed004["cost_before"]
    assert r["finite_difference_grad"]["float64"]["sweep_vs_library_max_abs_diff"] < 1e-12


def test_mnist(tmp_path):
    record = _run(mnist, tmp_path)
    # Quick mode states the full mode's bars but does not judge, and says so.
    assert record["config"]["judged"] is False and record["claim"]["held"] is False
    assert record["summary"].startswith("Quick mode, not judged")
    r = record["results"]
    assert record["config"]["bars"] == mnist.BARS == {"nielsen": 0.90, "default": 0.93}
    n_test = record["config"]["n_test"]
    for name in ("nielsen", "default"):
        o = r[name]
        assert o["seeds"] == mnist.SEEDS["quick"] == len(o["test_accuracy_per_seed"])
        assert o["meets_bar"] is None and o["bar"] == mnist.BARS[name]
        cm = o["confusion_matrix_summed_over_seeds"]
        assert sum(map(sum, cm)) == o["seeds"] * n_test
        assert sum(cm[i][i] for i in range(10)) == pytest.approx(
            sum(o["test_accuracy_per_seed"]) * n_test, abs=0.5)
        assert o["mean_minus_std"] == pytest.approx(
            o["test_accuracy_mean"] - o["test_accuracy_std"])
    assert r["default"]["test_accuracy_mean"] > 0.85
    assert r["nielsen_autodiff"] is None  # the autodiff run is full mode only


def test_mnist_rule():
    """mean − one sample std (ddof = 1) against the bar; sample_supports in hundredths."""
    v = mnist.judge([0.91, 0.93, 0.95], 0.90)
    assert v["mean"] == pytest.approx(0.93) and v["std"] == pytest.approx(0.02)
    assert v["meets_bar"] and v["sample_supports"] == 0.91
    v = mnist.judge([0.89, 0.90, 0.91], 0.90)
    assert not v["meets_bar"] and v["sample_supports"] == 0.89


def test_mnist_data_flag_sets_the_folder(monkeypatch, tmp_path):
    """``--data DIR`` reaches run() through the environment; a folder without the MNIST
    files is an error naming them."""
    monkeypatch.delenv(mnist.DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist.main(["--quick", "--data", str(tmp_path), "--out", str(tmp_path)])
    assert mnist.os.environ[mnist.DATA_ENV] == str(tmp_path)
