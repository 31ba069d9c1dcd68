"""Checks for 01_parallelism/01_start_here."""
from ..checks import Hint, exercise_check
from ..runner import MpiResult


@exercise_check("Launch four ranks and read their pinning")
def check_four_ranks(result):
    if not isinstance(result, MpiResult):
        raise Hint("keep what ck.mpirun(...) returns: `four = ck.mpirun(...)`")
    reports = [line for line in result.app_lines() if line.startswith("rank ")]
    if len(reports) != 4:
        raise Hint(f"the job ran {len(reports)} rank(s): ask mpirun for four with n=4")
    if len(result.pinning) != 4:
        raise Hint("no pinning table was printed: keep I_MPI_DEBUG at 5 (don't pass debug=None)")
    if sorted(pin.rank for pin in result.pinning) != [0, 1, 2, 3]:
        raise Hint("the pinning table should list ranks 0, 1, 2 and 3")
