"""The epoch's shuffle (:func:`jaxnn.train.core.shuffle`, swap-or-not): always a
permutation, and its draws pass chi-square tests against uniform permutations in the
statistics an epoch depends on: whole orders (n = 4, 5), where an example lands (every
example and position at n = 50; the first and last positions at n = 1,000 and 60,000),
and which example follows which. Each test draws from fixed keys (deterministic) and
rejects at p < 1e-6; the same tests reject the shuffle cut to 6 rounds, so they can fail.
"""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np
import pytest
from scipy import stats

from jaxnn.train import core

P_REJECT = 1e-6


def _orders(n: int, draws: int, seed: int = 0) -> np.ndarray:
    """``(draws, n)``: the shuffles of ``draws`` keys, one vmapped call."""
    keys = jax.random.split(jax.random.key(seed), draws)
    return np.asarray(jax.jit(jax.vmap(core.shuffle, (0, None)), static_argnums=1)(keys, n))


def _multinomial_p(counts: np.ndarray) -> float:
    """Pearson's chi-square p-value of independent draws' ``counts`` against equal cells."""
    return float(stats.chisquare(counts.ravel()).pvalue)


def whole_orders_p(n: int, draws: int) -> float:
    """Each draw's whole order is one of n! cells."""
    index = {p: i for i, p in enumerate(itertools.permutations(range(n)))}
    counts = np.zeros(math.factorial(n))
    for order in _orders(n, draws):
        counts[index[tuple(order)]] += 1
    return _multinomial_p(counts)


def positions_p(n: int, draws: int) -> float:
    """The (example, position) table summed over the draws, by Anderson's statistic for a
    sum of permutation matrices: (n − 1)/n · Pearson's X² is χ² with (n − 1)² degrees of
    freedom under uniform permutations (T. W. Anderson, "A test of goodness of fit",
    1959; the cells of one permutation are not independent, so plain X² would not do)."""
    counts = np.zeros((n, n))
    np.add.at(counts, (_orders(n, draws, seed=1), np.arange(n)), 1)
    expected = draws / n
    statistic = (n - 1) / n * float(np.sum((counts - expected) ** 2) / expected)
    return float(stats.chi2.sf(statistic, (n - 1) ** 2))


def position_p(n: int, draws: int, position: int, buckets: int, seed: int) -> float:
    """The example at one ``position`` of each draw, its index in ``buckets`` equal
    ranges (n divisible by ``buckets``)."""
    examples = _orders(n, draws, seed)[:, position]
    return _multinomial_p(np.bincount(examples * buckets // n, minlength=buckets))


def successors_p(n: int, draws: int, position: int, seed: int) -> float:
    """The ordered pair of examples at ``position`` and ``position + 1`` of each draw: one
    of n(n − 1) cells."""
    orders = _orders(n, draws, seed)
    first, second = orders[:, position], orders[:, position + 1]
    cell = first * (n - 1) + second - (second > first)
    return _multinomial_p(np.bincount(cell, minlength=n * (n - 1)))


STATISTICS = {
    "whole orders of 4": lambda: whole_orders_p(4, 24_000),
    "whole orders of 5": lambda: whole_orders_p(5, 60_000),
    "positions of 50": lambda: positions_p(50, 20_000),
    "first of 1,000": lambda: position_p(1000, 20_000, 0, 100, seed=3),
    "last of 60,000": lambda: position_p(60_000, 4_000, -1, 40, seed=4),
    "successors of 20, front": lambda: successors_p(20, 40_000, 0, seed=5),
    "successors of 20, back": lambda: successors_p(20, 40_000, 18, seed=6),
}


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4099])
def test_every_shuffle_is_a_permutation(n):
    for order in _orders(n, 4):
        assert order.dtype == np.int32
        np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_more_than_int32_examples_are_refused_before_tracing():
    with pytest.raises(ValueError, match=r"the number of examples to shuffle must be below "
                       r"2\*\*31 \(int32 indices\); got 2,147,483,648\. Fix: train on fewer "
                       r"rows per call\."):
        core.shuffle(jax.random.key(0), 2**31)


def test_same_key_same_order_other_key_other_order():
    a, b = (np.asarray(core.shuffle(jax.random.key(s), 500)) for s in (3, 3))
    c = np.asarray(core.shuffle(jax.random.key(4), 500))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", list(STATISTICS))
def test_the_draws_pass_for_uniform_permutations(name):
    assert STATISTICS[name]() > P_REJECT


def test_the_same_statistics_reject_six_rounds(monkeypatch):
    monkeypatch.setattr(core, "SHUFFLE_ROUNDS", 6)
    assert [name for name, p_value in STATISTICS.items() if p_value() >= P_REJECT] == []
