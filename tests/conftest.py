"""Shared test helpers: a real kernel of the course; the practice cluster for the whole session, always torn down;
and the helpers more than one test file needs, each written once here (the end of this file).

The cluster lives in a temporary folder of its own; its teardown runs at the end of the session, when
a test fails, and on Ctrl-C (pytest runs fixture finalizers then). Where this machine cannot run it
(not root, no namespaces, no Slurm packages), every test that asks for it is skipped with one sentence.

Test files import the helpers as `from conftest import fails_with, recorded_machine, ...`: tests/ has no
`__init__.py`, so pytest (import mode `prepend`) puts tests/ first on sys.path and imports this file as the
module `conftest`, after the repository's own conftest.py (which it takes out of sys.modules first).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
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


# -- helpers of more than one test file --------------------------------------------------------------------

MACHINES = Path(__file__).parent / "fixtures" / "machines"  # other machines' /proc/cpuinfo and I_MPI_DEBUG output


def fails_with(check, *args, hint: str, **kwargs):
    """`check(*args, **kwargs)` fails with ExerciseFailed, its message matching the regular expression `hint`."""
    from clusterkit.exercises.checks import ExerciseFailed

    with pytest.raises(ExerciseFailed, match=hint):
        check(*args, **kwargs)


def recorded_machine(name: str, owned=None):
    """The topology of another machine, from its recorded or built tests/fixtures/machines/<name>.cpuinfo;
    restricted to the CPUs in `owned` (an allocation of it) unless that is None."""
    from clusterkit.machine.topology import parse_cpuinfo

    topology = parse_cpuinfo((MACHINES / f"{name}.cpuinfo").read_text())
    return topology.restricted_to(owned) if owned is not None else topology


def job_result(output: str):
    """The result of a finished, successful mpirun job that printed `output`."""
    from clusterkit.jobs.runner import MpiResult

    return MpiResult(command=["mpirun"], output=output, returncode=0, seconds=1.0)


def recorded_job(name: str, extra: str = ""):
    """A job of another machine: its recorded I_MPI_DEBUG output, tests/fixtures/machines/<name>.impi, then `extra`
    (what the ranks printed)."""
    return job_result((MACHINES / f"{name}.impi").read_text() + extra)


def pinning_table(*cpus: str, node: str = "n01", first_pid: int = 100) -> str:
    """Intel MPI's pinning table (I_MPI_DEBUG=5) of ranks 0, 1, ... on `node`, rank r pinned to the CPU list
    cpus[r] ("0-3,8-11"), with process ids from `first_pid` on."""
    lines = ["[0] MPI startup(): Rank    Pid      Node name  Pin cpu"]
    lines += [f"[0] MPI startup(): {rank:<8}{first_pid + rank:<9}{node:<10} {{{pins}}}"
              for rank, pins in enumerate(cpus)]
    return "\n".join(lines) + "\n"


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_notebook(path: Path, notebook: dict) -> None:
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False))


def notebook_cells(path: Path) -> list[dict]:
    return read_notebook(path)["cells"]


def cell_text(cell: dict) -> str:
    """A cell's source as one string (a notebook stores it as a list of lines or as one string)."""
    return "".join(cell["source"])


def code_cells(path: Path, skip_solution_only: bool = False) -> list[str]:
    """The sources of a notebook's code cells, in order; without the cells tagged `solution-only` if asked."""
    return [cell_text(c) for c in notebook_cells(path) if c["cell_type"] == "code"
            and not (skip_solution_only and "solution-only" in c.get("metadata", {}).get("tags", []))]


def solution_regions(exercises) -> dict[str, str]:
    """Each exercise's solution code by its task text (of `catalog.module_exercises`), to fill exercises with."""
    return {exercise.task: exercise.region for exercise in exercises}


def fill_exercises(source: str, regions: dict[str, str]) -> str:
    """An exercise's source with every exercise in it filled with its solution, as `%solution` fills it."""
    from clusterkit.authoring import markers

    return markers.fill(source, regions)[0]


# a job that never ends by itself: its ranks say "ranks running", then wait to be stopped
LONG_JOB = """\
import time
from mpi4py import MPI
MPI.COMM_WORLD.Barrier()
print("ranks running", flush=True)
while True:
    time.sleep(0.05)
"""
GONE_WITHIN = 5.0  # seconds from a stop (the stop button, an interrupt, a restart) to no process of the job left


def process_stat(pid) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, process group, session, ...; None when
    there is no such process (any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_state(pid) -> str:
    """The process's state letter (R, S, Z for a zombie ...), or "gone"."""
    stat = process_stat(pid)
    return stat[0] if stat else "gone"


def process_session(pid) -> int | None:
    stat = process_stat(pid)
    return int(stat[3]) if stat else None


def command_line(pid) -> str | None:
    """The process's arguments joined by spaces, or None when there is no such process (any more)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
