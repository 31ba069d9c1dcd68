"""Module 05 (beyond one machine: Slurm and two nodes): the exercise checks."""
from __future__ import annotations

from ..checks import Hint, exercise_check
from ..impi_debug import RankPin

# two nodes x two ranks, with the same CPU numbers on both nodes (as every real cluster has)
_PINS = [RankPin(0, 101, "cn01", (0,)), RankPin(1, 102, "cn01", (1,)),
         RankPin(2, 201, "cn02", (0,)), RankPin(3, 202, "cn02", (1,))]


@exercise_check("Which pairs of ranks talk over the network")
def check_crosses_network(crosses_network) -> None:
    """crosses_network(pinning, a, b) -> True when ranks a and b run on different nodes."""
    answers = {(0, 1): False, (2, 3): False, (0, 2): True, (1, 3): True, (1, 2): True, (3, 0): True, (2, 2): False}
    for (a, b), expected in answers.items():
        got = crosses_network(list(_PINS), a, b)
        if not isinstance(got, bool):
            raise Hint(f"crosses_network(pins, {a}, {b}) returned {got!r}: return True or False")
        if got == expected:
            continue
        if (a, b) == (0, 2) or (a, b) == (1, 3):
            raise Hint(f"ranks {a} and {b} are pinned to the same CPU number, but on different nodes (cn01, cn02): "
                       "CPU numbers start at 0 on every node, so compare the ranks' node names, not their CPUs")
        if (a, b) in ((0, 1), (2, 3)):
            raise Hint(f"ranks {a} and {b} share node {_PINS[a].node}: they talk through shared memory, not the "
                       "network. Compare the node names of the two ranks")
        raise Hint(f"crosses_network(pins, {a}, {b}) returned {got}, expected {expected}: look each rank up by its "
                   "`rank` field (the table may not be in rank order) and compare their `node`")
    shuffled = list(reversed(_PINS))
    if crosses_network(shuffled, 0, 1) or not crosses_network(shuffled, 0, 3):
        raise Hint("with the table in another order the answer changed: find each rank by `pin.rank == a`, "
                   "not by its position in the list")
