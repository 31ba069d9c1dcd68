"""Exercise checks of module 01_parallelism. Each says PASS, or FAIL with a hint about the mistake made.

    check_four_ranks(result)               01: four ranks launched, sharing cores only when too few
    check_parallelism_kinds(answers)       02: SIMD, MIMD or SPMD for each scenario
    check_spmd_sum({2: run2, 4: run4}, n)  02: an mpi4py sum of squares that is right on any number of ranks
    check_locked_deposit(deposit)          03: a read-modify-write that threads cannot interleave
    check_block_range(block_range)         04: the split of n items over size ranks
    check_owner_of(owner_of)               04: which rank owns a given item
    check_hybrid_layout(result)            05: one rank owning every core, with one thread per core
    check_engine_totals(totals, n)         06: an allreduce across ipyparallel MPI engines
"""
from __future__ import annotations

import re
import sys
import threading

from clusterkit.exercises.checks import Hint, exercise_check
from clusterkit.jobs.runner import MpiResult

# ---------------------------------------------------------------------------------------------------
# 01 start here


def cores_per_rank(pinning, topology) -> dict[int, set] | None:
    """rank -> the (node, socket, core) it is pinned to, read through `topology`; None when a pinned CPU is
    not in it (a job recorded on another machine, or on CPUs this process does not own)."""
    cores = {}
    for pin in pinning:
        found = {topology.core_of(cpu) for cpu in pin.cpus}
        if None in found:
            return None
        cores[pin.rank] = {(pin.node, *core) for core in found}
    return cores


@exercise_check("Launch four ranks and read their pinning")
def check_four_ranks(result, topology=None):
    """result: ck.mpirun('start_here_ranks.py', n=4). Ranks may share a core only when their node has fewer
    cores than ranks on it; `topology` (default: what this process owns) says how many cores there are."""
    from clusterkit.machine.topology import local_topology

    if not isinstance(result, MpiResult):
        raise Hint("keep what ck.mpirun(...) returns: `four = ck.mpirun(...)`")
    reports = [line for line in result.app_lines() if line.startswith("rank ")]
    if len(reports) != 4:
        raise Hint(f"the job ran {len(reports)} rank(s): ask mpirun for four with n=4")
    if len(result.pinning) != 4:
        raise Hint("no pinning table was printed: keep I_MPI_DEBUG at 5 (don't pass debug=None)")
    if sorted(pin.rank for pin in result.pinning) != [0, 1, 2, 3]:
        raise Hint("the pinning table should list ranks 0, 1, 2 and 3")
    topology = topology or local_topology()
    cores = cores_per_rank(result.pinning, topology)
    if cores is None:  # pinned to CPUs this topology does not know: nothing to compare with
        return
    for node in result.debug.nodes:
        ranks = result.debug.ranks_on(node)
        shared = [(a, b) for i, a in enumerate(ranks) for b in ranks[i + 1:] if cores[a] & cores[b]]
        if len(ranks) <= topology.n_cores and shared:
            a, b = shared[0]
            raise Hint(f"ranks {a} and {b} share a core although there are {topology.n_cores} cores for "
                       f"{len(ranks)} ranks: something narrowed the pinning (an I_MPI_PIN_* setting in genv?). "
                       "Run with Intel MPI's default pinning: n=4 and nothing else.")
        # with more ranks than cores on a node, some ranks share a core: every pinned CPU is in `topology`


# ---------------------------------------------------------------------------------------------------
# 02 types of parallelism

SCENARIOS = {
    "numpy_sqrt": ("SIMD", "np.sqrt over a million floats: one instruction works on 4 float64 at once "
                           "(AVX2), the same operation over many data items"),
    "web_server": ("MIMD", "a thread answering requests while another writes a log: different "
                           "instruction streams doing different tasks at the same time"),
    "mpirun_script": ("SPMD", "`mpirun -n 4 python script.py`: one program, four processes that "
                              "tell themselves apart by their rank"),
    "process_pool": ("MIMD", "a process pool where one worker counts primes and another sums digits: "
                             "independent tasks, each with its own instruction stream"),
    "allreduce_gradients": ("SPMD", "every rank runs the same training script on its own shard, then "
                                    "they allreduce gradients: one program, many ranks"),
}


def scenario_names() -> list[str]:
    return list(SCENARIOS)


@exercise_check("Name the kind of parallelism")
def check_parallelism_kinds(answers: dict) -> None:
    missing = [name for name in SCENARIOS if name not in answers]
    if missing:
        raise Hint(f"no answer for {', '.join(missing)}: give each scenario 'SIMD', 'MIMD' or 'SPMD'")
    for name, (kind, why) in SCENARIOS.items():
        given = str(answers[name]).strip().upper()
        if given not in ("SIMD", "MIMD", "SPMD"):
            raise Hint(f"{name}: answer with 'SIMD', 'MIMD' or 'SPMD', not {answers[name]!r}")
        if given != kind:
            raise Hint(f"{name} is not {given}. Ask: is it one instruction over many data items (SIMD), "
                       "different tasks at once (MIMD), or one program started as many ranks (SPMD)? "
                       f"Here: {why}.")


def sum_of_squares(n_items: int) -> int:
    """0^2 + 1^2 + ... + (n_items - 1)^2, the total the SPMD exercise computes in pieces."""
    return (n_items - 1) * n_items * (2 * n_items - 1) // 6


def _diagnose_total(total: int, expected: int, ranks: int, where: str) -> None:
    if total == expected:
        return
    if total == ranks * expected:
        raise Hint(f"{where}: the total is {ranks} x the right one: every rank added up ALL the items. "
                   "Give each rank only its share, e.g. range(rank, n_items, size).")
    if total < expected:
        raise Hint(f"{where}: the total {total} is too small (expected {expected}): it holds only part of "
                   "the sum. Combine the partial sums of all ranks with comm.allreduce(partial) "
                   "(or comm.reduce(partial, root=0)) before printing.")
    raise Hint(f"{where}: the total {total} is too big (expected {expected}): some items were counted by "
               "more than one rank. The shares must not overlap: range(rank, n_items, size).")


@exercise_check("SPMD: one script, any number of ranks")
def check_spmd_sum(runs: dict, n_items: int) -> None:
    """runs: {number of ranks: MpiResult of `spmd_sum.py n_items`} for at least two sizes."""
    if len(runs) < 2:
        raise Hint("no results of two runs yet: fill in the TODO of spmd_sum.py, then run the mpirun cell "
                   "(it runs the script on 2 and on 4 ranks) and this check again")
    expected = sum_of_squares(n_items)
    for ranks, result in sorted(runs.items()):
        where = f"with {ranks} ranks"
        if len(result.pinning) != ranks:
            raise Hint(f"{where}: the I_MPI_DEBUG table shows {len(result.pinning)} ranks; pass the result "
                       f"of ck.mpirun('spmd_sum.py', {n_items}, n={ranks})")
        printed = "\n".join(result.app_lines()).count("total=")
        if printed > 1:  # lines of different ranks may even run into each other
            raise Hint(f"{where}: 'total=' was printed {printed} times: every rank printed. Print only on "
                       "rank 0 (if comm.rank == 0:).")
        totals = result.values("total")
        if not totals:
            raise Hint(f"{where}: no line 'total=...' was printed. After combining the partial sums, rank 0 "
                       "prints f'total={total}'.")
        _diagnose_total(int(totals[0]), expected, ranks, where)


# ---------------------------------------------------------------------------------------------------
# 03 shared vs distributed memory

class _OwnedLock:
    """A lock that knows which thread holds it, so the check can see what a deposit does under it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None
        self.acquisitions = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._lock.acquire(blocking, timeout)
        if acquired:
            self.owner = threading.get_ident()
            self.acquisitions += 1
        return acquired

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def held_here(self) -> bool:
        return self.owner == threading.get_ident()


class _WatchedAccount(dict):
    """An account dict that records reads and writes of 'balance' made without holding the lock."""

    def __init__(self, lock: _OwnedLock) -> None:
        super().__init__(balance=0)
        self.lock = lock
        self.unlocked_reads = 0
        self.unlocked_writes = 0

    def __getitem__(self, key):
        if not self.lock.held_here:
            self.unlocked_reads += 1
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if not self.lock.held_here:
            self.unlocked_writes += 1
        super().__setitem__(key, value)


def run_deposits(deposit, account, lock, threads: int = 2, deposits: int = 5_000,
                 timeout: float = 20.0) -> list[threading.Thread]:
    """Let `threads` threads each call deposit(account, lock, 1) `deposits` times, started together with
    a short switch interval so that they interleave often. Returns the threads still alive at timeout."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            for _ in range(deposits):
                deposit(account, lock, 1)
        except BaseException as error:  # reported to the learner by the check
            errors.append(error)

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout)
    finally:
        sys.setswitchinterval(old_interval)
    if errors:
        raise errors[0]
    return [thread for thread in workers if thread.is_alive()]


@exercise_check("Deposits that threads cannot lose")
def check_locked_deposit(deposit) -> None:
    """deposit(account, lock, amount) must add amount to account['balance'] under the lock."""
    threads, deposits = 2, 5_000
    lock = _OwnedLock()
    account = _WatchedAccount(lock)
    stuck = run_deposits(deposit, account, lock, threads, deposits)
    if stuck:
        raise Hint("a thread is still waiting for the lock after 20 s: a deposit took the lock and never "
                   "released it. `with lock:` releases it for you, even when the block raises.")
    if lock.acquisitions == 0:
        raise Hint("deposit never takes the `lock` it is given (a lock of your own protects nothing that "
                   "the other threads use): put the read of the balance and the write back inside "
                   "`with lock:`.")
    if account.unlocked_reads:
        raise Hint(f"{account.unlocked_reads} reads of the balance happened outside the lock: another thread "
                   "can deposit between your read and your write, and its deposit is lost. Read inside "
                   "`with lock:` too, not only the write.")
    if account.unlocked_writes:
        raise Hint(f"{account.unlocked_writes} writes of the balance happened outside the lock: the write must "
                   "happen before the lock is released, inside the same `with lock:` block as the read.")
    if dict.__getitem__(account, "balance") != threads * deposits:
        raise Hint(f"the balance is {dict.__getitem__(account, 'balance')}, expected {threads * deposits}: "
                   "each call must add `amount` exactly once.")


# ---------------------------------------------------------------------------------------------------
# 04 domain decomposition

SPLIT_CASES = [(10, 3), (7, 2), (100, 7), (12, 4), (5, 5), (1, 1), (1000, 6), (20, 8)]
FEW_ITEM_CASES = [(3, 5), (1, 4), (0, 2), (5, 7)]


def _as_block(value, n_items: int, rank: int, size: int) -> tuple[int, int]:
    if isinstance(value, (slice, range)):
        value = (value.start or 0, value.stop)
    try:
        start, stop = value
        if int(start) != start or int(stop) != stop:
            raise TypeError
        return int(start), int(stop)
    except (TypeError, ValueError):
        raise Hint(f"block_range({n_items}, {rank}, {size}) returned {value!r}; return two integers "
                   "(start, stop) with stop exclusive, like range(start, stop)") from None


def _blocks(block_range, n_items: int, size: int) -> list[tuple[int, int]]:
    return [_as_block(block_range(n_items, rank, size), n_items, rank, size) for rank in range(size)]


def _more_ranks_hint(n_items: int, size: int, problem: str) -> Hint:
    return Hint(f"with more ranks than items (n_items={n_items}, size={size}) {problem}. Some ranks must get "
                "an empty block (start == stop) inside 0..n_items. divmod(n_items, size) gives base=0 and "
                "extra=n_items: the first n_items ranks get one item each.")


def _check_ranges(n_items: int, size: int, blocks: list[tuple[int, int]]) -> None:
    few = size > n_items
    for rank, (start, stop) in enumerate(blocks):
        if not 0 <= start <= stop <= n_items:
            problem = f"rank {rank} got ({start}, {stop})"
            if few:
                raise _more_ranks_hint(n_items, size, problem)
            raise Hint(f"n_items={n_items}, size={size}: {problem}, outside 0..{n_items} or with start > stop. "
                       "Rounding the block size up (ceil) runs past the end; use divmod(n_items, size).")


def _diagnose_split(n_items: int, size: int, blocks: list[tuple[int, int]]) -> None:
    few = size > n_items
    owners: list[list[int]] = [[] for _ in range(n_items)]
    for rank, (start, stop) in enumerate(blocks):
        for item in range(start, stop):
            owners[item].append(rank)
    where = f"n_items={n_items}, size={size}: " + ", ".join(f"rank {r} -> {b}" for r, b in enumerate(blocks))
    shared = [(item, ranks) for item, ranks in enumerate(owners) if len(ranks) > 1]
    if shared:
        item, ranks = shared[0]
        problem = f"item {item} belongs to ranks {ranks} ({len(shared)} items overlap)"
        if few:
            raise _more_ranks_hint(n_items, size, problem)
        raise Hint(f"{where}. Overlap: {problem}. Each rank must start exactly where the previous one "
                   "stopped (stop is exclusive, like range), so no item is computed twice.")
    missing = [item for item, ranks in enumerate(owners) if not ranks]
    if missing:
        tail = list(range(size * (n_items // size), n_items))
        if few:
            raise _more_ranks_hint(n_items, size, f"items {missing} belong to no rank")
        if missing == tail:
            raise Hint(f"{where}. The remainder is dropped: items {missing[0]}..{missing[-1]} "
                       f"(n_items % size = {len(tail)}) belong to no rank. Hand the remainder out: one extra "
                       "item to each of the first n_items % size ranks.")
        gaps = [blocks[r + 1][0] - blocks[r][1] for r in range(size - 1)]
        if gaps and all(gap == 1 for gap in gaps if gap) and any(gaps):
            raise Hint(f"{where}. Off by one: a gap of one item between neighbouring ranks (item {missing[0]} "
                       "belongs to nobody). stop is exclusive: stop = start + count, and the next rank "
                       "starts at that stop, not at stop + 1.")
        raise Hint(f"{where}. Gap: items {missing[:5]}{'...' if len(missing) > 5 else ''} belong to no rank. "
                   "The blocks must cover 0..n_items with no gaps.")
    for rank in range(size - 1):
        if blocks[rank][1] != blocks[rank + 1][0]:
            raise Hint(f"{where}. The blocks are not in rank order: rank {rank + 1} must start where rank "
                       f"{rank} stops, so that neighbours in rank are neighbours in the domain (halo exchange "
                       "talks to rank - 1 and rank + 1).")
    counts = [stop - start for start, stop in blocks]
    if max(counts) - min(counts) > 1:
        problem = f"block sizes {counts} differ by {max(counts) - min(counts)}"
        if few:
            raise _more_ranks_hint(n_items, size, problem)
        raise Hint(f"{where}. Not balanced: {problem}, so every step waits for the biggest block. Sizes may "
                   "differ by at most one: give the n_items % size extra items to different ranks, one each, "
                   "not all to the last rank.")


@exercise_check("Split a domain by rank and size")
def check_block_range(block_range) -> None:
    """block_range(n_items, rank, size) -> (start, stop): contiguous, balanced, covering, in rank order."""
    splits = {case: _blocks(block_range, *case) for case in SPLIT_CASES}
    for n_items, size in FEW_ITEM_CASES:
        try:
            splits[n_items, size] = _blocks(block_range, n_items, size)
        except Hint:
            raise
        except Exception as error:
            raise _more_ranks_hint(n_items, size, f"your function raised {type(error).__name__}: {error}") from None
    for group in (SPLIT_CASES, FEW_ITEM_CASES):
        for case in group:  # blocks outside the domain first: they explain the other symptoms
            _check_ranges(*case, splits[case])
        for case in group:
            _diagnose_split(*case, splits[case])


def _reference_owner(item: int, n_items: int, size: int) -> int:
    base, extra = divmod(n_items, size)
    boundary = extra * (base + 1)  # the first `extra` ranks own base + 1 items each
    return item // (base + 1) if item < boundary else extra + (item - boundary) // base


@exercise_check("Which rank owns an item")
def check_owner_of(owner_of) -> None:
    """owner_of(item, n_items, size) -> the rank whose block (balanced, remainder first) holds item."""
    for n_items, size in SPLIT_CASES + [(3, 5)]:
        for item in range(n_items):
            expected, given = _reference_owner(item, n_items, size), owner_of(item, n_items, size)
            if given == expected:
                continue
            where = f"owner_of({item}, {n_items}, {size}) gave {given!r}, but rank {expected} owns item {item}"
            if not isinstance(given, int) or not 0 <= given < size:
                raise Hint(f"{where}: return a rank number from 0 to size - 1 = {size - 1}")
            if n_items >= size and given == min(item // (n_items // size), size - 1):
                raise Hint(f"{where}. item // (n_items // size) ignores the remainder: the first "
                           f"n_items % size = {n_items % size} ranks own one item more. Look the item up in "
                           "the blocks of block_range instead.")
            first = _reference_owner(item - 1, n_items, size) != expected if item else True
            last = _reference_owner(item + 1, n_items, size) != expected if item + 1 < n_items else True
            if (first and given == expected - 1) or (last and given == expected + 1):
                raise Hint(f"{where}: off by one at a block edge. A block (start, stop) holds start but not "
                           "stop: start <= item < stop.")
            raise Hint(f"{where}. Find the rank r with start <= item < stop for block_range(n_items, r, size).")


# ---------------------------------------------------------------------------------------------------
# 05 pinning

@exercise_check("One rank, every core, one thread per core")
def check_hybrid_layout(result, n_cores: int | None = None) -> None:
    """result: ck.mpirun('where_am_i.py', n=1, genv=...); the rank must be pinned to at least n_cores CPUs
    (default: the cores this process owns) and its BLAS must run n_cores threads."""
    from clusterkit.machine.topology import local_topology

    cores = n_cores or local_topology().n_cores
    if len(result.pinning) != 1:
        raise Hint(f"the pinning table shows {len(result.pinning)} ranks: start one rank (n=1); its threads, "
                   "not more ranks, should fill the cores")
    threads_asked = re.findall(r"OMP_NUM_THREADS=(\S+)", "\n".join(result.app_lines()))
    if not threads_asked:
        raise Hint("the job printed no 'OMP_NUM_THREADS=...': run the where_am_i.py script of this notebook")
    if threads_asked[0] == "unset":
        raise Hint("OMP_NUM_THREADS is not set, so every library guesses its own number of threads (OpenBLAS "
                   "takes every CPU of the rank's domain, others every CPU of the node). Set it explicitly "
                   "in genv, to the number of cores the rank should use.")
    pinned = result.pinning[0].cpus
    if len(pinned) < cores:
        raise Hint(f"the rank is pinned to CPU(s) {set(pinned)} only, so its threads would share "
                   f"{len(pinned)} core(s) of {cores}. Widen its pin domain: I_MPI_PIN_DOMAIN='omp' (sized by "
                   "OMP_NUM_THREADS) or 'node'.")
    threads = result.values("blas_threads")
    if not threads:
        raise Hint("the job printed no 'blas_threads=...': run the where_am_i.py script of this notebook")
    if int(threads[0]) != cores:
        raise Hint(f"the rank's BLAS runs {threads[0]} thread(s) on {cores} cores. Set OMP_NUM_THREADS="
                   f"{cores} in genv, so the rank starts one thread per core of its domain.")


# ---------------------------------------------------------------------------------------------------
# 06 interactive SPMD

@exercise_check("Allreduce across the engines")
def check_engine_totals(totals, n_items: int) -> None:
    """totals: the `total` of every engine (view['total']); each must be the whole sum of squares."""
    totals = list(totals)
    if not totals or any(total is None for total in totals):
        raise Hint("the engines hold no total yet: fill in the TODO of the %%px cell and run it, then this "
                   "check again")
    expected = sum_of_squares(n_items)
    if len(set(totals)) > 1:
        raise Hint(f"the engines hold different totals {totals}: each has only its own partial sum. Combine "
                   "them with comm.allreduce(partial), which gives every engine the whole sum.")
    _diagnose_total(int(totals[0]), expected, len(totals), f"with {len(totals)} engines")
