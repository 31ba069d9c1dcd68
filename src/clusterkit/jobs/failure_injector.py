"""Start the launchers of an elastic job side by side, as if each ran on a node of its own, and inject one
real failure into the running job: SIGKILL (a node lost) or SIGSTOP (a process that hangs).

    python -m clusterkit.jobs.failure_injector PLAN.json

PLAN.json (written by `clusterkit.jobs.elastic`):

    {"nodes": [{"name": "node1", "command": [...], "env": {...}}, ...],
     "failure": {"after": "committed step=10\\b", "signal": "SIGKILL", "printed_by": ["node1", "node2"],
                 "target": {"CLUSTERKIT_NODE": "node2"}, "what": "node2's agent and its worker"}}

Every line a node prints is echoed as `[node1] ...`. Once a line of a node in `printed_by` (of any node when
it is null) matches `after`, `signal` goes to every process of the job whose environment holds all of
`target` (an agent, its workers, or both: torchrun's workers inherit their agent's environment and add
LOCAL_RANK). The injector says what it did in lines that
start with `[failure]`, with the time of day in the format of torchrun's own log.

The job is this process's descendants; it makes itself their "subreaper", so a worker whose agent was killed
is re-parented to it instead of to init. When every node's launcher has exited, or at SIGTERM, SIGINT or
SIGHUP (the runner's time-out and stop button), it SIGKILLs whatever is left and says so. torchrun starts
each worker in a session of its own, which a signal to the job's session would not reach.

Exit status: 0 when every node whose launcher was not hit has exited with 0, else the first non-zero status
of those (1 when the failure hit every launcher); 3 when the failure was never injected (no line matched).
Standard library only, so it starts at once.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
NEVER_INJECTED = 3


def stamp() -> str:
    """The time of day as torchrun's log lines give it: 18:41:53.070000."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"


def say(text: str) -> None:
    sys.stdout.write(f"[failure] at {stamp()}: {text}\n")
    sys.stdout.flush()


def become_subreaper() -> None:
    """Orphans of the job (a worker whose agent died) become this process's children, not init's."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(root: int) -> list[int]:
    """Every live process below `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def environment(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def matching(target: dict[str, str]) -> list[int]:
    """The job's processes whose environment holds every NAME=VALUE of `target`."""
    return [pid for pid in descendants(os.getpid())
            if all(environment(pid).get(name) == value for name, value in target.items())]


SETTLE = 0.5  # seconds without a new match before hit_all is sure it hit everything


def state(pid: int) -> str:
    """The process's state letter (R, S, T for stopped, Z for a zombie ...), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def hit_all(target: dict[str, str], sent: int) -> list[int]:
    """Send `sent` to every process that matches `target`; once they are dead (or stopped), look again, until no
    new one has turned up for SETTLE seconds: an agent that a SIGKILL reaches in the middle of starting a worker
    still leaves that worker behind. Returns the pids hit, in order."""
    done = ("gone", "Z", "X", "T", "t") if sent == signal.SIGSTOP else ("gone", "Z", "X")
    victims: list[int] = []
    quiet_until = time.monotonic() + SETTLE
    while time.monotonic() < quiet_until:
        fresh = [pid for pid in matching(target) if pid not in victims]
        if not fresh:
            time.sleep(0.02)  # a worker in the middle of execve shows no environment for a moment: look again
            continue
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError):  # it ended between the look-up and the signal
                os.kill(pid, sent)
        victims += fresh
        deadline = time.monotonic() + 2.0
        while any(state(pid) not in done for pid in fresh) and time.monotonic() < deadline:
            time.sleep(0.01)
        quiet_until = time.monotonic() + SETTLE
    return victims


def end_all(why: str) -> None:
    """SIGKILL every process left below this one (stopped ones included), and say which."""
    left = descendants(os.getpid())
    if not left:
        return
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    say(f"{why}: ended {len(left)} process(es) still running (pids {', '.join(map(str, left))})")


def run(plan: dict) -> int:
    become_subreaper()
    failure = plan.get("failure")
    trigger = re.compile(failure["after"]) if failure else None
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    launched: dict[str, subprocess.Popen] = {}

    def stop(signum, frame):
        end_all(f"the job was stopped ({signal.Signals(signum).name})")
        sys.stdout.flush()
        os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)

    def pump(name: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            lines.put((name, line))
        lines.put((name, None))

    for node in plan["nodes"]:
        env = {**os.environ, **node["env"]}
        process = subprocess.Popen(node["command"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)
        launched[node["name"]] = process
        threading.Thread(target=pump, args=(node["name"], process), daemon=True).start()

    hit: set[str] = set()  # the nodes whose launcher the failure hit
    injected = False
    open_pipes = len(launched)
    while open_pipes:
        name, line = lines.get()
        if line is None:
            open_pipes -= 1
            continue
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()
        if trigger is not None and not injected and name in (failure["printed_by"] or [name]) \
                and trigger.search(line):
            victims = hit_all(failure["target"], getattr(signal, failure["signal"]))
            # a node is hit when its launcher is one of the victims (a node lost); a launcher that only saw its
            # workers hit must still end the job as its design says (carry on, or fail with its reason)
            hit = {node for node, process in launched.items() if process.pid in victims}
            injected = True
            say(f"{failure['signal']} to {failure['what']} (pids {', '.join(map(str, victims)) or 'none'}) "
                f"after the line {line.strip()!r}")

    statuses = {name: process.wait() for name, process in launched.items()}
    for name, status in statuses.items():
        say(f"{name}'s launcher ended with status {status}" + (" (hit by the failure)" if name in hit else ""))
    end_all("all launchers have exited")
    if trigger is not None and not injected:
        say(f"the failure was never injected: no line matched {failure['after']!r}")
        return NEVER_INJECTED
    spared = [status for name, status in statuses.items() if name not in hit]
    if not spared:
        return 1  # the failure took every node: nothing is left to finish the job
    return next((status for status in spared if status != 0), 0) % 256


if __name__ == "__main__":
    sys.exit(run(json.loads(Path(sys.argv[1]).read_text())))
