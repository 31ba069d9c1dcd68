"""Kill, on the node this runs on, the processes of one Slurm job whose command line names a program, as if the
node were lost (SIGKILL: nothing of them can clean up or say goodbye):

    srun --overlap --jobid=JOB -w NODE python -m clusterkit.jobs.kill_here elastic_train.py

The victims are found by their environment: this job (SLURM_JOB_ID) on this node (SLURMD_NODENAME), never this
process or its parents. On a real cluster `pkill -f` on the node would do; the practice cluster's nodes share this
machine's process table, where pkill would hit the other node's processes too. Prints what it killed; exits 1
when it found nothing. Standard library only (and the failure injector's environment reader).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from clusterkit.jobs.failure_injector import environment


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ancestors(pid: int) -> set[int]:
    """This process and every process above it."""
    found = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def victims(job: str, node: str, programs: list[str]) -> list[int]:
    spared = ancestors(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        pid = int(entry.name)
        if any(program in command_line(pid) for program in programs):
            env = environment(pid)
            if env.get("SLURM_JOB_ID") == job and env.get("SLURMD_NODENAME") == node:
                found.append(pid)
    return found


def main(programs: list[str]) -> int:
    job, node = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURMD_NODENAME")
    if not programs or not job or not node:
        print("usage, inside the job's allocation: srun --overlap --jobid=JOB -w NODE python -m "
              "clusterkit.jobs.kill_here PROGRAM...", file=sys.stderr)
        return 2
    killed = []
    for pid in victims(job, node, programs):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:  # it ended on its own between the look-up and the signal
            pass
    if not killed:
        print(f"no process of job {job} on {node} runs {' or '.join(programs)}", file=sys.stderr)
        return 1
    print(f"SIGKILL to {len(killed)} process(es) of job {job} on {node} running {' or '.join(programs)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
