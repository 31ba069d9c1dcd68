"""Shared test helpers: a real kernel of the course; the practice cluster for the whole session, always torn down.

The cluster lives in a temporary folder of its own; its teardown runs at the end of the session, when
a test fails, and on Ctrl-C (pytest runs fixture finalizers then). Where this machine cannot run it
(not root, no namespaces, no Slurm packages), every test that asks for it is skipped with one sentence.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

WATCHED_DIRS = ("/run/munge", "/var/run/munge", "/run/slurm", "/var/spool/slurmd", "/var/spool/slurmctld",
                "/var/spool/slurm", "/var/log/slurm", "/var/log/munge", "/var/lib/munge", "/etc/munge", "/etc/slurm",
                "/etc/netns")
WATCHED_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
TMP_NAMES = re.compile(r"slurm|munge|dmlcpu|netns")
DAEMONS = {"munged", "slurmctld", "slurmd", "slurmstepd", "slurmscriptd"}


AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"


def host_snapshot() -> dict:
    """What the cluster could leave behind on the host: namespaces, routes, mounts, daemons, files."""
    def listing(folder: str) -> list[str]:
        path = Path(folder)
        return sorted(str(p) for p in path.rglob("*")) if path.is_dir() else []

    processes = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if (name in DAEMONS or name.startswith("slurmstepd")) and state not in "ZX":
                processes.append(f"{entry.name} {name}")
    return {
        "namespaces": subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n"),
        "routes": subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout.split(
            "\n"
        ),
        "mounts": sorted(Path("/proc/mounts").read_text().splitlines()),
        "processes": sorted(processes),
        "run_netns": Path("/run/netns").exists(),
        "dirs": {folder: listing(folder) for folder in WATCHED_DIRS},
        "files": {
            f: hashlib.sha256(Path(f).read_bytes()).hexdigest() if Path(f).exists() else None for f in WATCHED_FILES
        },
        "tmp": sorted(p.name for p in Path("/tmp").iterdir() if TMP_NAMES.search(p.name)),
        "sched_autogroup": Path(AUTOGROUP).read_text() if Path(AUTOGROUP).exists() else None,
        # shared memory of the host: other programs' files come and go (multiprocessing's semaphores), so only
        # a file that appeared counts (the nodes have a /dev/shm of their own: nothing of theirs lands here)
        "dev_shm_new": listing("/dev/shm"),
    }


def snapshot_difference(before: dict, after: dict) -> dict:
    """The parts of the host that changed (empty when the cluster left nothing behind)."""
    changed = {}
    appeared = sorted(set(after["dev_shm_new"]) - set(before["dev_shm_new"]))
    if appeared:
        changed["dev_shm_new"] = appeared
    for key in before.keys() - {"dev_shm_new"}:
        if before[key] != after[key]:
            if isinstance(before[key], list):
                changed[key] = {
                    "new": sorted(set(after[key]) - set(before[key])),
                    "gone": sorted(set(before[key]) - set(after[key])),
                }
            else:
                changed[key] = {"before": before[key], "after": after[key]}
    return changed


@pytest.fixture(scope="session")
def practice_cluster(tmp_path_factory):
    """The two-node practice cluster, up for the session; yields (cluster, host snapshot taken before it)."""
    from clusterkit.clusters import practice as pc
    from clusterkit.machine.environment import find_mpirun

    reason = pc.unavailable_reason()
    if reason:
        pytest.skip(reason)
    if find_mpirun() is None:
        pytest.skip("Intel MPI's mpirun is not in this environment: run `make setup` first.")
    before = host_snapshot()
    cluster = pc.start(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster, before
    finally:
        cluster.down()


@contextlib.contextmanager
def course_kernel(cwd):
    """A client of a real kernel of the course (the one notebooks use), started in `cwd`."""
    from jupyter_client import KernelManager

    from clusterkit.course import KERNEL_NAME

    manager = KernelManager(kernel_name=KERNEL_NAME)
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
