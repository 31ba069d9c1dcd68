"""End a whole job when the process that started it is gone (a kernel restarted or shut down).

The runner starts every `mpirun` in a session of its own, so that it can end mpirun, hydra and every
rank together. That also means the job outlives the Jupyter kernel that started it: a restart or a
shutdown kills the kernel, not the job. So beside each job the runner starts this small watcher, in a
session of its own too:

    python reaper.py OWNER_PID JOB_SESSION

It checks five times a second whether OWNER_PID is still its parent; when it is not, it ends every
process of JOB_SESSION (SIGTERM, then SIGKILL for what is left) and exits. It also exits once the job's
session is empty. It imports nothing but the standard library, so it starts in a few milliseconds.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of a session, read from /proc (empty where there is no /proc)."""
    members = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            state, process_session = fields[0], int(fields[3])
            if process_session == session and state not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def end_session(session: int, grace: float = 3.0) -> None:
    """SIGTERM every process of the session, then SIGKILL whatever is still there after `grace` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + wait
        while (alive := session_members(session)) and time.monotonic() < deadline:
            for pid in alive:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)


def watch(owner: int, session: int) -> int:
    while os.getppid() == owner:
        if not session_members(session):
            return 0
        time.sleep(POLL_SECONDS)
    end_session(session, grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(watch(int(sys.argv[1]), int(sys.argv[2])))
