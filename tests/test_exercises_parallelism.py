"""The checks of module 01_parallelism accept the right answers and reject each typical wrong one with
its own hint. The SPMD and pinning checks read real mpirun results (a second each)."""
import math
import threading
from pathlib import Path

import pytest

import clusterkit as ck
from clusterkit.exercises import parallelism as px
from clusterkit.notebook.scripts import load_script
from conftest import fails_with, job_result, pinning_table, recorded_job, recorded_machine

SCRIPTS = Path(ck.REPO_ROOT) / "solutions" / "01_parallelism"


# -- 02: kinds of parallelism --------------------------------------------------------------------------

RIGHT_KINDS = {name: kind for name, (kind, _) in px.SCENARIOS.items()}


def test_kinds_right_answers_pass_in_any_case(capsys):
    px.check_parallelism_kinds({k: v.lower() for k, v in RIGHT_KINDS.items()})
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("answers, hint", [
    ({"numpy_sqrt": "SIMD"}, "no answer for web_server"),
    ({**RIGHT_KINDS, "numpy_sqrt": "vector"}, "answer with 'SIMD', 'MIMD' or 'SPMD'"),
    ({**RIGHT_KINDS, "mpirun_script": "MIMD"}, "mpirun_script is not MIMD.*one program, four processes"),
    ({**RIGHT_KINDS, "numpy_sqrt": "SPMD"}, "numpy_sqrt is not SPMD.*4 float64 at once"),
])
def test_kinds_wrong_answers_name_the_scenario(answers, hint):
    fails_with(px.check_parallelism_kinds, answers, hint=hint)


# -- 02: SPMD sum over real ranks ----------------------------------------------------------------------

def spmd_job(tmp_path, body: str):
    """A job that prints what `body` computes from `partial` (this rank's share) as total=."""
    script = tmp_path / "sum.py"
    script.write_text("import sys\nfrom mpi4py import MPI\ncomm = MPI.COMM_WORLD\nn = int(sys.argv[1])\n" + body)
    return {ranks: ck.mpirun(script, 50, n=ranks, echo=False, timeout=60) for ranks in (2, 4)}


SHARE = "partial = sum(i * i for i in range(comm.rank, n, comm.size))\n"


@pytest.mark.mpi
def test_spmd_sum_right_script_passes(tmp_path):
    runs = spmd_job(tmp_path, SHARE + "total = comm.allreduce(partial)\n"
                              "if comm.rank == 0:\n    print(f'total={total}')\n")
    px.check_spmd_sum(runs, 50)


@pytest.mark.mpi
def test_the_solution_script_passes():
    runs = {ranks: ck.mpirun(SCRIPTS / "spmd_sum.py", 1000, n=ranks, echo=False, timeout=60) for ranks in (2, 4)}
    px.check_spmd_sum(runs, 1000)


@pytest.mark.mpi
@pytest.mark.parametrize("body, hint", [
    ("total = comm.allreduce(sum(i * i for i in range(n)))\nif comm.rank == 0:\n    print(f'total={total}')\n",
     "2 x the right one: every rank added up ALL"),
    (SHARE + "if comm.rank == 0:\n    print(f'total={partial}')\n", "too small.*comm.allreduce"),
    (SHARE + "total = comm.allreduce(partial)\nprint(f'total={total}')\n", "printed 2 times: every rank printed"),
    (SHARE + "total = comm.allreduce(partial)\n", "no line 'total=...'"),
    ("partial = sum(i * i for i in range(comm.rank * n // comm.size, n))\ntotal = comm.allreduce(partial)\n"
     "if comm.rank == 0:\n    print(f'total={total}')\n", "too big.*must not overlap"),
])
def test_spmd_sum_wrong_scripts_get_their_hint(tmp_path, body, hint):
    fails_with(px.check_spmd_sum, spmd_job(tmp_path, body), 50, hint=hint)


def test_spmd_sum_needs_two_sizes():
    fails_with(px.check_spmd_sum, {}, 10, hint="no results of two runs yet: fill in the TODO of spmd_sum.py")


def test_sum_of_squares():
    assert [px.sum_of_squares(n) for n in (0, 1, 2, 3, 50)] == [0, 0, 1, 5, sum(i * i for i in range(50))]


# -- 03: the locked deposit ----------------------------------------------------------------------------

def locked(account, lock, amount):
    with lock:
        balance = account["balance"]
        account["balance"] = balance + amount


def lock_only_write(account, lock, amount):
    balance = account["balance"]
    with lock:
        account["balance"] = balance + amount


def lock_only_read(account, lock, amount):
    with lock:
        balance = account["balance"]
    account["balance"] = balance + amount


def no_lock(account, lock, amount):
    account["balance"] = account["balance"] + amount


OWN_LOCK = threading.Lock()


def own_lock(account, lock, amount):
    with OWN_LOCK:
        account["balance"] = account["balance"] + amount


def never_released(account, lock, amount):
    lock.acquire()
    account["balance"] = account["balance"] + amount


def adds_twice(account, lock, amount):
    with lock:
        account["balance"] = account["balance"] + 2 * amount


def test_locked_deposit_passes():
    px.check_locked_deposit(locked)


@pytest.mark.parametrize("deposit, hint", [
    (no_lock, "never takes the `lock` it is given"),
    (own_lock, "never takes the `lock` it is given"),
    (lock_only_write, "reads of the balance happened outside the lock"),
    (lock_only_read, "writes of the balance happened outside the lock"),
    (adds_twice, "the balance is 20000, expected 10000"),
])
def test_wrong_deposits_get_their_hint(deposit, hint):
    fails_with(px.check_locked_deposit, deposit, hint=hint)


def test_a_lock_never_released_is_reported_not_hung(monkeypatch):
    real = px.run_deposits
    monkeypatch.setattr(px, "run_deposits", lambda *a, **k: real(*a, **{**k, "timeout": 1.0}))
    fails_with(px.check_locked_deposit, never_released, hint="never released it")


def test_unlocked_deposits_really_lose_updates_sometimes():
    """The race the notebook shows is real: without the lock, some of 20 runs lose deposits."""
    def add(a, b):
        return a + b

    def unsafe(account, lock, amount):
        balance = account["balance"]
        account["balance"] = add(balance, amount)  # a call between read and write: a switch point

    lost = 0
    for _ in range(20):
        account = {"balance": 0}
        assert px.run_deposits(unsafe, account, threading.Lock(), deposits=20_000) == []
        lost += 40_000 - account["balance"]
    assert lost > 0


# -- 04: block_range -------------------------------------------------------------------------------------

def balanced(n, rank, size):
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def proportional(n, rank, size):
    return rank * n // size, (rank + 1) * n // size


def dropped_remainder(n, rank, size):
    count = n // size
    return rank * count, (rank + 1) * count


def overlapping(n, rank, size):
    start, stop = balanced(n, rank, size)
    return max(0, start - 2), stop


def inclusive_stop(n, rank, size):
    start, stop = balanced(n, rank, size)
    return start, stop - 1


def remainder_to_last(n, rank, size):
    count = n // size
    return rank * count, n if rank == size - 1 else (rank + 1) * count


def rounded_up(n, rank, size):
    count = math.ceil(n / size)
    return rank * count, min(n, (rank + 1) * count)


def at_least_one_each(n, rank, size):
    if n < size:  # assumes that every rank gets an item
        return rank, rank + 1
    return balanced(n, rank, size)


def crashes_when_few_items(n, rank, size):
    count = n // size
    extra = n % count
    return balanced(n, rank, size) if extra >= 0 else None


def reversed_order(n, rank, size):
    return balanced(n, size - 1 - rank, size)


@pytest.mark.parametrize("block_range", [balanced, proportional, lambda n, r, s: slice(*balanced(n, r, s)),
                                         lambda n, r, s: range(*balanced(n, r, s)), ck.shard])
def test_right_splits_pass(block_range):
    px.check_block_range(block_range)


@pytest.mark.parametrize("block_range, hint", [
    (dropped_remainder, "remainder is dropped: items 9..9"),
    (overlapping, "Overlap: item 2 belongs to ranks \\[0, 1\\]"),
    (inclusive_stop, "Off by one: a gap of one item"),
    (remainder_to_last, "Not balanced: block sizes \\[14, 14, 14, 14, 14, 14, 16\\]"),
    (rounded_up, "n_items=20, size=8: rank 7 got \\(21, 20\\).*Rounding the block size up"),
    (at_least_one_each, "more ranks than items \\(n_items=3, size=5\\) rank 3 got \\(3, 4\\)"),
    (crashes_when_few_items, "more ranks than items .* raised ZeroDivisionError"),
    (reversed_order, "not in rank order"),
    (lambda n, r, s: [r], "returned \\[0\\]; return two integers"),
])
def test_wrong_splits_get_their_hint(block_range, hint):
    fails_with(px.check_block_range, block_range, hint=hint)


def test_the_solution_split_passes():
    px.check_block_range(load_script(SCRIPTS / "domain.py").block_range)


def owner_by_search(item, n, size):
    return next(r for r in range(size) if balanced(n, r, size)[0] <= item < balanced(n, r, size)[1])


def test_owner_of_right_answers_pass():
    px.check_owner_of(owner_by_search)
    px.check_owner_of(px._reference_owner)


@pytest.mark.parametrize("owner_of, hint", [
    (lambda item, n, size: min(item // (n // size), size - 1), "ignores the remainder"),
    (lambda item, n, size: next(r for r in range(size) if balanced(n, r, size)[0] < item <= balanced(n, r, size)[1])
     if item else 0, "off by one at a block edge"),
    (lambda item, n, size: size, "return a rank number from 0 to size - 1"),
    (lambda item, n, size: item % size, "Find the rank r with start <= item < stop"),
])
def test_wrong_owner_of_get_their_hint(owner_of, hint):
    fails_with(px.check_owner_of, owner_of, hint=hint)


# -- 05: hybrid layout on real ranks -------------------------------------------------------------------

def where(n=1, **genv):
    return ck.mpirun(SCRIPTS / "where_am_i.py", n=n, genv=genv, echo=False, timeout=60)


@pytest.mark.mpi
def test_hybrid_layout_passes_with_omp_domain():
    cores = ck.local_topology().n_cores
    px.check_hybrid_layout(where(I_MPI_PIN_DOMAIN="omp", OMP_NUM_THREADS=cores))


@pytest.mark.mpi
@pytest.mark.parametrize("n, genv, hint", [
    (2, {"OMP_NUM_THREADS": 1}, "shows 2 ranks"),
    (1, {}, "OMP_NUM_THREADS is not set"),
])
def test_hybrid_layout_wrong_settings_get_their_hint(n, genv, hint):
    fails_with(px.check_hybrid_layout, where(n, **genv), hint=hint)


@pytest.mark.mpi
def test_hybrid_layout_too_few_threads_is_named():
    if ck.local_topology().n_cores < 2:
        pytest.skip("one thread is the right number on 1 core")
    fails_with(px.check_hybrid_layout, where(1, I_MPI_PIN_DOMAIN="node", OMP_NUM_THREADS=1), hint="runs 1 thread")


@pytest.mark.mpi
def test_hybrid_layout_narrow_domain_is_named():
    if ck.local_topology().n_cores < 2:
        pytest.skip("needs at least 2 cores")
    fails_with(px.check_hybrid_layout, where(1, I_MPI_PIN_DOMAIN="core", OMP_NUM_THREADS=2),
               hint="pinned to CPU\\(s\\) \\{\\d+\\} only")


# -- 06: engine totals -------------------------------------------------------------------------------------

def test_engine_totals():
    right = px.sum_of_squares(100)
    px.check_engine_totals([right, right], 100)
    fails_with(px.check_engine_totals, [1, right - 1], 100, hint="different totals")
    fails_with(px.check_engine_totals, [2 * right, 2 * right], 100, hint="2 x the right one")
    fails_with(px.check_engine_totals, [None, None], 100, hint="the engines hold no total yet")
    fails_with(px.check_engine_totals, [], 100, hint="the engines hold no total yet")


# -- 05: the hybrid layout check on other machines' tables (tests/fixtures/machines) --------------------

def one_rank_job(cpus: str, threads: int, node: str = "laptop"):
    """What where_am_i.py prints for one rank pinned to {cpus} and running `threads` BLAS threads."""
    lines = f"rank 0: cpus=[...] OMP_NUM_THREADS={threads} blas_threads={threads}\nblas_threads={threads}\n"
    return job_result(pinning_table(cpus, node=node, first_pid=9120) + lines)


def laptop_cores():
    return recorded_machine("laptop_8c_ht_avx2").n_cores


def test_hybrid_layout_on_an_8_core_laptop(capsys):
    cores = laptop_cores()
    assert cores == 8
    px.check_hybrid_layout(one_rank_job("0-15", 8), n_cores=cores)
    assert capsys.readouterr().out.startswith("PASS")
    fails_with(px.check_hybrid_layout, one_rank_job("0-3", 8), n_cores=cores,
               hint=r"pinned to CPU\(s\) \{0, 1, 2, 3\} only.*4 core\(s\) of 8")
    fails_with(px.check_hybrid_layout, one_rank_job("0-15", 2), n_cores=cores, hint="BLAS runs 2 thread.*on 8 cores")


def test_hybrid_layout_on_the_laptops_recorded_default_pinning():
    """Intel MPI's default for 2 ranks on the laptop: half the node each; one rank should have been asked."""
    job = recorded_job("laptop_8c_ht_avx2.2ranks", extra="rank 0: OMP_NUM_THREADS=4\n")
    fails_with(px.check_hybrid_layout, job, n_cores=laptop_cores(), hint="the pinning table shows 2 ranks")


def test_hybrid_layout_in_a_one_core_allocation(capsys):
    px.check_hybrid_layout(one_rank_job("5", 1, node="xeon-n01"), n_cores=1)
    assert capsys.readouterr().out.startswith("PASS")
