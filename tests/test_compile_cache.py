"""The persistent compilation cache: a second process reuses the first one's programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import jaxnn

SCRIPT = """
import json, sys, jax, numpy as np, jaxnn
print(jaxnn.compile_cache.enable(sys.argv[1]))
net = jaxnn.mlp((64, 32, 10), hidden="relu", output="softmax", cost="cross_entropy")
p = jaxnn.init_params(jax.random.key(0), net)
x = np.random.default_rng(0).normal(size=(256, 64)).astype(np.float32)
y = (np.arange(256) % 10).astype(np.int32)
r = jaxnn.train.fit(net, p, jaxnn.optimizers.adam(1e-3), (x, y), epochs=2, batch_size=32,
                    key=jax.random.key(0))
print(json.dumps({"compile": r.compile_seconds, "cost": r.history[-1]["train_cost"]}))
"""


def _run(folder, env=None):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, **(env or {})}, check=True)
    lines = out.stdout.strip().splitlines()
    return lines[0], json.loads(lines[-1])


@pytest.mark.slow
def test_a_second_process_finds_the_programs_and_trains_the_same(tmp_path):
    folder = tmp_path / "xla"
    where, first = _run(folder)
    assert where == str(folder)
    entries = list(folder.iterdir())
    assert entries, "the first run wrote no cache entries"
    _, second = _run(folder)
    assert second["cost"] == first["cost"]  # the cached program computes the same thing
    assert len(list(folder.iterdir())) == len(entries)  # nothing new to compile


def test_the_environment_turns_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXNN_COMPILE_CACHE", "0")
    assert jaxnn.compile_cache.enable(tmp_path / "xla") is None
    assert not (tmp_path / "xla").exists()


def test_bad_path_type():
    with pytest.raises(TypeError, match="path must be a folder path or None; got int 3"):
        jaxnn.compile_cache.enable(3)
