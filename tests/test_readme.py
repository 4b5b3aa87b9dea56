"""README stays true: its generated blocks equal what scripts/readme.py renders now."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_script", ROOT / "scripts/readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_blocks_are_current():
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render_all(readme) == readme, (
        "README's generated blocks are stale: run python scripts/readme.py --write"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    test_command = next(line for line in readme.splitlines() if "pytest" in line)
    assert test_command.strip() in ci
