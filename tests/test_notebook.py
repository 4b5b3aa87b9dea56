"""docs/cheatsheet.ipynb, "the cheat sheet, runnable": stored clean, and it runs.

The notebook asserts its own key facts (BP1–BP4 against the tagged source lines, manual ==
autodiff, the centred difference, a test-accuracy floor), so executing it without an error
is the test. It runs in a kernel of *this* interpreter: ipykernel's own ``python3`` spec,
whatever kernels the user has installed elsewhere.

Needs nbformat, nbclient and ipykernel (the ``dev`` extra); skipped without them.
"""

import pathlib
import time

import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "docs" / "cheatsheet.ipynb"
CELL_TIMEOUT_S = 300  # per cell; the whole notebook takes well under a minute
STARTUP_TIMEOUT_S = 120


def _read():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


def test_notebook_is_stored_clean():
    nb = _read()
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    dirty = [c.id for c in code if c.outputs or c.execution_count is not None]
    assert not dirty, f"cells stored with outputs (clear them before committing): {dirty}"


@pytest.mark.slow
def test_notebook_executes():
    nb = _read()
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # No kernel directories: only ipykernel's built-in python3 spec, i.e. sys.executable.
    spec_manager = KernelSpecManager(kernel_dirs=[])
    km = KernelManager(kernel_name="python3", kernel_spec_manager=spec_manager)
    client = nbclient.NotebookClient(
        nb,
        km=km,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    seconds = time.perf_counter() - t0

    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    print(f"docs/cheatsheet.ipynb executed in {seconds:.1f} s")
