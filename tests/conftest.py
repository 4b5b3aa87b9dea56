"""Shared fixtures: float64 on demand, small random problems."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with jax_enable_x64 on (float64 arrays), restoring it afterwards."""
    with jax.enable_x64(True):
        yield
