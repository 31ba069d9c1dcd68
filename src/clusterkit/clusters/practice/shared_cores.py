"""The two practice nodes share this machine's cores, which two real nodes never do. Two rules follow.

1. A waiting Intel MPI rank spins on its core by default, and starves a rank of the other node that shares
   the core. Inside the nodes a rank yields after one spin (`SHARED_CORES_ENV`); on a real cluster, where
   each rank owns its cores, leave these unset. (`I_MPI_WAIT_MODE=1` can hang Horovod after MPI_Init here.)
2. The kernel's per-session scheduling groups are off while the cluster is up
   (`kernel.sched_autogroup_enabled=0`, put back when it stops): with them on, each Slurm task runs in a
   group of its own, and a runnable rank of one node can wait for minutes behind a busy rank of the other.
"""
from __future__ import annotations

from pathlib import Path

SHARED_CORES_ENV = {"I_MPI_THREAD_YIELD": "3", "I_MPI_SPIN_COUNT": "1"}
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def set_autogroup(value: str) -> str:
    """Set kernel.sched_autogroup_enabled; return the value it had, or "" when this kernel has no such setting
    or it cannot be written here (then nothing changes)."""
    try:
        before = AUTOGROUP.read_text().strip()
        if before != value:
            AUTOGROUP.write_text(value)
        return before
    except OSError:
        return ""
