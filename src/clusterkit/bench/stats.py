"""Side-by-side measurement: run variants interleaved, pair them by round, summarise as median and spread.

A ratio is only ever computed between measurements of the same round (variant A then variant B, back to
back), so a slow minute of the machine slows both sides of it instead of one.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """Median and spread (min..max) of repeated measurements of one figure."""

    values: tuple[float, ...]
    median: float
    low: float
    high: float

    @property
    def repeats(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict:
        return {**asdict(self), "values": list(self.values), "repeats": self.repeats,
                "spread": [self.low, self.high]}


def summarize(values: Sequence[float]) -> Summary:
    """Median, min and max of `values` (at least one, all finite)."""
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError("nothing measured: at least one value is needed")
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise ValueError(f"a measurement is not a finite number: {values}")
    return Summary(values, statistics.median(values), min(values), max(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """numerator[i] / denominator[i] for each round i: the two were measured back to back."""
    if len(numerators) != len(denominators):
        raise ValueError(f"rounds differ: {len(numerators)} vs {len(denominators)} measurements")
    return [n / d for n, d in zip(numerators, denominators)]


def interleaved(variants: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, list]:
    """Call every variant once per round, in turn, for `repeats` rounds; the results by variant.

    The order within a round alternates (forwards, backwards), so neither variant always runs first."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    results: dict[str, list] = {name: [] for name in variants}
    names = list(variants)
    for round_number in range(repeats):
        for name in names if round_number % 2 == 0 else reversed(names):
            results[name].append(variants[name]())
    return results


def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes (runnable processes), from /proc/loadavg."""
    with open("/proc/loadavg") as file:
        return [float(field) for field in file.read().split()[:3]]


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds spent so far on the CPUs this process may use, by everything and by this process tree."""
    wall: float
    busy: float   # all processes, from /proc/stat (user, nice, system, irq, softirq, steal)
    own: float    # this process and the children it has waited for (mpirun, its ranks, the benchmarks)
    cpus: int

    @classmethod
    def now(cls) -> CpuClock:
        owned = {f"cpu{cpu}" for cpu in os.sched_getaffinity(0)}
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as file:
            lines = [line.split() for line in file if line.split()[0] in owned]
        busy = sum(int(f[1]) + int(f[2]) + int(f[3]) + int(f[6]) + int(f[7]) + int(f[8]) for f in lines) / tick
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        return cls(time.monotonic(), busy, own, len(owned))

    def others_share(self, later: CpuClock) -> float:
        """The share of these CPUs' time that processes outside this tree used between self and later."""
        capacity = (later.wall - self.wall) * self.cpus
        others = (later.busy - self.busy) - (later.own - self.own)
        return min(max(others / capacity, 0.0), 1.0) if capacity > 0 else 0.0
