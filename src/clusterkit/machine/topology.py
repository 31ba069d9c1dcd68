"""The CPU this notebook runs on: sockets, cores, hardware threads and vector extensions.

Two views, because they differ inside a Slurm allocation, a container or under `taskset`:

    local_topology()     the logical CPUs this process may use (its affinity mask): what a job here owns
    machine_topology()   every logical CPU of the machine, as /proc/cpuinfo lists them

Rank counts that measure scaling come from the first: `rank_counts()` gives 1, 2, 4 ... up to the
cores this process owns.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class LogicalCpu:
    cpu: int
    socket: int
    core: int


@dataclass
class Topology:
    model: str
    cpus: list[LogicalCpu]
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def sockets(self) -> list[int]:
        return sorted({c.socket for c in self.cpus})

    def cores_of(self, socket: int) -> list[int]:
        return sorted({c.core for c in self.cpus if c.socket == socket})

    def cpus_of(self, socket: int, core: int) -> list[int]:
        return [c.cpu for c in self.cpus if c.socket == socket and c.core == core]

    @property
    def cpu_ids(self) -> list[int]:
        return [c.cpu for c in self.cpus]

    @property
    def n_cores(self) -> int:
        return len({(c.socket, c.core) for c in self.cpus})

    @property
    def threads_per_core(self) -> int:
        return len(self.cpus) // max(self.n_cores, 1)

    def core_of(self, cpu: int) -> tuple[int, int] | None:
        """(socket, core) of a logical CPU, None if the CPU is not in this topology."""
        for logical in self.cpus:
            if logical.cpu == cpu:
                return logical.socket, logical.core
        return None

    def restricted_to(self, allowed) -> Topology:
        """The same machine, limited to the logical CPUs in `allowed` (an affinity mask)."""
        allowed = set(allowed)
        return replace(self, cpus=[c for c in self.cpus if c.cpu in allowed])

    @property
    def vector_extensions(self) -> list[str]:
        """The SIMD extensions of VECTOR_FLAGS this CPU reports, narrowest first."""
        return [flag for flag in VECTOR_FLAGS if flag in self.flags]

    @property
    def widest_vector_bits(self) -> int:
        if "avx512f" in self.flags:
            return 512
        if "avx2" in self.flags or "avx" in self.flags:
            return 256
        return 128

    def shape(self) -> str:
        cores_per_socket = self.n_cores // max(len(self.sockets), 1)
        return (f"{len(self.sockets)} socket(s) x {cores_per_socket} core(s) x {self.threads_per_core} "
                f"thread(s) = {len(self.cpus)} logical CPUs")

    def summary(self) -> str:
        return (f"{self.model}: {self.shape()}; vector extensions: {', '.join(self.vector_extensions) or 'none found'} "
                f"(widest {self.widest_vector_bits}-bit)")


def parse_cpuinfo(text: str) -> Topology:
    """Topology from the text of /proc/cpuinfo (x86 layout: processor, physical id, core id, flags)."""
    cpus, flags, model = [], frozenset(), platform.processor() or "unknown CPU"
    for block in filter(str.strip, text.split("\n\n")):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "processor" not in fields:
            continue
        cpu = int(fields["processor"])
        cpus.append(LogicalCpu(cpu, int(fields.get("physical id", 0)), int(fields.get("core id", cpu))))
        flags = frozenset(fields.get("flags", "").split()) or flags
        model = fields.get("model name", model)
    return Topology(model=model, cpus=cpus, flags=flags)


def parse_lscpu(text: str, model: str = "unknown CPU", flags: frozenset[str] = frozenset()) -> Topology:
    """Topology from `lscpu -p=CPU,CORE,SOCKET` (lines of 'cpu,core,socket'; '#' lines are comments).

    lscpu numbers cores across the machine, /proc/cpuinfo within a socket; either way a (socket, core)
    pair names one core."""
    cpus = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            cpu, core, socket = (int(part) for part in line.split(",")[:3])
            cpus.append(LogicalCpu(cpu, socket, core))
    return Topology(model=model, cpus=cpus, flags=flags)


def format_cpu_list(cpus) -> str:
    """(0, 1, 2, 3, 8) -> '0-3,8': short, also for the 112 CPUs of a big node (the inverse of
    clusterkit.jobs.impi_debug.parse_cpu_list)."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def allowed_cpus() -> set[int] | None:
    """The logical CPUs this process may run on (None where the OS does not say)."""
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def machine_topology() -> Topology:
    """Every logical CPU of this machine."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        return parse_cpuinfo(cpuinfo.read_text())
    count = os.cpu_count() or 1  # not Linux: one socket, one core per logical CPU
    return Topology(platform.processor() or "unknown CPU", [LogicalCpu(i, 0, i) for i in range(count)])


def local_topology() -> Topology:
    """The topology of this machine, limited to the CPUs this process may run on."""
    machine = machine_topology()
    allowed = allowed_cpus()
    return machine.restricted_to(allowed) if allowed else machine


def describe(owned: Topology | None = None, machine: Topology | None = None) -> str:
    """What this process owns, and the whole machine beside it when the two differ."""
    owned = owned or local_topology()
    machine = machine or machine_topology()
    text = f"this process may use: {owned.summary()}"
    if len(owned.cpus) != len(machine.cpus):
        text += (f"\nthe whole machine:    {machine.shape()} (the rest belongs to other jobs or is masked: "
                 f"an allocation, a container or taskset)")
    return text


def rank_counts(cores: int | None = None, oversubscribe: bool = False) -> list[int]:
    """1, 2, 4 ... up to `cores` (default: the cores this process owns), and `cores` itself;
    with oversubscribe, also twice the cores (more ranks than cores)."""
    cores = cores or local_topology().n_cores
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    counts.append(cores)
    if oversubscribe:
        counts.append(2 * cores)
    return counts


def recorded_on(topology: Topology | None = None) -> str:
    """One line naming the machine outputs were recorded on: CPU, cores owned, widest vectors."""
    topology = topology or local_topology()
    return (f"{topology.model}, {topology.n_cores} core(s) owned ({len(topology.cpus)} logical CPUs), "
            f"widest vectors {topology.widest_vector_bits}-bit")


def _cpu_times() -> dict[int, tuple[int, int]]:
    """cpu -> (busy, total) jiffies from /proc/stat (empty where there is none)."""
    times = {}
    stat = Path("/proc/stat")
    for line in stat.read_text().splitlines() if stat.exists() else []:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle + iowait
            times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def busy_cpus(cpus=None, seconds: float = 0.15, threshold: float = 0.6) -> dict[int, float]:
    """{cpu: busy fraction} for the CPUs (default: those this process may use) that other processes kept
    busy more than `threshold` of the time during the next `seconds`."""
    cpus = set(cpus if cpus is not None else (allowed_cpus() or []))
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    busy = {}
    for cpu in sorted(cpus & before.keys() & after.keys()):
        work, total = after[cpu][0] - before[cpu][0], after[cpu][1] - before[cpu][1]
        if total > 0 and work / total > threshold:
            busy[cpu] = work / total
    return busy
