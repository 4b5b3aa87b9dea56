"""``python -m experiments.run_all --report-only``: report.md from the records on disk."""

import json

from experiments import run_all


def _record(name, held, seconds):
    return {"name": name, "claim": {"statement": f"the claim of {name}", "held": held},
            "config": {}, "results": {"value": 1.5}, "figures": [f"{name}_fig.png"],
            "command": f"python -m experiments.{name}", "seconds": seconds,
            "summary": f"what {name} found"}


def test_report_only_collects_the_records_and_runs_nothing(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("--report-only ran an experiment")

    monkeypatch.setattr(run_all, "run_one", never)
    for name, held, seconds in (("worked_example", True, 1.25), ("linear_collapse", False, 2.5)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_record(name, held, seconds)))
    code = run_all.main(["--report-only", "--out", str(tmp_path),
                         "--only", "worked_example,linear_collapse"])
    assert code == 0
    report = (tmp_path / "report.md").read_text()
    assert "their runs took 3.8 s in all" in report
    assert "| [worked_example](#worked_example) | the claim of worked_example | ✔ | 1.2 |" \
        in report
    assert "| [linear_collapse](#linear_collapse) | the claim of linear_collapse | ✘ | 2.5 |" \
        in report
    assert "1 of 2 claims held." in report
    assert "Reproduce: `python -m experiments.linear_collapse` (2.5 s here)." in report


def test_report_only_says_which_record_is_missing(tmp_path):
    (tmp_path / "worked_example.json").write_text(json.dumps(_record("worked_example", True, 1)))
    assert run_all.main(["--report-only", "--out", str(tmp_path),
                         "--only", "worked_example,mnist"]) == 1
    report = (tmp_path / "report.md").read_text()
    assert "| mnist | skipped: no mnist.json (run python -m experiments.mnist) | — | — |" in report
