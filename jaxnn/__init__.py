"""jaxnn: neural-network backpropagation written by hand in JAX.

The cheat-sheet equations BP1–BP4 as pure, jit-compiled functions, proven equal to
``jax.grad``. Parameters are pytrees (a tuple of ``Layer(W, b)``), the architecture is a
frozen hashable :class:`Network`, forward and cost are pure functions::

    import jax, jaxnn
    net = jaxnn.mlp((784, 30, 10), hidden="sigmoid", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(0), net)
    J, grads = jaxnn.backprop.value_and_grad(net, params, x, labels)   # BP1–BP4
    J_ref, grads_ref = jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, labels)
"""

from jaxnn import activations, backprop, costs
from jaxnn.initializers import SCHEMES, init_params
from jaxnn.network import Layer, Network, accuracy, cost, forward, mlp, num_params, predict

__version__ = "0.1.0"

__all__ = [
    "Layer",
    "Network",
    "SCHEMES",
    "accuracy",
    "activations",
    "backprop",
    "cost",
    "costs",
    "forward",
    "init_params",
    "mlp",
    "num_params",
    "predict",
]
