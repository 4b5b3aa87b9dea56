"""The arguments of jaxnn.optimizers' factories: lookup by name, keywords, bad inputs.

``get`` and the keyword check read the registry and the factories' signatures, so these
tests loop over ``O.NAMES``; every bad input raises a message in the one format, saying
what was expected, what came, and how to fix it.
"""

import inspect
import re

import chex
import jax.numpy as jnp
import pytest
from test_optimizers import make_params, random_grads

from jaxnn import optimizers as O

# ---------------------------------------------------------------------------
# Lookup by name, and hyper-parameters by name.


@pytest.mark.parametrize("name", O.NAMES)
def test_get_builds_the_named_optimizer(name):
    params = make_params()
    grads = random_grads(params, 0)
    direct = getattr(O, name)(0.05)
    looked_up = O.get(name, 0.05)
    a, _ = direct.update(grads, direct.init(params), params)
    b, _ = looked_up.update(grads, looked_up.init(params), params)
    chex.assert_trees_all_equal(a, b)


def test_get_passes_hyperparameters():
    state = O.get("adamw", 0.1, beta2=0.99, weight_decay=0.0).init(jnp.zeros(1))
    assert isinstance(state, O.AdamWState)


def misspellings(name):
    """(misspelt keyword, the parameter it means) for each parameter of a factory: its
    second letter dropped (beta1 → bta1, eps → es)."""
    for p in inspect.signature(O.OPTIMIZERS[name]).parameters:
        yield p[0] + p[2:], p


@pytest.mark.parametrize("name", O.NAMES)
def test_a_misspelt_keyword_names_the_right_one(name):
    for wrong, right in misspellings(name):
        message = rf"got '{wrong}'\. Fix: did you mean {right}\b"
        with pytest.raises(TypeError, match=message):
            O.OPTIMIZERS[name](0.1, **{wrong: 0.5})
        with pytest.raises(TypeError, match=message):
            O.get(name, 0.1, **{wrong: 0.5})


@pytest.mark.parametrize(("keyword", "right"), [("b1", "beta1"), ("b2", "beta2"),
                                                ("lr", "learning_rate"), ("epsilon", "eps")])
def test_optax_keyword_names_suggest_ours(keyword, right):
    with pytest.raises(TypeError, match=rf"adam\(\) must be one of learning_rate, beta1, beta2, "
                       rf"eps; got '{keyword}'\. Fix: did you mean {right}\?"):
        O.adam(1e-3, **{keyword: 0.9})


# ---------------------------------------------------------------------------
# Bad inputs: each raises with a message saying what was expected and what came.

BAD_INPUTS = [
    (lambda: O.sgd(0.0), ValueError, r"learning_rate must be finite and > 0; got 0\.0"),
    (lambda: O.adam(-1e-3), ValueError, r"learning_rate must be finite and > 0; got -0\.001"),
    (lambda: O.adam(float("nan")), ValueError, r"learning_rate must be finite and > 0; got nan"),
    (lambda: O.rmsprop(float("inf")), ValueError, r"learning_rate must be .* got inf"),
    # Past float32's range without 64-bit mode: refused by name, not blamed on a schedule.
    (lambda: O.adam(1e308), ValueError,
     r"^learning_rate must be finite and > 0 in float32, the dtype of the optimizer's rate "
     r"\(at most 3\.40282e\+38: JAX's 64-bit mode is off\); got 1e\+308\. Fix: pass a "
     r"usable rate"),
    (lambda: O.get("sgd", 4e38), ValueError, r"^learning_rate must be finite and > 0 in float32"),
    (lambda: O.sgd("fast"), TypeError, r"learning_rate must be a positive float or a schedule"),
    (lambda: O.sgd(True), TypeError, r"a schedule \(a callable count -> rate\); got bool True"),
    (lambda: O.momentum(0.1, beta=1.0), ValueError,
     r"beta must be a real number in \[0, 1\); got 1\.0"),
    (lambda: O.nesterov(0.1, beta=-0.1), ValueError,
     r"beta must be a real number in \[0, 1\); got -0\.1"),
    (lambda: O.adam(0.1, beta1=1.5), ValueError,
     r"beta1 must be a real number in \[0, 1\); got 1\.5"),
    (lambda: O.adamw(0.1, beta2=1.0), ValueError,
     r"beta2 must be a real number in \[0, 1\); got 1\.0"),
    (lambda: O.adam(0.1, beta1="0.9"), TypeError,
     r"beta1 must be a real number; got str"),
    (lambda: O.rmsprop(0.1, eps=-1e-8), ValueError, r"eps must be finite and ≥ 0; got -1e-08"),
    (lambda: O.adam(0.1, eps=float("nan")), ValueError, r"eps must be finite and ≥ 0; got nan"),
    (lambda: O.adamw(0.1, weight_decay=-0.1), ValueError, r"weight_decay must be finite and ≥ 0"),
    (lambda: O.adamw(0.1, mask=[True]), TypeError, r"mask must be None or a function"),
    (lambda: O.clip_by_global_norm(0.0, O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0; got 0\.0"),
    (lambda: O.clip_by_global_norm(-1, O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0; got -1\.0"),
    (lambda: O.clip_by_global_norm(float("inf"), O.sgd(0.1)), ValueError,
     r"max_norm must be finite and > 0; got inf"),
    (lambda: O.clip_by_global_norm(1.0, O.sgd), TypeError,
     r"inner must be an Optimizer; got function"),
    (lambda: O.get("adamm", 0.1), ValueError,
     re.escape(f"unknown optimizer 'adamm'; expected one of: {', '.join(O.NAMES)}")),
    (lambda: O.get("adam", 0.1, beta=0.9), TypeError,
     r"each keyword argument of adam\(\) must be one of learning_rate, beta1, beta2, eps; "
     r"got 'beta'"),
    (lambda: O.get("sgd", 0.1, momentum=0.9), TypeError,
     r"each keyword argument of sgd\(\) must be one of learning_rate; got 'momentum'"),
    (lambda: O.get("adam", "x"), TypeError, r"learning_rate must be a positive float"),
    (lambda: O.learning_rate((1, 2)), TypeError,
     r"the state given to learning_rate must be the state of a jaxnn optimizer; got tuple"),
]


@pytest.mark.parametrize(("build", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_a_rate_past_float32_is_accepted_with_x64_for_float64_params(x64):
    """With 64-bit mode on the rate's dtype follows the parameters: 1e300 is a float64
    rate (fit refuses it for float32 parameters, tests/test_faults_numeric.py)."""
    assert float(O.adam(1e300).init((jnp.ones(2, jnp.float64),)).learning_rate) == 1e300


def test_adamw_mask_with_the_wrong_structure_is_rejected():
    opt = O.adamw(0.1, mask=lambda params: (True,))
    params = make_params()
    with pytest.raises(ValueError, match=r"mask\(params\) must be a pytree of bools like params"):
        opt.update(params, opt.init(params), params)
