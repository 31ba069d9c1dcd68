"""The exercise-marker grammar, in one place: what the generator cuts, what `%solution` puts back.

In a solution's code cell or script, the learner's part is marked by two comment lines,

    # EXERCISE: what the learner has to write (one line)
    ...the solution...
    # END EXERCISE

and the exercise side holds, at the marker's indentation,

    # TODO: what the learner has to write (one line)
    raise NotImplementedError("TODO: what the learner has to write (one line)")

Filling puts the solution's region back, markers included, so a filled exercise is the solution's code again.
"""
from __future__ import annotations

import json
import re

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# EXERCISE: (?P<task>.+?)\s*$")
END = re.compile(r"^[ \t]*# END EXERCISE\s*$")
TODO = re.compile(r"^(?P<indent>[ \t]*)# TODO: (?P<task>.+?)\s*$")
RAISE = re.compile(r"^[ \t]*raise NotImplementedError\(")


class MarkerError(ValueError):
    pass


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


def cut_solutions(text: str, where: str = "") -> str:
    """Replace every EXERCISE ... END EXERCISE region by a TODO comment and a NotImplementedError."""
    out, inside, count = [], None, 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if inside is None and begin:
            inside, count = begin, count + 1
            task = begin["task"]
            newline = "\n" if line.endswith("\n") else ""
            out.append(f"{begin['indent']}# TODO: {task}\n")
            out.append(f"{begin['indent']}raise NotImplementedError({json.dumps('TODO: ' + task)}){newline}")
        elif inside is not None and end:
            inside = None
        elif begin or end:
            raise MarkerError(f"{where}:{number}: unbalanced EXERCISE markers")
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise MarkerError(f"{where}: '# EXERCISE: {inside['task']}' has no '# END EXERCISE'")
    return "".join(out)


def has_exercise(text: str) -> bool:
    return any(BEGIN.match(line) for line in text.splitlines())
