#!/usr/bin/env python3
"""Execute solution notebooks in place, top to bottom, with the course kernel; then regenerate the
exercises. This is how solutions are committed: executed 1..n, with their real outputs, written
machine-independent (this machine's paths become <COURSE>, <VENV> and ~) and with one line near the
top saying which machine the outputs were recorded on.

    .venv/bin/python -m clusterkit.authoring.execute solutions/01_parallelism/01_start_here.ipynb
    .venv/bin/python -m clusterkit.authoring.execute --all
"""
from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from clusterkit.authoring import generate
from clusterkit.course import KERNEL_DISPLAY_NAME, KERNEL_NAME
from clusterkit.machine.environment import REPO_ROOT as ROOT
from clusterkit.machine.topology import recorded_on

RECORDED_ON_ID = "recorded-on"
METADATA_KEY = "clusterkit"
# this machine's paths, longest first, and what the committed outputs say instead
MACHINE_PATHS = [(re.compile(re.escape(path) + r"(?![\w.-])"), placeholder) for path, placeholder in sorted(
    {str(Path(sys.prefix)): "<VENV>", str(ROOT / ".venv"): "<VENV>", str(ROOT): "<COURSE>",
     str(Path.home()): "~"}.items(),
    key=lambda item: -len(item[0])) if path.count("/") >= 1 and len(path) > 1]


def machine_independent(value):
    """Outputs with this machine's absolute paths replaced (strings inside lists and dicts too)."""
    if isinstance(value, str):
        for path, placeholder in MACHINE_PATHS:
            value = path.sub(placeholder, value)
        return value
    if isinstance(value, list):
        return [machine_independent(item) for item in value]
    if isinstance(value, dict):
        return {key: machine_independent(item) for key, item in value.items()}
    return value


def mark_recorded_on(notebook) -> None:
    """Put (or refresh) one line after the title: the machine and date of these outputs."""
    line = (f"*Outputs recorded on {recorded_on()}, {datetime.date.today():%Y-%m-%d}. On your machine the "
            "figures that describe it (CPU, cores, pinning, timings) will differ; the cells assert what must hold "
            "on any machine.*")
    cell = nbformat.v4.new_markdown_cell(line, id=RECORDED_ON_ID, metadata={"tags": ["solution-only"]})
    notebook.cells = [c for c in notebook.cells if c.get("id") != RECORDED_ON_ID]
    notebook.cells.insert(1, cell)


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(machine_independent(dict(output))) for output in cell.outputs]
    mark_recorded_on(notebook)
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME,
                                       "language": "python"}
    # what the agenda tables (clusterkit.authoring.agenda) report: Restart & Run All, kernel start included
    notebook.metadata[METADATA_KEY] = {"executed_seconds": round(seconds), "executed_on": recorded_on(),
                                       "executed": f"{datetime.date.today():%Y-%m-%d}"}
    nbformat.write(notebook, path)
    return seconds


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
    return generate.main([])


if __name__ == "__main__":
    sys.exit(main())
