"""``jaxnn evaluate``: a checkpoint's accuracy and cost on the MNIST test set."""

from __future__ import annotations

import pathlib

from jaxnn.cli import rundir

HELP = "report a checkpoint's accuracy and cost on MNIST"
DESCRIPTION = ("Load a checkpoint (a checkpoint.safetensors, or a run directory holding one) "
               "and report its accuracy and cost on the MNIST test set.")


def add_arguments(p) -> None:
    """The flags of ``jaxnn evaluate``."""
    p.add_argument("checkpoint", help=f"a {rundir.CHECKPOINT} (or a run directory)")
    p.add_argument("--data", default=None, help="MNIST IDX folder (default: bundled sample)")


def run(args) -> int:
    """``jaxnn evaluate CHECKPOINT``: accuracy and cost on the test set."""
    import jax
    import numpy as np

    from jaxnn import checkpoint, data, train

    path = pathlib.Path(args.checkpoint)
    if path.is_dir():
        path = path / rundir.CHECKPOINT
    with jax.enable_x64(True):  # a float64 checkpoint loads as float64, float32 as float32
        ckpt = checkpoint.load(path)
    with jax.enable_x64(ckpt.params[0].W.dtype == np.float64):
        mnist = data.load_mnist(args.data)
        if ckpt.net.n_in != mnist.x_test.shape[1] or ckpt.net.n_out != 10:
            raise ValueError(f"the checkpoint's network {ckpt.net.sizes} does not fit MNIST "
                             "(784 inputs, 10 classes).")
        result = train.evaluate(ckpt.net, ckpt.params, mnist.x_test, mnist.y_test)
    print(f"{path}: epoch {ckpt.step}, test accuracy {result['accuracy']:.4f}, test cost "
          f"{result['cost']:.4f} on {len(mnist.x_test)} digits")
    return 0
