"""Experiments 1–6 in --quick mode: each claim holds, with its key numbers, and run_all
writes a report.

Every experiment runs through ``_common.run_and_write`` into ``tmp_path``, so these tests
also check that the JSON and every figure are written.
"""

import json

import numpy as np
import pytest

from experiments import (
    initialization,
    linear_collapse,
    logistic_regression,
    run_all,
    steep_sigmoid_and_strips,
    vanishing_gradients,
    worked_example,
)
from experiments._common import run_and_write

pytestmark = pytest.mark.slow

# SEEDS.md, "The worked example (seed 002), to full precision": the exact column.
SEEDS_MD_EXACT = {
    "z": 1.5,
    "a": 0.8175744761936437,
    "C": 0.016639535868011743,
    "dC/da": -0.18242552380635635,
    "da/dz": 0.14914645207033286,
    "dC/dz": -0.027208119642790095,
    "dC/dw1": -0.10883247857116038,
    "dC/dw2": -0.013604059821395047,
    "dC/db": -0.027208119642790095,
    "w1 after": 1.1088324785711603,
    "w2 after": -0.986395940178605,
    "b after": -1.97279188035721,
    "a after": 0.8775402118686612,
}


def _check_figures(record, folder):
    assert record["figures"], "every experiment draws at least one figure"
    for fig in record["figures"]:
        assert (folder / fig).stat().st_size > 10_000, fig
    assert record["summary"]


def _run(module, tmp_path):
    record = run_and_write(module.NAME, module.CLAIM, module.run, quick=True, seed=0,
                           out=tmp_path)
    on_disk = json.loads((tmp_path / f"{module.NAME}.json").read_text(encoding="utf-8"))
    assert on_disk["claim"] == record["claim"]
    _check_figures(record, tmp_path)
    return record


# run_all runs two experiments once for the module: its report is checked below, and the
# records it wrote are the ones test_worked_example and test_linear_collapse check (each
# ran again on its own before; the runs are the same).
RUN_ALL_ONLY = ("worked_example", "linear_collapse")


@pytest.fixture(scope="module")
def run_all_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("run_all")
    code = run_all.main(["--quick", "--only", ",".join(RUN_ALL_ONLY), "--out", str(out)])
    return code, out


def _written_by_run_all(module, run_all_out):
    """The record run_all wrote for ``module``, as ``_run`` would have returned it."""
    _, out = run_all_out
    record = json.loads((out / f"{module.NAME}.json").read_text(encoding="utf-8"))
    assert record["name"] == module.NAME and record["claim"]["statement"] == module.CLAIM
    assert record["command"] == f"python -m experiments.{module.NAME} --quick"
    _check_figures(record, out)
    return record


def test_worked_example(run_all_out):
    record = _written_by_run_all(worked_example, run_all_out)
    assert record["claim"]["held"], record["summary"]
    rows = {r["quantity"]: r for r in record["results"]["table"]}
    assert set(rows) == set(SEEDS_MD_EXACT)
    for name, exact in SEEDS_MD_EXACT.items():
        assert rows[name]["exact"] == pytest.approx(exact, abs=1e-12), name
        if rows[name]["autodiff"] is not None:
            assert rows[name]["autodiff"] == pytest.approx(exact, abs=1e-12), name
    # The one disagreement with the seed is its cost, computed from the rounded a = 0.82.
    assert record["results"]["quantities_disagreeing_with_seed"] == ["C"]
    assert record["results"]["seed_cost_explained_by_rounded_a"]
    assert record["results"]["dtype"] == "float64"


def test_steep_sigmoid_and_strips(tmp_path):
    record = _run(steep_sigmoid_and_strips, tmp_path)
    r = record["results"]
    assert record["claim"]["held"], record["summary"]
    errors = [s["max_error"] for s in r["strips"]]
    assert [s["strips"] for s in r["strips"]] == [5, 10, 20, 50, 100]
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.05
    assert r["loglog_slope_error_vs_strips"] == pytest.approx(-1.0, abs=0.15)
    assert r["max_step_position_error"] < 1e-6
    # The seed's tables agree except one entry: w = 10, x = 0.01 prints 0.502 for σ(0.1).
    assert [(m["w"], m["x"], m["seed_prints"]) for m in r["seed_table_mismatches"]] == [
        (10.0, 0.01, "0.502")
    ]


def test_linear_collapse(run_all_out):
    record = _written_by_run_all(linear_collapse, run_all_out)
    r = record["results"]
    assert record["claim"]["held"], record["summary"]
    f32, f64 = r["collapse"]
    assert f32["max_abs_difference"] < 1e-5
    assert f64["max_abs_difference"] < 1e-12
    assert f64["manual_vs_autodiff_max_abs_grad_difference"] < 1e-12
    assert r["least_squares_floor"] == pytest.approx(0.125, abs=1e-12)
    assert r["linear_xor"]["min_cost"] >= 0.125 - 1e-6
    assert abs(r["linear_xor"]["final_xor_contrast"]) < 1e-4
    assert r["random_linear_best_accuracy"] == 0.75
    assert r["tanh_xor"]["final_accuracy"] == 1.0
    assert r["tanh_xor"]["final_cost"] < 1e-3


def test_logistic_regression(tmp_path):
    record = _run(logistic_regression, tmp_path)
    r = record["results"]
    assert record["claim"]["held"], record["summary"]
    assert r["dtype"] == "float64"
    assert r["max_param_difference_over_steps"] < 1e-10
    assert r["max_cost_difference_over_steps"] < 1e-10
    assert r["max_manual_vs_autodiff_param_difference"] < 1e-10
    assert r["test_accuracy"] >= 0.9
    assert r["test_predictions_differing_from_seed_loop"] == 0


def test_vanishing_gradients(tmp_path):
    record = _run(vanishing_gradients, tmp_path)
    r = record["results"]
    assert record["claim"]["held"], record["summary"]
    sig = r["nielsen"]
    speeds = sig["speed_at_init_hidden"]
    assert speeds == sorted(speeds)  # earlier layers slower
    assert all(q >= 3 for q in sig["ratio_next_over_this"])
    # Within a factor of 2 of Nielsen's 0.003 / 0.285 for the first hidden layer.
    assert 0.5 < sig["ratio_to_last_hidden"][0] / (0.003 / 0.285) < 2
    assert sig["autodiff_max_relative_difference"] < 1e-4
    assert 1 / 3 <= r["relu_he"]["ratio_first_over_last_hidden"] <= 3
    up, down = r["products_1.5"], r["products_0.5"]
    assert up["rows"][-1]["forward_scale"] == pytest.approx(1.5**20, rel=1e-12)
    assert down["rows"][-1]["forward_scale"] == pytest.approx(0.5**20, rel=1e-12)
    assert max(up["max_relative_error"], down["max_relative_error"]) < 1e-12


def _check_seed_stats(stats, K):
    """A ``mean_std`` dict: K per-seed values whose mean and sample std are numpy's."""
    values = np.asarray(stats["per_seed"], np.float64)
    assert values.shape == (K,)
    assert stats["mean"] == pytest.approx(np.mean(values), rel=1e-12, abs=1e-15)
    assert stats["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12, abs=1e-15)


def test_initialization(tmp_path):
    record = _run(initialization, tmp_path)
    r = record["results"]
    K = initialization.SEEDS["quick"]
    assert record["claim"]["held"], record["summary"]
    assert record["config"]["seeds"] == r["seeds"] == K >= 2
    assert record["config"]["held_if"] == r["rule"] == initialization.RULE
    sym = r["symmetry_network"]
    assert len(sym["layers_per_seed"]) == K and all(sym["symmetric_per_seed"])
    for layers in sym["layers_per_seed"]:
        hidden = layers[0]  # the hidden layer, from zeros
        assert hidden["numerical_rank"] == 1
        assert hidden["max_abs_W"] > 0
        assert hidden["max_row_difference"] <= 1e-6 * hidden["max_abs_W"]
    for hidden in ("deep_tanh", "deep_relu"):
        runs = r[hidden]
        assert runs["zeros"]["weights_still_all_zero_every_seed"]
        normal = runs["normal"]["final_test_accuracy"]
        for run in runs.values():
            _check_seed_stats(run["final_test_accuracy"], K)
            assert len(run["test_accuracy_per_epoch_mean"]) == record["config"]["epochs"] + 1
            assert len(run["diverged_in_epoch_per_seed"]) == K
        for scheme in ("lecun_normal", "he_normal", "glorot_normal"):
            acc = runs[scheme]["final_test_accuracy"]
            assert acc["mean"] - acc["std"] > normal["mean"] + normal["std"], (hidden, scheme)
            ratio = runs[scheme]["last_over_first_hidden_std"]
            _check_seed_stats(ratio, K)
            assert all(0.25 <= q <= 4 for q in ratio["per_seed"]), (hidden, scheme)
    assert r["deep_tanh"]["lecun_normal"]["W1_numerical_rank_per_seed"] == [100] * K
    exploding = r["deep_relu"]["normal"]["last_over_first_hidden_std"]
    assert min(exploding["per_seed"]) > 10  # N(0, 1) explodes in every seed
    assert r["deep_relu"]["zeros"]["last_over_first_hidden_std"] is None  # all activations 0


def test_run_all_writes_a_report(run_all_out):
    code, out = run_all_out
    assert code == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## worked_example" in report and "## linear_collapse" in report
    assert "2 of 2 claims held" in report
    assert "![worked_example_table.png](worked_example_table.png)" in report
    assert "python -m experiments.run_all --quick" in report
    assert (out / "worked_example.json").exists()
    assert (out / "linear_collapse.json").exists()


def test_run_all_rejects_an_unknown_name(capsys):
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--only", "worked_exampel"])
    assert exc.value.code == 2
    assert "unknown experiment(s) worked_exampel" in capsys.readouterr().err


def test_run_all_skips_a_missing_module_and_reports_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "EXPERIMENTS", [*run_all.EXPERIMENTS, "not_written_yet"])

    def boom(quick, seed):
        raise RuntimeError("deliberate failure")

    monkeypatch.setattr(worked_example, "run", boom)
    code = run_all.main(["--quick", "--only", "worked_example,not_written_yet",
                         "--out", str(tmp_path)])
    assert code == 1
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "skipped: module experiments.not_written_yet does not exist yet" in report
    assert "crashed" in report and "deliberate failure" in report
