"""Solutions are committed executed in order with outputs; exercises are clean; every notebook has
one title, learning objectives, prerequisites, time and key points, and uses the course kernel."""
import json
import re

import pytest

from clusterkit.course import KERNEL_NAME, MODULES
from clusterkit.machine.environment import REPO_ROOT

SOLUTIONS = sorted(p for p in (REPO_ROOT / "solutions").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXERCISES = sorted(p for m in MODULES for p in (REPO_ROOT / m).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def name(path):
    return str(path.relative_to(REPO_ROOT))


def test_every_module_has_solutions_and_exercises():
    for module in MODULES:
        assert any(p.parent.name == module for p in SOLUTIONS), f"no solution notebook in solutions/{module}"
        assert any(p.parent.name == module for p in EXERCISES), f"no exercise notebook in {module}"
    assert (REPO_ROOT / "solutions" / "01_parallelism" / "01_start_here.ipynb").exists()


@pytest.mark.parametrize("path", SOLUTIONS, ids=name)
def test_solution_executed_in_order_with_outputs(path):
    code = [c for c in cells(path) if c["cell_type"] == "code" and text(c).strip()]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert sum(bool(c["outputs"]) for c in code) >= len(code) // 2
    for cell in code:
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors, f"committed error output: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", EXERCISES, ids=name)
def test_exercise_has_no_outputs_and_has_a_todo(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert any("# TODO:" in text(c) for c in code), "an exercise notebook needs at least one exercise"


@pytest.mark.parametrize("path", SOLUTIONS + EXERCISES, ids=name)
def test_structure_title_objectives_key_points_kernel(path):
    notebook = json.loads(path.read_text())
    markdown = [text(c) for c in notebook["cells"] if c["cell_type"] == "markdown"]
    titles = [line for cell in markdown for line in cell.splitlines() if re.match(r"^# \S", line)]
    assert len(titles) == 1, f"one '# Title' expected, found {titles}"
    everything = "\n".join(markdown).lower()
    for part in ("learning objectives", "prerequisites", "time", "key points"):
        assert part in everything, f"missing '{part}'"
    assert notebook["metadata"]["kernelspec"]["name"] == KERNEL_NAME


@pytest.mark.parametrize("path", SOLUTIONS, ids=name)
def test_every_exercise_is_followed_by_a_check(path):
    sources = [text(c) for c in cells(path) if c["cell_type"] == "code"]
    for index, source in enumerate(sources):
        if "# EXERCISE:" in source:
            rest = "\n".join(sources[index:index + 3])
            assert re.search(r"\bcheck_\w+\(", rest), f"exercise in code cell {index} has no check_...() after it"
