"""The documentation site, checked as its readers use it.

The site is built once: `.ci/run` runs ``mkdocs build --strict`` before the tests, and the
fixture below reuses ``site/`` when it is newer than everything the build reads (else it
builds the site into a temporary folder, under a lock, so that the xdist workers build it
once). Strict mode makes a
broken link, a missing anchor or reference, or a docstring that fails to render an error.

The tests then check that the site names every public name (``jaxnn.__all__`` and the
``__all__`` of each subpackage and module that has one), every registry entry, every
command-line flag and every tagged code line — all derived from the code, never typed —
and open the home page and the API reference in Debian's headless ``chromium``: the page
text holds ``fit_many``, the screenshot is not blank, no console message is logged and no
request fails. Without a browser that test skips and says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import html
import http.server
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

import jaxnn

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
BUILD_TIMEOUT_S = 300
# What the build reads: a site older than any of these is rebuilt.
# (experiments/results/ without its sub-folders: quick runs in the tests write there.)
INPUTS = ("mkdocs.yml", "README.md", "docs", "scripts", "jaxnn", "experiments/results")


def _newest_input() -> float:
    newest = 0.0
    for name in INPUTS:
        path = ROOT / name
        if path.is_file():
            files = [path]
        elif name == "experiments/results":
            files = [p for p in path.glob("*") if p.is_file()]
        else:
            files = [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if "__pycache__" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


def _fresh() -> bool:
    index = SITE / "index.html"
    return index.exists() and index.stat().st_mtime >= _newest_input()


@pytest.fixture(scope="session")
def site() -> Path:
    """``site/`` when it is newer than every input (CI builds it just before the tests);
    else a build of the current inputs in a temporary folder named after them, made once
    under a lock however many xdist workers ask, and never rewritten while a test reads it."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    if _fresh():
        return SITE
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]  # one per checkout
    tmp = Path(tempfile.gettempdir())
    with open(tmp / f"jaxnn-site-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = tmp / f"jaxnn-site-{digest}-{_newest_input():.0f}"
        if not (built / "index.html").exists():
            proc = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(built)],
                cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
            )
            if proc.returncode != 0:
                shutil.rmtree(built, ignore_errors=True)
            assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    return built


def _text(path: Path) -> str:
    """The visible text of a built page (tags dropped, entities decoded)."""
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


@functools.cache
def _ids(site_dir: Path) -> frozenset[str]:
    ids = set()
    for page in site_dir.rglob("*.html"):
        ids.update(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))
    return frozenset(ids)


def _modules_with_all():
    """jaxnn and each of its subpackages and modules that declares ``__all__``."""
    found = {"jaxnn": jaxnn}
    for info in pkgutil.walk_packages(jaxnn.__path__, "jaxnn."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            found[info.name] = module
    return found


def test_site_names_every_public_name(site):
    """Each name of each ``__all__`` has a reference entry: an anchor ``<module>.<name>``, or
    for a re-export the anchor of its defining module (``jaxnn.mlp`` is
    ``jaxnn.architecture.mlp``)."""
    ids = _ids(site)
    by_last = {}
    for anchor in ids:
        if anchor.startswith("jaxnn."):
            by_last.setdefault(anchor.rsplit(".", 1)[-1], set()).add(anchor)
    missing = []
    for module_name, module in _modules_with_all().items():
        for name in module.__all__:
            if f"{module_name}.{name}" in ids:
                continue
            if not by_last.get(name):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without a reference entry on the site: {missing}"


def test_site_lists_every_registry_entry(site):
    from jaxnn import activations, costs, data, initializers, optimizers

    text = _text(site / "reference/registries/index.html")
    errors = _text(site / "errors/index.html")
    for registry in (activations.ACTIVATIONS, costs.COSTS, initializers.INITIALIZERS,
                     optimizers.OPTIMIZERS, data.DATASETS):
        for name in registry:
            assert name in text, f"{name!r} is missing from the registries page"
            assert name in errors, f"{name!r} is missing from the error catalogue's names"


def test_cli_reference_lists_every_flag(site):
    from jaxnn.cli.main import build_parser

    text = _text(site / "reference/cli/index.html")
    _, commands = build_parser()
    for name, parser in commands.items():
        assert f"jaxnn {name}" in text
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in text, f"jaxnn {name} {flag} is missing from the CLI reference"


def test_equations_page_shows_every_tagged_line(site):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        hooks = importlib.import_module("docs_hooks")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = " ".join(_text(site / "equations/index.html").split())
    for tag, path, _, line in hooks.tagged_lines():
        code = " ".join(line.replace("`", "").split())
        assert code in text and path in text, f"{path}'s ({tag}) line is not shown: {code}"
    ids = _ids(site)
    for anchor in hooks.readme_script().anchors():
        assert anchor in ids, f"README's equation link #{anchor} has no target on the site"


# ---------------------------------------------------------------------------------------
# A real browser.

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--window-size=1280,1600",
                  "--virtual-time-budget=5000",
                  # Offline, online or in CI alike: every host but the local server fails,
                  # so a page that needs the network shows it (console, blank page).
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    failures: list[str] = []

    def log_message(self, format, *args):  # quiet; keep only the failed requests
        if len(args) >= 2 and str(args[1]).isdigit() and int(args[1]) >= 400:
            self.failures.append(f"{args[1]} {args[0]}")


@contextlib.contextmanager
def _serve(root: Path):
    _Handler.failures = []
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _open(browser: str, url: str, tmp_path: Path, what: str) -> tuple[str, Path, list[str]]:
    """(the page's DOM, a screenshot, the console messages) of ``url``."""
    profile = tmp_path / f"profile-{what}"
    shot = tmp_path / f"{what}.png"
    base = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-3000:]
    pic = subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True,
                         text=True, timeout=120)
    assert pic.returncode == 0 and shot.exists(), pic.stderr[-3000:]
    console = [line for line in (dom.stderr + pic.stderr).splitlines() if ":CONSOLE" in line]
    return dom.stdout, shot, console


def _not_blank(png: Path) -> bool:
    """The screenshot has text on a page: many pixels differ from the most common one."""
    import numpy as np
    from matplotlib import image

    pixels = image.imread(png)[..., :3].reshape(-1, 3)
    values, counts = np.unique((pixels * 255).astype(np.uint8), axis=0, return_counts=True)
    background = counts.max() / counts.sum()
    return len(values) > 50 and background < 0.97


@pytest.mark.parametrize("page", ["", "reference/api/"], ids=["home", "api-reference"])
def test_a_browser_renders_the_page(site, page, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no headless browser here (CI installs Debian's chromium: "
                    "apt-get install -y chromium)")
    pytest.importorskip("matplotlib", reason="reading the screenshot needs matplotlib")
    with _serve(site) as url:
        dom, shot, console = _open(browser, f"{url}/{page}", tmp_path,
                                   page.strip("/").replace("/", "-") or "home")
        failures = list(_Handler.failures)
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert "fit_many" in text, f"the rendered {page or 'home'} page does not mention fit_many"
    assert _not_blank(shot), f"the screenshot of {page or 'home'} is blank"
    assert not console, f"console messages on {page or 'home'}: {console}"
    assert not failures, f"failed requests on {page or 'home'}: {failures}"
    external = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(https?://[^"]+)"', dom)
    assert not external, f"{page or 'home'} loads from outside the site: {external}"


def test_no_registry_list_is_typed_in_the_docs():
    """README and docs/*.md never spell out a registry's names as a list (two in a row, in
    the registry's order): lists come from the registries when the site is built."""
    from jaxnn import activations, costs, data, initializers, optimizers

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    typed = []
    for registry in (activations.ACTIVATIONS, costs.COSTS, initializers.INITIALIZERS,
                     optimizers.OPTIMIZERS, data.DATASETS):
        names = list(registry)
        for a, b in zip(names, names[1:]):
            for page in pages:
                if f"{a}, {b}" in page.read_text(encoding="utf-8"):
                    typed.append(f"{page.relative_to(ROOT)}: '{a}, {b}'")
    assert not typed, f"registry names typed as a list: {typed}"


def test_a_new_registry_entry_reaches_the_docs_without_an_edit(monkeypatch):
    """The registries page and the error catalogue's names are generated: an optimizer or a
    dataset added to its registry appears in both, with no edit to any page."""
    from jaxnn import data, optimizers

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        hooks = importlib.import_module("docs_hooks")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setitem(optimizers.OPTIMIZERS, "sgd_again", optimizers.sgd)
    monkeypatch.setitem(data.DATASETS, "digits-again", data.load_mnist)
    for generated in (hooks.gen_registries("reference/registries.md"),
                      hooks.gen_registry_names("errors.md")):
        assert "`sgd_again`" in generated and "`digits-again`" in generated
