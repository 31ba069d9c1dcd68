"""Module 05 (beyond one machine: Slurm and two nodes): the exercise checks."""
from __future__ import annotations

from clusterkit.exercises.checks import Hint, exercise_check
from clusterkit.jobs.impi_debug import RankPin

# two nodes x two ranks, with the same CPU numbers on both nodes (as every real cluster has)
_PINS = [RankPin(0, 101, "cn01", (0,)), RankPin(1, 102, "cn01", (1,)),
         RankPin(2, 201, "cn02", (0,)), RankPin(3, 202, "cn02", (1,))]
_PAIRS = [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2), (3, 0), (2, 2)]


@exercise_check("Which pairs of ranks talk over the network")
def check_crosses_network(crosses_network) -> None:
    """crosses_network(pinning, a, b) -> True when ranks a and b run on different nodes."""
    node_of = {pin.rank: pin.node for pin in _PINS}
    cpus_of = {pin.rank: pin.cpus for pin in _PINS}
    got = {}
    for a, b in _PAIRS:
        answer = crosses_network(list(_PINS), a, b)
        if not isinstance(answer, bool):
            raise Hint(f"crosses_network(pins, {a}, {b}) returned {answer!r}: return True or False")
        got[(a, b)] = answer
    expected = {(a, b): node_of[a] != node_of[b] for a, b in _PAIRS}
    if got != expected:
        if got == {(a, b): cpus_of[a] != cpus_of[b] for a, b in _PAIRS}:
            raise Hint("you compared the ranks' CPUs, but CPU numbers start at 0 on every node: ranks 0 and 2 are both "
                       "on CPU 0, of two different machines. Compare the ranks' node names")
        if not any(got.values()):
            raise Hint("it says False for every pair, but ranks 0 and 2 run on different nodes (cn01, cn02)")
        if all(got.values()):
            raise Hint("it says True for every pair, but ranks 0 and 1 share node cn01 (shared memory, no network)")
        (a, b) = next(pair for pair in _PAIRS if got[pair] != expected[pair])
        raise Hint(f"crosses_network(pins, {a}, {b}) returned {got[(a, b)]}, expected {expected[(a, b)]}: rank {a} "
                   f"runs on {node_of[a]}, rank {b} on {node_of[b]}")
    shuffled = [_PINS[2], _PINS[0], _PINS[3], _PINS[1]]
    if crosses_network(shuffled, 0, 1) or not crosses_network(shuffled, 0, 3):
        raise Hint("with the table in another order the answer changed: find each rank by `pin.rank == a`, "
                   "not by its position in the list")
