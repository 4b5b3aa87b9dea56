"""README stays a true front door: its generated blocks equal what scripts/readme.py renders
now, it stays under 20,000 bytes, every relative link in it (and in docs/) resolves, its
test command is what CI runs, and the equation table survives code that moves but not a
marker that disappears."""

import importlib.util
import pathlib
import re
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _script():
    spec = importlib.util.spec_from_file_location("readme_script", ROOT / "scripts/readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown_files():
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_generated_blocks_are_current():
    script = _script()
    for target in script.TARGETS:
        text = (ROOT / target).read_text(encoding="utf-8")
        assert script.render_all(text) == text, (
            f"{target}'s generated blocks are stale: run python scripts/readme.py --write"
        )


def test_readme_is_a_front_door_under_20_kb():
    size = README.stat().st_size
    assert size <= 20_000, f"README.md is {size:,} bytes; keep it ≤ 20,000 (move detail to docs/)"


def test_ci_runs_the_readme_test_command():
    """README's test command, part by part (``a && b``), is what .ci/run runs, in order."""
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    test_command = next(line for line in readme.splitlines() if "pytest" in line)
    parts = [p.strip() for p in test_command.split("&&")]
    ci_line = next((line for line in ci.splitlines() if parts[-1] in line), None)
    assert ci_line is not None, f".ci/run does not run {parts[-1]!r}"
    positions = [ci_line.find(p) for p in parts]
    assert -1 not in positions and positions == sorted(positions), (
        f".ci/run's line {ci_line!r} does not run README's {test_command!r}"
    )


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    """Every relative link of README and of docs/*.md names a file or folder that exists;
    a link to a heading of README itself names one of its headings."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", path.read_text(encoding="utf-8")))
    headings = {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        if not file:
            if path == README and anchor not in headings:
                broken.append(target)
            continue
        if not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: broken relative links {broken}"


def test_readme_prose_states_no_hand_typed_measurement():
    """Outside its generated blocks and code, README has no decimal number or percentage:
    every measured number comes from a generator (scripts/readme.py)."""
    text = README.read_text(encoding="utf-8")
    text = re.sub(r"<!-- (\w+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`]*`", "", text)  # commands and names, not measurements
    for fixed in ("Python ≥ 3.11", "CC BY-SA 3.0"):
        text = text.replace(fixed, "")
    found = re.findall(r"\d+\.\d+|\d+ ?%|\d+ ?s\b|\d+ ?ms\b", text)
    assert not found, f"hand-typed numbers in README's prose: {found}"


def _copy_tree(tmp_path):
    """A copy of what scripts/readme.py reads: the package, the results, the docs."""
    for name in ("jaxnn", "experiments", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.png"))
    shutil.copy(README, tmp_path / "README.md")
    return tmp_path


def test_equation_table_survives_a_line_shift(tmp_path):
    """A docstring row added above every tagged line moves them all; README is unchanged."""
    script = _script()
    before = script.render_equations()
    root = _copy_tree(tmp_path)
    for path in {row[2] for row in script.ROWS}:
        file = root / path
        file.write_text('"""A new first line."""\n\n' + file.read_text(encoding="utf-8"),
                        encoding="utf-8")
    script.ROOT = root
    assert script.render_equations() == before


def test_equation_table_fails_when_a_tag_disappears(tmp_path):
    script = _script()
    root = _copy_tree(tmp_path)
    name, _, path, marker = next(row for row in script.ROWS if "(BP2)" in row[3])
    file = root / path
    file.write_text(file.read_text(encoding="utf-8").replace(marker, "# gone"), encoding="utf-8")
    script.ROOT = root
    with pytest.raises(SystemExit, match="marker not found"):
        script.render_equations()
