"""Exercise notebooks executed as a learner would, in a learner's copy of the module folder: unfilled, with the
artefacts of real solution runs left in the copy's runs/ folder, no check that depends on the learner's work
passes (the checks reject files an earlier run left behind).

That every check passes once filled is proven without running the notebooks twice: a filled exercise folder is
the solution folder, file by file and code cell by code cell (tests/test_solutions.py), and every solution
notebook runs under nbval in `make test`, where a failing check raises and fails its cell.
"""
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from clusterkit.authoring import catalog
from clusterkit.course import KERNEL_NAME
from clusterkit.machine.environment import REPO_ROOT
from conftest import cell_text, fill_exercises, read_notebook, solution_regions, write_notebook

pytestmark = [pytest.mark.notebook, pytest.mark.mpi]

# the exercise notebooks whose checks read files the learner's run writes, and those checks
ARTIFACT_NOTEBOOKS = ["02_daal4py/02_distributed_kmeans_quantization.ipynb",
                      "02_daal4py/04_distributed_linear_regression.ipynb"]
ARTIFACT_CHECKS = ["Distributed initialisation and k-means", "Gather the labels and write the quantized image",
                   "One headerless CSV file per rank"]
# the cells that run those checks: each notebook runs up to its last one (what follows neither writes nor reads
# the files those checks judge)
ARTIFACT_CHECK_CALLS = ("check_distributed_fit(", "check_gather_and_write(", "check_partitions(")


def learner_copy(folder, module: str, filled: bool):
    """A copy of the module's exercise folder (links followed), optionally with every exercise filled."""
    shutil.copytree(REPO_ROOT / module, folder, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints", "*.out"))
    if filled:
        by_task = solution_regions(catalog.module_exercises(folder))
        for path in folder.glob("*.py"):
            path.write_text(fill_exercises(path.read_text(), by_task))
        for path in folder.glob("*.ipynb"):
            notebook = read_notebook(path)
            for cell in notebook["cells"]:
                if cell["cell_type"] == "code":
                    cell["source"] = fill_exercises(cell_text(cell), by_task)
            write_notebook(path, notebook)
    return folder


def execute(notebook_path) -> list[tuple[list[str], str, list[str]]]:
    """Run the notebook in its folder from the top through its last artefact check; per code cell (tags,
    everything shown, errors raised). What a cell shows includes its error's traceback: a failed check shows
    `FAIL: ...` there."""
    notebook = nbformat.read(notebook_path, as_version=4)
    last = max(i for i, cell in enumerate(notebook.cells)
               if cell.cell_type == "code" and any(call in cell.source for call in ARTIFACT_CHECK_CALLS))
    notebook.cells = notebook.cells[:last + 1]
    NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(notebook_path.parent)}}).execute()
    shown = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") if o.output_type == "stream" else "\n".join(o.get("traceback", []))
                       for o in cell.outputs if o.output_type in ("stream", "error"))
        shown.append((cell.metadata.get("tags", []), text, errors))
    return shown


@pytest.fixture(scope="module")
def solved_runs(tmp_path_factory):
    """The runs/ folder of a filled learner copy of module 02 after its artefact notebooks ran: real solution
    artefacts (quantized images, palettes, CSV blocks), each check of them passing."""
    folder = learner_copy(tmp_path_factory.mktemp("filled") / "02_daal4py", "02_daal4py", filled=True)
    for notebook in ARTIFACT_NOTEBOOKS:
        cells = execute(folder / notebook.split("/")[1])
        shown = "\n".join(text for _, text, _ in cells)
        unexpected = [errors for tags, _, errors in cells if errors and "raises-exception" not in tags]
        assert "FAIL:" not in shown and not unexpected, (notebook, unexpected, shown[-2000:])
    return folder / "runs"


def test_unfilled_exercises_pass_no_check_on_files_a_solution_run_left(solved_runs, tmp_path):
    assert (solved_runs / "quantize_2_ranks").is_dir(), "the filled 02 notebooks wrote no quantized image"
    folder = learner_copy(tmp_path / "02_daal4py", "02_daal4py", filled=False)
    shutil.copytree(solved_runs, folder / "runs")  # the solution runs' image, palette and CSV files
    shown = "\n".join(text for notebook in ARTIFACT_NOTEBOOKS
                      for _, text, _ in execute(folder / notebook.split("/")[1]))
    for title in ARTIFACT_CHECKS:
        assert f"PASS: {title}" not in shown
        assert f"FAIL: {title}" in shown
