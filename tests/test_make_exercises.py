import functools
import json
import os
import subprocess
import sys

import pytest

from clusterkit.authoring import generate as gen

SOLUTION = """\
def split(n, rank, size):
    # EXERCISE: return the (start, stop) of rank's block
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)
    # END EXERCISE

total = 0
# EXERCISE: add up the blocks
total = sum(range(10))
# END EXERCISE
print(total)
"""


def test_cut_keeps_indentation_and_leaves_valid_python():
    cut = gen.cut_solutions(SOLUTION)
    assert "divmod" not in cut and "sum(range" not in cut
    assert '    # TODO: return the (start, stop) of rank\'s block\n    raise NotImplementedError("TODO: return' in cut
    assert '# TODO: add up the blocks\nraise NotImplementedError("TODO: add up the blocks")\nprint(total)' in cut
    compile(cut, "exercise", "exec")


@pytest.mark.parametrize("text", ["# EXERCISE: a\nx = 1\n", "x = 1\n# END EXERCISE\n",
                                  "# EXERCISE: a\n# EXERCISE: b\n# END EXERCISE\n"])
def test_unbalanced_markers_are_errors(text):
    with pytest.raises(gen.MarkerError):
        gen.cut_solutions(text, "f.py")


def test_notebook_is_cleared_cut_and_points_to_its_solution(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    solution = tmp_path / "solutions" / "01_parallelism" / "demo.ipynb"
    solution.parent.mkdir(parents=True)
    notebook = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Demo"]},
        {"cell_type": "code", "metadata": {"tags": ["nbval-ignore-output"]}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "45\n"}], "source": SOLUTION},
        {"cell_type": "markdown", "metadata": {"tags": ["solution-only"]}, "source": "The answer is 45."},
    ], "metadata": {"kernelspec": {"name": "dmlcpu"}, "widgets": {}}, "nbformat": 4, "nbformat_minor": 5}
    solution.write_text(json.dumps(notebook))
    exercise = json.loads(gen.exercise_notebook(solution))
    assert [c["cell_type"] for c in exercise["cells"]] == ["markdown", "markdown", "code"]
    assert "solutions/01_parallelism/demo.ipynb" in exercise["cells"][1]["source"]
    code = exercise["cells"][2]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["nbval-ignore-output"]}
    assert "NotImplementedError" in code["source"]
    assert exercise["metadata"]["kernelspec"] == {"name": "dmlcpu"}
    assert exercise["metadata"]["clusterkit"]["generated_from"] == "solutions/01_parallelism/demo.ipynb"

    (tmp_path / "solutions" / "01_parallelism" / "blocks.csv").write_text("1,2\n")
    (tmp_path / "solutions" / "01_parallelism" / "plain.py").write_text("print('no exercise here')\n")
    (tmp_path / "solutions" / "01_parallelism" / "todo.py").write_text(SOLUTION)
    expected = gen.expected_files(tmp_path)
    folder = tmp_path / "01_parallelism"
    assert set(expected) == {folder / "demo.ipynb", folder / "blocks.csv", folder / "plain.py", folder / "todo.py"}
    assert expected[folder / "plain.py"] == gen.Copy(b"print('no exercise here')\n")
    assert expected[folder / "blocks.csv"] == gen.Copy(b"1,2\n")
    script = expected[folder / "todo.py"].content.decode()
    assert script.startswith("# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: "
                             "solutions/01_parallelism/todo.py (`%solution` loads it).")
    assert "NotImplementedError" in script and "divmod" not in script
    folder.mkdir()
    (folder / "old.py").write_text("")
    assert gen.stale_files(expected, tmp_path) == [folder / "old.py"]


def test_generated_files_edited_by_hand_are_recognised(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    (tmp_path / "solutions").mkdir()
    script = tmp_path / "todo.py"
    script.write_text(gen.exercise_script(SOLUTION, "solutions/01_parallelism/todo.py"))
    assert gen.generated_by_us(script) is None
    script.write_text(script.read_text() + "print('my own change')\n")
    assert gen.generated_by_us(script) == "its code was edited"
    (tmp_path / "mine.py").write_text("print('a file nobody generated')\n")
    assert "no 'EXERCISE SCRIPT' line" in gen.generated_by_us(tmp_path / "mine.py")
    link = tmp_path / "link.py"
    link.symlink_to("solutions/x.py")
    assert gen.generated_by_us(link) == "it is a link to solutions/x.py"


def test_a_hand_edited_exercise_is_not_overwritten(tmp_path):
    """Run the real generator on a copy of the package and one module."""
    import shutil

    shutil.copytree(gen.ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copytree(gen.ROOT / "solutions" / "01_parallelism", tmp_path / "solutions" / "01_parallelism")
    tool = [sys.executable, "-m", "clusterkit.authoring.generate"]
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "src")})
    assert run(tool).returncode == 0
    generated = tmp_path / "01_parallelism" / "domain.py"
    copied = tmp_path / "01_parallelism" / "heat.py"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (tmp_path / "solutions/01_parallelism/heat.py").read_bytes()
    generated.write_text(generated.read_text() + "# my change\n")
    (tmp_path / "solutions" / "01_parallelism" / "domain.py").write_text(
        (tmp_path / "solutions" / "01_parallelism" / "domain.py").read_text() + "\n# new in the solution\n")
    refused = run(tool)
    assert refused.returncode == 1 and "refused to overwrite 01_parallelism/domain.py" in refused.stderr
    assert generated.read_text().endswith("# my change\n")
    check = run(tool + ["--check"])
    assert check.returncode == 1 and "its code was edited" in check.stdout
    assert run(tool + ["--force"]).returncode == 0
    assert generated.read_text().endswith("# new in the solution\n")


def test_committed_exercises_are_in_sync():
    result = subprocess.run([sys.executable, "-m", "clusterkit.authoring.generate", "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_run_files_beside_the_notebooks_are_not_course_files():
    from pathlib import Path

    assert gen.skipped(Path("runs/quantize_2_ranks/run.json"))
    assert gen.skipped(Path("quantize-12.out")) and gen.skipped(Path(".ipynb_checkpoints/a.ipynb"))
    assert not gen.skipped(Path("quantize.py")) and not gen.skipped(Path("data/runs.txt"))
