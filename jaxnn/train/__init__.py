"""Jit-compiled training: one step, one epoch, and the ``fit`` loop.

* :func:`make_step`, :func:`make_epoch` (:mod:`jaxnn.train.steps`): compiled programs for
  one minibatch and one epoch (device shuffle + ``lax.scan`` + validation);
* :func:`fit`, :func:`evaluate` (:mod:`jaxnn.train.loop`): the training loop, with early
  stopping, divergence detection (:class:`TrainingDiverged`) and resumption;
  :func:`precompile`: a fit's epoch compiled on a thread while the data loads;
* :func:`fit_many` (:mod:`jaxnn.train.many`): K runs (seeds, hyper-parameter sweeps) in
  one compiled program, ``vmap``-ed over a leading run axis (on the CPU, one part of the
  runs per core: :mod:`jaxnn.train.spread`);
* :mod:`jaxnn.train.parallel`: the same epoch data-parallel over devices and processes;
* :mod:`jaxnn.train.plan`: the door of ``fit`` and ``fit_many`` (each argument checked
  once) and their static signature, hyper-parameters as inputs;
  :mod:`jaxnn.train.programs`: their compiled epochs, cached by that signature and the
  arguments' shapes, or compiled ahead on a thread (:func:`precompile`);
* :mod:`jaxnn.train.core`: the one minibatch step all of them (and DP-SGD) share;
  :mod:`jaxnn.train.tally`: the epoch's metrics, summed step by step.
"""

from jaxnn.train import core, many, parallel, spread, steps, tally
from jaxnn.train.core import GRADS
from jaxnn.train.loop import FitResult, TrainingDiverged, evaluate, fit, precompile
from jaxnn.train.many import ManyResult, fit_many
from jaxnn.train.steps import make_epoch, make_step

__all__ = [
    "FitResult",
    "GRADS",
    "TrainingDiverged",
    "core",
    "evaluate",
    "fit",
    "fit_many",
    "ManyResult",
    "many",
    "make_epoch",
    "make_step",
    "parallel",
    "precompile",
    "spread",
    "steps",
    "tally",
]
