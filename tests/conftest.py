"""Shared fixtures: float64 on demand, small random problems.

One OpenBLAS thread per test process (and its subprocesses), set before numpy loads: the
tests' numpy linear algebra is small (an SVD of 100 × 784), and ``pytest -n 2`` already
keeps both cores busy, where OpenBLAS's waiting threads spin. On a loaded machine ten
such SVDs took 3.2 s of CPU with two threads and 0.02 s with one. Set the variable
yourself to override it.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402  (after the thread setting: jax loads numpy)
import pytest


@pytest.fixture
def x64():
    """Run the test with jax_enable_x64 on (float64 arrays), restoring it afterwards."""
    with jax.enable_x64(True):
        yield
