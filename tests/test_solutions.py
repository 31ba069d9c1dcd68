"""`%solution`: filling an exercise gives back its solution's code exactly, for every exercise of the course,
and the magic works in a real kernel (a notebook exercise replaces the cell; a script exercise is written)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from clusterkit.authoring import catalog, markers
from clusterkit.learner import solution_magic as sol
from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT

from clusterkit.authoring import generate as gen
from conftest import code_cells, course_kernel, fill_exercises, notebook_cells, solution_regions

SOLUTION = """\
def split(n, rank, size):
    # EXERCISE: return the (start, stop) of rank's block
    base, extra = divmod(n, size)
    return rank * base, (rank + 1) * base
    # END EXERCISE

# EXERCISE: add up the blocks
total = 1
# END EXERCISE
print(total)"""


def test_fill_is_the_inverse_of_the_generator_cut():
    cut = gen.cut_solutions(SOLUTION)
    filled, tasks = markers.fill(cut, markers.regions(SOLUTION))
    assert filled == SOLUTION
    assert tasks == ["return the (start, stop) of rank's block", "add up the blocks"]
    partly, tasks = markers.fill(cut, {"add up the blocks": markers.regions(SOLUTION)["add up the blocks"]})
    assert tasks == ["add up the blocks"] and "NotImplementedError" in partly and "total = 1" in partly


@pytest.mark.parametrize("module", MODULES)
def test_every_exercise_filled_with_its_solution_is_the_solution(module):
    """Each exercise notebook's code cells and each exercise script, filled by %solution's code, are exactly
    the solution's (the solution notebooks are what CI executes and checks)."""
    exercises = catalog.module_exercises(REPO_ROOT / module)
    by_task = solution_regions(exercises)
    assert len(by_task) == len(exercises), "two exercises of one module share a task text: %solution needs them unique"
    for notebook in sorted((REPO_ROOT / module).glob("*.ipynb")):
        solution = REPO_ROOT / "solutions" / module / notebook.name
        filled_cells = [fill_exercises(cell, by_task) for cell in code_cells(notebook)]
        assert filled_cells == code_cells(solution, skip_solution_only=True), notebook
    for script in sorted((REPO_ROOT / "solutions" / module).glob("*.py")):
        exercise = REPO_ROOT / module / script.name
        if exercise.read_text().startswith("# EXERCISE SCRIPT:"):
            body = exercise.read_text().split("\n", 1)[1]  # after the header
            assert fill_exercises(body, by_task) == script.read_text(), exercise
    for other in tracked(f"solutions/{module}"):
        if other.suffix not in (".ipynb", ".py"):  # job scripts, shell files: the same bytes
            assert (REPO_ROOT / module / other.name).read_bytes() == other.read_bytes(), other


def tracked(folder: str) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [REPO_ROOT / line for line in listed.stdout.splitlines()]


@pytest.mark.parametrize("module", MODULES)
def test_a_learners_module_folder_holds_the_solution_folders_files(module):
    """So the solution notebook, run under nbval in its folder, runs what the filled exercise runs in its own."""
    assert [p.name for p in tracked(module)] == [p.name for p in tracked(f"solutions/{module}")]


@pytest.mark.parametrize("module", MODULES)
def test_every_exercise_has_a_passing_check_in_its_solutions_recorded_outputs(module):
    """nbval re-runs these outputs: a check that fails raises, so the cell's recorded PASS lines come back."""
    exercises = catalog.module_exercises(REPO_ROOT / module)
    shown = {}
    for notebook in sorted((REPO_ROOT / "solutions" / module).glob("*.ipynb")):
        cells = notebook_cells(notebook)
        shown[notebook.name] = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                                       for o in c["outputs"] if o["output_type"] == "stream")
    for name, text in shown.items():
        assert "FAIL:" not in text, f"{module}/{name} records a failed check"
        own = [e for e in exercises if e.source.name == name]
        assert text.count("PASS:") >= len(own), f"{module}/{name}: {len(own)} exercises, {text.count('PASS:')} PASS"


def test_choose_by_number_or_words_and_say_what_is_wrong():
    exercises = catalog.module_exercises(REPO_ROOT / "02_daal4py")
    assert sol.choose(exercises, "1") is exercises[0]
    assert sol.choose(exercises, "gather labels").task.startswith("gather the labels on rank 0")
    with pytest.raises(catalog.SolutionNotFound, match="there is no exercise 99"):
        sol.choose(exercises, "99")
    with pytest.raises(catalog.SolutionNotFound, match="contains 'run'.*Use its number"):
        sol.choose(exercises, "run")
    assert "  1. [quantize.py]" in sol.listing(exercises)
    with pytest.raises(catalog.SolutionNotFound, match="not a module folder"):
        catalog.module_exercises(REPO_ROOT / "tests")


@pytest.fixture
def exercise_folder(tmp_path):
    """A learner's copy of 02_daal4py (links followed), in a folder named like the module."""
    folder = tmp_path / "02_daal4py"
    shutil.copytree(REPO_ROOT / "02_daal4py", folder, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    return folder


def test_a_script_exercise_is_written_into_the_learners_script(exercise_folder):
    exercises = catalog.module_exercises(exercise_folder)
    gather = sol.choose(exercises, "gather labels")
    said = sol.load_into_script(gather, exercise_folder)
    text = (exercise_folder / "quantize.py").read_text()
    assert "into quantize.py" in said and gather.region in text
    assert "TODO: kmeans_init" in text, "only the chosen exercise is filled"
    with pytest.raises(catalog.SolutionNotFound,
                       match="no '# TODO: gather.*delete your copy 02_daal4py/quantize.py and run `make update`"):
        sol.load_into_script(gather, exercise_folder)


@pytest.fixture
def kernel_in(exercise_folder):
    with course_kernel(exercise_folder) as client:
        yield client


@pytest.mark.notebook
def test_the_magic_in_a_real_kernel(kernel_in, exercise_folder):
    shown = []
    kernel_in.execute_interactive("import clusterkit.exercises.daal4py\n%solution", timeout=60,
                                  output_hook=shown.append)
    listing = "".join(m["content"].get("text", "") for m in shown)
    assert "This module's exercises" in listing and "[04_distributed_linear_regression.ipynb]" in listing
    number = next(line.split(".")[0].strip() for line in listing.splitlines() if "partition_path" in line)
    reply = kernel_in.execute_interactive(f"%solution {number}", timeout=60, output_hook=lambda m: None)
    payload = reply["content"]["payload"]
    assert payload and payload[0]["source"] == "set_next_input" and payload[0]["replace"] is True
    assert "to_csv" in payload[0]["text"] and "# EXERCISE: write block r" in payload[0]["text"]
    shown.clear()
    kernel_in.execute_interactive("%solution kmeans_init", timeout=60, output_hook=shown.append)
    assert "into quantize.py" in "".join(m["content"].get("text", "") for m in shown)
    assert "TODO: kmeans_init" not in (exercise_folder / "quantize.py").read_text()
