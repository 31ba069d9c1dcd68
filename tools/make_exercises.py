#!/usr/bin/env python3
"""Generate the exercise side of every module from its solutions (the single source).

    solutions/<module>/<name>.ipynb  ->  <module>/<name>.ipynb   outputs cleared, solution code cut
    solutions/<module>/<script>.py   ->  <module>/<script>.py    solution code cut, if it has exercises
    any other file of solutions/<module>/  ->  a symbolic link to it: one file, run by both notebooks

Solution code to cut is marked in code cells and scripts by two comment lines:

    # EXERCISE: what the learner has to write (one line)
    ...the solution...
    # END EXERCISE

and becomes, at the marker's indentation,

    # TODO: what the learner has to write (one line)
    raise NotImplementedError("TODO: what the learner has to write (one line)")

A cell tagged `solution-only` (metadata tags) is left out of the exercise notebook.

Every generated file names its source and carries a hash of what was generated (a script in its first
line, a notebook in its metadata), so the generator can tell a file edited by hand and refuses to
overwrite it: move the change into the solution, then run again with --force.

    python tools/make_exercises.py           write the exercise files
    python tools/make_exercises.py --check   exit 1 if any exercise file is out of date or edited by hand
    python tools/make_exercises.py --force   overwrite files edited by hand too
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from clusterkit.course import MODULES  # noqa: E402  (the tool runs with or without the course environment)
from clusterkit.solutions import BEGIN, END  # noqa: E402  (the markers %solution reads back)

# not course files: Jupyter's and Python's caches, the runs/ folder beside each notebook (what its jobs write)
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "runs"}
SKIP_SUFFIXES = {".out"}  # Slurm's job output files, written beside the job scripts


def skipped(relative: Path) -> bool:
    """Whether a path inside a module folder is a run's or a cache's file, not a course file."""
    return bool(SKIP_PARTS & set(relative.parts)) or relative.suffix in SKIP_SUFFIXES
SCRIPT_HEADER = re.compile(r"^# GENERATED from (?P<source>\S+) by tools/make_exercises\.py: edit that file, then run "
                           r"`make exercises`\. sha256:(?P<digest>[0-9a-f]{16})\n")
NOTEBOOK_KEY = "clusterkit"


class MarkerError(ValueError):
    pass


@dataclass(frozen=True)
class Generated:
    """A file the generator writes (a script or notebook with the solution code cut out)."""

    content: bytes


@dataclass(frozen=True)
class Link:
    """A symbolic link to the solution's own file, which has no exercise in it."""

    target: str  # relative to the link's folder


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


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


def exercise_script(text: str, relative: str) -> str:
    """The exercise script: a header naming its source and hashing the rest, then the cut code."""
    body = cut_solutions(text, relative)
    return f"# GENERATED from {relative} by tools/make_exercises.py: edit that file, then run `make exercises`. " \
           f"sha256:{digest(body.encode())}\n" + body


def exercise_notebook(solution: Path) -> str:
    """The exercise notebook, as text, made from a solution notebook."""
    notebook = json.loads(solution.read_text())
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        clean = {"cell_type": cell["cell_type"], "metadata": _keep_tags(cell.get("metadata", {})),
                 "source": source}
        if cell.get("id"):
            clean["id"] = cell["id"]
        if cell["cell_type"] == "code":
            clean["source"] = cut_solutions(source, f"{solution}#cell{index}")
            clean["execution_count"] = None
            clean["outputs"] = []
        cells.append(clean)
    relative = solution.relative_to(ROOT).as_posix()
    banner = {"cell_type": "markdown", "metadata": {}, "id": "exercise-banner",
              "source": "> **Exercise notebook.** Cells with a `# TODO` are yours to complete; the check cell "
                        "after each tells you PASS, or what to fix. Stuck? `%solution` (in any cell, after the "
                        "first code cell) lists this module's exercises and `%solution 3` loads one's solution "
                        "into its cell or script. The complete, executed version is "
                        f"[`{relative}`](../{relative})."}
    cells.insert(1 if cells and cells[0]["cell_type"] == "markdown" else 0, banner)
    metadata = {key: notebook.get("metadata", {})[key] for key in ("kernelspec", "language_info")
                if key in notebook.get("metadata", {})}
    metadata[NOTEBOOK_KEY] = {"generated_from": relative, "edit": "edit that file, then run `make exercises`",
                              "sha256": digest(_cells_bytes(cells))}
    result = {"cells": cells, "metadata": metadata, "nbformat": notebook.get("nbformat", 4),
              "nbformat_minor": notebook.get("nbformat_minor", 5)}
    return json.dumps(result, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _cells_bytes(cells: list) -> bytes:
    return json.dumps(cells, sort_keys=True, ensure_ascii=False).encode()


def _keep_tags(metadata: dict) -> dict:
    return {"tags": metadata["tags"]} if metadata.get("tags") else {}


def expected_files(root: Path = ROOT) -> dict[Path, Generated | Link]:
    """Every exercise-side file that the solutions generate or link to."""
    expected: dict[Path, Generated | Link] = {}
    for module in MODULES:
        source_dir = root / "solutions" / module
        if not source_dir.is_dir():
            continue
        for source in sorted(source_dir.rglob("*")):
            if source.is_dir() or skipped(source.relative_to(source_dir)):
                continue
            target = root / module / source.relative_to(source_dir)
            relative = source.relative_to(root).as_posix()
            if source.suffix == ".ipynb":
                expected[target] = Generated(exercise_notebook(source).encode())
            elif source.suffix == ".py" and has_exercise(source.read_text()):
                expected[target] = Generated(exercise_script(source.read_text(), relative).encode())
            else:
                expected[target] = Link(os.path.relpath(source, target.parent))
    return expected


def generated_by_us(path: Path) -> str | None:
    """Whether `path` is a file this tool made and nobody changed: None if so, else why not."""
    if path.is_symlink():
        return None if (path.parent / os.readlink(path)).resolve().is_relative_to(ROOT / "solutions") \
            else f"it links to {os.readlink(path)}, outside solutions/"
    if path.suffix == ".ipynb":
        try:
            notebook = json.loads(path.read_text())
            recorded = notebook["metadata"][NOTEBOOK_KEY]["sha256"]
        except (ValueError, KeyError, TypeError):
            return "it has no 'generated from' record"
        return None if recorded == digest(_cells_bytes(notebook["cells"])) else "its cells were edited"
    header = SCRIPT_HEADER.match(path.read_text(errors="replace"))
    if header is None:
        return "it has no 'GENERATED from' line"
    body = path.read_bytes().split(b"\n", 1)[1]
    return None if header["digest"] == digest(body) else "its code was edited"


def is_current(path: Path, want: Generated | Link) -> bool:
    if isinstance(want, Link):
        return path.is_symlink() and os.readlink(path) == want.target
    return path.is_file() and not path.is_symlink() and path.read_bytes() == want.content


def stale_files(expected: dict, root: Path = ROOT) -> list[Path]:
    """Files and links in the module folders that no solution generates (any more)."""
    stale = []
    for module in MODULES:
        folder = root / module
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if (path.is_file() or path.is_symlink()) and not skipped(path.relative_to(folder)) and path not in expected:
                stale.append(path)
    return stale


def write(path: Path, want: Generated | Link) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    if isinstance(want, Link):
        path.symlink_to(want.target)
    else:
        path.write_bytes(want.content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if an exercise file is out of date")
    parser.add_argument("--force", action="store_true", help="overwrite exercise files edited by hand")
    args = parser.parse_args(argv)
    try:
        expected = expected_files()
    except MarkerError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    outdated = [path for path, want in expected.items() if not is_current(path, want)]
    stale = stale_files(expected)
    hand_edited = {path: why for path in outdated + stale
                   if (path.exists() or path.is_symlink()) and (why := generated_by_us(path))}
    if args.check:
        for path in outdated:
            print(f"out of date: {path.relative_to(ROOT)}" + (f" ({hand_edited[path]})" if path in hand_edited else ""))
        for path in stale:
            print(f"not generated by any solution: {path.relative_to(ROOT)}")
        if outdated or stale:
            print("Run `make exercises` (python tools/make_exercises.py) and commit the result.")
            return 1
        print(f"{len(expected)} exercise files in sync with solutions/")
        return 0
    refused = {path: why for path, why in hand_edited.items() if not args.force}
    for path, want in expected.items():
        if path in outdated and path not in refused:
            write(path, want)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        if path not in refused:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)}")
    for path, why in refused.items():
        print(f"refused to overwrite {path.relative_to(ROOT)}: {why}, so it was edited by hand. Move the change "
              "into its solution under solutions/, then run again with --force.", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
