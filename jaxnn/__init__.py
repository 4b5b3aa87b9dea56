"""jaxnn: neural-network backpropagation written by hand in JAX.

The cheat-sheet equations BP1–BP4 as pure, jit-compiled functions, proven equal to
``jax.grad``. Parameters are pytrees (a tuple of ``Layer(W, b)``), the architecture is a
frozen hashable :class:`Network`, forward and cost are pure functions::

    import jax, jaxnn
    net = jaxnn.mlp((784, 30, 10), hidden="sigmoid", output="softmax", cost="cross_entropy")
    params = jaxnn.init_params(jax.random.key(0), net)
    J, grads = jaxnn.backprop.value_and_grad(net, params, x, labels)   # BP1–BP4
    J_ref, grads_ref = jax.value_and_grad(jaxnn.cost, argnums=1)(net, params, x, labels)

Every public submodule is imported here, so ``import jaxnn`` is enough to reach
``jaxnn.optimizers``, ``jaxnn.train``, ``jaxnn.data``, ``jaxnn.checkpoint`` and the rest.
"""

__version__ = "0.4.0"

from jaxnn import (  # noqa: E402  (the version first: submodules may read it)
    activations,
    architecture,
    backprop,
    checkpoint,
    compile_cache,
    components,
    costs,
    data,
    gradcheck,
    initializers,
    inputs,
    network,
    normalization,
    optimizers,
    privacy,
    schedules,
    train,
    user_components,
)
from jaxnn.architecture import (  # noqa: E402
    BatchNormLayer,
    Layer,
    Network,
    NormLayer,
    mlp,
    num_params,
)
from jaxnn.initializers import SCHEMES, init_params  # noqa: E402
from jaxnn.network import accuracy, cost, forward, predict  # noqa: E402

__all__ = [
    "BatchNormLayer",
    "Layer",
    "Network",
    "SCHEMES",
    "accuracy",
    "activations",
    "architecture",
    "backprop",
    "checkpoint",
    "compile_cache",
    "components",
    "cost",
    "costs",
    "data",
    "forward",
    "gradcheck",
    "init_params",
    "initializers",
    "inputs",
    "mlp",
    "num_params",
    "network",
    "NormLayer",
    "normalization",
    "optimizers",
    "predict",
    "privacy",
    "schedules",
    "train",
    "user_components",
]
