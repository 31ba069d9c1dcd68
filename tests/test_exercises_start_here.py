import pytest

from clusterkit import ExerciseFailed, mpirun
from clusterkit.environment import REPO_ROOT
from clusterkit.exercises.parallelism import check_four_ranks

SCRIPT = REPO_ROOT / "solutions" / "01_parallelism" / "start_here_ranks.py"


def test_four_ranks_pass(capsys):
    check_four_ranks(mpirun(SCRIPT, n=4, echo=False, timeout=60))
    assert capsys.readouterr().out == "PASS: Launch four ranks and read their pinning\n"


@pytest.mark.parametrize("kwargs,hint", [
    ({"n": 2}, "the job ran 2 rank(s): ask mpirun for four with n=4"),
    ({"n": 4, "debug": None}, "no pinning table was printed"),
])
def test_typical_mistakes_get_their_hint(kwargs, hint):
    with pytest.raises(ExerciseFailed, match=hint.replace("(", r"\(").replace(")", r"\)")):
        check_four_ranks(mpirun(SCRIPT, echo=False, timeout=60, **kwargs))


def test_forgotten_result():
    with pytest.raises(ExerciseFailed, match="keep what ck.mpirun"):
        check_four_ranks(None)
