"""A model's logits on many jets, batched and without gradients: what evaluation, smearing sweeps,
Goldstone scans and validation all need from a trained model."""

from __future__ import annotations

import numpy as np
import torch

from raysym.batch import batches

#: Jets per forward pass when nothing is learned: large, since no activations are kept for a backward pass.
PREDICT_BATCH_SIZE = 2048


@torch.no_grad()
def predict_logits(model: torch.nn.Module, p4: torch.Tensor, mask: torch.Tensor, batch_size: int = PREDICT_BATCH_SIZE,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """The model's logits for every jet, as float64 numpy (so metrics see full precision).

    The model runs in eval mode and is put back in the mode it was in.
    """
    was_training = model.training
    model.eval()
    out = [model(b.p4.to(device), b.mask.to(device)).double().cpu() for b in batches(p4, mask, None, batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()
