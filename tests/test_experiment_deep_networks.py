"""The deep-networks experiment in quick mode: its JSON layout, the rule applied to its
numbers, and the vanishing speeds of the plain network (which quick mode already shows)."""

import json

import pytest

from experiments import deep_networks, run_all
from experiments._common import run_and_write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("deep_networks")
    rec = run_and_write(deep_networks.NAME, deep_networks.CLAIM, deep_networks.run,
                        quick=True, seed=0, out=out)
    assert json.loads((out / f"{deep_networks.NAME}.json").read_text("utf-8")) == json.loads(
        json.dumps(rec))
    for fig in rec["figures"]:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    return rec


def test_layout_and_rule(record):
    assert record["figures"] == ["deep_networks_speeds.png"]
    config, r = record["config"], record["results"]
    assert config["held_if"] == deep_networks.RULE and config["quick"] is True
    assert set(deep_networks.VARIANTS) <= set(r)
    for v in deep_networks.VARIANTS:
        assert len(r[v]["speed_at_init"]) == len(deep_networks.SIZES) - 1
        assert len(r[v]["test_accuracy_per_seed"]) == config["seeds"]
    # `held` is exactly the rule applied to the recorded numbers.
    plain = r["plain"]["test_accuracy"]
    for v in deep_networks.JUDGED:
        acc = r[v]["test_accuracy"]
        assert r["remedies"][v] == {
            "speeds_within_order_of_magnitude": r[v]["max_over_min_hidden_at_init"] <= 10,
            "higher_accuracy": acc["mean"] - acc["std"] > plain["mean"] + plain["std"]}
    assert record["claim"]["held"] == (r["plain_early_layers_slow"] and all(
        all(x.values()) for x in r["remedies"].values()))
    # The plain sigmoid network's early layers are far slower, batch norm's and the skips'
    # are not (already in quick mode).
    assert r["plain"]["first_over_last_hidden_at_init"] < 1e-3
    assert r["batch_norm"]["max_over_min_hidden_at_init"] < 10
    assert r["residual"]["max_over_min_hidden_at_init"] < 10
    assert "deep_networks" in run_all.EXPERIMENTS
