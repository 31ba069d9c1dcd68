import pytest

from clusterkit.exercises.checks import ExerciseFailed, Hint, approx_equal, exercise_check
from clusterkit.notebook.timing import Timer, best_time
from conftest import fails_with


@exercise_check("Double a number")
def check_double(function):
    if function(2) != 4:
        raise Hint(f"double(2) gave {function(2)}, expected 4")


def test_pass_prints_and_returns_nothing(capsys):
    assert check_double(lambda x: 2 * x) is None
    assert capsys.readouterr().out == "PASS: Double a number\n"


def test_wrong_answer_fails_with_the_hint():
    fails_with(check_double, lambda x: x + 1, hint=r"FAIL: Double a number\n  Hint: double\(2\) gave 3, expected 4")


def test_unfilled_todo_is_named():
    def todo(x):
        raise NotImplementedError("TODO: double it")

    fails_with(check_double, todo, hint="TODO is not filled in yet")


def test_crash_in_learner_code_is_reported_not_raised_raw():
    fails_with(check_double, lambda x: x / 0, hint="your code raised ZeroDivisionError")


def test_ipython_shows_only_the_message():
    assert ExerciseFailed("FAIL: x")._render_traceback_() == ["FAIL: x"]


def test_approx_equal_checks_shape_and_values():
    assert approx_equal([1.0, 2.0], [1.0, 2.0 + 1e-12])
    assert not approx_equal([1.0, 2.0], [1.0, 2.1])
    assert not approx_equal([1.0, 2.0], [[1.0, 2.0]])


def test_timer_and_best_time():
    with Timer() as timer:
        sum(range(1000))
    assert timer.seconds >= 0
    calls = []
    assert best_time(calls.append, 1, repeat=3) >= 0
    assert calls == [1, 1, 1]
    with pytest.raises(ValueError):
        best_time(print, repeat=0)


def test_scaling_numbers_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    from clusterkit.notebook.plots import efficiencies, plot_scaling, scaling_table, speedups

    assert speedups([1, 2, 4], [8.0, 4.0, 4.0]) == [1.0, 2.0, 2.0]
    assert efficiencies([1, 2, 4], [8.0, 4.0, 4.0]) == [1.0, 1.0, 0.5]
    assert efficiencies([1, 2], [2.0, 4.0], weak=True) == [1.0, 0.5]
    table = scaling_table([1, 2], [2.0, 1.0]).splitlines()
    assert table[2].split() == ["2", "1.000s", "2.00x", "100%"]
    assert scaling_table([1, 2], [2.0, 4.0], weak=True).splitlines()[2].split() == ["2", "4.000s", "-", "50%"]
    ax = plot_scaling([1, 2, 4], [8.0, 4.0, 4.0], cores=2)
    assert [line.get_label() for line in ax.get_lines()] == ["measured", "ideal (linear)", "2 physical cores"]
    ax = plot_scaling([1, 2], [1.0, 1.1], weak=True)
    assert ax.get_ylabel().startswith("efficiency")
