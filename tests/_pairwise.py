"""Pairwise covering arrays: every level of every factor meets every level of every other.

A full cross of factors with n_1, …, n_k levels has Π n_i rows; a pairwise covering array
has about max n_i · n_j rows, so a new level adds a few rows, not a product's worth. Every
pair of levels of every two factors still appears together in at least one row, which
catches every fault that two settings cause together (the usual case), as the full cross
would.

:func:`pairwise` is a deterministic greedy construction (in the manner of AETG, without
its random candidates): each new row starts from the first pair not yet covered, then
gives every other factor, in order, the level that covers the most uncovered pairs with
the levels already chosen (the first such level on a tie). The same factors always give
the same rows, so test ids are stable.

``allowed(row)`` excludes combinations that cannot run (a cost that refuses an output
activation, a hidden activation in a network without hidden layers). It receives a partial
row (a dict of the factors chosen so far) and returns False when the levels in it cannot go
together. A pair that ``allowed`` refuses is not required. The constraints must be of
pairs (each judged from two factors), so that any allowed partial row can be completed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Row = dict[str, Any]


def _always(row: Row) -> bool:
    del row
    return True


def required_pairs(factors: Mapping[str, Sequence],
                   allowed: Callable[[Row], bool] = _always,
                   uncoupled: frozenset = frozenset()) -> set[tuple]:
    """Every pair ``((f, i), (g, j))`` of level indices of two factors f before g that
    ``allowed`` accepts together: what a covering array must contain. ``uncoupled``:
    factor pairs ``(f, g)`` (in factor order) whose combinations need not be covered
    (another test covers them)."""
    names = list(factors)
    return {
        ((f, i), (g, j))
        for f, g in itertools.combinations(names, 2) if (f, g) not in uncoupled
        for i, a in enumerate(factors[f])
        for j, b in enumerate(factors[g])
        if allowed({f: a, g: b})
    }


def pairs_of(row_indices: Mapping[str, int], names: Sequence[str]) -> set[tuple]:
    """The pairs of level indices one row covers."""
    return {((f, row_indices[f]), (g, row_indices[g]))
            for f, g in itertools.combinations(names, 2)}


def pairwise(factors: Mapping[str, Sequence],
             allowed: Callable[[Row], bool] = _always,
             uncoupled: frozenset = frozenset()) -> list[Row]:
    """A covering array of strength 2: rows (dicts factor → level) in which every allowed
    pair of levels of every two factors appears at least once.

    Args:
      factors: factor name → its levels (at least one each; levels need not be hashable).
      allowed: ``allowed(partial_row) -> bool``; see the module docstring.
      uncoupled: factor pairs whose combinations need not be covered
        (:func:`required_pairs`).
    Returns:
      the rows, in the order built; deterministic for the same arguments.
    """
    names = list(factors)
    if not names:
        return []
    for f in names:
        if not len(factors[f]):
            raise ValueError(f"factor {f!r} has no levels")
    if len(names) == 1:
        return [{names[0]: level} for level in factors[names[0]] if allowed({names[0]: level})]
    uncovered = required_pairs(factors, allowed, uncoupled)
    order = sorted(uncovered)  # a fixed order to start rows from
    rows: list[Row] = []
    while uncovered:
        (f, i), (g, j) = next(p for p in order if p in uncovered)
        chosen = {f: i, g: j}
        for h in names:
            if h in chosen:
                continue
            best, best_gain = None, -1
            for k, level in enumerate(factors[h]):
                trial = {**{n: factors[n][x] for n, x in chosen.items()}, h: level}
                if not allowed(trial):
                    continue
                gain = sum(
                    (((n, x), (h, k)) if names.index(n) < names.index(h) else ((h, k), (n, x)))
                    in uncovered
                    for n, x in chosen.items()
                )
                if gain > best_gain:
                    best, best_gain = k, gain
            if best is None:
                raise ValueError(f"no level of {h!r} is allowed with {chosen}: the "
                                 "constraints are not of pairs")
            chosen[h] = best
        before = len(uncovered)
        uncovered -= pairs_of(chosen, names)
        assert len(uncovered) < before  # the starting pair at least
        rows.append({n: factors[n][chosen[n]] for n in names})
    return rows


def full_cross(factors: Mapping[str, Sequence],
               allowed: Callable[[Row], bool] = _always) -> list[Row]:
    """Every allowed combination of levels (for the few cases that need all of them)."""
    names = list(factors)
    rows = [dict(zip(names, combo)) for combo in itertools.product(*factors.values())]
    return [r for r in rows if allowed(r)]
