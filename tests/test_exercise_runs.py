"""Exercise notebooks executed as a learner would, in a learner's copy of the module folder:

- filled with their solutions' code (what `%solution` loads), every check passes, in every exercise notebook;
- unfilled, with the artefacts of those solution runs left in the copy's runs/ folder, no check that
  depends on the learner's work passes (the checks reject files an earlier run left behind).
"""
import json
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from clusterkit import solutions as sol
from clusterkit.course import KERNEL_NAME, MODULES
from clusterkit.environment import REPO_ROOT

# Module 05's notebook is left out: its job scripts find the course from their own folder, so they run only
# in the repository (its one exercise is proven equal to the solution by tests/test_solutions.py, and the
# solution notebook runs under nbval).
EXERCISE_NOTEBOOKS = [f"{module}/{path.name}" for module in MODULES if module != "05_clusters"
                      for path in sorted((REPO_ROOT / module).glob("*.ipynb"))]
# the exercise notebooks whose checks read files the learner's run writes, and those checks
ARTIFACT_NOTEBOOKS = ["02_daal4py/02_distributed_kmeans_quantization.ipynb",
                      "02_daal4py/04_distributed_linear_regression.ipynb"]
ARTIFACT_CHECKS = ["Distributed initialisation and k-means", "Gather the labels and write the quantized image",
                   "One headerless CSV file per rank"]


def learner_copy(folder, module: str, filled: bool):
    """A copy of the module's exercise folder (links followed), optionally with every exercise filled."""
    shutil.copytree(REPO_ROOT / module, folder, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints", "*.out"))
    if filled:
        by_task = {e.task: e.region for e in sol.module_exercises(folder)}
        for path in folder.glob("*.py"):
            path.write_text(sol.fill(path.read_text(), by_task)[0])
        for path in folder.glob("*.ipynb"):
            notebook = json.loads(path.read_text())
            for cell in notebook["cells"]:
                if cell["cell_type"] == "code":
                    cell["source"] = sol.fill("".join(cell["source"]), by_task)[0]
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False))
    return folder


def execute(notebook_path) -> list[tuple[list[str], str, list[str]]]:
    """Run the notebook top to bottom in its folder; per code cell (tags, everything shown, errors raised).
    What a cell shows includes its error's traceback: a failed check shows `FAIL: ...` there."""
    notebook = nbformat.read(notebook_path, as_version=4)
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
def filled_modules(tmp_path_factory):
    """module -> its filled learner copy (made on first use)."""
    copies = {}

    def copy_of(module):
        if module not in copies:
            copies[module] = learner_copy(tmp_path_factory.mktemp("filled") / module, module, filled=True)
        return copies[module]

    return copy_of


@pytest.mark.parametrize("notebook", EXERCISE_NOTEBOOKS)
def test_filled_exercise_notebook_passes_every_check(notebook, filled_modules):
    module, name = notebook.split("/")
    cells = execute(filled_modules(module) / name)
    checks = [text for _, text, _ in cells if "PASS:" in text or "FAIL:" in text]
    assert all("FAIL:" not in text for text in checks), "\n".join(checks)
    unexpected = [errors for tags, _, errors in cells if errors and "raises-exception" not in tags]
    assert not unexpected, unexpected
    exercises = [e for e in sol.module_exercises(REPO_ROOT / module) if e.source.name == name]
    if exercises:  # a notebook with exercises of its own has a check that passed for each
        assert sum(text.count("PASS:") for text in checks) >= len(exercises), checks


def test_unfilled_exercises_pass_no_check_on_files_a_solution_run_left(filled_modules, tmp_path):
    """Runs after the filled notebooks of module 02 (above), whose runs/ holds real solution artefacts."""
    solved = filled_modules("02_daal4py")
    assert (solved / "runs" / "quantize_2_ranks").is_dir(), "the filled 02 notebooks did not run first"
    folder = learner_copy(tmp_path / "02_daal4py", "02_daal4py", filled=False)
    shutil.copytree(solved / "runs", folder / "runs")  # the solution runs' image, palette and CSV files
    shown = "\n".join(text for notebook in ARTIFACT_NOTEBOOKS
                      for _, text, _ in execute(folder / notebook.split("/")[1]))
    for title in ARTIFACT_CHECKS:
        assert f"PASS: {title}" not in shown
        assert f"FAIL: {title}" in shown
