"""Read what Intel MPI prints with I_MPI_DEBUG set (level 5 or more) into records.

A run with `-genv I_MPI_DEBUG 5` prints, from rank 0, lines such as

    [0] MPI startup(): Intel(R) MPI Library, Version 2021.18.1  Build 20260626 (id: b44796a)
    [0] MPI startup(): libfabric provider: tcp
    [0] MPI startup(): Rank    Pid      Node name  Pin cpu
    [0] MPI startup(): 0       3321     vm         {0}
    [0] MPI startup(): 1       3322     vm         {1}
    [0] MPI startup(): I_MPI_PIN_DOMAIN=core

`parse_debug(text)` returns the version, the fabric provider, the pinning table and the I_MPI_*
settings that the library reported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

DEBUG_PREFIX = re.compile(r"^\[(?P<rank>\d+)\] MPI startup\(\):\s?(?P<body>.*)$")
VERSION = re.compile(r"Intel\(R\) MPI Library, Version (?P<version>\S+)")
PROVIDER = re.compile(r"libfabric provider: (?P<provider>\S+)")
TABLE_HEADER = re.compile(r"^Rank\s+Pid\s+Node name\s+Pin cpu\s*$")
TABLE_ROW = re.compile(r"^(?P<rank>\d+)\s+(?P<pid>\d+)\s+(?P<node>\S+)\s+\{(?P<cpus>[^}]*)\}\s*$")
SETTING = re.compile(r"^(?P<name>I_MPI_\w+)=(?P<value>.*)$")


@dataclass(frozen=True)
class RankPin:
    """One row of the pinning table: where a rank runs and which logical CPUs it may use."""

    rank: int
    pid: int
    node: str
    cpus: tuple[int, ...]


@dataclass
class DebugReport:
    version: str | None = None
    provider: str | None = None
    pinning: list[RankPin] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def is_debug_line(line: str) -> bool:
        return bool(DEBUG_PREFIX.match(line))

    @property
    def nodes(self) -> list[str]:
        """Node names in the order their first rank appears."""
        return list(dict.fromkeys(pin.node for pin in self.pinning))

    def ranks_on(self, node: str) -> list[int]:
        return [pin.rank for pin in self.pinning if pin.node == node]

    def ranks_per_cpu(self) -> dict[tuple[str, int], list[int]]:
        """(node, cpu) -> the ranks pinned to it; more than one rank on a CPU means oversubscription."""
        table: dict[tuple[str, int], list[int]] = {}
        for pin in self.pinning:
            for cpu in pin.cpus:
                table.setdefault((pin.node, cpu), []).append(pin.rank)
        return table


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """'0', '0-3', '0,2,4-5' -> (0,), (0, 1, 2, 3), (0, 2, 4, 5)."""
    cpus: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "-" in part:
            low, high = part.split("-")
            cpus.extend(range(int(low), int(high) + 1))
        else:
            cpus.append(int(part))
    return tuple(cpus)


def parse_debug(text: str) -> DebugReport:
    """Parse I_MPI_DEBUG output (any other lines are ignored)."""
    report = DebugReport()
    in_table = False
    for line in text.splitlines():
        match = DEBUG_PREFIX.match(line.strip())
        if not match:
            continue
        body = match["body"].strip()
        if report.version is None and (found := VERSION.search(body)):
            report.version = found["version"]
        if report.provider is None and (found := PROVIDER.search(body)):
            report.provider = found["provider"]
        if TABLE_HEADER.match(body):
            in_table = True
            report.pinning = []
            continue
        row = TABLE_ROW.match(body)
        if in_table and row:
            report.pinning.append(RankPin(int(row["rank"]), int(row["pid"]), row["node"],
                                          parse_cpu_list(row["cpus"])))
            continue
        in_table = False
        if setting := SETTING.match(body):
            report.settings[setting["name"]] = setting["value"]
    return report
