"""Scores and metrics of a model on a set of jets, batched and without gradients."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from raysym.batch import JetBatch
from raysym.metrics import accuracy, roc_auc


def batches(p4: torch.Tensor, mask: torch.Tensor, y: torch.Tensor | None, batch_size: int, order=None):
    """Yield ``JetBatch``es of at most ``batch_size`` jets, in ``order`` (indices) or as stored."""
    n = p4.shape[0]
    for start in range(0, n, batch_size):
        index = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield JetBatch(p4[index], mask[index], None if y is None else y[index])


@torch.no_grad()
def predict_logits(model: torch.nn.Module, p4: torch.Tensor, mask: torch.Tensor, batch_size: int = 2048,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """The model's logits for every jet, as float64 numpy (so metrics see full precision)."""
    was_training = model.training
    model.eval()
    out = [model(b.p4.to(device), b.mask.to(device)).double().cpu() for b in batches(p4, mask, None, batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def classification_metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """BCE, accuracy (logit > 0) and ROC-AUC of logits against 0/1 targets."""
    bce = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.as_tensor(y, dtype=torch.float64))
    return {"bce": float(bce), "accuracy": accuracy(logits, y), "roc_auc": roc_auc(logits, y)}
