"""The CPU this notebook runs on: sockets, cores, hardware threads and vector extensions."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
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
    def n_cores(self) -> int:
        return len({(c.socket, c.core) for c in self.cpus})

    @property
    def threads_per_core(self) -> int:
        return len(self.cpus) // max(self.n_cores, 1)

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

    def summary(self) -> str:
        return (f"{self.model}: {len(self.sockets)} socket(s) x {self.n_cores // max(len(self.sockets), 1)} "
                f"core(s) x {self.threads_per_core} thread(s) = {len(self.cpus)} logical CPUs; "
                f"vector extensions: {', '.join(self.vector_extensions) or 'none found'} "
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


def local_topology() -> Topology:
    """The topology of this machine, limited to the CPUs this process may run on."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        topology = parse_cpuinfo(cpuinfo.read_text())
    else:  # not Linux: one socket, one core per logical CPU
        count = os.cpu_count() or 1
        topology = Topology(platform.processor() or "unknown CPU", [LogicalCpu(i, 0, i) for i in range(count)])
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if allowed:
        topology.cpus = [c for c in topology.cpus if c.cpu in allowed]
    return topology
