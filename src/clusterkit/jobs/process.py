"""The process helper under every job the course starts: stream its output, end it at its deadline or at
the stop button, and show its output with the course's folders named as the job scripts name them.

    streamed = stream(["mpirun", "-n", "2", "hostname"], env, cwd=None, timeout=60, echo=True)
    streamed.output, streamed.returncode, streamed.seconds, streamed.timed_out

A job runs in a session of its own, so that one signal reaches mpirun, hydra and every rank; a reaper
(`reaper.py`) ends that session when the process that started it dies.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from clusterkit.jobs.reaper import end_session
from clusterkit.machine.environment import ENV_PREFIX, REPO_ROOT

REAPER = Path(__file__).with_name("reaper.py")
KILL_GRACE_SECONDS = 3.0


class JobInterrupted(KeyboardInterrupt):
    """The learner stopped the cell (the stop button): the job was ended, every process of it."""

    def _render_traceback_(self):  # IPython shows the one line, not the runner's internals
        return [str(self)]


@dataclass
class Streamed:
    """What a job printed (stdout and stderr, interleaved), its exit status, wall time and whether it was
    ended at its deadline."""

    output: str
    returncode: int
    seconds: float
    timed_out: bool


def stream(command: list[str], env: dict[str, str] | None, cwd, timeout: float, echo: bool) -> Streamed:
    """Run `command` in its own session, echoing lines as they arrive; end the whole job at the deadline, on
    an interrupt (the notebook's stop button), and when this process dies (the reaper sees to that)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, errors="replace", bufsize=1, env=env, cwd=cwd, start_new_session=True,
    )
    reaper = subprocess.Popen([sys.executable, str(REAPER), str(os.getpid()), str(process.pid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    collected: list[str] = []
    deadline = started + timeout
    timed_out = False
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                timed_out = True
                kill_group(process)
                break
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                break
            collected.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
    except KeyboardInterrupt:
        kill_group(process)
        raise JobInterrupted("Interrupted: the whole job was stopped (mpirun, its hydra proxies and every rank; "
                             "no process of it is left). Run the cell again to start it anew.") from None
    finally:
        reaper.kill()
        reaper.wait()
    returncode = process.wait()
    # after a kill, the pump may still hold lines it read before the pipe closed
    while timed_out and not lines.empty():
        line = lines.get()
        if line is not None:
            collected.append(line)
    return Streamed("".join(collected), returncode, time.perf_counter() - started, timed_out)


def kill_group(process: subprocess.Popen) -> None:
    """End the whole job: SIGTERM its process group (hydra then stops its ranks), and after a grace period
    SIGKILL every process left in its session (ranks run in process groups of their own, but all stay in
    the session the job was started in)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    end_session(process.pid, grace=0.0)
    process.wait()


def tail(text: str, count: int = 12) -> str:
    """The last `count` lines of a job's output, indented, for an error message."""
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-count:])


def shorten_paths(text: str) -> str:
    """The course's folders by the names the job scripts give them: $COURSE_VENV and $COURSE_ROOT (only in
    what is echoed; a job's result keeps its output as the job wrote it)."""
    for path, name in ((str(ENV_PREFIX), "$COURSE_VENV"), (str(REPO_ROOT), "$COURSE_ROOT")):
        text = text.replace(path, name)
    return text


class ShortPathWriter:
    """A stdout that shows the course's folders as $COURSE_VENV / $COURSE_ROOT (see shorten_paths)."""

    def __init__(self, target):
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(shorten_paths(text))

    def flush(self) -> None:
        self.target.flush()
