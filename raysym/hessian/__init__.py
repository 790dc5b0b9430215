"""Curvature of the training loss (docs/methods.md §6; Glowacki eq. 1): λ1, Tr(H) and the spectral density.

Pure torch, no I/O, no Ray. Everything starts from a :class:`LossClosure` (a model, fixed batches and a
loss function), so any model, mask or batch layout works; :class:`HessianOperator` turns it into H·v,
and the estimators below use nothing else. :mod:`raysym.hessian.pyhessian_backend` drives PyHessian
(the paper's tool) on the same loss for cross-checks.
"""

from raysym.hessian.closure import LossClosure, bce_loss, evaluation_subset, training_loss_closure
from raysym.hessian.deflation import Deflation, deflation_from_lanczos
from raysym.hessian.density import DensityResult, slq_density, slq_probe
from raysym.hessian.hvp import HessianOperator, hvp
from raysym.hessian.lanczos import lanczos_top_eigenpairs
from raysym.hessian.power import power_iteration
from raysym.hessian.precision import precision_reached, trace_to_precision
from raysym.hessian.results import EigenResult, TraceEstimate
from raysym.hessian.trace import HutchinsonSamples, combine, hutch_plus_plus, hutchinson_samples, hutchinson_trace
from raysym.hessian.xtrace import xtrace

__all__ = [
    "Deflation", "DensityResult", "EigenResult", "HessianOperator", "HutchinsonSamples", "LossClosure",
    "TraceEstimate", "bce_loss", "combine", "deflation_from_lanczos", "evaluation_subset", "hutch_plus_plus",
    "hutchinson_samples", "hutchinson_trace", "hvp", "lanczos_top_eigenpairs", "power_iteration",
    "precision_reached", "slq_density", "slq_probe", "trace_to_precision", "training_loss_closure", "xtrace",
]
