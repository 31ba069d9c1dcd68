"""Exercise checks: tell the learner PASS, or FAIL with a hint about their specific mistake.

A check is a function decorated with `@exercise_check("title")` that raises `Hint("...")` at the
first thing it finds wrong:

    @exercise_check("Split the rows over the ranks")
    def check_split(split):
        if ...:
            raise Hint("rank 3 gets no rows: hand the remainder to the first ranks, one each")

Calling it prints `PASS: ...`, or prints `FAIL: ...` with the hint and raises ExerciseFailed, so a
"Run All" stops at the first exercise that is not done yet instead of running on with wrong data.
"""
from __future__ import annotations

import functools
import json
import linecache
import os
import re
import sys
import time
import traceback

# where a learner's server in the room (clusterkit.room) has each check's outcome recorded, one JSON line per run,
# for the instructor's view; unset elsewhere, and then nothing is written
PROGRESS_ENV = "CLUSTERKIT_PROGRESS"


class Hint(Exception):
    """Raised inside a check: the message is the hint shown to the learner."""


class ExerciseFailed(AssertionError):
    """The learner's answer is not right yet; the message carries the hint."""

    def _render_traceback_(self):  # IPython shows just the message, not the checker's internals
        return [str(self)]


def exercise_check(title: str):
    def decorate(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                check(*args, **kwargs)
            except Hint as hint:
                _record(title, passed=False)
                _fail(title, str(hint))
            except NotImplementedError:
                _record(title, passed=False)
                _fail(title, "the TODO is not filled in yet: replace `raise NotImplementedError` with your code, "
                             "run that cell, then run this check again.")
            except ExerciseFailed:
                raise
            except Exception as error:  # the learner's code crashed inside the check
                _record(title, passed=False)
                where = traceback.extract_tb(error.__traceback__)[-1]
                _fail(title, f"your code raised {type(error).__name__}: {error} "
                             f"(line {where.lineno} of {where.name}). Fix that first.")
            _record(title, passed=True)
            print(f"PASS: {title}")  # returns None, so a check cell shows nothing but PASS

        run.title = title
        return run

    return decorate


def _record(title: str, passed: bool) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    try:
        with open(path, "a") as progress:
            progress.write(json.dumps({"check": title, "passed": passed, "time": round(time.time(), 1)}) + "\n")
    except OSError:  # bookkeeping never breaks a lesson
        pass


def _fail(title: str, hint: str):
    message = f"FAIL: {title}\n  Hint: {hint}"
    raise ExerciseFailed(message) from None


def approx_equal(a, b, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")


def explain_missing_name(shell, etype, value, tb, tb_offset=None):
    """IPython handler for a NameError: in a cell that calls a check, the learner ran the check before the
    exercise cell that defines the name, so say that instead of showing a bare NameError."""
    last = tb
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    line = linecache.getline(last.tb_frame.f_code.co_filename, last.tb_lineno) if last is not None else ""
    called = CHECK_CALL.search(line)
    if called is None:
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    check = shell.user_ns.get(called[1])
    title = getattr(check, "title", called[1])
    _record(title, passed=False)
    name = getattr(value, "name", None) or str(value)
    message = (f"FAIL: {title}\n  Hint: `{name}` is not defined yet: run the exercise cell above first (the "
               f"cell with the `# TODO` that defines `{name}`), then run this check again.")
    return shell.showtraceback((ExerciseFailed, ExerciseFailed(message), None))


def install_hints() -> None:
    """In a Jupyter kernel, turn a check cell's NameError into the course's hint (no-op elsewhere)."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None and NameError not in shell.custom_exceptions:
        shell.set_custom_exc((NameError,), explain_missing_name)
