"""Synthetic jets and tiny trained models, shared by the tests that need no physics (fast, no generator).

Two makers: :func:`jet_momenta` for tests of physics and models on tensors (jet-like four-momenta around
an axis, padded), and :func:`synthetic_jets` for tests that need classes a tagger can learn (a ``JetSet``).
"""

import math

import numpy as np
import pandas as pd
import torch

from raysym.batch import JetBatch
from raysym.data.jetset import JetSet, split
from raysym.kinematics import from_ptetaphie
from raysym.training import TrainConfig, train
from raysym.training.checkpoint import save_best_model

CLASS_LABELS = {"g": 0, "w": 2, "z": 3, "t": 4}  # indices into CLASS_NAMES
SIGNAL_PRONGS = {"g": 0, "w": 1, "z": 1, "t": 2}


def jet_momenta(n_jets=16, n_const=32, seed=0, *, dtype=torch.float64, jet_pt=1000.0, spread=0.1,
                max_mass=0.0, min_real=1, full_first=False):
    """(p4, mask): jets of ``n_const`` constituent slots, ``min_real``..``n_const`` of them real.

    Each jet has a random axis (η ~ N(0, 1), any φ); its constituents scatter by ``spread`` in η and φ
    around it, share ``jet_pt`` GeV with steeply falling fractions (plus 0.5 GeV each, so none is soft
    to zero) and have masses up to ``max_mass`` GeV (0: massless). Padded rows are all zero.
    ``full_first`` makes the first jet use every slot.
    """
    g = torch.Generator().manual_seed(seed)
    n_real = torch.randint(min_real, n_const + 1, (n_jets, 1), generator=g)
    if full_first:
        n_real[0] = n_const
    mask = torch.arange(n_const) < n_real
    frac = torch.rand(n_jets, n_const, generator=g, dtype=dtype) ** 3 * mask
    pt = jet_pt * frac / frac.sum(-1, keepdim=True) + 0.5 * mask
    eta = torch.randn(n_jets, 1, generator=g, dtype=dtype) + spread * torch.randn(n_jets, n_const, generator=g,
                                                                                  dtype=dtype)
    phi = 2 * math.pi * torch.rand(n_jets, 1, generator=g, dtype=dtype) + spread * torch.randn(
        n_jets, n_const, generator=g, dtype=dtype)
    mass = max_mass * torch.rand(n_jets, n_const, generator=g, dtype=dtype)
    energy = torch.sqrt((pt * torch.cosh(eta)) ** 2 + mass ** 2)
    p4 = from_ptetaphie(torch.stack([pt, eta, phi, energy], -1))
    return p4 * mask.unsqueeze(-1), mask


def synthetic_jets(n_per_class=120, seed=0, classes=("g", "w", "z", "t"), n_real=10, min_real=4):
    """Toy jets: signal classes get hard extra prongs (W, Z one, top two), so a tagger learns something.

    Each jet has ``min_real``..``n_real`` real constituents of 32, the rest padding.
    """
    rng = np.random.default_rng(seed)
    label = np.repeat([CLASS_LABELS[c] for c in classes], n_per_class).astype(np.int8)
    prongs = np.repeat([SIGNAL_PRONGS[c] for c in classes], n_per_class)
    n, k = len(label), n_real
    pt = rng.exponential(20, (n, k)) + 1
    pt[:, 1] += 150 * (prongs >= 1)
    pt[:, 2] += 100 * (prongs >= 2)
    eta, phi = 0.3 * rng.normal(size=(2, n, k))
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1)
    p4 = np.concatenate([p4, np.zeros((n, 32 - k, 4))], 1)
    mask = np.arange(32) < rng.integers(min_real, k + 1, (n, 1))
    return JetSet(p4 * mask[..., None], mask, label, pt.sum(1), np.zeros(n), np.zeros(n), source="synthetic")


def g_vs_w_splits(n_per_class, fractions=(0.6, 0.2, 0.2), seed=0):
    """Train/val/test task views of separable gluon and W toy jets."""
    return split(synthetic_jets(n_per_class, seed, classes=("g", "w")).for_task("g_vs_w"), seed=0,
                 fractions=fractions)


def g_vs_w_batch(n_per_class, dtype=torch.float32, seed=0, n_real=8, min_real=3):
    """Gluon and W toy jets as one JetBatch with 0/1 targets."""
    jets = synthetic_jets(n_per_class, seed, classes=("g", "w"), n_real=n_real, min_real=min_real).for_task("g_vs_w")
    return JetBatch(torch.tensor(jets.p4, dtype=dtype), torch.tensor(jets.mask), torch.tensor(jets.y, dtype=dtype))


def tiny_config(seed):
    return TrainConfig(model="teacher", model_preset="small", epochs=1, batch_size=32, seed=seed,
                       model_options={"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)})


def trained_study(out, n_models=4):
    """``n_models`` one-epoch models trained on g_vs_w, their best-model files, a trials table, the jets."""
    parts = split(synthetic_jets(), seed=0, fractions=(0.5, 0.2, 0.3))
    data = {name: parts[name].for_task("g_vs_w") for name in ("train", "val")}
    rows = []
    for seed in range(n_models):
        result = train(tiny_config(seed), data)
        path = save_best_model(result.checkpoint, out / f"t{seed}.pt")
        rows.append({"study": "unit", "trial_id": f"t{seed}", "model": "teacher", "penalty": "none",
                     "lam": 0.0, "seed": seed, "model_path": str(path)})
    return {"dir": out, "trials": pd.DataFrame(rows), "test": parts["test"], "train": data["train"],
            "val": data["val"]}
