"""`%solution`: load the solution of one exercise into an exercise notebook's cell or script.

Filling puts the solution's region back where the exercise has its `# TODO` and `raise` lines
(`clusterkit.authoring.markers`), so a filled exercise is the solution's code again.

In an exercise notebook (any cell):

    %solution            lists this module's exercises, numbered
    %solution 3          loads exercise 3: a notebook exercise replaces the cell that ran the magic with
                         the solution's cell; a script exercise is written into the script beside the notebook
    %solution gather     the same, chosen by words of its task
"""
from __future__ import annotations

from pathlib import Path

from clusterkit.authoring.catalog import Exercise, SolutionNotFound, module_exercises
from clusterkit.authoring.markers import fill
from clusterkit.machine.environment import REPO_ROOT


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
            f"edited): compare it with {exercise.source.relative_to(REPO_ROOT)}, or start over: delete your copy "
            f"{exercise.source.parent.name}/{script.name} and run `make update` (or `python -m "
            "clusterkit.learner.workspace sync`), which copies the course's version back"
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
