"""The instructor's view: one row per learner of the room, with their seat, their server (where it runs, on which
CPUs or in which Slurm job, how long since it was last used) and the exercise checks they passed or still fail,
so the instructor sees who is stuck. `python -m clusterkit.room status` prints it (as root: it reads the
learners' progress files in their homes, and the hub's API with the instructor-view service's token).
"""
from __future__ import annotations

import json
import pwd
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from clusterkit.room.accounts import members
from clusterkit.room.seats import SeatMap
from clusterkit.room.settings import PROGRESS_NAME, WORKSPACE_NAME, RoomSettings


@dataclass
class LearnerRow:
    name: str
    seat: int | None = None
    server: str = "none"          # none, starting, ready, stopping
    where: str = ""               # the node and the CPUs, or the Slurm job
    idle: str = ""
    passed: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)


def hub_users(settings: RoomSettings, timeout: float = 10) -> list[dict]:
    token = (settings.state / "instructor_token").read_text().strip()
    request = urllib.request.Request(f"{settings.url}/hub/api/users",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


def progress(home: str | Path) -> tuple[list[str], list[str]]:
    """(checks whose last run passed, checks whose last run failed), from the learner's progress file."""
    last: dict[str, bool] = {}
    try:
        lines = (Path(home) / WORKSPACE_NAME / PROGRESS_NAME).read_text().splitlines()
    except OSError:
        return [], []
    for line in lines:
        try:
            record = json.loads(line)
            last[str(record["check"])] = bool(record["passed"])
        except (ValueError, KeyError, TypeError):
            continue  # a learner may have edited the file: skip what does not parse
    return sorted(c for c, ok in last.items() if ok), sorted(c for c, ok in last.items() if not ok)


def _since(stamp: str | None) -> str:
    if not stamp:
        return ""
    seconds = time.time() - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def room_rows(settings: RoomSettings) -> list[LearnerRow]:
    seats = SeatMap(settings.state / "seats.json", settings.seats).read()
    users = {user["name"]: user for user in hub_users(settings)}
    rows = []
    for name in sorted(set(members(settings.group)) | set(seats)):
        row = LearnerRow(name, seats.get(name))
        server = users.get(name, {}).get("servers", {}).get("")
        if server:
            row.server = "ready" if server.get("ready") else (server.get("pending") or "starting")
            state = server.get("state") or {}
            if state.get("job_id"):
                host = state.get("job_host")
                row.where = f"Slurm job {state['job_id']}" + (f" on {host}" if host else "")
            elif state.get("pid"):
                row.where = f"pid {state['pid']}, CPUs {state.get('cpus', '?')}"
            row.idle = _since(server.get("last_activity"))
        try:
            row.passed, row.failing = progress(pwd.getpwnam(name).pw_dir)
        except KeyError:
            pass
        rows.append(row)
    return rows


def format_rows(rows: list[LearnerRow], seats: int) -> str:
    header = ("learner", "seat", "server", "where", "idle", "passed", "still failing")
    table = [header] + [(r.name, "-" if r.seat is None else str(r.seat + 1), r.server, r.where or "-", r.idle or "-",
                         "; ".join(r.passed) or "-", "; ".join(r.failing) or "-") for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] for line in table]
    taken = sum(r.seat is not None for r in rows)
    return "\n".join(lines + [f"{taken} of {seats} seat(s) taken; {sum(r.server == 'ready' for r in rows)} "
                              "server(s) ready"])
