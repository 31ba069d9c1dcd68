import json
import subprocess
import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "tools"))
import make_exercises as gen  # noqa: E402

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
    assert exercise["metadata"] == {"kernelspec": {"name": "dmlcpu"}}

    (tmp_path / "solutions" / "01_parallelism" / "blocks.csv").write_text("1,2\n")
    expected = gen.expected_files(tmp_path)
    assert set(expected) == {tmp_path / "01_parallelism" / "demo.ipynb", tmp_path / "01_parallelism" / "blocks.csv"}
    (tmp_path / "01_parallelism").mkdir()
    (tmp_path / "01_parallelism" / "old.py").write_text("")
    assert gen.stale_files(expected, tmp_path) == [tmp_path / "01_parallelism" / "old.py"]


def test_committed_exercises_are_in_sync():
    result = subprocess.run([sys.executable, str(gen.ROOT / "tools" / "make_exercises.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
