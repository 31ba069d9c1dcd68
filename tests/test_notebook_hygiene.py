"""Solutions are committed executed in order with outputs; exercises are clean; every notebook has one title
cell that names its learning objectives, prerequisites and time, ends with its key points, and uses the course
kernel (CONTRIBUTING.md, "A notebook"); every exercise of a solution is followed by its check.

Each rule is a function that says what is wrong with one notebook file (nothing: the notebook keeps the rule).
The tests run it on every notebook, and on doctored copies of them in a temporary folder, each with what the rule
guards removed: there the rule must say so (a rule that cannot fail guards nothing). The real notebooks are
only read."""
import re

import pytest

from clusterkit.course import KERNEL_NAME, MODULES
from clusterkit.machine.environment import REPO_ROOT
from conftest import cell_text, notebook_cells, read_notebook, write_notebook

SOLUTIONS = sorted(p for p in (REPO_ROOT / "solutions").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXERCISES = sorted(p for m in MODULES for p in (REPO_ROOT / m).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

TITLE = re.compile(r"^# \S")
# what the title cell names, each on a line of its own that starts with its bold label ("**Time**:" or "**Time:**")
TITLE_CELL_PARTS = {
    "**Learning objectives**": re.compile(r"^\*\*Learning objectives:?\*\*:?[ \t]*\n(?:[ \t]*\n)?- \S", re.M),
    "**Prerequisites**": re.compile(r"^\*\*Prerequisites(?::\*\*|\*\*:)[ \t]*\S", re.M),
    "**Time**": re.compile(r"^\*\*Time(?::\*\*|\*\*:)[^\n]*?\b\d+ (?:minutes?|hours?)\b", re.M),
}
TITLE_CELL_SAYS = {
    "**Learning objectives**": "a line '**Learning objectives**' followed by its bullet points",
    "**Prerequisites**": "a line '**Prerequisites**: ...'",
    "**Time**": "a line '**Time**: about N minutes' (the time measured for it)",
}
KEY_POINTS = re.compile(r"^## Key points[ \t]*\n(?:[ \t]*\n)*- \S", re.M)
CHECK_CALL = re.compile(r"\bcheck_\w+\(")


def name(path):
    return str(path.relative_to(REPO_ROOT))


# ------------------------------------------------------------------------------------------ the rules

def structure_problems(path) -> list[str]:
    """One '# Title', in a markdown cell that names the learning objectives, prerequisites and time; a last cell
    '## Key points' with its bullet points; the course's kernel."""
    notebook = read_notebook(path)
    cells = notebook["cells"]
    markdown = [cell_text(c) for c in cells if c["cell_type"] == "markdown"]
    titles = [line for cell in markdown for line in cell.splitlines() if TITLE.match(line)]
    problems = [] if len(titles) == 1 else [f"one '# Title' expected, found {titles}"]
    title_cell = next((cell for cell in markdown if any(TITLE.match(line) for line in cell.splitlines())), "")
    for part, pattern in TITLE_CELL_PARTS.items():
        if not pattern.search(title_cell):
            problems.append(f"the title cell has no {part}: it needs {TITLE_CELL_SAYS[part]}")
    last = cells[-1] if cells else {"cell_type": None, "source": ""}
    if last["cell_type"] != "markdown" or not KEY_POINTS.search(cell_text(last)):
        problems.append("the last cell is not '## Key points' followed by its bullet points")
    kernel = notebook.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != KERNEL_NAME:
        problems.append(f"the kernel is {kernel!r}, not the course's {KERNEL_NAME!r}")
    return problems


def execution_problems(path) -> list[str]:
    """A solution is committed run from a fresh kernel, top to bottom: its code cells numbered 1, 2, ... in order,
    at least half of them with outputs, none with an error."""
    code = [c for c in notebook_cells(path) if c["cell_type"] == "code" and cell_text(c).strip()]
    counts = [c["execution_count"] for c in code]
    problems = []
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts {counts}, expected 1 to {len(code)} in order")
    with_outputs = sum(bool(c["outputs"]) for c in code)
    if with_outputs < len(code) // 2:
        problems.append(f"only {with_outputs} of {len(code)} code cells have outputs")
    for index, cell in enumerate(code):
        problems += [f"committed error output in code cell {index}: {o.get('ename')}"
                     for o in cell["outputs"] if o["output_type"] == "error"]
    return problems


def exercise_problems(path) -> list[str]:
    """An exercise notebook is committed clean (no outputs, no execution counts) and holds an exercise."""
    code = [c for c in notebook_cells(path) if c["cell_type"] == "code"]
    problems = [f"code cell {index} is not clean: outputs or an execution count"
                for index, c in enumerate(code) if c["outputs"] != [] or c["execution_count"] is not None]
    if not any("# TODO:" in cell_text(c) for c in code):
        problems.append("an exercise notebook needs at least one exercise ('# TODO:')")
    return problems


def code_only(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))


def unchecked_exercises(path) -> list[str]:
    """Every '# EXERCISE:' is followed by a check_...() call: after its '# END EXERCISE' in its own cell (what the
    exercise notebook keeps: the region itself becomes a TODO) or in the next two code cells, before the next
    exercise; a call in a comment does not count."""
    sources = [cell_text(c) for c in notebook_cells(path) if c["cell_type"] == "code"]
    problems = []
    for index, source in enumerate(sources):
        if "# EXERCISE:" not in source:
            continue
        after = [source.rsplit("# END EXERCISE", 1)[-1]]
        for following in sources[index + 1:index + 3]:
            after.append(following.split("# EXERCISE:", 1)[0])
            if "# EXERCISE:" in following:
                break
        if not any(CHECK_CALL.search(code_only(text)) for text in after):
            problems.append(f"exercise in code cell {index} has no check_...() after it")
    return problems


# ------------------------------------------------------------------------------------------ the notebooks keep them

def test_every_module_has_solutions_and_exercises():
    for module in MODULES:
        assert any(p.parent.name == module for p in SOLUTIONS), f"no solution notebook in solutions/{module}"
        assert any(p.parent.name == module for p in EXERCISES), f"no exercise notebook in {module}"
    assert (REPO_ROOT / "solutions" / "01_parallelism" / "01_start_here.ipynb").exists()


@pytest.mark.parametrize("path", SOLUTIONS, ids=name)
def test_solution_executed_in_order_with_outputs(path):
    assert execution_problems(path) == []


@pytest.mark.parametrize("path", EXERCISES, ids=name)
def test_exercise_has_no_outputs_and_has_a_todo(path):
    assert exercise_problems(path) == []


@pytest.mark.parametrize("path", SOLUTIONS + EXERCISES, ids=name)
def test_structure_title_objectives_key_points_kernel(path):
    assert structure_problems(path) == []


@pytest.mark.parametrize("path", SOLUTIONS, ids=name)
def test_every_exercise_is_followed_by_a_check(path):
    assert unchecked_exercises(path) == []


# ------------------------------------------------------------------------------------------ and each rule can fail

def doctored(path, folder, change):
    """A copy of the notebook at `path` in `folder`, its parsed JSON changed by `change(notebook)`."""
    notebook = read_notebook(path)
    change(notebook)
    copy = folder / path.name
    write_notebook(copy, notebook)
    return copy


def title_cell(notebook) -> dict:
    return next(c for c in notebook["cells"] if c["cell_type"] == "markdown"
                and any(TITLE.match(line) for line in cell_text(c).splitlines()))


def remove_lines(cell, starting: str) -> list[str]:
    """Take the lines that start with `starting` out of the cell; return them (there must be one)."""
    lines = cell_text(cell).splitlines(keepends=True)
    cell["source"] = [line for line in lines if not line.startswith(starting)]
    removed = [line for line in lines if line.startswith(starting)]
    assert removed, f"no line starting with {starting!r} to remove"
    return removed


def remove_bullets_after(cell, heading: str) -> None:
    """Take out the bullet points (and their continued lines) that follow the line `heading` in the cell."""
    lines = cell_text(cell).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == heading) + 1
    stop = start
    while stop < len(lines) and (lines[stop].startswith(("- ", "  ")) or not lines[stop].strip()):
        stop += 1
    assert any(line.startswith("- ") for line in lines[start:stop]), f"no bullet points after {heading!r}"
    cell["source"] = lines[:start] + ["\n"] + lines[stop:]


def move_time_line_to_the_end(notebook):
    time_line = remove_lines(title_cell(notebook), "**Time")
    notebook["cells"][-1]["source"] = [cell_text(notebook["cells"][-1]) + "\n\n", *time_line]


def add_markdown_cell(text: str):
    return lambda notebook: notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [text]})


DOCTORED_STRUCTURE = {  # what is taken away -> how, and what structure_problems must then say
    "time line": (lambda nb: remove_lines(title_cell(nb), "**Time"), "no **Time**"),
    "time line moved out of the title cell": (move_time_line_to_the_end, "no **Time**"),
    "time without a duration": (
        lambda nb: [remove_lines(title_cell(nb), "**Time"), title_cell(nb)["source"].append("\n**Time**: soon.\n")],
        "no **Time**"),
    "objectives line": (lambda nb: remove_lines(title_cell(nb), "**Learning objectives"), "no **Learning objectives**"),
    "objectives' bullets": (lambda nb: remove_bullets_after(title_cell(nb), "**Learning objectives**"),
                            "no **Learning objectives**"),
    "prerequisites line": (lambda nb: remove_lines(title_cell(nb), "**Prerequisites"), "no **Prerequisites**"),
    "key points heading": (lambda nb: remove_lines(nb["cells"][-1], "## Key points"), "'## Key points'"),
    "key points' bullets": (lambda nb: remove_bullets_after(nb["cells"][-1], "## Key points"), "'## Key points'"),
    "key points at the end": (add_markdown_cell("## Next\nThe next notebook."), "'## Key points'"),
    "title line": (lambda nb: remove_lines(title_cell(nb), "# "), "one '# Title' expected"),
    "one title only": (add_markdown_cell("# A second title"), "one '# Title' expected"),
    "course kernel": (lambda nb: nb["metadata"]["kernelspec"].update(name="python3"), "the kernel is 'python3'"),
}


def first_code_cell(notebook, having=lambda cell: True) -> dict:
    return next(c for c in notebook["cells"] if c["cell_type"] == "code" and cell_text(c).strip() and having(c))


def swap_first_two_counts(notebook):
    first, second = [c for c in notebook["cells"] if c["cell_type"] == "code" and cell_text(c).strip()][:2]
    first["execution_count"], second["execution_count"] = second["execution_count"], first["execution_count"]


def clear_outputs(notebook):
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []


DOCTORED_EXECUTION = {
    "run in order": (swap_first_two_counts, "execution counts"),
    "a cell run": (lambda nb: first_code_cell(nb).update(execution_count=None), "execution counts"),
    "outputs": (clear_outputs, "code cells have outputs"),
    "no error": (lambda nb: first_code_cell(nb)["outputs"].append(
        {"output_type": "error", "ename": "ValueError", "evalue": "doctored", "traceback": []}),
        "committed error output in code cell 0: ValueError"),
}


def remove_todos(notebook):
    for cell in notebook["cells"]:
        cell["source"] = cell_text(cell).replace("# TODO:", "# done:")


DOCTORED_EXERCISE = {
    "no outputs": (lambda nb: first_code_cell(nb)["outputs"].append(
        {"output_type": "stream", "name": "stdout", "text": ["PASS\n"]}), "is not clean"),
    "no execution count": (lambda nb: first_code_cell(nb).update(execution_count=1), "is not clean"),
    "an exercise": (remove_todos, "at least one exercise"),
}


# each check, the notebooks it reads, and the copies it must fail on
DOCTORED = [(check, notebooks, taken, *how) for check, notebooks, table in (
    (structure_problems, SOLUTIONS, DOCTORED_STRUCTURE), (execution_problems, SOLUTIONS, DOCTORED_EXECUTION),
    (exercise_problems, EXERCISES, DOCTORED_EXERCISE)) for taken, how in table.items()]


@pytest.mark.parametrize("path, check, taken, change, said", [
    pytest.param(path, check, taken, change, said, id=f"{check.__name__}-{taken}-{name(path)}")
    for check, notebooks, taken, change, said in DOCTORED for path in notebooks])
def test_each_check_fails_on_a_copy_without_what_it_guards(path, check, taken, change, said, tmp_path):
    problems = check(doctored(path, tmp_path, change))
    assert any(said in problem for problem in problems), f"without {taken}, {name(path)} passed: {problems}"


def exercise_cells(notebook) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code" and "# EXERCISE:" in cell_text(c)]


def without_first_check(notebook, commented: bool = False):
    """The check calls after the first exercise taken out (or commented out): from the rest of its cell after
    '# END EXERCISE' and from the next two code cells."""
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    index = code.index(exercise_cells(notebook)[0])
    changed = 0
    for offset, cell in enumerate(code[index:index + 3]):
        head, marker, tail = cell_text(cell).rpartition("# END EXERCISE") if offset == 0 else ("", "", cell_text(cell))
        lines = tail.splitlines(keepends=True)
        kept = [("# " + line if commented else "") if CHECK_CALL.search(line) else line for line in lines]
        changed += kept != lines
        cell["source"] = head + marker + "".join(kept)
    assert changed, "no check call after the first exercise to take out"


@pytest.mark.parametrize("commented", [False, True], ids=["removed", "commented out"])
@pytest.mark.parametrize("path", SOLUTIONS, ids=name)
def test_check_after_exercise_check_fails_on_a_copy_without_the_check(path, commented, tmp_path):
    if not exercise_cells(read_notebook(path)):
        pytest.skip("no exercise in this notebook")
    problems = unchecked_exercises(doctored(path, tmp_path, lambda nb: without_first_check(nb, commented)))
    assert any("has no check_...() after it" in problem for problem in problems), problems


def test_a_check_of_the_next_exercise_does_not_count_for_the_one_before(tmp_path):
    def code(source):
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}

    notebook = {"cells": [code("def a():\n    # EXERCISE: a\n    return 1\n    # END EXERCISE\n"),
                          code("def b():\n    # EXERCISE: b\n    return 2\n    # END EXERCISE\n"),
                          code("check_b(b)\n")], "metadata": {}}
    path = tmp_path / "two_exercises.ipynb"
    write_notebook(path, notebook)
    assert unchecked_exercises(path) == ["exercise in code cell 0 has no check_...() after it"]
