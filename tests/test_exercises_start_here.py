import pytest

from clusterkit import mpirun
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.exercises.parallelism import check_four_ranks
from conftest import MACHINES, fails_with, job_result, pinning_table, recorded_machine

SCRIPT = REPO_ROOT / "solutions" / "01_parallelism" / "start_here_ranks.py"


@pytest.mark.mpi
def test_four_ranks_pass(capsys):
    check_four_ranks(mpirun(SCRIPT, n=4, echo=False, timeout=60))
    assert capsys.readouterr().out == "PASS: Launch four ranks and read their pinning\n"


@pytest.mark.mpi
@pytest.mark.parametrize("kwargs,hint", [
    ({"n": 2}, "the job ran 2 rank(s): ask mpirun for four with n=4"),
    ({"n": 4, "debug": None}, "no pinning table was printed"),
])
def test_typical_mistakes_get_their_hint(kwargs, hint):
    fails_with(check_four_ranks, mpirun(SCRIPT, echo=False, timeout=60, **kwargs),
               hint=hint.replace("(", r"\(").replace(")", r"\)"))


def test_forgotten_result():
    fails_with(check_four_ranks, None, hint="keep what ck.mpirun")


# -- the same check on other machines' pinning tables (tests/fixtures/machines) ------------------------

REPORTS = "".join(f"rank {r} of 4: node=n cpus=[...]\n" for r in range(4))


def recorded(impi_text):
    """The job's output: the recorded table, and the ranks' own lines where the recording has none."""
    reports = "" if "\nrank " in impi_text else REPORTS
    return job_result(impi_text + reports)


@pytest.mark.parametrize("impi, cpuinfo", [
    ("xeon_2s28c_ht.4ranks", "xeon_2s28c_ht"),        # 56 cores: each rank a quarter of the node
    ("epyc_avx512_2core.4ranks", "epyc_avx512_2core"),  # 2 cores: ranks 0 and 2, 1 and 3 share
])
def test_four_ranks_on_recorded_machines(impi, cpuinfo, capsys):
    check_four_ranks(recorded((MACHINES / f"{impi}.impi").read_text()), recorded_machine(cpuinfo))
    assert capsys.readouterr().out.startswith("PASS")


@pytest.mark.parametrize("rows, cpuinfo, owned", [
    (("0-1,8-9", "2-3,10-11", "4-5,12-13", "6-7,14-15"), "laptop_8c_ht_avx2", None),  # 8 cores, 2 each
    (("5", "5", "5", "5"), "xeon_2s28c_ht", {5}),            # a 1-core allocation: all four on it
    (("0", "56", "1", "57"), "xeon_2s28c_ht", {0, 1, 56, 57}),  # 2 cores, hyper-threads as separate CPUs
])
def test_four_ranks_share_cores_only_when_too_few(rows, cpuinfo, owned, capsys):
    check_four_ranks(recorded(pinning_table(*rows)), recorded_machine(cpuinfo, owned))
    assert capsys.readouterr().out.startswith("PASS")


@pytest.mark.parametrize("rows, cpuinfo", [
    (("0", "1", "0", "1"), "laptop_8c_ht_avx2"),       # 8 cores, yet two ranks a core
    (("0", "8", "1", "2"), "laptop_8c_ht_avx2"),       # CPUs 0 and 8 are two threads of one core
    (("0-27", "0-27", "28-55", "28-55"), "xeon_2s28c_ht"),
])
def test_four_ranks_sharing_cores_with_enough_of_them_is_named(rows, cpuinfo):
    fails_with(check_four_ranks, recorded(pinning_table(*rows)), recorded_machine(cpuinfo),
               hint=r"ranks 0 and \d share a core although there are \d+ cores for 4")


def test_four_ranks_on_another_machines_cpus_are_not_judged(capsys):
    """A table naming CPUs the topology does not hold (another machine's run) is read, not compared."""
    check_four_ranks(recorded(pinning_table("0", "1", "0", "1")), recorded_machine("xeon_2s28c_ht", {5}))
    assert capsys.readouterr().out.startswith("PASS")


def test_four_ranks_on_two_nodes(capsys):
    two_nodes = (MACHINES / "two_nodes_2ppn.4ranks.impi").read_text()
    check_four_ranks(recorded(two_nodes), recorded_machine("epyc_avx512_2core"))  # 2 ranks on each 2-core node
    assert capsys.readouterr().out.startswith("PASS")
