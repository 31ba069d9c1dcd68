"""INSTRUCTORS.md points only at things that exist: tests, notebooks, notebook cells, files, and messages
the course really prints. Fast: it reads files, it runs nothing."""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT
from conftest import cell_text, notebook_cells

GUIDE = REPO_ROOT / "INSTRUCTORS.md"
TEST_REF = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
NOTEBOOK = re.compile(r"(?<![\w/.-])((?:solutions/)?0[1-5]_[a-z0-9_]+/\d\d_\w+\.ipynb)")
CELL_REF = re.compile(r"`((?:solutions/)?0[1-5]_[a-z0-9_]+/\d\d_\w+\.ipynb)` cell `([\w-]+)`")
FILE_REF = re.compile(r"`((?:src|tools|tests|solutions|0[1-5]_[a-z0-9_]+)/[\w./-]+\.(?:py|sh|sbatch|pbs|ipynb|cfg))`")
QUOTE = re.compile(r"`([^`]+)`")
# where the course's messages live: the package, the tools, the solutions (notebooks, scripts, job scripts)
# and the generated exercise notebooks
SOURCE_DIRS = ["src", "tools", "solutions", *MODULES]
SOURCE_SUFFIXES = {".py", ".sh", ".sbatch", ".pbs", ".ipynb"}
ELLIPSIS = re.compile(r"\.\.\.|\u2026")  # where a quote leaves a part of the message out
# one phrase for each failure the troubleshooting table must cover
REQUIRED_ROWS = {
    "MPI not found": "mpirun is not installed",
    "a job that hangs": "did not finish within",
    "oversubscription": "oversubscribed",
    "busy shared cores": "note: other processes keep CPU",
    "shared memory in containers": "/dev/shm",
    "Intel MPI fabric settings": "I_MPI_FABRICS",
    "Horovod built against another TensorFlow": "horovod.tensorflow",
    "daal4py next to scikit-learn-intelex": "scikit-learn-intelex",
    "a check run before its exercise": "run the exercise cell above first",
    "the stop button": "Interrupted: the whole job was stopped",
}


def guide() -> str:
    assert GUIDE.exists(), "INSTRUCTORS.md is missing at the repository root"
    return GUIDE.read_text()


def notebook_text(path: Path) -> str:
    """A notebook's cell sources and text outputs, as the learner sees them (not JSON-escaped)."""
    parts = []
    for cell in notebook_cells(path):
        parts.append(cell_text(cell))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
            parts.append(output.get("evalue", ""))
    return "\n".join(parts)


@lru_cache(maxsize=1)
def course_sources() -> str:
    texts = []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or "runs" in path.relative_to(REPO_ROOT).parts:
                continue
            texts.append(notebook_text(path) if path.suffix == ".ipynb" else path.read_text(errors="replace"))
    return "\n".join(texts)


def troubleshooting_rows() -> list[list[str]]:
    """The rows of the table under the Troubleshooting heading, each split into its four cells."""
    text = guide()
    heading = re.search(r"^## .*Troubleshooting.*$", text, re.M)
    assert heading, "INSTRUCTORS.md has no '## ... Troubleshooting' section"
    section = text[heading.end():]
    following = re.search(r"^## ", section, re.M)
    section = section[:following.start()] if following else section
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert len(table) > 2, "the Troubleshooting section has no table"
    header = [cell.strip().lower() for cell in table[0].strip("|").split("|")]
    assert header == ["symptom", "cause", "fix", "reproduced by"], header
    rows = []
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"a troubleshooting row has {len(cells)} cells, not 4 (a stray '|'?): {line[:80]}"
        rows.append(cells)
    return rows


def test_agenda_placeholder_is_there_once():
    text = guide()
    begin, end = "<!-- agenda:begin -->", "<!-- agenda:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1, "each agenda marker must appear exactly once"
    assert text.index(begin) < text.index(end)


def test_every_test_reference_names_an_existing_test_function():
    references = TEST_REF.findall(guide())
    assert references, "the guide names no test"
    for file, name in sorted(set(references)):
        path = REPO_ROOT / file
        assert path.is_file(), f"INSTRUCTORS.md names {file}, which does not exist"
        functions = {node.name for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert name.startswith("test_") and name in functions, f"INSTRUCTORS.md names {file}::{name}: no such test"


def test_every_notebook_path_exists():
    paths = set(NOTEBOOK.findall(guide()))
    assert paths, "the guide names no notebook"
    missing = sorted(path for path in paths if not (REPO_ROOT / path).is_file())
    assert not missing, f"INSTRUCTORS.md names notebooks that do not exist: {missing}"


def test_every_notebook_cell_reference_exists():
    references = CELL_REF.findall(guide())
    assert references, "the guide names no notebook cell"
    for notebook, cell_id in references:
        ids = {cell.get("id") for cell in notebook_cells(REPO_ROOT / notebook)}
        assert cell_id in ids, f"INSTRUCTORS.md names cell {cell_id} of {notebook}, which has no such cell"


def test_every_file_path_exists():
    missing = sorted(path for path in set(FILE_REF.findall(guide())) if not (REPO_ROOT / path).exists())
    assert not missing, f"INSTRUCTORS.md names files that do not exist: {missing}"


def test_troubleshooting_covers_the_required_failures():
    table = "\n".join(" | ".join(row) for row in troubleshooting_rows())
    absent = [failure for failure, phrase in REQUIRED_ROWS.items() if phrase not in table]
    assert not absent, f"the troubleshooting table has no row for: {absent}"


@pytest.mark.parametrize("row", range(len(troubleshooting_rows()) if GUIDE.exists() else 0))
def test_troubleshooting_symptoms_quote_real_messages(row):
    symptom, _cause, _fix, reproduced = troubleshooting_rows()[row]
    quotes = QUOTE.findall(symptom)
    assert quotes, f"row {row + 1}: the symptom quotes no message the learner sees: {symptom[:80]}"
    sources = course_sources()
    for quote in quotes:
        for fragment in (part.strip() for part in ELLIPSIS.split(quote)):
            assert not fragment or fragment in sources, (
                f"row {row + 1}: `{fragment}` occurs nowhere in src/, tools/ or the notebooks and scripts")
    assert TEST_REF.search(reproduced) or CELL_REF.search(reproduced) or "not reproduced" in reproduced, (
        f"row {row + 1}: 'reproduced by' names no test or notebook cell and does not say why not")


def test_the_fragment_check_fails_on_an_invented_message():
    """The symptom check is honest: a message nobody wrote is not found."""
    assert "note: other processes keep CPU" in course_sources()
    assert "the cluster is on fire, please stand by" not in course_sources()
