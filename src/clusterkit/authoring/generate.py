"""Generate the exercise side of every module from its solutions (the single source).

    solutions/<module>/<name>.ipynb  ->  <module>/<name>.ipynb   outputs cleared, solution code cut
    solutions/<module>/<script>.py   ->  <module>/<script>.py    solution code cut, if it has exercises
    any other file of solutions/<module>/  ->  a copy of it, byte for byte

The markers (`clusterkit.authoring.markers`) say what to cut. A cell tagged `solution-only` (metadata tags)
is left out of the exercise notebook. The module folders hold no links: a learner who edits a file there
never changes a solution.

Every file with an exercise says so in its first line (a script) or its first cell (a notebook), names its
solution, and carries a hash of what was generated, so the generator can tell a file edited by hand and
refuses to overwrite it: move the change into the solution, then run again with --force. A learner works in
a copy of the module folders of their own (`clusterkit.learner.workspace`), not in these.

    python -m clusterkit.authoring.generate           write the exercise files
    python -m clusterkit.authoring.generate --check   exit 1 if any exercise file is out of date or edited by hand
    python -m clusterkit.authoring.generate --force   overwrite files edited by hand too
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from clusterkit.authoring.markers import MarkerError, cut_solutions, has_exercise
from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT as ROOT

# not course files: Jupyter's and Python's caches, the runs/ folder beside each notebook (what its jobs write)
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "runs"}
SKIP_SUFFIXES = {".out"}  # Slurm's job output files, written beside the job scripts
SCRIPT_HEADER = re.compile(r"^# EXERCISE SCRIPT: yours to edit where it says TODO\. Its solution: (?P<source>\S+) "
                           r"\(`%solution` loads it\)\. Made from it by `make exercises`; "
                           r"sha256:(?P<digest>[0-9a-f]{16})\n")
NOTEBOOK_KEY = "clusterkit"


def skipped(relative: Path) -> bool:
    """Whether a path inside a module folder is a run's or a cache's file, not a course file."""
    return bool(SKIP_PARTS & set(relative.parts)) or relative.suffix in SKIP_SUFFIXES


@dataclass(frozen=True)
class Generated:
    """A file the generator writes (a script or notebook with the solution code cut out)."""

    content: bytes


@dataclass(frozen=True)
class Copy:
    """A byte-for-byte copy of a solution's file that has no exercise in it (overwritten whenever it differs)."""

    content: bytes


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def exercise_script(text: str, relative: str) -> str:
    """The exercise script: a header naming its source and hashing the rest, then the cut code."""
    body = cut_solutions(text, relative)
    return (f"# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: {relative} (`%solution` loads it). "
            f"Made from it by `make exercises`; sha256:{digest(body.encode())}\n" + body)


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
                        "into its cell or script. This notebook is yours: edit it freely. Its solution, complete "
                        f"and executed, is `{relative}` in the course repository."}
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


def expected_files(root: Path = ROOT) -> dict[Path, Generated | Copy]:
    """Every exercise-side file that the solutions generate or link to."""
    expected: dict[Path, Generated | Copy] = {}
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
                expected[target] = Copy(source.read_bytes())
    return expected


def generated_by_us(path: Path) -> str | None:
    """Whether `path` is a file this tool made and nobody changed: None if so, else why not."""
    if path.is_symlink():
        return f"it is a link to {path.readlink()}"
    if path.suffix == ".ipynb":
        try:
            notebook = json.loads(path.read_text())
            recorded = notebook["metadata"][NOTEBOOK_KEY]["sha256"]
        except (ValueError, KeyError, TypeError):
            return "it has no 'generated from' record"
        return None if recorded == digest(_cells_bytes(notebook["cells"])) else "its cells were edited"
    header = SCRIPT_HEADER.match(path.read_text(errors="replace"))
    if header is None:
        return "it has no 'EXERCISE SCRIPT' line"
    body = path.read_bytes().split(b"\n", 1)[1]
    return None if header["digest"] == digest(body) else "its code was edited"


def is_current(path: Path, want: Generated | Copy) -> bool:
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


def write(path: Path, want: Generated | Copy) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
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
                   if (path.exists() or path.is_symlink()) and not isinstance(expected.get(path), Copy)
                   and (why := generated_by_us(path))}
    if args.check:
        for path in outdated:
            print(f"out of date: {path.relative_to(ROOT)}" + (f" ({hand_edited[path]})" if path in hand_edited else ""))
        for path in stale:
            print(f"not generated by any solution: {path.relative_to(ROOT)}")
        if outdated or stale:
            print("Run `make exercises` (python -m clusterkit.authoring.generate) and commit the result.")
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
