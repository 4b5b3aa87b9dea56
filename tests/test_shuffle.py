"""The epoch's shuffle (:func:`jaxnn.train.core.shuffle`, swap-or-not): always a
permutation, and statistically indistinguishable from a uniform one in the statistics an
epoch depends on: whole orders (n = 4, 5), where each example lands, and which example
follows which. Each statistic is a chi-square test at a fixed set of keys (deterministic),
rejecting at p < 1e-6; the same statistics reject the shuffle cut to 3 rounds, so they can
fail."""

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


def _p_value(counts: np.ndarray) -> float:
    """Chi-square p-value of ``counts`` (any shape) against equal expected counts."""
    counts = counts.ravel()
    return float(stats.chisquare(counts).pvalue)


def _whole_orders_p(n: int, draws: int) -> float:
    index = {p: i for i, p in enumerate(itertools.permutations(range(n)))}
    counts = np.zeros(math.factorial(n))
    for order in _orders(n, draws):
        counts[index[tuple(order)]] += 1
    return _p_value(counts)


def _positions_p(n: int, draws: int) -> float:
    counts = np.zeros((n, n))  # [example, position]
    orders = _orders(n, draws, seed=1)
    np.add.at(counts, (orders, np.arange(n)), 1)
    return _p_value(counts)


def _successors_p(n: int, draws: int) -> float:
    counts = np.zeros((n, n))  # [example, the example right after it]
    orders = _orders(n, draws, seed=2)
    np.add.at(counts, (orders[:, :-1], orders[:, 1:]), 1)
    off_diagonal = counts[~np.eye(n, dtype=bool)]
    return _p_value(off_diagonal)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4099])
def test_every_shuffle_is_a_permutation(n):
    for order in _orders(n, 4):
        assert order.dtype == np.int32
        np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_same_key_same_order_other_key_other_order():
    a, b = (np.asarray(core.shuffle(jax.random.key(s), 500)) for s in (3, 3))
    c = np.asarray(core.shuffle(jax.random.key(4), 500))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n, draws", [(4, 24_000), (5, 60_000)])
def test_every_whole_order_is_equally_likely(n, draws):
    assert _whole_orders_p(n, draws) > P_REJECT


def test_every_example_lands_anywhere_equally_often():
    assert _positions_p(50, 20_000) > P_REJECT


def test_every_example_follows_every_other_equally_often():
    assert _successors_p(20, 40_000) > P_REJECT


def test_the_statistics_reject_a_shuffle_of_three_rounds(monkeypatch):
    monkeypatch.setattr(core, "SHUFFLE_ROUNDS", 3)
    assert _positions_p(50, 20_000) < P_REJECT
    assert _successors_p(20, 40_000) < P_REJECT
