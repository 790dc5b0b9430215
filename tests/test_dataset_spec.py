"""Data sets are declarations: a toy data set declared here, and nowhere else, is read by its own reader and
runs a smoke study end to end — its tasks evaluated, its report naming it, and only the findings it can test
judged; the registry refuses declarations that cannot work."""

from pathlib import Path

import numpy as np
import pytest

from raysym.data.constituent_checks import jet_kinematics, leading_constituents
from raysym.data.dataset_spec import DatasetSpec, dataset, register_dataset, registered_datasets, unregister_dataset
from raysym.data.hls4ml_reader import read_hls4ml
from raysym.data.jetset import N_CONSTITUENTS
from raysym.data.tasks import TaskSpec
from raysym.errors import ConfigError, DataError
from raysym.report.command import write_report
from raysym.report.selection import select_run
from raysym.report.verdicts import verdicts
from raysym.store import ResultStore
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke

#: The toy layout: one .npz per file with (jets, constituents, [px, py, pz, E]) momenta and class names.
CLASSES = ("light", "heavy", "exotic")


class ToyDataset(DatasetSpec):
    """Three classes; trained on heavy vs light, tested far out of distribution on exotic vs light (no near
    task, so no near out-of-distribution finding)."""

    name = "toyjets"
    classes = CLASSES
    tasks = (TaskSpec("heavy_vs_light", ("heavy",), ("light",), "in", "heavy vs light"),
             TaskSpec("exotic_vs_light", ("exotic",), ("light",), "far", "exotic vs light"))
    stored_constituents = 40
    layout = "written by tests/test_dataset_spec.py"

    def files(self, source):
        path = Path(source)
        files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise DataError(f"{source}: no toy .npz files")
        return files

    def inspect(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        for path in self.files(source):
            with np.load(path) as f:
                if set(f.files) != {"momenta", "label"}:
                    raise DataError(f"{path}: not the toy layout (holds {sorted(f.files)})")
        return self.files(source)

    def count(self, source):
        return sum(len(np.load(path)["label"]) for path in self.inspect(source))

    def read(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        parts = []
        for path in self.inspect(source):
            with np.load(path) as f:
                p4, mask = leading_constituents(f["momenta"], n_constituents, 0, path)
                parts.append((p4, mask, np.array([CLASSES.index(str(c)) for c in f["label"]])))
        p4, mask, label = (np.concatenate(x) for x in zip(*parts))
        pt, eta, mass = jet_kinematics(p4, mask)
        return self.jets(p4=p4, mask=mask, label=label, jet_pt=pt, jet_eta=eta, jet_mass=mass, source=str(source))


@pytest.fixture
def toy():
    spec = register_dataset(ToyDataset())
    yield spec
    unregister_dataset(spec.name)


@pytest.fixture
def toy_files(study_jets_dir, tmp_path):
    """The session's generated jets rewritten in the toy layout: gluon → light, W → heavy, top → exotic."""
    jets = read_hls4ml(study_jets_dir)
    names = {"g": "light", "w": "heavy", "t": "exotic"}
    keep = np.isin(np.array(jets.classes)[jets.label], list(names))
    p4 = jets.p4[keep].astype(np.float64)
    momenta = np.concatenate([p4[..., 1:], p4[..., :1]], axis=-1)  # (E, px, py, pz) → (px, py, pz, E)
    labels = np.array([names[jets.classes[i]] for i in jets.label[keep]])
    folder = tmp_path / "toy"
    folder.mkdir()
    np.savez(folder / "a.npz", momenta=momenta[::2], label=labels[::2])
    np.savez(folder / "b.npz", momenta=momenta[1::2], label=labels[1::2])
    return folder


def test_a_toy_data_set_declared_here_runs_a_smoke_study_on_its_own_tasks(ray_local, toy, toy_files, tmp_path):
    config = smoke(preset("quick").for_dataset("toyjets", str(toy_files))).with_overrides(
        name="toy", distillation={"enabled": False}, analyses={"spectrum": False, "goldstone": False})
    assert config.recipe.task == "heavy_vs_light"
    assert config.evaluation.tasks == ("heavy_vs_light", "exotic_vs_light")
    outcome = run_study(config, tmp_path / "out", verbose=0, progress=False)
    assert not outcome.errors and outcome.trained == 2
    store = ResultStore(outcome.store_path)
    evaluations = store.load("evaluations")
    assert sorted(set(evaluations["task"])) == ["exotic_vs_light", "heavy_vs_light"]
    assert set(store.load("trials")["task"]) == {"heavy_vs_light"}
    run = select_run(outcome.store_path, "toy", outcome.run_key)
    assert run.dataset == toy.record
    keys = [v.key for v in verdicts(run)]
    assert "auc_heavy_vs_light" in keys and "auc_exotic_vs_light" in keys
    assert not any(key in keys for key in ("auc_g_vs_w", "auc_g_vs_z", "auc_g_vs_t"))
    write_report(run, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Data set: toyjets; tasks: heavy_vs_light = heavy vs light (in distribution); exotic_vs_light = " \
           "exotic vs light (far out of distribution)" in text
    assert "In distribution — heavy vs light, test split" in text and "Table 1" not in text
    assert "out of distribution: exotic vs light" in text
    assert "near out of distribution" not in text.split("## Verdicts")[1].split("## Performance")[0]
    again = run_study(config, tmp_path / "out", verbose=0, progress=False)
    assert again.trained == 0 and again.evaluated == 0  # the jets' key covers what their labels mean


def test_a_data_set_without_an_out_of_distribution_task_has_no_such_finding(toy):
    class InOnly(ToyDataset):
        name = "toy-in-only"
        tasks = ToyDataset.tasks[:1]

    spec = register_dataset(InOnly())
    try:
        from raysym.report.verdicts import findings

        keys = [f.key for f in findings(spec.record)]
        assert keys == ["symmetry", "auc_heavy_vs_light", "lambda1", "trace", "goldstone", "smearing", "distillation"]
        assert [f.key for f in findings()][-3:] == ["auc_g_vs_z", "auc_g_vs_t", "distillation"]  # hls4ml's
    finally:
        unregister_dataset(spec.name)


def test_the_study_refuses_tasks_its_data_set_does_not_declare_and_a_data_set_without_files(toy, toy_files):
    config = preset("quick").for_dataset("toyjets", str(toy_files))
    with pytest.raises(ConfigError, match="unknown task 'g_vs_w'; data set 'toyjets' declare"):
        config.with_overrides(recipe={"task": "g_vs_w"}, evaluation={"tasks": ("g_vs_w",)}).validate()
    with pytest.raises(ConfigError, match="data set 'toyjets' needs its files"):
        preset("quick").for_dataset("toyjets").validate()
    with pytest.raises(ConfigError, match="unknown data set 'nope'; registered: .*hls4ml"):
        preset("quick").for_dataset("nope")


@pytest.mark.parametrize("change,message", [
    ({"name": ""}, "file-safe name"),
    ({"tasks": (TaskSpec("a_vs_b", ("heavy",), ("light",), "far"),)}, "exactly one in-distribution task"),
    ({"tasks": (TaskSpec("x", ("charm",), ("light",), "in"),)}, "uses class\\(es\\) charm"),
    ({"classes": ("light", "light", "heavy")}, "classes must be distinct"),
    ({"stored_constituents": 0}, "stored_constituents must be a positive integer"),
])
def test_a_declaration_that_cannot_work_is_refused_when_registered(change, message):
    bad = type("Bad", (ToyDataset,), {**change, "name": change.get("name", "bad")})
    with pytest.raises(ConfigError, match=message):
        register_dataset(bad())
    assert "bad" not in [d.name for d in registered_datasets()]


def test_a_second_data_set_of_a_name_is_refused_and_readers_give_jets_of_their_declaration(toy, toy_files):
    class Other(ToyDataset):
        pass

    with pytest.raises(ConfigError, match="'toyjets' is registered already"):
        register_dataset(Other())
    jets = dataset("toyjets").read(toy_files)
    assert jets.dataset == "toyjets" and jets.classes == CLASSES and jets.tasks == ToyDataset.tasks
    with pytest.raises(ConfigError, match="not weighted, but its reader gave weights"):
        toy.jets(p4=jets.p4, mask=jets.mask, label=jets.label, jet_pt=jets.jet_pt, jet_eta=jets.jet_eta,
                 jet_mass=jets.jet_mass, source="x", weight=np.ones(len(jets)))
