"""The example notebook (examples/results.ipynb) runs top to bottom in a Jupyter kernel against a smoke study's
store, shows its figure inline, and reproduces the stored ROC-AUC from a loaded model."""

import os
import re
import time

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO
from tests.results_store import two_run_study

NOTEBOOK = REPO / "examples" / "results.ipynb"


def test_the_notebook_is_kept_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in notebook.cells if cell.cell_type == "code")


def test_the_results_notebook_runs_against_a_study_store(ray_local, tmp_path_factory, tmp_path, monkeypatch):
    study = two_run_study(tmp_path_factory)
    # The kernel inherits this environment: the store to read, raysym importable, one torch thread.
    monkeypatch.setenv("RAYSYM_STORE", study.store)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # Jupyter's own inline backend, as a user has it
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    # Run elsewhere than the study's folder, so only the environment variable can find the store.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    seconds = time.perf_counter() - start
    print(f"examples/results.ipynb ran in {seconds:.1f} s")
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert study.scored.run_key in text and "quick-smoke" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure did not show inline"
    auc = re.search(r"ROC-AUC on g_vs_w: ([0-9.]+) \(stored ([0-9.]+)\)", text)
    assert auc and auc.group(1) == auc.group(2)
    assert "teacher-seal-0.1" in notebook.cells[-1].outputs[0]["data"]["text/plain"]

