"""Learning-rate schedules: pure functions ``count -> rate``.

A schedule maps the number of updates already done, ``count`` (an int32 scalar,
0 for the first update), to the learning rate that update uses. Every schedule
here is built from ``jnp`` operations only, with no Python branching on
``count``, so it can be called on a traced count inside ``jax.jit`` or
``lax.scan``; the optimizers in :mod:`jaxnn.optimizers` call
``schedule(state.count)`` at each update.

The contract, for every schedule ``s`` built here:

    s(count) is a float scalar (float32, or float64 when jax x64 is enabled),
    s(jnp.int32(k)) == s(k) for a Python int k, and jax.jit(s)(k) == s(k).

Hyper-parameters are checked here, in Python, when the schedule is built, with the
guards of :mod:`jaxnn._checks`: a wrong type raises TypeError, a wrong value ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, recipes

Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def _as_float(count) -> jnp.ndarray:
    """The count as the default float type (float32, float64 under x64)."""
    return jnp.asarray(count, dtype=float)


@recipes.recorded("default")
def constant(value: float) -> Schedule:
    """A constant learning rate: ``rate(count) = value``.

    Args:
      value: the rate, a finite float > 0.

    Returns:
      A schedule ``count -> value`` (a float scalar).
    """
    value = _checks.real("value", value, minimum=0.0, strict=True, fix="pass e.g. value=1e-3")

    def schedule(count):
        # rate = value, whatever the count.
        return jnp.full_like(_as_float(count), value)

    return schedule


@recipes.recorded("default")
def exponential_decay(
    init: float, decay_rate: float, transition_steps: int, staircase: bool = False
) -> Schedule:
    """Exponential decay: ``rate(count) = init · decay_rate^(count / transition_steps)``.

    With ``staircase=True`` the exponent is ``floor(count / transition_steps)``, so
    the rate drops by a factor ``decay_rate`` every ``transition_steps`` updates.
    Equals ``optax.exponential_decay(init, transition_steps, decay_rate,
    staircase=staircase)`` (note optax's argument order).

    Args:
      init: the rate at count 0, a finite float > 0.
      decay_rate: the factor applied per ``transition_steps`` updates, a finite
        float > 0 (< 1 decays, > 1 grows).
      transition_steps: an int >= 1, the number of updates per factor.
      staircase: whether to decay in discrete steps.

    Returns:
      A schedule ``count -> rate`` (a float scalar).
    """
    init = _checks.real("init", init, minimum=0.0, strict=True, fix="pass e.g. init=1e-2")
    decay_rate = _checks.real("decay_rate", decay_rate, minimum=0.0, strict=True,
                              fix="pass e.g. decay_rate=0.5")
    transition_steps = _checks.integer("transition_steps", transition_steps, minimum=1,
                                        fix="pass e.g. transition_steps=1000")
    _checks.instance("staircase", staircase, bool, "a bool",
                     "pass staircase=True or staircase=False")

    def schedule(count):
        p = _as_float(count) / transition_steps  # p = t / T
        if staircase:  # A Python flag fixed at construction, not a branch on count.
            p = jnp.floor(p)  # p = ⌊t / T⌋
        return init * jnp.power(decay_rate, p)  # rate = init · decay_rate^p

    return schedule


@recipes.recorded("default")
def cosine_decay(
    peak: float,
    decay_steps: int,
    warmup_steps: int = 0,
    init: float = 0.0,
    end: float = 0.0,
) -> Schedule:
    """Linear warm-up from ``init`` to ``peak``, then cosine decay from ``peak`` to ``end``.

    With ``w = warmup_steps``, ``D = decay_steps − w`` and ``t = count``:

        rate(t) = init + (peak − init) · t / w                        for t < w
        rate(t) = end + (peak − end) · ½(1 + cos(π · min(t − w, D) / D))  for t ≥ w

    so the rate is ``init`` at count 0, ``peak`` at count ``w``, ``end`` from count
    ``decay_steps`` on (``decay_steps`` is the total length, warm-up included).
    Equals ``optax.warmup_cosine_decay_schedule(init, peak, warmup_steps,
    decay_steps, end)``; with ``warmup_steps=0`` it is the cosine decay of
    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
    ICLR 2017, https://arxiv.org/abs/1608.03983 (without restarts).

    Args:
      peak: the rate at the end of the warm-up, a finite float > 0.
      decay_steps: an int > ``warmup_steps``, the count at which ``end`` is reached.
      warmup_steps: an int >= 0, the length of the linear warm-up.
      init: the rate at count 0 when ``warmup_steps > 0``, a finite float >= 0.
      end: the final rate, a finite float >= 0.

    Returns:
      A schedule ``count -> rate`` (a float scalar).
    """
    peak = _checks.real("peak", peak, minimum=0.0, strict=True, fix="pass e.g. peak=1e-3")
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0,
                                    fix="pass e.g. warmup_steps=100")
    decay_steps = _checks.integer("decay_steps", decay_steps, minimum=1,
                                   fix="pass e.g. decay_steps=10000")
    if decay_steps <= warmup_steps:
        raise _checks.value_error(
            "decay_steps", "> warmup_steps (it is the total length, warm-up included)",
            f"decay_steps={decay_steps}, warmup_steps={warmup_steps}",
            f"pass e.g. decay_steps={warmup_steps + 1000}")
    init = _checks.real("init", init, minimum=0.0, strict=False, fix="pass e.g. init=0.0")
    end = _checks.real("end", end, minimum=0.0, strict=False, fix="pass e.g. end=0.0")
    cosine_steps = decay_steps - warmup_steps

    def schedule(count):
        t = _as_float(count)
        # Linear warm-up: init + (peak − init) · t / w (w = 0 never selects it).
        warm = init + (peak - init) * t / max(warmup_steps, 1)
        # Cosine decay: end + (peak − end) · ½(1 + cos(π τ / D)), τ = min(t − w, D),
        # written as sin²(π (D − τ) / 2D), which is the same without 1 + cos cancelling
        # near τ = D (a float32 rate of 4e-5 off by 3e-5 relative in the cos form).
        tau = jnp.clip(t - warmup_steps, 0, cosine_steps)
        half_cos = jnp.sin(0.5 * jnp.pi * (cosine_steps - tau) / cosine_steps) ** 2
        cosine = end + (peak - end) * half_cos
        return jnp.where(t < warmup_steps, warm, cosine)

    return schedule


@recipes.recorded("default")
def piecewise_constant(
    *,
    boundaries: Sequence[int] | None = None,
    values: Sequence[float] | None = None,
    init_value: float | None = None,
    boundaries_and_scales: Mapping[int, float] | None = None,
) -> Schedule:
    """A rate that is constant between boundaries, given in one of two forms.

    - ``boundaries=[b_1, …, b_k], values=[v_0, …, v_k]``: ``rate(t) = v_i`` where
      ``i`` is the number of boundaries ``b_j <= t`` (so ``v_0`` before ``b_1``,
      ``v_k`` from ``b_k`` on).
    - ``init_value=v, boundaries_and_scales={b_j: s_j}``: ``rate(t) = v · Π s_j``
      over the ``b_j <= t``; equals ``optax.piecewise_constant_schedule(v, {b_j: s_j})``.

    Args:
      boundaries: strictly increasing ints >= 0 (first form).
      values: ``len(boundaries) + 1`` finite floats >= 0 (first form).
      init_value: the rate before the first boundary, a finite float > 0 (second form).
      boundaries_and_scales: ``{boundary: scale}`` with ints >= 0 and finite
        scales >= 0 (second form).

    Returns:
      A schedule ``count -> rate`` (a float scalar).
    """
    first = boundaries is not None or values is not None
    second = init_value is not None or boundaries_and_scales is not None
    if first == second:
        raise _checks.value_error(
            "piecewise_constant's arguments",
            "either boundaries= and values=, or init_value= and boundaries_and_scales=",
            "both forms" if first else "neither",
            "pass e.g. piecewise_constant(boundaries=[100, 200], values=[1e-2, 1e-3, 1e-4])")
    if second:
        if init_value is None or boundaries_and_scales is None:
            raise _checks.value_error(
                "piecewise_constant's second form", "both init_value= and "
                "boundaries_and_scales=", "only one of them", "pass e.g. piecewise_constant("
                "init_value=1e-2, boundaries_and_scales={100: 0.1, 200: 0.1})")
        _checks.instance("boundaries_and_scales", boundaries_and_scales, Mapping,
                         "a dict {boundary: scale}", "pass e.g. boundaries_and_scales={100: 0.1}")
        value = _checks.real("init_value", init_value, minimum=0.0, strict=True,
                             fix="pass e.g. init_value=1e-2")
        for b in boundaries_and_scales:  # Check the keys before sorting them.
            _checks.integer("each key of boundaries_and_scales", b, minimum=0,
                            fix="pass e.g. boundaries_and_scales={100: 0.1}")
        boundaries, values = [], [value]
        for b, s in sorted(boundaries_and_scales.items()):
            boundaries.append(b)
            s = _checks.real(f"boundaries_and_scales[{b!r}]", s, minimum=0.0, strict=False,
                             fix="pass e.g. 0.1")
            values.append(values[-1] * s)
    else:
        if boundaries is None or values is None:
            raise _checks.value_error(
                "piecewise_constant's first form", "both boundaries= and values=",
                "only one of them",
                "pass e.g. piecewise_constant(boundaries=[100, 200], values=[1e-2, 1e-3, 1e-4])")
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise _checks.value_error(
                "values", f"len(boundaries) + 1 = {len(boundaries) + 1} rates",
                f"{len(values)}", "pass one value before each boundary and one after the "
                "last, e.g. boundaries=[100], values=[1e-2, 1e-3]")
        values = [_checks.real(f"values[{i}]", v, minimum=0.0, strict=False, fix="pass e.g. 1e-3")
                  for i, v in enumerate(values)]
    boundaries = [_checks.integer(f"boundaries[{i}]", b, minimum=0, fix="pass e.g. 100")
                  for i, b in enumerate(boundaries)]
    if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:], strict=False)):
        raise _checks.value_error("boundaries", "strictly increasing", str(boundaries),
                                  f"sort them and drop duplicates, e.g. {sorted(set(boundaries))}")
    boundaries_np = np.asarray(boundaries, dtype=np.int64)
    values_np = np.asarray(values, dtype=np.float64)

    def schedule(count):
        # i = #{j : b_j <= t}; rate = v_i.
        i = jnp.sum(jnp.asarray(count)[..., None] >= boundaries_np, axis=-1)
        return jnp.asarray(values_np, dtype=float)[i]

    return schedule
