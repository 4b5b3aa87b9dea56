"""tests/_pairwise.py: its arrays cover every pair of levels, obey the constraints, are
deterministic, and stay near the lower bound (the product of the two largest factors)."""

import itertools

import pytest
from _pairwise import full_cross, pairs_of, pairwise, required_pairs


def _all_pairs_covered(factors, rows, allowed=lambda row: True):
    """Checked by brute force, independently of the generator's bookkeeping: every two
    factors, every two levels that ``allowed`` accepts together, appear in some row."""
    for f, g in itertools.combinations(factors, 2):
        for a, b in itertools.product(factors[f], factors[g]):
            if allowed({f: a, g: b}):
                assert any(r[f] == a and r[g] == b for r in rows), (f, a, g, b)


CASES = {
    "3^4": {f"f{i}": [0, 1, 2] for i in range(4)},
    "mixed": {"a": list("abcdefg"), "b": [1, 2, 3, 4, 5], "c": [True, False], "d": [None, 0.5],
              "e": ["x", "y", "z"]},
    "two": {"a": [1, 2, 3], "b": ["p", "q"]},
    "unhashable": {"a": [[1], [2]], "b": [{"k": 1}, {"k": 2}, {"k": 3}], "c": [(), ()]},
    "one_level": {"a": [0], "b": [1, 2], "c": [3, 4, 5]},
}


@pytest.mark.parametrize("name", CASES)
def test_every_pair_of_levels_is_covered(name):
    factors = CASES[name]
    rows = pairwise(factors)
    assert all(set(r) == set(factors) for r in rows)
    _all_pairs_covered(factors, rows)
    sizes = sorted(len(v) for v in factors.values())
    assert sizes[-1] * sizes[-2] <= len(rows) <= len(full_cross(factors))


def test_two_factors_give_their_full_cross():
    factors = CASES["two"]
    assert sorted(map(tuple, (r.values() for r in pairwise(factors)))) == sorted(
        tuple(r.values()) for r in full_cross(factors))


def test_much_smaller_than_the_full_cross():
    factors = {"a": range(10), "b": range(11), "c": range(5), "d": range(5), "e": range(3),
               "f": range(2)}
    factors = {k: list(v) for k, v in factors.items()}
    rows = pairwise(factors)
    _all_pairs_covered(factors, rows)
    assert len(rows) <= 1.2 * 10 * 11  # the full cross has 16,500
    # A new level of the largest factor adds about one row per level of the next one.
    grown = pairwise({**factors, "a": list(range(11))})
    assert len(grown) - len(rows) <= 2 * 11


def test_constraints_are_obeyed_and_only_allowed_pairs_are_required():
    factors = {"out": ["sig", "soft", "id"], "cost": ["ce", "quad"], "depth": [1, 2, 3],
               "hidden": [None, "tanh", "relu"]}

    def allowed(row):
        if row.get("cost") == "ce" and row.get("out", "soft") == "id":
            return False
        if "hidden" in row and "depth" in row and (row["hidden"] is None) != (row["depth"] == 1):
            return False
        return True

    rows = pairwise(factors, allowed)
    assert all(allowed(r) for r in rows)
    _all_pairs_covered(factors, rows, allowed)
    required = required_pairs(factors, allowed)
    assert (("out", 2), ("cost", 0)) not in required  # id with ce: refused, not required
    covered = set().union(*(pairs_of({f: factors[f].index(r[f]) for f in factors}, list(factors))
                            for r in rows))
    assert required <= covered


def test_deterministic():
    factors = CASES["mixed"]
    assert pairwise(factors) == pairwise(dict(factors))


def test_degenerate_inputs():
    assert pairwise({}) == []
    assert pairwise({"a": [1, 2]}) == [{"a": 1}, {"a": 2}]
    with pytest.raises(ValueError, match="factor 'b' has no levels"):
        pairwise({"a": [1], "b": []})
    with pytest.raises(ValueError, match="no level of 'c' is allowed"):
        pairwise({"a": [1], "b": [2], "c": [3]}, lambda row: "c" not in row)
