"""Seats: a room has a fixed number of them; a learner takes one at their first login and keeps it.

A seat owns a set of CPUs of the node. Where the node has at least `minimum` CPUs per seat, the seats get
disjoint sets of equal size (whole cores together, in the order the topology lists them); where it has fewer,
each seat still gets `minimum` CPUs (or all of them) and some seats share: `SeatCpus.shared_with` says which,
and the learner's lab says so. Intel MPI pins a learner's ranks inside their own set, because it pins inside
the affinity mask of the process that starts it.

The seat map is a JSON file in the hub's state folder (root's, not the learners'), written atomically.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from clusterkit.machine.topology import format_cpu_list

MINIMUM_CPUS = 2


class RoomFull(RuntimeError):
    """Every seat is taken."""


@dataclass(frozen=True)
class SeatCpus:
    seat: int                  # 0-based
    cpus: tuple[int, ...]
    shared_with: tuple[int, ...]  # the other seats that use any of these CPUs

    def describe(self, seats: int, node_cpus: int, minimum: int = MINIMUM_CPUS) -> str:
        """One line for the learner's lab."""
        own = f"seat {self.seat + 1} of {seats}: CPUs {format_cpu_list(self.cpus)}"
        if not self.shared_with:
            return f"{own}, yours alone"
        others = ", ".join(str(s + 1) for s in self.shared_with)
        return (f"{own}, shared with seat(s) {others}: the node's {node_cpus} CPU(s) are fewer than {seats} seats x "
                f"{minimum}, so your timings include your neighbours' work")


def assign_cpus(node_cpus: list[int], seats: int, minimum: int = MINIMUM_CPUS) -> list[SeatCpus]:
    """Each seat's CPUs. `node_cpus` in topology order (hardware threads of a core next to each other)."""
    if seats < 1 or not node_cpus:
        raise ValueError(f"a room needs at least one seat and one CPU (got {seats} seats, {len(node_cpus)} CPUs)")
    n = len(node_cpus)
    if n >= seats * minimum:
        size = n // seats
        sets = [tuple(node_cpus[i * size:(i + 1) * size]) for i in range(seats)]
    else:
        size = min(minimum, n)
        sets = [tuple(node_cpus[(i * size + k) % n] for k in range(size)) for i in range(seats)]
    return [SeatCpus(i, tuple(sorted(set(cpus))),
                     tuple(j for j, other in enumerate(sets) if j != i and set(other) & set(cpus)))
            for i, cpus in enumerate(sets)]


NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


class SeatMap:
    """{learner: seat} in `path`; seats are 0-based and never given twice."""

    def __init__(self, path: str | os.PathLike, seats: int):
        self.path, self.seats = Path(path), seats

    def read(self) -> dict[str, int]:
        try:
            return {str(name): int(seat) for name, seat in json.loads(self.path.read_text()).items()}
        except FileNotFoundError:
            return {}

    def seat_of(self, learner: str) -> int | None:
        return self.read().get(learner)

    def take(self, learner: str) -> int:
        """The learner's seat: the one they had, else the lowest free one; RoomFull when none is free."""
        taken = self.read()
        if learner in taken:
            return taken[learner]
        free = sorted(set(range(self.seats)) - set(taken.values()))
        if not free:
            raise RoomFull(f"the room is full: its {self.seats} seat(s) are taken by {', '.join(sorted(taken))}")
        taken[learner] = free[0]
        self._write(taken)
        return free[0]

    def free(self, learner: str) -> bool:
        taken = self.read()
        if taken.pop(learner, None) is None:
            return False
        self._write(taken)
        return True

    def _write(self, taken: dict[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(taken, indent=1, sort_keys=True))
        os.replace(partial, self.path)
