"""One home for every line, and nothing of the machine the outputs were recorded on."""
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT

TRACKED = [REPO_ROOT / name for name in dict.fromkeys(subprocess.run(
    ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split("\0")) if name]
NOTEBOOKS = [p for p in TRACKED if p.suffix == ".ipynb"]
SCRIPTS = sorted((REPO_ROOT / "solutions").rglob("*.py"))
# absolute paths of a machine: home folders, /tmp, /work, and this checkout's own location
MACHINE_PATH = re.compile(r"(?<![\w.<>~-])/(?:home|root|Users|tmp|work|scratch)/[\w.-]+")


def test_no_two_regular_files_are_identical():
    """Outside the module folders, whose files the generator makes from solutions/ (tests/test_solutions.py)."""
    seen = {}
    for path in TRACKED:
        if path.is_file() and path.relative_to(REPO_ROOT).parts[0] not in MODULES:
            seen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path.relative_to(REPO_ROOT))
    twins = [paths for paths in seen.values() if len(paths) > 1]
    assert not twins, f"identical files (give each one home): {twins}"


def test_a_module_folders_script_is_its_exercise_or_a_copy_of_its_solution():
    for module in MODULES:
        for path in (REPO_ROOT / module).glob("*.py"):
            solution = REPO_ROOT / "solutions" / module / path.name
            assert not path.is_symlink(), path
            assert (path.read_text().startswith(f"# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: "
                                                f"solutions/{module}/{path.name} ")
                    or path.read_bytes() == solution.read_bytes()), path


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_per_rank_scripts_take_no_plumbing_from_the_checks(script):
    assert not re.search(r"clusterkit\.exercises|from clusterkit import exercises", script.read_text())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_absolute_path_of_a_machine_in_a_notebook(notebook):
    text = notebook.read_text()
    for path in {str(REPO_ROOT), sys.prefix, str(Path.home())}:
        if len(path) > 1:
            assert not re.search(re.escape(path) + r"(?![\w.-])", text), f"{notebook.name} holds {path}"
    found = MACHINE_PATH.search(text)
    assert not found, f"{notebook.name} holds the absolute path {found[0]}: run clusterkit.authoring.execute"
