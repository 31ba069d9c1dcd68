"""A learner's CPUs enforced by the kernel: a cpuset cgroup per learner, where the machine has a writable cpuset
hierarchy (cgroup v1's /sys/fs/cgroup/cpuset). A process in it can use no other CPU, whatever it asks for with
`taskset` or sched_setaffinity; without one, the seat is the server's affinity mask, which Intel MPI pins inside
but a learner could widen on purpose (`cpuset_root()` returns None, and the seat line says which it is).

    /sys/fs/cgroup/cpuset/dmlcpu-room/<learner>   cpuset.cpus = the seat's CPUs, cpuset.mems = the parent's
"""
from __future__ import annotations

import os
import time
from pathlib import Path

V1_ROOT = Path("/sys/fs/cgroup/cpuset")
ROOM = "dmlcpu-room"  # the room's folder in the hierarchy


def cpuset_root() -> Path | None:
    """The cpuset hierarchy, when this process may make cgroups in it."""
    if (V1_ROOT / "cpuset.cpus").exists() and os.access(V1_ROOT, os.W_OK):
        return V1_ROOT
    return None


def _inherit(folder: Path) -> None:
    """A new cpuset has no CPUs and no memory nodes: give it its parent's before anything joins."""
    for name in ("cpuset.mems", "cpuset.cpus"):
        (folder / name).write_text((folder.parent / name).read_text().strip() or "0")


def learner_cpuset(learner: str, cpus: str) -> Path | None:
    """Make (or update) the learner's cpuset with `cpus` ('0-3'); None where there is no cpuset hierarchy."""
    root = cpuset_root()
    if root is None:
        return None
    folder = root / ROOM / learner
    for level in (folder.parent, folder):
        if not level.exists():
            level.mkdir()
            _inherit(level)
    (folder / "cpuset.cpus").write_text(cpus)
    return folder


def join(folder: Path) -> None:
    """Move the calling process into the cpuset (its children stay there)."""
    (folder / "cgroup.procs").write_text(str(os.getpid()))


def remove(learner: str, wait: float = 5.0) -> None:
    """Remove the learner's cpuset (end their processes first: a process that is still exiting keeps it busy for a
    moment, so this waits up to `wait` seconds), and the room's folder when no other learner has one."""
    folder = V1_ROOT / ROOM / learner
    deadline = time.monotonic() + wait
    while folder.exists():
        try:
            folder.rmdir()  # a cgroup folder is removed with rmdir, its files go with it
        except FileNotFoundError:
            break
        except OSError as busy:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cpuset {folder} still holds processes: {busy}") from None
            time.sleep(0.05)
    try:
        folder.parent.rmdir()
    except OSError:  # another learner's cpuset is in it, or there is none
        pass
