"""The dropout experiment in quick mode: its JSON layout, its seed statistics, and the
manual gradient with dropout against autodiff's with the same key."""

import json

import numpy as np
import pytest

from experiments import dropout, run_all
from experiments._common import run_and_write


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("dropout")
    rec = run_and_write(dropout.NAME, dropout.CLAIM, dropout.run, quick=True, seed=0, out=out)
    on_disk = json.loads((out / f"{dropout.NAME}.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(rec))
    for fig in rec["figures"]:
        assert fig.startswith(dropout.NAME + "_")
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    return rec


def test_layout_and_rule(record):
    assert record["name"] == "dropout"
    assert record["claim"]["statement"] == dropout.CLAIM
    assert record["figures"] == ["dropout_gap.png"]
    config = record["config"]
    assert config["quick"] is True
    assert config["held_if"] == dropout.RULE
    assert config["rates"] == list(dropout.RATES["quick"]) and config["rates"][0] == 0.0
    assert config["network"]["sizes"] == list(dropout.SIZES)
    # The claim held in quick mode, and `held` is exactly the rule applied to the numbers.
    r = record["results"]
    narrows = {f"{s['rate']:g}": s["gap_reduction_vs_rate_0"]["mean"]
               - s["gap_reduction_vs_rate_0"]["std"] > 0 for s in r["sweep"][1:]}
    assert r["gap_narrows_mean_minus_std_positive"] == narrows
    assert record["claim"]["held"] == (all(narrows.values())
                                       and r["dropout_gradient_check"]["passed"])
    assert record["claim"]["held"], record["summary"]
    assert "dropout" in run_all.EXPERIMENTS
    assert run_all.EXPERIMENTS.index("dropout") == run_all.EXPERIMENTS.index(
        "regularization") + 1


def test_seed_statistics(record):
    K = record["config"]["seeds"]
    assert K == dropout.SEEDS["quick"] >= 2
    sweep = record["results"]["sweep"]
    for s in sweep:
        for key in ("train_accuracy", "test_accuracy", "gap"):
            v = np.asarray(s[key]["per_seed"])
            assert v.shape == (K,)
            assert s[key]["mean"] == pytest.approx(np.mean(v), rel=1e-12, abs=1e-15)
            assert s[key]["std"] == pytest.approx(np.std(v, ddof=1), rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(
            s["gap"]["per_seed"],
            np.subtract(s["train_accuracy"]["per_seed"], s["test_accuracy"]["per_seed"]))
        assert len(s["test_accuracy_per_epoch_mean"]) == record["config"]["epochs"]
    base = sweep[0]
    assert min(base["gap"]["per_seed"]) > 0.1  # without dropout it over-fits, every seed
    assert base["test_accuracy"]["std"] > 0  # the seeds differ
    for s in sweep[1:]:  # paired, per seed, against p = 0
        np.testing.assert_allclose(
            s["gap_reduction_vs_rate_0"]["per_seed"],
            np.subtract(base["gap"]["per_seed"], s["gap"]["per_seed"]))
        np.testing.assert_allclose(
            s["test_accuracy_change_vs_rate_0"]["per_seed"],
            np.subtract(s["test_accuracy"]["per_seed"], base["test_accuracy"]["per_seed"]))


def test_manual_gradient_with_dropout_equals_autodiff(record):
    check = record["results"]["dropout_gradient_check"]
    assert check["dtype"] == "float64"
    assert check["rate"] == dropout.RATES["quick"][-1] > 0
    # The masks really drop units (about the rate), so the check is of dropout's BP2.
    assert abs(check["fraction_of_hidden_units_dropped"] - check["rate"]) < 0.1
    assert check["cost_manual"] != check["cost_without_dropout"]
    assert check["cost_manual"] == pytest.approx(check["cost_autodiff"], rel=1e-12)
    assert set(check["rel_diff_per_parameter"]) == {"W1", "b1", "W2", "b2"}
    assert check["max_rel_diff"] == max(check["rel_diff_per_parameter"].values())
    assert check["max_rel_diff"] <= 1e-10 and check["passed"]
