"""Tests of jaxnn.schedules: each schedule against its formula (eager and jitted, with
chex variants) and against optax's equivalent, and its bad inputs."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

from jaxnn import schedules as S

COUNTS = [0, 1, 2, 5, 9, 10, 11, 37, 79, 80, 81, 200]


def cosine_by_hand(t, peak=0.1, decay_steps=80, warmup=10, init=0.01, end=0.001):
    if t < warmup:
        return init + (peak - init) * t / warmup
    tau = min(t - warmup, decay_steps - warmup)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * tau / (decay_steps - warmup)))


SCHEDULES = {
    "constant": (S.constant(0.3), lambda t: 0.3),
    "exponential": (S.exponential_decay(0.1, 0.5, 10), lambda t: 0.1 * 0.5 ** (t / 10)),
    "exponential staircase": (
        S.exponential_decay(0.1, 0.5, 10, staircase=True),
        lambda t: 0.1 * 0.5 ** (t // 10),
    ),
    "cosine with warm-up": (S.cosine_decay(0.1, 80, 10, init=0.01, end=0.001), cosine_by_hand),
    "cosine": (
        S.cosine_decay(0.1, 80),
        lambda t: 0.05 * (1 + math.cos(math.pi * min(t, 80) / 80)),
    ),
    "piecewise values": (
        S.piecewise_constant(boundaries=[10, 80], values=[0.1, 0.01, 0.001]),
        lambda t: 0.1 if t < 10 else 0.01 if t < 80 else 0.001,
    ),
    "piecewise scales": (
        S.piecewise_constant(init_value=0.1, boundaries_and_scales={80: 0.5, 10: 0.1}),
        lambda t: 0.1 if t < 10 else 0.01 if t < 80 else 0.005,
    ),
}


class ScheduleFormulaTest(chex.TestCase):
    """Each schedule equals its formula on Python ints, and on traced int32 counts, with
    and without jit (a Python branch on the count would fail under jit)."""

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*((name.replace(" ", "_"), name) for name in SCHEDULES))
    def test_schedule_equals_its_formula(self, name):
        schedule, formula = SCHEDULES[name]
        want = np.array([formula(t) for t in COUNTS])
        eager = np.array([float(schedule(t)) for t in COUNTS])  # Python ints
        counts = jnp.array(COUNTS, jnp.int32)
        variant = self.variant(jax.vmap(schedule))(counts)  # int32 counts, jitted or not
        np.testing.assert_allclose(eager, want, rtol=1e-6)
        np.testing.assert_allclose(variant, want, rtol=1e-6)


OPTAX_SCHEDULES = {
    "exponential": (
        S.exponential_decay(0.1, 0.5, 10),
        optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5),
    ),
    "exponential staircase": (
        S.exponential_decay(0.1, 0.5, 10, staircase=True),
        optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5, staircase=True),
    ),
    "cosine with warm-up": (
        S.cosine_decay(0.1, 80, warmup_steps=10, init=0.01, end=0.001),
        optax.warmup_cosine_decay_schedule(0.01, 0.1, 10, 80, end_value=0.001),
    ),
    "piecewise": (
        S.piecewise_constant(init_value=0.1, boundaries_and_scales={10: 0.1, 80: 0.5}),
        optax.piecewise_constant_schedule(0.1, {10: 0.1, 80: 0.5}),
    ),
}


@pytest.mark.parametrize("name", OPTAX_SCHEDULES)
def test_schedule_equals_optax(name):
    ours, ref = OPTAX_SCHEDULES[name]
    counts = jnp.arange(0, 120, dtype=jnp.int32)
    # optax computes in float32 even under x64, and its cosine form 1 + cos(π τ / D)
    # loses digits near the end: 1e-6 relative or 1e-8 absolute.
    chex.assert_trees_all_close(jax.vmap(ours)(counts), jax.vmap(ref)(counts), rtol=1e-6,
                                atol=1e-8)


# ---------------------------------------------------------------------------
# Bad inputs: each raises with a message saying what was expected and what came.

BAD_INPUTS = [
    (lambda: S.constant(0.0), ValueError, r"value must be finite and > 0; got 0\.0"),
    (lambda: S.constant("1e-3"), TypeError, r"value must be a real number; got str"),
    (lambda: S.exponential_decay(0.0, 0.5, 10), ValueError, r"init must be finite and > 0"),
    (lambda: S.exponential_decay(0.1, 0.0, 10), ValueError, r"decay_rate must be finite and > 0"),
    (lambda: S.exponential_decay(0.1, 0.5, 0), ValueError,
     r"transition_steps must be a positive int; got 0"),
    (lambda: S.exponential_decay(0.1, 0.5, 2.5), TypeError,
     r"transition_steps must be a positive int; got float 2\.5"),
    (lambda: S.exponential_decay(0.1, 0.5, 10, staircase="yes"), TypeError,
     r"staircase must be a bool; got str 'yes'"),
    (lambda: S.cosine_decay(-0.1, 100), ValueError, r"peak must be finite and > 0; got -0\.1"),
    (lambda: S.cosine_decay(0.1, 10, warmup_steps=10), ValueError,
     r"decay_steps must be > warmup_steps .*; got decay_steps=10, warmup_steps=10"),
    (lambda: S.cosine_decay(0.1, 100, warmup_steps=-1), ValueError,
     r"warmup_steps must be an int ≥ 0; got -1"),
    (lambda: S.cosine_decay(0.1, 100, end=-0.1), ValueError, r"end must be finite and ≥ 0"),
    (lambda: S.cosine_decay(0.1, 100, init=float("nan")), ValueError,
     r"init must be finite and ≥ 0; got nan"),
    (lambda: S.piecewise_constant(), ValueError, r"either boundaries= and values=, .*; got neither"),
    (lambda: S.piecewise_constant(boundaries=[1], values=[1.0, 2.0], init_value=1.0),
     ValueError, r"got both forms"),
    (lambda: S.piecewise_constant(boundaries=[1]), ValueError,
     r"must be both boundaries= and values="),
    (lambda: S.piecewise_constant(init_value=0.1), ValueError,
     r"must be both init_value= and boundaries_and_scales="),
    (lambda: S.piecewise_constant(boundaries=[10, 20], values=[1.0, 2.0]), ValueError,
     r"values must be len\(boundaries\) \+ 1 = 3 rates; got 2"),
    (lambda: S.piecewise_constant(boundaries=[20, 10], values=[1.0, 2.0, 3.0]), ValueError,
     r"boundaries must be strictly increasing; got \[20, 10\]"),
    (lambda: S.piecewise_constant(boundaries=[-1], values=[1.0, 2.0]), ValueError,
     r"boundaries\[0\] must be an int ≥ 0; got -1"),
    (lambda: S.piecewise_constant(boundaries=[1], values=[1.0, -2.0]), ValueError,
     r"values\[1\] must be finite and ≥ 0; got -2\.0"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales={10: -0.5}),
     ValueError, r"boundaries_and_scales\[10\] must be finite and ≥ 0; got -0\.5"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales={"10": 0.5}),
     TypeError, r"each key of boundaries_and_scales must be an int ≥ 0; got str '10'"),
    (lambda: S.piecewise_constant(init_value=0.1, boundaries_and_scales=[(10, 0.5)]),
     TypeError, r"boundaries_and_scales must be a dict \{boundary: scale\}; got list"),
]


@pytest.mark.parametrize(("build", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()
