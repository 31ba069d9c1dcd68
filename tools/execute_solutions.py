#!/usr/bin/env python3
"""Execute solution notebooks in place, top to bottom, with the course kernel; then regenerate the
exercises. This is how solutions are committed: executed 1..n, with their real outputs.

    .venv/bin/python tools/execute_solutions.py solutions/01_parallelism/01_start_here.ipynb
    .venv/bin/python tools/execute_solutions.py --all
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "dmlcpu"


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(notebook, kernel_name=KERNEL, timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python (Distributed ML on CPU)",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true", help="every notebook under solutions/")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args()
    paths = sorted((ROOT / "solutions").rglob("*.ipynb")) if args.all else args.notebooks
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    if not paths:
        parser.error("name notebooks or pass --all")
    total = 0.0
    for path in paths:
        seconds = execute(path.resolve(), args.timeout)
        total += seconds
        print(f"executed {path} in {seconds:.0f} s", flush=True)
    print(f"total {total:.0f} s")
    return subprocess.call([sys.executable, str(ROOT / "tools" / "make_exercises.py")])


if __name__ == "__main__":
    sys.exit(main())
