"""The learner's workspace (clusterkit.learner.workspace): a copy of the course that is the learner's. Syncing
copies only the course's files (the module folders and README.md), replaces what the learner left untouched,
keeps what they edited with the course's new version beside it, and never writes under the course; `update`
pulls the course with git first, and touches nothing when the pull fails. The last test does all of it with
real git clones of this repository, the way a learner's `make lab` / `make update` does, offline."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterkit.authoring.catalog import SolutionNotFound, module_exercises
from clusterkit.authoring.markers import fill, regions
from clusterkit.course import MODULES
from clusterkit.learner import workspace as ws
from clusterkit.learner.solution_magic import load_into_script
from clusterkit.machine.environment import REPO_ROOT

NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "source": "# TODO: x\nraise NotImplementedError('TODO: x')",
                                  "metadata": {}, "outputs": [], "execution_count": None}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def make_course(root: Path) -> Path:
    """A small course: five module folders (a notebook, scripts, a nested file), README.md, the maintainers'
    rooms, and files that are a run's or a cache's, not the course's."""
    files = {
        "01_parallelism/01_start_here.ipynb": NOTEBOOK,
        "01_parallelism/spmd_sum.py": "# EXERCISE SCRIPT\n# TODO: sum\nraise NotImplementedError('TODO: sum')\n",
        "01_parallelism/where_am_i.py": "print('where')\n",
        "02_daal4py/quantize.py": "print('quantize')\n",
        "03_horovod/hvd_common.py": "print('hvd')\n",
        "04_torch_ccl/sub/notes.txt": "nested\n",
        "05_clusters/cluster_env.sh": "echo env\n",
        "README.md": "# The course\n",
        # not the learner's
        "src/clusterkit/thing.py": "x = 1\n", "solutions/01_parallelism/spmd_sum.py": "solution\n",
        "tests/test_x.py": "", "tools/lab.sh": "", "bench/b.py": "", "CONTRIBUTING.md": "", "data/set.csv": "1\n",
        # a run's or a cache's
        "01_parallelism/runs/log.txt": "run\n", "01_parallelism/.ipynb_checkpoints/01_start_here-checkpoint.ipynb": "",
        "01_parallelism/__pycache__/where_am_i.cpython-311.pyc": "", "05_clusters/slurm-12.out": "job output\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


COURSE_FILES = {"01_parallelism/01_start_here.ipynb", "01_parallelism/spmd_sum.py", "01_parallelism/where_am_i.py",
                "02_daal4py/quantize.py", "03_horovod/hvd_common.py", "04_torch_ccl/sub/notes.txt",
                "05_clusters/cluster_env.sh", "README.md"}


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def course(tmp_path) -> Path:
    return make_course(tmp_path / "course")


@pytest.fixture
def mine(tmp_path) -> Path:
    return tmp_path / "workspace"


def test_the_first_sync_copies_the_course_files_and_nothing_else(course, mine, capsys):
    report = ws.sync(course, mine)
    assert sorted(p.name for p in mine.iterdir()) == sorted([*MODULES, "README.md", ws.MANIFEST])
    got = files_under(mine)
    assert set(got) - {ws.MANIFEST} == COURSE_FILES
    assert all(got[name] == (course / name).read_bytes() for name in COURSE_FILES)
    assert sorted(report.new) == sorted(COURSE_FILES) and not (report.updated or report.kept or report.removed)
    manifest = json.loads((mine / ws.MANIFEST).read_text())["files"]
    assert manifest == {name: hashlib.sha256((course / name).read_bytes()).hexdigest() for name in COURSE_FILES}
    said = capsys.readouterr().out
    assert f"Made your workspace {mine}" in said and "8 files" in said
    for name in COURSE_FILES:  # copies, never links: an edit of the learner's cannot reach the course
        assert not (mine / name).is_symlink() and (mine / name).stat().st_ino != (course / name).stat().st_ino
    assert ws.sync(course, mine).changed is False, "a second sync with nothing new changed something"


def test_an_untouched_file_gets_the_course_s_new_version(course, mine, capsys):
    ws.sync(course, mine)
    (course / "01_parallelism/where_am_i.py").write_text("print('where, now with cores')\n")
    report = ws.sync(course, mine)
    assert report.updated == ["01_parallelism/where_am_i.py"] and not report.beside
    assert (mine / "01_parallelism/where_am_i.py").read_text() == "print('where, now with cores')\n"
    assert "updated: 01_parallelism/where_am_i.py (the course changed it; you had not)" in capsys.readouterr().out


def test_an_edited_file_is_kept_and_the_new_version_lands_beside_it(course, mine, capsys):
    ws.sync(course, mine)
    edited = b"# EXERCISE SCRIPT\nprint('my answer')\n"
    (mine / "01_parallelism/spmd_sum.py").write_bytes(edited)
    notebook = mine / "01_parallelism/01_start_here.ipynb"
    notebook.write_text(NOTEBOOK.replace("raise NotImplementedError('TODO: x')", "x = 42"))
    mine_notebook = notebook.read_bytes()
    (course / "01_parallelism/spmd_sum.py").write_text("# EXERCISE SCRIPT v2\n# TODO: sum\nraise NotImplementedError\n")
    (course / "01_parallelism/01_start_here.ipynb").write_text(NOTEBOOK.replace("TODO: x", "TODO: y"))
    report = ws.sync(course, mine)
    said = capsys.readouterr().out
    assert (mine / "01_parallelism/spmd_sum.py").read_bytes() == edited and notebook.read_bytes() == mine_notebook
    for name, beside in (("spmd_sum.py", "spmd_sum.course-update.py"),
                         ("01_start_here.ipynb", "01_start_here.course-update.ipynb")):
        assert (mine / "01_parallelism" / beside).read_bytes() == (course / "01_parallelism" / name).read_bytes()
    assert sorted(report.beside) == sorted(report.kept) == ["01_parallelism/01_start_here.ipynb",
                                                            "01_parallelism/spmd_sum.py"]
    assert ("kept your edits in 01_parallelism/spmd_sum.py; the course's new version is "
            "01_parallelism/spmd_sum.course-update.py: compare and copy what you want") in said
    assert ("kept your edits in 01_parallelism/01_start_here.ipynb (your edits, or the outputs of cells you ran); "
            "the course's new version is 01_parallelism/01_start_here.course-update.ipynb") in said
    # said once: the next sync has nothing new to say, and the learner's file stays theirs
    assert ws.sync(course, mine).messages == [] and (mine / "01_parallelism/spmd_sum.py").read_bytes() == edited
    found = ws.status(course, mine)
    assert found.edited == ["01_parallelism/01_start_here.ipynb", "01_parallelism/spmd_sum.py"]
    assert found.updates == ["01_parallelism/01_start_here.course-update.ipynb",
                             "01_parallelism/spmd_sum.course-update.py"] and not found.pending


def test_a_new_course_file_arrives_and_a_deleted_one_comes_back(course, mine, capsys):
    ws.sync(course, mine)
    (course / "03_horovod/new_lesson.ipynb").write_text(NOTEBOOK)
    (mine / "02_daal4py/quantize.py").unlink()
    report = ws.sync(course, mine)
    assert sorted(report.new) == ["02_daal4py/quantize.py", "03_horovod/new_lesson.ipynb"]
    assert (mine / "03_horovod/new_lesson.ipynb").read_text() == NOTEBOOK
    assert (mine / "02_daal4py/quantize.py").read_text() == "print('quantize')\n"
    said = capsys.readouterr().out
    assert "new: 03_horovod/new_lesson.ipynb" in said and "put back: 02_daal4py/quantize.py" in said


def test_a_file_gone_from_the_course_goes_unless_the_learner_edited_it(course, mine, capsys):
    ws.sync(course, mine)
    (mine / "03_horovod/hvd_common.py").write_text("mine\n")
    for name in ("04_torch_ccl/sub/notes.txt", "03_horovod/hvd_common.py"):
        (course / name).unlink()
    report = ws.sync(course, mine)
    assert report.removed == ["04_torch_ccl/sub/notes.txt"] and not (mine / "04_torch_ccl/sub").exists()
    assert (mine / "03_horovod/hvd_common.py").read_text() == "mine\n" and "03_horovod/hvd_common.py" in report.kept
    said = capsys.readouterr().out
    assert "removed: 04_torch_ccl/sub/notes.txt" in said
    assert "kept your edits in 03_horovod/hvd_common.py, which the course no longer has" in said
    assert "03_horovod/hvd_common.py" not in json.loads((mine / ws.MANIFEST).read_text())["files"]


def test_editing_the_workspace_changes_no_file_of_the_course(course, mine):
    before = files_under(course)
    ws.sync(course, mine)
    for path in mine.rglob("*"):
        if path.is_file() and path.name != ws.MANIFEST:
            with path.open("ab") as edit:
                edit.write(b"\n# the learner was here\n")
    (mine / "01_parallelism/my_own.py").write_text("print('mine')\n")
    ws.sync(course, mine)
    assert files_under(course) == before


def test_a_workspace_inside_the_tracked_folders_is_refused(course):
    for place in (course, course / "solutions" / "x", course / "01_parallelism", course / "src"):
        with pytest.raises(ws.WorkspaceError, match="cannot be the workspace"):
            ws.sync(course, place)
    with pytest.raises(ws.WorkspaceError, match="is not the course"):
        ws.sync(course / "data", course.parent / "elsewhere")
    assert ws.main(["sync", "--course", str(course), "--workspace", str(course / "src")]) == 2


def test_the_default_workspace_is_in_the_course_unless_the_environment_says(course, monkeypatch):
    monkeypatch.delenv("CLUSTERKIT_WORKSPACE", raising=False)
    assert ws.default_workspace(course) == course / "workspace"
    assert ws.default_workspace() == REPO_ROOT / "workspace"
    monkeypatch.setenv("CLUSTERKIT_WORKSPACE", str(course.parent / "theirs"))
    assert ws.default_workspace(course) == course.parent / "theirs"


def test_the_workspace_is_ignored_by_git():
    ignored = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", "workspace/01_parallelism/x.py"])
    assert ignored.returncode == 0, ".gitignore does not ignore workspace/"


def git(*args, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Course", "GIT_AUTHOR_EMAIL": "course@example.invalid",
           "GIT_COMMITTER_NAME": "Course", "GIT_COMMITTER_EMAIL": "course@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def test_update_that_cannot_pull_touches_nothing(course, mine, tmp_path, capsys):
    git("init", "-q", "-b", "main", cwd=course)
    git("add", "-A", cwd=course)
    git("commit", "-q", "-m", "course", cwd=course, env=GIT_ENV)
    learner = tmp_path / "learner"
    git("clone", "-q", str(course), str(learner), cwd=tmp_path)
    ws.sync(learner, mine)
    (mine / "01_parallelism/spmd_sum.py").write_text("mine\n")
    (course / "README.md").write_text("# The course, v2\n")
    (course / "02_daal4py/quantize.py").write_text("print('quantize v2')\n")
    git("commit", "-q", "-am", "v2", cwd=course, env=GIT_ENV)
    (learner / "README.md").write_text("# edited outside the workspace\n")  # a tracked file: the pull must refuse
    before = files_under(mine)
    assert ws.update(learner, mine) == 1
    said = capsys.readouterr().err
    assert "git pull failed" in said and f"git -C {learner} status" in said and "workspace was not touched" in said
    assert files_under(mine) == before
    git("checkout", "--", "README.md", cwd=learner)
    assert ws.update(learner, mine) == 0
    said = capsys.readouterr().out
    assert "Pulled the course: 1 new commit" in said and "nothing to regenerate" in said
    assert "updated: 02_daal4py/quantize.py" in said and "updated: README.md" in said
    assert (mine / "01_parallelism/spmd_sum.py").read_text() == "mine\n"


def test_update_of_a_course_that_is_no_git_checkout_only_syncs(course, mine, capsys):
    assert ws.update(course, mine) == 0
    assert "is not a git checkout: the course was not pulled" in capsys.readouterr().out
    assert (mine / "README.md").exists()


def test_solution_magic_works_from_a_workspace_module_folder(tmp_path):
    folder = tmp_path / "workspace" / "01_parallelism"
    folder.mkdir(parents=True)
    exercises = module_exercises(folder)
    assert exercises and all(e.source.parent == REPO_ROOT / "solutions" / "01_parallelism" for e in exercises)
    script = next(e for e in exercises if e.script)
    shutil.copy(REPO_ROOT / "01_parallelism" / script.source.name, folder)
    assert "Wrote the solution" in load_into_script(script, folder)
    assert script.region in (folder / script.source.name).read_text()
    with pytest.raises(SolutionNotFound, match=r"delete your copy 01_parallelism/\S+ and run `make update`"):
        load_into_script(script, folder)


def run_cli(*args: str, learner: Path) -> subprocess.CompletedProcess:
    """`python -m clusterkit.learner.workspace ...` with the learner clone's own package, as its `make` runs it."""
    env = {key: value for key, value in GIT_ENV.items() if key != "CLUSTERKIT_WORKSPACE"}
    env.update(PYTHONPATH=str(learner / "src"), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_learner_fills_an_exercise_pulls_a_course_update_and_keeps_the_edit(tmp_path):
    upstream, learner = tmp_path / "upstream", tmp_path / "learner"
    git("clone", "-q", str(REPO_ROOT), str(upstream), cwd=tmp_path)
    # the course as this checkout would commit it: its package and .gitignore (no-op once they are committed)
    shutil.copytree(REPO_ROOT / "src" / "clusterkit", upstream / "src" / "clusterkit", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / ".gitignore", upstream / ".gitignore")
    git("add", "-A", cwd=upstream)
    git("commit", "-q", "--allow-empty", "-m", "the package under test", cwd=upstream, env=GIT_ENV)
    git("clone", "-q", str(upstream), str(learner), cwd=tmp_path)
    where = run_cli("-c", "import clusterkit.learner.workspace as w; print(w.__file__)", learner=learner)
    assert where.stdout.startswith(str(learner / "src")), f"the clone's package is not the one used: {where}"

    made = run_cli("-m", "clusterkit.learner.workspace", "sync", "--course", str(learner), learner=learner)
    assert made.returncode == 0, made.stderr
    mine = learner / "workspace"
    assert f"Made your workspace {mine}" in made.stdout
    assert sorted(p.name for p in mine.iterdir()) == sorted([*MODULES, "README.md", ws.MANIFEST])

    # the learner fills the script exercise as %solution does, and types an answer into a notebook cell
    script = mine / "01_parallelism" / "spmd_sum.py"
    filled, done = fill(script.read_text(), regions((learner / "solutions/01_parallelism/spmd_sum.py").read_text()))
    assert done, "the workspace's spmd_sum.py has no TODO to fill"
    script.write_text(filled)
    notebook = mine / "01_parallelism" / "02_types_of_parallelism.ipynb"
    cells = json.loads(notebook.read_text())
    todo = next(c for c in cells["cells"] if c["cell_type"] == "code" and "NotImplementedError" in "".join(c["source"]))
    todo["source"] = "".join(todo["source"]) + "\n# my answer: the ranks split the range\n"
    notebook.write_text(json.dumps(cells, indent=1, ensure_ascii=False) + "\n")
    edits = {script: script.read_bytes(), notebook: notebook.read_bytes()}
    assert git("status", "--porcelain", cwd=learner) == "", "the learner's edits changed a tracked file"

    # the course changes, made from solutions/ as the maintainers make it: an untouched file, the edited one, a new one
    solutions = upstream / "solutions" / "01_parallelism"
    with (solutions / "where_am_i.py").open("a") as change:
        change.write("# a course update\n")
    with (solutions / "spmd_sum.py").open("a") as change:
        change.write("# a course update of the exercise\n")
    (solutions / "new_helper.py").write_text("print('new in the course')\n")
    generated = subprocess.run([sys.executable, "-m", "clusterkit.authoring.generate"], capture_output=True,
                               text=True, env={**GIT_ENV, "PYTHONPATH": str(upstream / "src"),
                                               "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    git("add", "-A", cwd=upstream)
    git("commit", "-q", "-m", "a course update", cwd=upstream, env=GIT_ENV)

    updated = run_cli("-m", "clusterkit.learner.workspace", "update", "--course", str(learner), learner=learner)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "Pulled the course: 1 new commit" in updated.stdout
    assert git("rev-parse", "HEAD", cwd=learner) == git("rev-parse", "HEAD", cwd=upstream)
    for path, content in edits.items():
        assert path.read_bytes() == content, f"the update changed the learner's {path.name}"
    module = upstream / "01_parallelism"
    assert (mine / "01_parallelism/where_am_i.py").read_bytes() == (module / "where_am_i.py").read_bytes()
    assert (mine / "01_parallelism/where_am_i.py").read_text().endswith("# a course update\n")
    assert (mine / "01_parallelism/new_helper.py").read_bytes() == (module / "new_helper.py").read_bytes()
    assert (mine / "01_parallelism/spmd_sum.course-update.py").read_bytes() == (module / "spmd_sum.py").read_bytes()
    assert "kept your edits in 01_parallelism/spmd_sum.py" in updated.stdout
    assert not (mine / "01_parallelism/02_types_of_parallelism.course-update.ipynb").exists()
    assert git("status", "--porcelain", cwd=learner) == ""
    status = run_cli("-m", "clusterkit.learner.workspace", "status", "--course", str(learner), learner=learner)
    assert status.returncode == 0 and "01_parallelism/spmd_sum.py" in status.stdout
    assert "01_parallelism/spmd_sum.course-update.py" in status.stdout
    print(updated.stdout)
