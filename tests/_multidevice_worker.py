"""Run by tests/test_parallel.py in a subprocess with 4 forced host devices.

Trains the same network on 1, 2 and 4 devices (and with no mesh at all) for SGD and Adam,
in float64 and float32, and prints one JSON line: the largest relative parameter difference
from the single-device run for each (optimizer, dtype, devices), and the throughput.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn
from jaxnn import optimizers, train

assert jax.device_count() == 4, jax.devices()


def rel(a, b):
    return max(
        float(jnp.max(jnp.abs(p - q)) / jnp.max(jnp.abs(q)))
        for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


out = {"diffs": {}, "examples_per_second": {}}
rng = np.random.default_rng(0)
centres = rng.normal(0, 2, (3, 6))
labels = rng.integers(0, 3, 256).astype(np.int32)
for dtype, x64 in (("float64", True), ("float32", False)):
    with jax.enable_x64(x64):
        x = (centres[labels] + rng.normal(size=(256, 6))).astype(dtype)
        net = jaxnn.mlp((6, 12, 3), hidden="tanh", output="softmax", cost="cross_entropy", l2=0.1)
        params = jaxnn.init_params(jax.random.key(0), net, dtype=jnp.dtype(dtype))
        for name in ("sgd", "adam"):
            opt = optimizers.get(name, 0.05)
            runs = {}
            for devices in (None, 1, 2, 4):
                t = time.perf_counter()
                r = train.fit(net, params, opt, (x, labels), epochs=3, batch_size=16,
                              key=jax.random.key(1), devices=devices, validation=(x, labels))
                runs[devices] = r
                if dtype == "float32" and name == "sgd":
                    out["examples_per_second"][str(devices)] = 3 * 256 / (time.perf_counter() - t)
            for devices in (1, 2, 4):
                out["diffs"][f"{name}/{dtype}/{devices}"] = rel(runs[devices].params, runs[None].params)
            out["diffs"][f"{name}/{dtype}/val_accuracy"] = [
                runs[d].history[-1]["val_accuracy"] for d in (None, 1, 2, 4)
            ]
print(json.dumps(out))
