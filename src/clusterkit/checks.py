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
import traceback


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
                _fail(title, str(hint))
            except NotImplementedError:
                _fail(title, "the TODO is not filled in yet: replace `raise NotImplementedError` with your code, "
                             "run that cell, then run this check again.")
            except ExerciseFailed:
                raise
            except Exception as error:  # the learner's code crashed inside the check
                where = traceback.extract_tb(error.__traceback__)[-1]
                _fail(title, f"your code raised {type(error).__name__}: {error} "
                             f"(line {where.lineno} of {where.name}). Fix that first.")
            print(f"PASS: {title}")  # returns None, so a check cell shows nothing but PASS

        run.title = title
        return run

    return decorate


def _fail(title: str, hint: str):
    message = f"FAIL: {title}\n  Hint: {hint}"
    raise ExerciseFailed(message) from None


def approx_equal(a, b, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))
