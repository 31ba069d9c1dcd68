#!/usr/bin/env python3
"""Generate the exercise files of every module from its solutions (the single source).

    solutions/<module>/<name>.ipynb  ->  <module>/<name>.ipynb   outputs cleared, solution code cut
    solutions/<module>/<script>.py   ->  <module>/<script>.py    solution code cut
    any other file                   ->  copied as it is

Solution code to cut is marked in code cells and scripts by two comment lines:

    # EXERCISE: what the learner has to write (one line)
    ...the solution...
    # END EXERCISE

and becomes, at the marker's indentation,

    # TODO: what the learner has to write (one line)
    raise NotImplementedError("TODO: what the learner has to write (one line)")

A cell tagged `solution-only` (metadata tags) is left out of the exercise notebook.

    python tools/make_exercises.py           write the exercise files
    python tools/make_exercises.py --check   exit 1 if any committed exercise is out of date
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
MODULES = ("01_parallelism", "02_daal4py", "03_horovod", "04_torch_ccl", "05_clusters")
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# EXERCISE: (?P<task>.+?)\s*$")
END = re.compile(r"^[ \t]*# END EXERCISE\s*$")
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__"}
GENERATED_SUFFIXES = {".ipynb", ".py"}


class MarkerError(ValueError):
    pass


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
                        "after each tells you PASS, or what to fix. The complete, executed version is "
                        f"[`{relative}`](../{relative})."}
    cells.insert(1 if cells and cells[0]["cell_type"] == "markdown" else 0, banner)
    metadata = {key: notebook.get("metadata", {})[key] for key in ("kernelspec", "language_info")
                if key in notebook.get("metadata", {})}
    result = {"cells": cells, "metadata": metadata, "nbformat": notebook.get("nbformat", 4),
              "nbformat_minor": notebook.get("nbformat_minor", 5)}
    return json.dumps(result, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _keep_tags(metadata: dict) -> dict:
    return {"tags": metadata["tags"]} if metadata.get("tags") else {}


def expected_files(root: Path = ROOT) -> dict[Path, bytes]:
    """Every exercise-side file that the solutions generate, with its expected content."""
    expected = {}
    for module in MODULES:
        source_dir = root / "solutions" / module
        if not source_dir.is_dir():
            continue
        for source in sorted(source_dir.rglob("*")):
            if source.is_dir() or SKIP_PARTS & set(source.parts):
                continue
            target = root / module / source.relative_to(source_dir)
            if source.suffix == ".ipynb":
                expected[target] = exercise_notebook(source).encode()
            elif source.suffix == ".py":
                expected[target] = cut_solutions(source.read_text(), str(source)).encode()
            else:
                expected[target] = source.read_bytes()
    return expected


def stale_files(expected: dict[Path, bytes], root: Path = ROOT) -> list[Path]:
    """Notebooks and scripts in the module folders that no solution generates any more."""
    stale = []
    for module in MODULES:
        for path in sorted((root / module).rglob("*")) if (root / module).is_dir() else []:
            if path.suffix in GENERATED_SUFFIXES and not SKIP_PARTS & set(path.parts) and path not in expected:
                stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if an exercise file is out of date")
    args = parser.parse_args(argv)
    try:
        expected = expected_files()
    except MarkerError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    stale = stale_files(expected)
    if args.check:
        outdated = [path for path, content in expected.items()
                    if not path.exists() or path.read_bytes() != content]
        for path in outdated:
            print(f"out of date: {path.relative_to(ROOT)}")
        for path in stale:
            print(f"not generated by any solution: {path.relative_to(ROOT)}")
        if outdated or stale:
            print("Run `python tools/make_exercises.py` and commit the result.")
            return 1
        print(f"{len(expected)} exercise files in sync with solutions/")
        return 0
    for path, content in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
