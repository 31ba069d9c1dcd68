"""`%solution`: load the solution of one exercise into an exercise notebook's cell or script.

Exercises are cut out of the solutions (tools/make_exercises.py) between two comment lines,

    # EXERCISE: <task>
    ...the solution...
    # END EXERCISE

which become `# TODO: <task>` and a `raise NotImplementedError(...)` line. Filling puts the solution's
region back, markers included, so a filled exercise is the solution's code again.

In an exercise notebook (any cell):

    %solution            lists this module's exercises, numbered
    %solution 3          loads exercise 3: a notebook exercise replaces the cell that ran the magic with
                         the solution's cell; a script exercise is written into the script beside the notebook
    %solution gather     the same, chosen by words of its task
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .course import MODULES
from .environment import REPO_ROOT

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# EXERCISE: (?P<task>.+?)\s*$")
END = re.compile(r"^[ \t]*# END EXERCISE\s*$")
TODO = re.compile(r"^(?P<indent>[ \t]*)# TODO: (?P<task>.+?)\s*$")
RAISE = re.compile(r"^[ \t]*raise NotImplementedError\(")


class SolutionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Exercise:
    task: str
    source: Path  # the solution notebook or script it comes from
    region: str  # the solution's lines from `# EXERCISE:` to `# END EXERCISE`, both included
    cell: str | None = None  # a notebook exercise: the solution cell's whole source

    @property
    def script(self) -> bool:
        return self.cell is None


def regions(text: str) -> dict[str, str]:
    """task -> its solution region (markers included) in a solution's text."""
    found, lines, current = {}, [], None
    for line in text.splitlines(keepends=True):
        if current is None and (begin := BEGIN.match(line)):
            current, lines = begin["task"], [line]
        elif current is not None:
            lines.append(line)
            if END.match(line):
                found[current] = "".join(lines)
                current = None
    return found


def fill(text: str, solutions: dict[str, str]) -> tuple[str, list[str]]:
    """Put the solution region back for every `# TODO: task` + `raise NotImplementedError` pair whose task is
    in `solutions`; return the new text and the tasks filled."""
    lines, out, filled, index = text.splitlines(keepends=True), [], [], 0
    while index < len(lines):
        todo = TODO.match(lines[index])
        if todo and todo["task"] in solutions and index + 1 < len(lines) and RAISE.match(lines[index + 1]):
            region = solutions[todo["task"]]
            ends_line = lines[index + 1].endswith("\n")
            out.append(region if ends_line else region.rstrip("\n"))
            filled.append(todo["task"])
            index += 2
        else:
            out.append(lines[index])
            index += 1
    return "".join(out), filled


def _cell_sources(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def solutions_folder(folder: str | Path) -> Path:
    """The solutions/<module> folder for a module's exercise folder (or for that solutions folder itself)."""
    folder = Path(folder).resolve()
    if folder.name not in MODULES:
        raise SolutionNotFound(
            f"{folder} is not a module folder of the course ({', '.join(MODULES)}): open the exercise notebook "
            "from its module folder, so that its kernel runs there"
        )
    return REPO_ROOT / "solutions" / folder.name


def module_exercises(folder: str | Path) -> list[Exercise]:
    """Every exercise of the module whose folder is `folder`, in a fixed order: scripts, then notebooks."""
    source_folder = solutions_folder(folder)
    found = []
    for script in sorted(source_folder.glob("*.py")):
        found += [Exercise(task, script, region) for task, region in regions(script.read_text()).items()]
    for notebook in sorted(source_folder.glob("*.ipynb")):
        for cell in _cell_sources(notebook):
            found += [Exercise(task, notebook, region, cell) for task, region in regions(cell).items()]
    return found


def choose(exercises: list[Exercise], choice: str) -> Exercise:
    """The exercise picked by its number in the list (from 1) or by words of its task (all must occur)."""
    choice = choice.strip()
    if choice.isdigit():
        if 1 <= int(choice) <= len(exercises):
            return exercises[int(choice) - 1]
        raise SolutionNotFound(f"there is no exercise {choice}: this module has {len(exercises)}")
    words = choice.lower().split()
    matches = [e for e in exercises if all(word in e.task.lower() for word in words)]
    if len(matches) == 1:
        return matches[0]
    found = "none" if not matches else f"{len(matches)}: " + "; ".join(m.task for m in matches)
    raise SolutionNotFound(f"exercises whose task contains '{choice}': {found}. Use its number instead")


def listing(exercises: list[Exercise]) -> str:
    lines = [f"{number:>3}. [{e.source.name}] {e.task}" for number, e in enumerate(exercises, 1)]
    return "This module's exercises (load one with  %solution NUMBER):\n" + "\n".join(lines)


def load_into_script(exercise: Exercise, folder: str | Path) -> str:
    """Write a script exercise's solution into the learner's copy of the script; return what was done."""
    script = Path(folder) / exercise.source.name
    text = script.read_text()
    new, done = fill(text, {exercise.task: exercise.region})
    if not done:
        raise SolutionNotFound(
            f"{script.name} has no '# TODO: {exercise.task}' followed by its raise line (already filled, or "
            f"edited): compare it with {exercise.source.relative_to(REPO_ROOT)}, or start over with "
            f"`git checkout {exercise.source.parent.name}/{script.name}`"
        )
    script.write_text(new)
    return f"Wrote the solution of '{exercise.task}' into {script.name}: run the cell that starts it again."


def solution_magic(line: str) -> None:
    """%solution [NUMBER | words]: list this module's exercises, or load one's solution."""
    from IPython import get_ipython

    folder = Path.cwd()
    try:
        exercises = module_exercises(folder)
        if not line.strip():
            print(listing(exercises))
            return
        exercise = choose(exercises, line)
        if exercise.script:
            print(load_into_script(exercise, folder))
        else:
            get_ipython().set_next_input(exercise.cell, replace=True)
            print(f"The solution cell of '{exercise.task}' (from {exercise.source.name}) replaced this cell's "
                  "text: run the cell again to execute it.")
    except SolutionNotFound as problem:
        print(f"%solution: {problem}")


def install_solution_magic() -> None:
    """In a Jupyter kernel, make `%solution` available (no-op elsewhere)."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(solution_magic, "line", "solution")
