"""What JupyterHub loads for the room (only the hub process imports this module):

- `RoomAuthenticator`: the learners' local accounts through PAM; only members of the room's group, and only
  while a seat is free (a learner keeps the seat of their first login);
- `LocalRoomSpawner`: a learner's server is a process on this node, run as the learner, confined to the CPUs
  of their seat (a cpuset cgroup where the node has one, and its affinity mask, which Intel MPI pins inside);
  stopping it ends every process the learner runs.
- `SeatSpawner`: what every spawner of the room shares (the seat, the server's environment); the Slurm spawner,
  whose servers are batch jobs, is `clusterkit.room.slurm_spawner.SlurmRoomSpawner`.

The spawner first prepares the learner's workspace as the learner (a copy of the course in their home), so a
problem there ends the spawn with a sentence in the browser instead of a server that never answers.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from jupyterhub.auth import PAMAuthenticator
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado import web
from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from clusterkit.course import ROOM_CPUS_ENV, ROOM_SEAT_ENV
from clusterkit.exercises.checks import PROGRESS_ENV
from clusterkit.jobs.impi_debug import parse_cpu_list
from clusterkit.machine.environment import ENV_BIN, REPO_ROOT
from clusterkit.machine.topology import format_cpu_list, local_topology
from clusterkit.room import cpuset
from clusterkit.room.accounts import end_processes, members
from clusterkit.room.seats import MINIMUM_CPUS, RoomFull, SeatMap, assign_cpus
from clusterkit.room.settings import PROGRESS_NAME, WORKSPACE_NAME

SINGLEUSER = [sys.executable, "-m", "clusterkit.room.singleuser"]
PASSED_ON = ("CLUSTERKIT_OFFLINE", "CLUSTERKIT_DATA", "LANG", "LC_ALL")


def spawn_failed(message: str) -> web.HTTPError:
    """An error whose message the learner reads in the browser, however soon the spawn fails (JupyterHub shows
    an HTTPError's own message, and `jupyterhub_message` on its progress page)."""
    error = web.HTTPError(500, message)
    error.jupyterhub_message = message
    return error


class RoomAuthenticator(PAMAuthenticator):
    """Local accounts (PAM), restricted to the room's group and its number of seats."""

    room_group = Unicode(config=True, help="the local group whose members are the room's learners")
    seat_map_file = Unicode(config=True, help="the JSON file of seats taken")
    seats = Integer(config=True, help="how many learners the room has room for")

    async def authenticate(self, handler, data):
        name = await super().authenticate(handler, data)
        if name is None:  # wrong password or unknown account: the login page says so
            return None
        if name not in members(self.room_group):
            raise web.HTTPError(403, f"{name} is an account of this machine, not a learner of this room: log in with "
                                     "the learner account your instructor gave you.")
        try:
            SeatMap(self.seat_map_file, self.seats).take(name)
        except RoomFull as full:
            raise web.HTTPError(403, f"Sorry, {full}. Ask your instructor to free a seat for {name}.") from None
        return name


class SeatSpawner(LoggingConfigurable):
    """The learner's seat, environment and workspace (apart from how a server is started)."""

    seat_map_file = Unicode(config=True)
    seats = Integer(config=True)
    minimum_cpus = Integer(MINIMUM_CPUS, config=True)

    @property
    def workspace(self) -> Path:
        return Path(self.user_home()) / WORKSPACE_NAME

    def user_home(self) -> str:
        import pwd

        return pwd.getpwnam(self.user.name).pw_dir

    def seat(self) -> int:
        """The learner's seat (0-based): the one they took at their first login."""
        return SeatMap(self.seat_map_file, self.seats).take(self.user.name)

    def seat_assignment(self):
        node = local_topology().cpu_ids  # the hub's own CPUs, hardware threads of a core together
        return assign_cpus(node, self.seats, self.minimum_cpus)[self.seat()], len(node)

    def room_env(self, env: dict, seat_line: str, cpus=()) -> dict:
        """The server's environment: the course's PATH and workspace, and the seat (with its CPUs, when the hub
        knows them: a Slurm job names its own)."""
        for name in PASSED_ON:
            if name in os.environ:
                env[name] = os.environ[name]
        env.update({
            "PATH": f"{ENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "CLUSTERKIT_WORKSPACE": str(self.workspace),
            PROGRESS_ENV: str(self.workspace / PROGRESS_NAME),
            "COURSE_ROOT": str(REPO_ROOT),
            ROOM_SEAT_ENV: seat_line,
        })
        if cpus:
            env[ROOM_CPUS_ENV] = format_cpu_list(cpus)
        return env


class LocalRoomSpawner(SeatSpawner, LocalProcessSpawner):
    cpus = ()
    cpuset_folder = None

    async def start(self):
        assignment, node_cpus = self.seat_assignment()
        self.cpus = assignment.cpus
        self.cpuset_folder = cpuset.learner_cpuset(self.user.name, format_cpu_list(self.cpus))
        enforced = ("enforced by a cpuset cgroup" if self.cpuset_folder else
                    "your server's affinity mask, which Intel MPI pins inside (no cpuset cgroup on this node)")
        self.seat_line = f"{assignment.describe(self.seats, node_cpus, self.minimum_cpus)}; {enforced}"
        self.cmd = SINGLEUSER + ["serve"]
        await asyncio.to_thread(self.prepare_workspace)
        return await super().start()

    def prepare_workspace(self) -> None:
        """Copy the course into the learner's home, as the learner; a failure becomes the spawn's message."""
        try:
            done = subprocess.run(SINGLEUSER + ["prepare"], env=self.get_env(), capture_output=True, text=True,
                                  preexec_fn=self.make_preexec_fn(self.user.name), timeout=120)
        except subprocess.TimeoutExpired:
            end_processes(self.user.name)
            raise spawn_failed(f"copying the course into {self.workspace} took over 120 s: ask your instructor "
                               "to look at the node's disk") from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise spawn_failed(said[-1] if said else f"preparing your workspace failed ({done.returncode})")

    def make_preexec_fn(self, name):
        become_learner, cpus, folder = set_user_setuid(name), set(self.cpus), self.cpuset_folder

        def preexec():  # as root, before the learner's program: Intel MPI then pins inside these CPUs
            if folder is not None:
                cpuset.join(folder)
            os.sched_setaffinity(0, cpus)
            become_learner()
            os.umask(0o077)

        return preexec

    def get_env(self):
        return self.room_env(super().get_env(), getattr(self, "seat_line", ""), self.cpus)

    def get_state(self):
        state = super().get_state()
        if self.cpus:
            state["cpus"] = format_cpu_list(self.cpus)
        if self.cpuset_folder:
            state["cpuset"] = str(self.cpuset_folder)
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("cpus"):
            self.cpus = parse_cpu_list(state["cpus"])
        if state.get("cpuset"):
            self.cpuset_folder = Path(state["cpuset"])

    async def stop(self, now=False):
        await super().stop(now=now)
        await asyncio.to_thread(end_processes, self.user.name)  # kernels and jobs too: nothing of theirs stays
        await asyncio.to_thread(cpuset.remove, self.user.name)

    def clear_state(self):
        super().clear_state()
        self.cpus, self.cpuset_folder = (), None
