"""The room's settings: what the instructor chooses (seats, spawner, idle time ...) and where the hub keeps its state.

Each setting has a default, an environment variable (`make hub SEATS=20` passes ROOM_SEATS=20) and a flag of
`python -m clusterkit.room serve`. `serve` writes them to `<state>/settings.json`, which the hub's configuration
(clusterkit/room/jupyterhub_config.py) reads: one source for both.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from clusterkit.machine.environment import REPO_ROOT
from clusterkit.room.accounts import DEFAULT_GROUP

STATE_ENV = "CLUSTERKIT_ROOM_STATE"  # the hub's state folder, for its configuration file
SPAWNERS = ("local", "slurm")
# where the Slurm spawner's Slurm is: the practice cluster (its clients run only inside its nodes, so the hub runs
# in node1 behind a forwarder: clusterkit.room.practice_hub), or the site's own (the hub runs where `serve` runs)
SLURMS = ("practice", "site")
# in each learner's home: their copy of the course, and the exercise checks they ran (clusterkit.exercises.checks)
WORKSPACE_NAME = "dmlcpu-course"
PROGRESS_NAME = ".progress.jsonl"
ACL_RECORD = "acl.json"  # in the state folder: the ACL entries serve set (accounts.let_through)
INTERNAL = ("hub_port", "proxy_api_port", "hub_ip", "hub_connect_ip")  # set by serve, not by the instructor
PROXY = REPO_ROOT / "tools" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass
class RoomSettings:
    seats: int = 20                 # learners at most; each takes a seat (and its CPUs) at their first login
    spawner: str = "local"          # local: a process on this node, confined to the seat's CPUs; slurm: a batch job
    slurm: str = "practice"         # the slurm spawner's Slurm: the practice cluster, or the site's (see SLURMS)
    job_minutes: int = 480          # slurm: the time limit of a learner's job (sbatch --time)
    slurm_options: str = ""         # slurm: more sbatch options, e.g. "--partition=workshop --account=course"
    ip: str = "127.0.0.1"           # where the hub listens: 0.0.0.0 to let the room's laptops in
    port: int = 8000
    idle_minutes: float = 30.0        # a server with no activity for this long is stopped (jupyterhub-idle-culler)
    spawn_timeout: float = 120.0      # seconds a server may take to start before the learner is told it failed
    group: str = DEFAULT_GROUP      # the learners' accounts are the members of this local group
    minimum_cpus: int = 2           # CPUs per seat (seats share when the node has fewer than seats x this)
    let_learners_through: bool = False  # let the group pass through folders that hide the course's Python (an ACL)
    state_dir: str = str(REPO_ROOT / ".room")
    hub_port: int = 0               # internal: the hub's API port (serve picks a free one)
    proxy_api_port: int = 0         # internal: the proxy's API port (serve picks a free one)
    hub_ip: str = "127.0.0.1"       # internal: where the hub's API listens (slurm: an address the nodes reach)
    hub_connect_ip: str = ""        # internal: the address the learners' servers call the hub's API at, if not hub_ip

    @classmethod
    def from_env(cls, environ=os.environ) -> "RoomSettings":
        values = {}
        for field in fields(cls):
            raw = environ.get(f"ROOM_{field.name.upper()}")
            if raw in (None, ""):
                continue
            if isinstance(field.default, bool):
                values[field.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[field.name] = type(field.default)(raw)
        return cls(**values).checked()

    def checked(self) -> "RoomSettings":
        problems = []
        if self.spawner not in SPAWNERS:
            problems.append(f"spawner {self.spawner!r} is not one of {', '.join(SPAWNERS)}")
        if self.slurm not in SLURMS:
            problems.append(f"slurm {self.slurm!r} is not one of {', '.join(SLURMS)}")
        if self.job_minutes < 1:
            problems.append(f"job minutes must be at least 1, not {self.job_minutes}")
        if self.seats < 1:
            problems.append(f"seats must be at least 1, not {self.seats}")
        if self.idle_minutes <= 0 or self.spawn_timeout <= 0:
            problems.append("idle minutes and spawn time-out must be positive")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not a TCP port")
        if problems:
            raise ValueError("bad room settings: " + "; ".join(problems))
        return self

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def in_practice_cluster(self) -> bool:
        """The hub runs inside the practice cluster's node1, reached through a forwarder on this machine."""
        return self.spawner == "slurm" and self.slurm == "practice"

    @property
    def job_output(self) -> Path:
        """slurm: one output file per learner's job, the learner's own, in a folder nobody else may list (beside the
        state folder, which learners may not pass through)."""
        return self.state.with_name(f"{self.state.name}-jobs")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0") else self.ip
        return f"http://{host}:{self.port}"

    def save(self) -> Path:
        path = self.state / "settings.json"
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, state_dir: str | os.PathLike) -> "RoomSettings":
        return cls(**json.loads((Path(state_dir) / "settings.json").read_text()))
