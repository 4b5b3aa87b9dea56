"""MkDocs hooks: the parts of the site that are generated from the code and the results.

mkdocs.yml names this file under ``hooks:``; ``mkdocs build --strict`` runs it on every
build, so nothing below is ever stale and nothing of it is committed:

* ``docs/index.md`` (the home page) is README.md, its links rewritten for the site;
* a ``<!-- generated: NAME -->`` line in a page is replaced by ``GENERATORS[NAME]()``:
  the command-line reference walks ``jaxnn.cli.main.build_parser()``, the registries'
  tables read ``jaxnn.activations.ACTIVATIONS``, ``jaxnn.costs.COSTS``,
  ``jaxnn.initializers.INITIALIZERS``, ``jaxnn.optimizers.OPTIMIZERS`` and
  ``jaxnn.data.DATASETS``, and the results pages render ``experiments/results/`` with
  ``scripts/readme.py``'s own functions (the same ones README's blocks come from);
* ``docs/equations.md`` gains "Each equation beside its code": every row of
  ``scripts/readme.py``'s ``ROWS`` and every ``# (TAG)`` line of the package, found by its
  marker when the site is built (so a line that moves needs no edit anywhere);
* ``docs/errors.md`` gains the names each registry accepts, from the registries;
* the figures under ``experiments/results/`` are served as ``assets/results/*.png``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import posixpath
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
FIGURES = "assets/results"
MARKER = re.compile(r"^<!-- generated: ([a-z_-]+) -->$", re.M)
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
TAG = re.compile(r"#\s*\(([A-Z][A-Za-z0-9]*\d[A-Za-z0-9]*)\)")

def _on_path() -> None:
    """The repository on sys.path (for ``experiments``); MkDocs restores sys.path after
    loading a hook, so this runs at each use rather than at import."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


os.environ.setdefault("JAX_PLATFORMS", "cpu")


def readme_script():
    """scripts/readme.py as a module (it is not in a package)."""
    _on_path()
    spec = importlib.util.spec_from_file_location("readme_script", ROOT / "scripts/readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------
# Links: text written for the repository (README, experiments/results/*.md) made to work on
# the site. A link into docs/ becomes a page link; a figure under experiments/results/ the
# served copy; a results file its page; a source file of jaxnn its API reference entry;
# anything else outside docs/ (a script, .ci/run) plain text.

RESULT_PAGES = {
    "experiments/results/report.md": "results/experiments.md",
    "experiments/results/benchmark.md": "results/benchmark.md",
    "experiments/results/sweep_benchmark.md": "results/sweep-benchmark.md",
    "experiments/results/step_ratio.md": "results/step-ratio.md",
}


# The reading order of the API page; a module not named here follows, alphabetically, so a
# new module is documented without an edit (a name here that no longer exists is skipped).
API_ORDER = ("architecture", "network", "initializers", "activations", "costs",
             "user_components", "components", "backprop", "gradcheck", "optimizers",
             "schedules", "train", "checkpoint", "data", "privacy", "compile_cache", "inputs",
             "memory", "cli")


def api_modules() -> list[str]:
    """What the API page documents, found in the package: every public module and package
    of ``jaxnn``; the submodules a package names in its ``__all__`` (all its public ones
    when it names any, as :mod:`jaxnn.train` does); its subpackages that declare an
    ``__all__`` of their own."""
    import importlib
    import pkgutil
    import types

    import jaxnn

    top = [m.name for m in pkgutil.iter_modules(jaxnn.__path__) if not m.name.startswith("_")]
    top.sort(key=lambda n: (API_ORDER.index(n) if n in API_ORDER else len(API_ORDER), n))
    out = []
    for name in top:
        dotted = f"jaxnn.{name}"
        out.append(dotted)
        module = importlib.import_module(dotted)
        if not hasattr(module, "__path__"):
            continue
        subs = [s for s in pkgutil.iter_modules(module.__path__) if not s.name.startswith("_")]
        exposed = any(s.name in getattr(module, "__all__", ()) and not s.ispkg
                      and isinstance(getattr(module, s.name, None), types.ModuleType)
                      for s in subs)
        for sub in subs:
            child = importlib.import_module(f"{dotted}.{sub.name}")
            named = sub.name in getattr(module, "__all__", ()) or (exposed and not sub.ispkg)
            if named and isinstance(getattr(module, sub.name, None), types.ModuleType):
                out.append(child.__name__)
            elif named:  # a function named like its module (jaxnn.cli.main)
                out.append(f"{child.__name__}.{sub.name}")
            elif sub.ispkg and hasattr(child, "__all__"):
                out.append(child.__name__)
    return out


def _documented_modules() -> set[str]:
    return set(api_modules())


def _module_anchor(repo_path: str) -> str:
    """The API reference anchor of the module (or nearest documented package) of a file."""
    dotted = repo_path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    documented = _documented_modules()
    while dotted not in documented and "." in dotted:
        dotted = dotted.rsplit(".", 1)[0]
    return dotted


def rewrite_links(markdown: str, base: Path, page_uri: str) -> str:
    """Links of ``markdown`` (written relative to the folder ``base``) for ``page_uri``."""

    def rel(target_uri: str) -> str:
        return posixpath.relpath(target_uri, posixpath.dirname(page_uri) or ".")

    def sub(m: re.Match) -> str:
        bang, text, target = m.groups()
        if re.match(r"^([a-z][a-z0-9+.-]*:|#)", target):
            return m.group(0)
        path, hash_, anchor = target.partition("#")
        try:
            repo = (base / path).resolve().relative_to(ROOT).as_posix()
        except ValueError:
            return m.group(0)
        suffix = f"#{anchor}" if hash_ else ""
        if repo.startswith("docs/"):
            new = rel(repo[len("docs/"):]) + suffix
        elif repo.startswith("experiments/results/") and repo.endswith(".png"):
            new = rel(f"{FIGURES}/{posixpath.basename(repo)}")
        elif repo in RESULT_PAGES:
            new = rel(RESULT_PAGES[repo]) + suffix
        elif repo.startswith("jaxnn/") and (repo.endswith(".py") or (ROOT / repo).is_dir()):
            new = rel("reference/api.md") + "#" + _module_anchor(repo.rstrip("/"))
        else:
            return text if not bang else f"`{text}`"
        return f"{bang}[{text}]({new})"

    return LINK.sub(sub, markdown)


# ---------------------------------------------------------------------------------------
# Generators: each returns Markdown written for the page that holds its marker.


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return _cell(doc.split("\n\n")[0])


def gen_toplevel(page_uri: str) -> str:
    import types

    import jaxnn

    rows = ["| name | what |", "| --- | --- |"]
    for name in jaxnn.__all__:
        obj = getattr(jaxnn, name)
        if isinstance(obj, types.ModuleType):
            target, what = obj.__name__, _first_line(obj)
        else:
            module = getattr(obj, "__module__", None) or "jaxnn"
            if not hasattr(obj, "__module__") or module == "builtins":
                module = _defining_module(name)
            target, what = f"{module}.{name}", _first_line(obj) if callable(obj) else ""
        rows.append(f"| [`jaxnn.{name}`][{target}] | {what} |")
    return "\n".join(rows)


def _defining_module(name: str) -> str:
    """The module of a top-level constant (a tuple has no __module__)."""
    import jaxnn

    for module in ("architecture", "initializers", "network"):
        if name in vars(getattr(jaxnn, module)):
            return f"jaxnn.{module}"
    return "jaxnn"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if action.help in (None, argparse.SUPPRESS):
        return ""
    return parser._get_formatter()._expand_help(action)


def _flag_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| flag | value | default | what |", "| --- | --- | --- | --- |"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
        takes = action.nargs != 0
        if not takes:
            value = ""
        elif action.choices is not None and not isinstance(action.choices, dict):
            value = " \\| ".join(f"`{c}`" for c in action.choices)
        else:
            value = f"`{action.metavar or action.dest.upper()}`"
        default = action.default
        shown = ("" if default in (None, argparse.SUPPRESS, False) or not takes
                 else f"`{default}`")
        rows.append(f"| {names} | {value} | {shown} | {_cell(_help(parser, action))} |")
    return rows


def gen_cli(page_uri: str) -> str:
    from jaxnn.cli.main import build_parser

    os.environ["COLUMNS"] = "100"
    parser, commands = build_parser()
    out = [f"```text\n{parser.format_help().rstrip()}\n```"]
    for name, sub in commands.items():
        out += [
            "",
            f"## `jaxnn {name}`",
            "",
            _cell(sub.description or ""),
            "",
            f"```text\n{sub.format_usage().strip()}\n```",
            "",
            *_flag_rows(sub),
        ]
        if sub.epilog:
            out += ["", f"```text\n{sub.epilog.strip()}\n```"]
    return "\n".join(out)


def gen_registries(page_uri: str) -> str:
    from jaxnn import activations, costs, data, initializers, optimizers

    out = ["## Activations: `jaxnn.activations.ACTIVATIONS`", "",
           "| name | hidden layers | g(z) |", "| --- | :---: | --- |"]
    for name, act in activations.ACTIVATIONS.items():
        out.append(f"| `{name}` | {'yes' if act.hidden else 'output only'} | "
                   f"{_first_line(act.fn)} |")
    out += ["", "## Costs: `jaxnn.costs.COSTS`", "",
            "| name | output activations | C(a, y) |", "| --- | --- | --- |"]
    for name, cost in costs.COSTS.items():
        outputs = costs.valid_outputs(name)
        shown = "any" if outputs is None else ", ".join(f"`{o}`" for o in outputs)
        out.append(f"| `{name}` | {shown} | {_first_line(cost.fn)} |")
    out += ["", "## Initialisation schemes: `jaxnn.initializers.INITIALIZERS`", "",
            "| name | options | draw |", "| --- | --- | --- |"]
    for name, scheme in initializers.INITIALIZERS.items():
        options = ", ".join(f"`{k}={v!r}`" for k, v in dict(scheme.options).items())
        out.append(f"| `{name}` | {options} | {scheme.doc} |")
    out += ["", "## Optimizers: `jaxnn.optimizers.OPTIMIZERS`", "",
            "| name | signature | what |", "| --- | --- | --- |"]
    for name, factory in optimizers.OPTIMIZERS.items():
        sig = _cell(str(inspect.signature(factory)).split(" ->")[0].replace("'", ""))
        out.append(f"| [`{name}`][jaxnn.optimizers.{name}] | `{sig}` | "
                   f"{_first_line(factory)} |")
    out += ["", "## Datasets: `jaxnn.data.DATASETS`", "",
            "| name | loader | what |", "| --- | --- | --- |"]
    for name, loader in data.DATASETS.items():
        out.append(f"| `{name}` | [`{loader.__name__}`][jaxnn.data.{loader.__name__}] | "
                   f"{_first_line(loader)} |")
    return "\n".join(out)


def _message(call) -> str:
    """The message of the error ``call()`` raises (the code's own words)."""
    try:
        call()
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    raise AssertionError("expected an error")


def gen_registry_names(page_uri: str) -> str:
    """The names each registry accepts, and what an unknown name gets (the message, raised
    by the code while the site is built), for the error catalogue."""
    import jax

    import jaxnn
    from jaxnn import activations, costs, data, initializers, optimizers

    bogus = "no_such_name"
    net = jaxnn.mlp((2, 1))
    rows = ["| registry | accepted names | an unknown name gets |", "| --- | --- | --- |"]
    for label, names, call in (
        ("activation (`jaxnn.activations.ACTIVATIONS`)", activations.ACTIVATIONS,
         lambda: activations.get(bogus)),
        ("cost (`jaxnn.costs.COSTS`)", costs.COSTS, lambda: costs.get(bogus)),
        ("init scheme (`jaxnn.initializers.INITIALIZERS`)", initializers.INITIALIZERS,
         lambda: jaxnn.init_params(jax.random.key(0), net, bogus)),
        ("optimizer (`jaxnn.optimizers.OPTIMIZERS`)", optimizers.OPTIMIZERS,
         lambda: optimizers.get(bogus, 0.1)),
        ("dataset (`jaxnn.data.DATASETS`)", data.DATASETS, lambda: data.load(bogus)),
    ):
        message = _cell(_message(call)).replace("`", "")
        rows.append(f"| {label} | {', '.join(f'`{n}`' for n in names)} | `{message}` |")
    return "\n".join(rows)


def _results_block(render_name: str):
    def gen(page_uri: str) -> str:
        return rewrite_links(getattr(readme_script(), render_name)(), ROOT, page_uri)

    return gen


def gen_report(page_uri: str) -> str:
    path = RESULTS / "report.md"
    if not path.exists():
        return "_Not run yet: `python -m experiments.run_all`._"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\A# .*\n", "", text)  # the page has its own title
    return rewrite_links(text, RESULTS, page_uri)


def _context(path: str, line: int, after: int = 2) -> tuple[int, list[str]]:
    """The marked line and up to ``after`` lines of the statement it starts."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    chunk = [lines[line - 1]]
    for text in lines[line:line + after]:
        if not text.strip() or text.lstrip().startswith(("def ", "class ", "@")):
            break
        chunk.append(text)
    return line, chunk


def _code(path: str, line: int, chunk: list[str]) -> str:
    import textwrap

    body = textwrap.dedent("\n".join(chunk))
    return f'```python linenums="{line}" title="{path}"\n{body}\n```'


def tagged_lines() -> list[tuple[str, str, int, str]]:
    """Every ``# (TAG)`` line of the package: (tag, path, line, text), in file order."""
    found = []
    for file in sorted((ROOT / "jaxnn").rglob("*.py")):
        rel_path = file.relative_to(ROOT).as_posix()
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            for tag in TAG.findall(text):
                found.append((tag, rel_path, number, text.strip()))
    return found


def gen_equation_code(page_uri: str) -> str:
    script = readme_script()
    out = [
        "## Each equation beside its code",
        "",
        "Generated when this site is built: each line is found by its marker (the equation's "
        "tag, such as `# (BP2)`, or the start of its comment), never by a stored line number, "
        "so code that moves needs no edit here or in README.",
    ]
    for (name, form, path, marker), anchor in zip(script.ROWS, script.anchors()):
        line = script.line_of(path, marker)
        number, chunk = _context(path, line)
        out += ["", f"### {name}: {form} {{#{anchor}}}", "", _code(path, number, chunk)]
    tags = tagged_lines()
    if tags:
        out += ["", "### Every tagged line", "",
                "Every line of the package tagged `# (TAG)`:", "",
                "| tag | file | line | code |", "| --- | --- | ---: | --- |"]
        for tag, path, number, text in tags:
            out.append(f"| {tag} | `{path}` | {number} | `{_cell(text).replace('`', '')}` |")
    return "\n".join(out)


def gen_api(page_uri: str) -> str:
    return "\n\n".join(f"::: {name}" for name in api_modules())


GENERATORS = {
    "api": gen_api,
    "toplevel": gen_toplevel,
    "cli": gen_cli,
    "registries": gen_registries,
    "registry-names": gen_registry_names,
    "benchmark": _results_block("render_benchmark"),
    "sweep-benchmark": _results_block("render_sweep_benchmark"),
    "step-ratio": _results_block("render_step_ratio"),
    "report": gen_report,
    "equation-code": gen_equation_code,
}

# Pages that get a generated section at their end without a marker line in the page (the
# pages are co-edited; a marker would be one more line to keep).
APPENDED = {
    "equations.md": "equation-code",
    "errors.md": "registry-names-section",
}


def _registry_names_section(page_uri: str) -> str:
    return ("## The names each registry accepts\n\n"
            "Generated from the registries when this site is built; the last column is the "
            "message jaxnn raised for an unknown name while the site was built.\n\n"
            + gen_registry_names(page_uri))


GENERATORS["registry-names-section"] = _registry_names_section


# ---------------------------------------------------------------------------------------
# MkDocs events.


def on_config(config):
    _on_path()  # this checkout's jaxnn and experiments, whatever else is installed
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for png in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"{FIGURES}/{png.name}", abs_src_path=str(png)))
    return files


# The docstrings are written for Sphinx as much as for Markdown: a role such as
# :class:`Network` renders as ":class:" and a code span; a paragraph ending "::" introduces
# a literal block, which Markdown renders from its indentation. Keep the code span (and
# drop the "~" that asks Sphinx for the short name) and a single colon.
ROLE = re.compile(r":(?:class|func|mod|data|attr|meth|obj|exc|const|py:\w+):(<code>)~?")


def on_page_content(html, page, config, files):
    html = ROLE.sub(r"\1", html)
    return re.sub(r"::</p>", ":</p>", html)


def on_page_markdown(markdown, page, config, files):
    uri = page.file.src_uri
    if uri == "index.md":
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        markdown = rewrite_links(readme, ROOT, uri)
    markdown = MARKER.sub(lambda m: GENERATORS[m.group(1)](uri), markdown)
    if uri in APPENDED:
        markdown = markdown.rstrip() + "\n\n" + GENERATORS[APPENDED[uri]](uri) + "\n"
    return markdown
