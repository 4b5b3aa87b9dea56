"""Every ```python block of the guides runs, as a reader would paste it.

The blocks of one page run in order in one namespace, in a fresh temporary folder (the files
they write land there). A block whose first line is ``# name.py`` is that module's source:
it is written to ``name.py`` there, importable, instead of being run. A block fenced ```py instead is shown but not run (it needs several
devices, processes or a download); a ```bash or ```console block is a shell command. The
blocks assert what the text around them says, so a snippet that drifts from the API fails
here.
"""

import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs/getting-started.md", *sorted((ROOT / "docs/how-to").glob("*.md")),
         *sorted((ROOT / "docs/explanation").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _blocks(page):
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT / "docs").as_posix())
def test_the_page_runs(page, tmp_path, monkeypatch):
    blocks = _blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no python block")
    source = "\n".join(blocks)
    if "import optax" in source:
        pytest.importorskip("optax")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, 1):
        module = re.match(r"# (\w+)\.py\n", block)
        if module:
            (tmp_path / f"{module.group(1)}.py").write_text(block, encoding="utf-8")
            monkeypatch.delitem(sys.modules, module.group(1), raising=False)
            continue
        code = compile(block, f"{page.relative_to(ROOT)} (python block {number})", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own code


def test_readme_api_in_one_screen_runs(tmp_path, monkeypatch):
    """README's python block, as written except for fewer epochs (the calls are the same)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(readme)
    assert blocks, "README has no python block"
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(blocks, 1):
        block = re.sub(r"\bepochs=\d+", "epochs=1", block)
        exec(compile(block, f"README.md (python block {number})", "exec"), {"__name__": "__docs__"})
