"""README stays true: its equation table is what the script renders from the code."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("equation_table", ROOT / "scripts/equation_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_equation_table_matches_the_code():
    et = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert et.replace_in(readme, et.render()) == readme, (
        "README's equation table is stale: run python scripts/equation_table.py --write"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    test_command = next(line for line in readme.splitlines() if "pytest" in line)
    assert test_command.strip() in ci
