"""Per-class Pythia settings and chunk seeds (raysym.generate.processes)."""

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.generate.processes import PROCESSES, chunk_seeds, pythia_settings


def test_every_hls4ml_class_has_a_process_with_its_label():
    assert sorted(PROCESSES) == sorted(CLASS_NAMES)
    assert [PROCESSES[c].label for c in CLASS_NAMES] == list(range(5))


def test_chunk_seeds_depend_only_on_seed_class_and_chunk_and_are_valid_pythia_seeds():
    seeds = {(c, k): chunk_seeds(7, c, k) for c in CLASS_NAMES for k in range(50)}
    assert seeds == {(c, k): chunk_seeds(7, c, k) for c in CLASS_NAMES for k in range(50)}
    pythia = [s[0] for s in seeds.values()]
    assert len(set(pythia)) == len(pythia)
    assert all(1 <= s <= 900_000_000 for s in pythia)
    assert chunk_seeds(8, "w", 0) != chunk_seeds(7, "w", 0)


def test_settings_seed_pythia_and_switch_mpi():
    on = pythia_settings("z", 123)
    off = pythia_settings("z", 123, mpi=False)
    assert "Random:setSeed = on" in on and "Random:seed = 123" in on
    assert "PartonLevel:MPI = on" in on and "PartonLevel:MPI = off" in off
    assert "WeakZ0:gmZmode = 2" in on
    assert not any("numThreads" in line for line in on)  # Pythia's threads are not reproducible
