"""Drive PyHessian 0.1 (the package the paper used, Glowacki §3.4) on our models, for cross-checks.

PyHessian is called, not copied. Its assumptions and how this adapter meets them (docs/methods.md §6):

- **One input tensor**: ``model(inputs)``, ``criterion(outputs, targets)``. :class:`PackedInputModel`
  takes one (B, N, 5) tensor — p4 in channels 0–3, the mask as 0/1 in channel 4 — and unpacks it.
  It owns no parameters, so its parameter order is the wrapped model's and flat vectors match ours.
- **Weighting**: with a ``dataloader`` PyHessian forms H·v = Σ_b n_b H_b v / Σ_b n_b, n_b the leading
  size of batch b's inputs, H_b the Hessian of ``criterion`` on that batch. With the criterion the
  batch-*mean* BCE, that is Σ_b (n_b/N) H_b — exactly :class:`~raysym.hessian.closure.LossClosure`'s
  default weights. So we always pass the batches as a dataloader (a list of (packed, y) pairs), even a
  single one; the single-batch ``data=`` path would instead keep gradients in ``.grad`` across calls.
- **Forced ``model.eval()``**: harmless (no dropout at evaluation); the caller's mode is restored.
- **``cuda=True`` hard-codes 'cuda'**: we pass ``cuda=False`` and keep everything on the CPU.
- **float32 internals**: it draws vectors with ``torch.randn(p.size())`` / ``torch.zeros``, i.e. the
  default dtype; we set the default dtype to the model's for the call (float64 models work).
- **Global RNG**: start vectors and probes come from torch's global generator; we fork it and seed it
  with ``seed``, so calls are reproducible and leave the caller's random state alone.
- **``trace()``** returns the list of vᵀHv samples (we take the mean and its standard error) and in 0.1
  stops as soon as |mean − previous|/(previous + 1e-6) < tol, which is always true once the running mean
  is negative. We pass ``tol = -inf`` so it runs exactly ``n_probes`` probes.
- **``density()``** calls ``torch.eig``, removed from torch: not wrapped; use
  :func:`raysym.hessian.density.slq_density`.
- **Double backward through attention**: the forward runs inside ``math_attention()``.
- **Leftover graphs in ``.grad``**: it calls ``backward(create_graph=True)``; we clear ``.grad`` after.
- **Normalisation bias**: it divides vectors by (‖v‖ + 1e-6), and re-normalises an already unit vector
  before each HVP, so its Rayleigh quotients are low by a relative ≈ 2e-6 — invisible at the 1 % parity
  we check, visible if one compares at 1e-6.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from raysym.batch import JetBatch
from raysym.errors import ConfigError, positive_int
from raysym.hessian.results import TraceEstimate
from raysym.models.attention import math_attention


class PackedInputModel(nn.Module):
    """``model(p4, mask)`` as ``wrapper(packed)``, packed = cat(p4, mask) along the last axis: (B, N, 5)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        with math_attention():
            return self.model(packed[..., :4], packed[..., 4] > 0.5)


def pack(batch: JetBatch, dtype: torch.dtype) -> torch.Tensor:
    """(B, N, 5) tensor: p4 and the mask as 0/1."""
    return torch.cat([batch.p4.to(dtype), batch.mask.to(dtype).unsqueeze(-1)], dim=-1)


@dataclass
class PyHessianEigenResult:
    """PyHessian's top eigenvalues (largest magnitude, by its power iteration) and flat eigenvectors."""

    eigenvalues: list[float]
    eigenvectors: torch.Tensor
    n_hvp: int
    seconds: float

    @property
    def top(self) -> float:
        return self.eigenvalues[0]


@contextmanager
def _pyhessian_session(model: nn.Module, batches: Sequence[JetBatch], seed: int,
                       criterion: Callable | None):
    """A ``pyhessian.hessian`` on ``model`` and ``batches`` plus an HVP counter; restores state after."""
    from pyhessian import hessian

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    if not batches or any(b.y is None for b in batches):
        raise ConfigError("PyHessian needs at least one batch, each with targets y")
    dtype, device = params[0].dtype, params[0].device
    if device.type != "cpu":
        raise ConfigError("the PyHessian adapter runs on the CPU (cuda=False)")
    loader = [(pack(b, dtype), b.y.to(dtype)) for b in batches]
    was_training, old_dtype = model.training, torch.get_default_dtype()
    for p in params:
        p.grad = None
    try:
        torch.set_default_dtype(dtype)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # its backward(create_graph=True) warns of a .grad reference cycle: we break it in `finally`
            warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
            torch.manual_seed(seed)
            engine = hessian(PackedInputModel(model), criterion or F.binary_cross_entropy_with_logits,
                             dataloader=loader, cuda=False)
            counter = {"n_hvp": 0}
            inner = engine.dataloader_hv_product

            def counted(v):
                counter["n_hvp"] += 1
                return inner(v)

            engine.dataloader_hv_product = counted
            yield engine, counter
    finally:
        torch.set_default_dtype(old_dtype)
        model.train(was_training)
        for p in params:
            p.grad = None


def pyhessian_top_eigenvalues(model: nn.Module, batches: Sequence[JetBatch], top_n: int = 1,
                              max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
                              criterion: Callable | None = None) -> PyHessianEigenResult:
    """``pyhessian.hessian(...).eigenvalues(maxIter, tol, top_n)`` on our batches (see module notes).

    Comparable with :func:`raysym.hessian.power.power_iteration` on a ``LossClosure`` of the same
    batches with the default loss; PyHessian's default tol = 1e-3 is loose — tighten it for parity.
    """
    start = time.perf_counter()
    with _pyhessian_session(model, batches, seed, criterion) as (engine, counter):
        values, vectors = engine.eigenvalues(maxIter=max_iter, tol=tol, top_n=top_n)
        flat = torch.stack([torch.cat([t.detach().reshape(-1) for t in v]) for v in vectors])
    return PyHessianEigenResult([float(x) for x in values], flat, counter["n_hvp"], time.perf_counter() - start)


def pyhessian_trace(model: nn.Module, batches: Sequence[JetBatch], n_probes: int = 100, seed: int = 0,
                    criterion: Callable | None = None) -> TraceEstimate:
    """Hutchinson Tr(H) from ``pyhessian.hessian(...).trace`` with exactly ``n_probes`` probes (tol = −∞)."""
    positive_int("n_probes", n_probes)
    start = time.perf_counter()
    with _pyhessian_session(model, batches, seed, criterion) as (engine, counter):
        samples = [float(x) for x in engine.trace(maxIter=n_probes, tol=-math.inf)]
    values = torch.tensor(samples, dtype=torch.float64)
    se = float(values.std(unbiased=True) / math.sqrt(len(samples))) if len(samples) > 1 else math.nan
    return TraceEstimate(trace=float(values.mean()), standard_error=se, n_probes=len(samples),
                         n_hvp=counter["n_hvp"], seconds=time.perf_counter() - start, method="pyhessian-hutchinson",
                         extra={"seed": seed, "samples": samples})
