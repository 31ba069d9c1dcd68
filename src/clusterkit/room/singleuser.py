"""What a learner's server runs, as the learner (the room's spawners start it):

    python -m clusterkit.room.singleuser prepare   copy the course into $CLUSTERKIT_WORKSPACE (keeping their edits)
    python -m clusterkit.room.singleuser serve ... jupyterhub-singleuser on that workspace, the course kernel chosen
    python -m clusterkit.room.singleuser slurm-job ...   in the learner's Slurm job: prepare, then serve through
                                                   batchspawner's wrapper, which tells the hub the server's port

`prepare` ends with one sentence on stderr when it cannot: the hub shows it as the reason the spawn failed (the
Slurm spawner reads it from the end of the job's output).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from clusterkit.course import KERNEL_NAME, ROOM_CPUS_ENV, ROOM_SEAT_ENV
from clusterkit.exercises.checks import PROGRESS_ENV
from clusterkit.learner.workspace import WorkspaceError, sync
from clusterkit.machine.environment import ENV_BIN, REPO_ROOT
from clusterkit.machine.topology import format_cpu_list


def workspace() -> Path:
    return Path(os.environ["CLUSTERKIT_WORKSPACE"])


def prepare() -> int:
    target = workspace()
    try:
        sync(REPO_ROOT, target, echo=False)
        Path(os.environ[PROGRESS_ENV]).touch()
    except PermissionError as denied:
        print(f"Your course files cannot be written to {denied.filename or target} (permission denied): your home "
              f"folder {Path.home()} must belong to you. Ask your instructor to fix its owner.", file=sys.stderr)
        return 1
    except (OSError, WorkspaceError) as problem:
        print(f"Your course files could not be prepared in {target}: {problem}. Ask your instructor.",
              file=sys.stderr)
        return 1
    return 0


def serve(extra: list[str], wrapper: tuple[str, ...] = ()) -> None:
    """Become jupyterhub-singleuser (started by `wrapper`, a program that runs the command after it, if given)."""
    os.chdir(workspace())
    command = [*wrapper, "jupyterhub-singleuser", f"--ServerApp.root_dir={workspace()}",
               f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}", *extra]
    os.execv(ENV_BIN / command[0], command)


def slurm_job(extra: list[str]) -> int:
    """The learner's server as a Slurm job: its seat named after the job and the node it landed on, its CPUs
    those the job may use."""
    if prepare() != 0:
        return 1
    cpus = sorted(os.sched_getaffinity(0))
    os.environ[ROOM_CPUS_ENV] = format_cpu_list(cpus)
    os.environ[ROOM_SEAT_ENV] = (f"{os.environ.get(ROOM_SEAT_ENV, 'your seat')}: Slurm job "
                                 f"{os.environ.get('SLURM_JOB_ID', '?')} on {os.uname().nodename}, "
                                 f"{os.environ.get('SLURM_CPUS_ON_NODE', len(cpus))} CPU(s)")
    serve(extra, wrapper=("batchspawner-singleuser",))


def main(argv: list[str]) -> int:
    if argv[:1] == ["prepare"]:
        return prepare()
    if argv[:1] == ["serve"]:
        serve(argv[1:])
    if argv[:1] == ["slurm-job"]:
        return slurm_job(argv[1:])
    print("usage: python -m clusterkit.room.singleuser prepare|serve|slurm-job [jupyterhub-singleuser options]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
