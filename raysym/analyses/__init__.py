"""Analyses of trained models (docs/methods.md §6): plain functions on models, tensors and jets, no Ray, no I/O.

- :mod:`raysym.analyses.goldstone`: the pseudo-Goldstone scan of Glowacki eqs. 5–6.
- :mod:`raysym.analyses.smearing_sweep`: ROC-AUC versus constituent pT smearing (Glowacki eq. 7).
"""

from raysym.analyses.goldstone import goldstone_scan, random_unit_direction, scan_direction, symmetric_grid
from raysym.analyses.smearing_sweep import smearing_sweep

__all__ = ["goldstone_scan", "random_unit_direction", "scan_direction", "smearing_sweep", "symmetric_grid"]
