"""fit_many's per-run throughput against one fit, by run-group size (issue 22).

One process, CPU time (``time.process_time``; wall time is too noisy on a shared box),
784-30-10 sigmoid/softmax, SGD 0.5, batch 10, the bundled 4,000 digits, K runs with their
own minibatch orders. For each ``jaxnn.train.plan.RUN_GROUP`` (runs vmapped side by side;
groups one after another) the compiled programs are cleared, warmed, then timed 3 times;
one ``fit`` is timed before and after, and the faster is the reference.

    python scripts/many_group_sizes.py [K] [--wall]

``--wall``: wall time instead (on a quiet machine; XLA may run a vmapped op on both
cores, which CPU time counts twice).
"""
import statistics
import sys
import time

import jax

import jaxnn
from jaxnn import data, optimizers, train
from jaxnn.train import plan, programs

x, y, _, _ = data.load_mnist()
net = jaxnn.mlp((784, 30, 10), hidden="sigmoid", output="softmax", cost="cross_entropy")
K = int(next((a for a in sys.argv[1:] if a.isdigit()), 32))
E = 4
keys = jax.random.split(jax.random.key(0), K)
ps = jax.vmap(jaxnn.init_params, (0, None))(keys, net)
p1 = jaxnn.init_params(jax.random.key(0), net)


def one():
    train.fit(net, p1, optimizers.sgd(0.5), (x, y), epochs=E, batch_size=10, key=keys[0])


def many():
    train.fit_many(net, ps, optimizers.sgd(0.5), (x, y), epochs=E, batch_size=10, keys=keys)


CLOCK = time.perf_counter if "--wall" in sys.argv else time.process_time


def timed(fn, reps=3):
    fn()
    out = []
    for _ in range(reps):
        c = CLOCK()
        fn()
        out.append(CLOCK() - c)
    return statistics.median(out)


t1 = timed(one)

res = {}
for g in (4, 2, 8, K):
    programs.clear_cache()
    plan.RUN_GROUP = g
    res[g] = timed(many) / K
t1b = timed(one)
t1 = min(t1, t1b)
print(f"K={K}, {E} epochs, {'wall' if CLOCK is time.perf_counter else 'CPU'} s: one run {t1:.3f}; "
      + "; ".join(f"group {g}: {v:.3f} s/run ({t1 / v:.2f}x)" for g, v in res.items()))
