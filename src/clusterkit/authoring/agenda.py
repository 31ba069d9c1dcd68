#!/usr/bin/env python3
"""Write the notebook tables of README.md and INSTRUCTORS.md from the solution notebooks themselves: each
notebook's title, its exercises, and the time Restart & Run All took when clusterkit.authoring.execute last
executed it (kept in the notebook's metadata). The tables sit between marker comments:

    README.md         <!-- notebooks:begin --> ... <!-- notebooks:end -->
    INSTRUCTORS.md    <!-- agenda:begin --> ... <!-- agenda:end -->

    python -m clusterkit.authoring.agenda           rewrite both tables
    python -m clusterkit.authoring.agenda --check   exit 1 if a table is out of date
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from clusterkit.authoring.catalog import module_exercises
from clusterkit.course import MODULES, NOTEBOOKS_BUDGET_SECONDS
from clusterkit.machine.environment import REPO_ROOT as ROOT
from clusterkit.notebook.tables import replace_between

# the learner's time, an estimate: reading and running the notebook, plus each exercise
READING_MINUTES, MINUTES_PER_EXERCISE = 10, 10


@dataclass(frozen=True)
class Notebook:
    module: str
    name: str
    title: str
    seconds: int | None
    executed_on: str
    exercises: int

    @property
    def learner_minutes(self) -> int:
        minutes = READING_MINUTES + MINUTES_PER_EXERCISE * self.exercises + (self.seconds or 0) / 60
        return 5 * math.ceil(minutes / 5)


def notebooks() -> list[Notebook]:
    found = []
    for module in MODULES:
        exercises = module_exercises(ROOT / module)
        for path in sorted((ROOT / "solutions" / module).glob("*.ipynb")):
            notebook = json.loads(path.read_text())
            title = "".join(notebook["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()
            # a notebook's exercises: those in its cells, and those of the scripts it is the first to run
            count = sum(1 for e in exercises if e.source == path or (e.script and _first_user(e, module) == path))
            meta = notebook["metadata"].get("clusterkit", {})
            found.append(Notebook(module, path.name, title, meta.get("executed_seconds"),
                                  meta.get("executed_on", ""), count))
    return found


def _first_user(exercise, module) -> Path:
    """The first notebook of the module whose code names the exercise's script."""
    for path in sorted((ROOT / "solutions" / module).glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        if any(exercise.source.name in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            return path
    return exercise.source


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def readme_table(rows: list[Notebook]) -> str:
    lines = ["| notebook | topic | exercises | Restart & Run All took |", "| --- | --- | --- | --- |"]
    for row in rows:
        link = f"[`{row.module}/{row.name}`]({row.module}/{row.name})"
        lines.append(f"| {link} | {row.title} | {row.exercises} | {_duration(row.seconds)} |")
    total = sum(r.seconds or 0 for r in rows)
    lines.append(f"| all {len(rows)} notebooks | | {sum(r.exercises for r in rows)} | {_duration(total)} (the "
                 f"suite's budget: {_duration(NOTEBOOKS_BUDGET_SECONDS)}, `clusterkit.course`) |")
    return "\n".join(lines) + "\n\n" + _measured_on(rows)


def agenda_table(rows: list[Notebook]) -> str:
    lines = ["| module | notebook | cells run in (measured) | exercises | learner time (estimate) |",
             "| --- | --- | --- | --- | --- |"]
    for module in MODULES:
        of_module = [r for r in rows if r.module == module]
        for row in of_module:
            lines.append(f"| {module} | [{row.title}]({row.module}/{row.name}) | {_duration(row.seconds)} | "
                         f"{row.exercises} | {row.learner_minutes} min |")
        lines.append(f"| **{module}** | | **{_duration(sum(r.seconds or 0 for r in of_module))}** | "
                     f"**{sum(r.exercises for r in of_module)}** | **{sum(r.learner_minutes for r in of_module)} "
                     "min** |")
    return ("\n".join(lines) + "\n\n" + _measured_on(rows) + f" Learner time is an estimate, not a measurement: "
            f"{READING_MINUTES} min to read and run a notebook, {MINUTES_PER_EXERCISE} min per exercise, plus "
            "the cells' run time, rounded up to 5 min.")


def _measured_on(rows: list[Notebook]) -> str:
    machines = "; ".join(sorted({r.executed_on for r in rows if r.executed_on}))
    return ("Run times: Restart & Run All of each solution notebook by `clusterkit.authoring.execute`, kernel start "
            f"included, one notebook at a time, on the machine these outputs were recorded on ({machines}). "
            "Expect other figures on yours.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is out of date")
    args = parser.parse_args()
    rows = notebooks()
    stale = []
    for path, name, table in [(ROOT / "README.md", "notebooks", readme_table(rows)),
                              (ROOT / "INSTRUCTORS.md", "agenda", agenda_table(rows))]:
        text = path.read_text()
        try:
            new = replace_between(text, name, table)
        except ValueError as error:
            raise SystemExit(f"{path.name}: {error}") from None
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m clusterkit.authoring.agenda", file=sys.stderr)
        return 1
    print("tables up to date" if not stale else f"wrote {', '.join(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
