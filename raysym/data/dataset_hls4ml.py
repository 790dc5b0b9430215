"""The hls4ml LHC jet data set (docs/methods.md §1.2) as a declaration: Glowacki's data, and the layout the
offline generator writes.

Five classes (gluon, light quark, W, Z, top) and the paper's three tasks: the models train on gluon vs W
and are tested also on gluon vs Z (near out of distribution) and gluon vs top (far). The reader is
:mod:`raysym.data.hls4ml_reader`.
"""

from __future__ import annotations

from raysym.data.dataset_spec import DatasetSpec, register_dataset
from raysym.data.hls4ml_reader import STORED_PARTICLES, inspect_hls4ml, read_hls4ml, resolve_files
from raysym.data.jetset import N_CONSTITUENTS
from raysym.data.tasks import HLS4ML_CLASSES, HLS4ML_TASKS


class Hls4mlDataset(DatasetSpec):
    name = "hls4ml"
    classes = HLS4ML_CLASSES
    tasks = HLS4ML_TASKS
    stored_constituents = STORED_PARTICLES
    layout = ("Pierini, Duarte, Tran, Freytsis, HLS4ML LHC Jet dataset (150 particles), Zenodo 3602260 (2020); "
              "Moreno et al., Eur. Phys. J. C 80 (2020) 58")
    description = "hls4ml LHC jets (or jets generated here in its layout): gluon, light quark, W, Z and top jets"

    def inspect(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        return inspect_hls4ml(source, n_constituents, max_jets)

    def read(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        return read_hls4ml(source, n_constituents, max_jets)

    def files(self, source):
        return resolve_files(source)

    def count(self, source):
        return sum(n_read for _, _, n_read in inspect_hls4ml(source))


HLS4ML = register_dataset(Hls4mlDataset())
