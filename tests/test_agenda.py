"""The notebook tables of README.md and INSTRUCTORS.md are written from the solution notebooks' own record
of their last execution (clusterkit.authoring.agenda), and are up to date."""
import subprocess
import sys

from clusterkit.course import NOTEBOOKS_BUDGET_SECONDS
from clusterkit.machine.environment import REPO_ROOT

from clusterkit.authoring import agenda


def test_every_solution_notebook_carries_its_measured_run_time():
    rows = agenda.notebooks()
    assert len(rows) == len(list((REPO_ROOT / "solutions").glob("*/*.ipynb")))
    unmeasured = [f"{r.module}/{r.name}" for r in rows if r.seconds is None or not r.executed_on]
    assert not unmeasured, f"execute them with clusterkit.authoring.execute: {unmeasured}"


def test_the_notebooks_fit_the_suites_time_budget():
    rows = sorted(agenda.notebooks(), key=lambda r: -(r.seconds or 0))
    total = sum(r.seconds or 0 for r in rows)
    slowest = ", ".join(f"{r.module}/{r.name} {r.seconds} s" for r in rows[:3])
    assert total <= NOTEBOOKS_BUDGET_SECONDS, (
        f"the solution notebooks take {total} s (Restart & Run All, as recorded), over the budget of "
        f"{NOTEBOOKS_BUDGET_SECONDS} s (clusterkit.course.NOTEBOOKS_BUDGET_SECONDS): shorten a notebook (the "
        f"slowest: {slowest}) before adding one, and re-execute it with clusterkit.authoring.execute")


def test_the_tables_are_up_to_date():
    done = subprocess.run([sys.executable, "-m", "clusterkit.authoring.agenda", "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_notebook_counts_its_own_exercises_and_those_of_the_scripts_it_runs():
    rows = {f"{r.module}/{r.name}": r for r in agenda.notebooks()}
    # 02: quantize.py's three exercises, and the cell that runs it
    assert rows["02_daal4py/02_distributed_kmeans_quantization.ipynb"].exercises == 4
    assert rows["02_daal4py/03_streaming.ipynb"].exercises == 1
    assert sum(r.exercises for r in rows.values()) == sum(
        len(agenda.module_exercises(REPO_ROOT / module)) for module in agenda.MODULES)


def test_learner_time_is_an_estimate_rounded_to_5_minutes():
    row = agenda.Notebook("m", "n.ipynb", "t", seconds=61, executed_on="x", exercises=2)
    assert row.learner_minutes == 35  # 10 reading + 2 x 10 + 1 min of cells, rounded up to 5
    assert "estimate" in agenda.agenda_table([row])
