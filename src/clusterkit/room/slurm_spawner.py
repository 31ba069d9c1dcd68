"""The room's Slurm spawner (`make hub SPAWNER=slurm`; only the hub process imports this module): a learner's
server is a batch job, submitted as the learner with batchspawner's SlurmSpawner (`sbatch`, `squeue`, `scancel`
run by the hub, as the learner through `runuser`), asking for `--cpus-per-task` (the room's minimum CPUs) and
`--time` (its job minutes). The job first prepares the learner's workspace, then runs jupyterhub-singleuser through
batchspawner's wrapper on the node it landed on (`python -m clusterkit.room.singleuser slurm-job`), with the room's
environment; the wrapper tells the hub the server's port (batchspawner's /hub/api/batchspawner).

The job's output goes to a file of the learner's in a folder of the room (`RoomSettings.job_output`): when the
job ends before its server answers, the end of that output (a sentence from `prepare`, or the server's last log
line) is what the learner reads; the file goes when the server does. Stopping the server cancels the job
(`scancel`), which ends every process of it.
The server's state keeps the job's id and node (`job_id`, `job_host`) for the instructor's view.
"""
from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
from pathlib import Path

from batchspawner import JobStatus, SlurmSpawner
from traitlets import Unicode, default

from clusterkit.clusters.practice import SHARED_CORES_ENV
from clusterkit.room.hub import SINGLEUSER, SeatSpawner, spawn_failed

# what the hub's own environment gives the jobs, when set: where the Slurm is (the practice cluster's
# configuration, set only inside its nodes) and how its ranks share cores (clusterkit.clusters.practice)
PASSED_TO_JOBS = ("SLURM_CONF", *SHARED_CORES_ENV)
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"

BATCH_SCRIPT = """#!/bin/bash
#SBATCH --job-name=room-{{username}}
#SBATCH --output={{output}}
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --cpus-per-task={{nprocs}}
#SBATCH --time={{runtime}}
{% if options %}#SBATCH {{options}}
{% endif %}
exec {{cmd}}
"""


class SlurmRoomSpawner(SeatSpawner, SlurmSpawner):
    exec_prefix = Unicode(f"{RUNUSER} -u {{username}} --", config=True,
                          help="runs sbatch, squeue and scancel as the learner (this machine has no sudo)")
    batch_script = Unicode(BATCH_SCRIPT, config=True)
    req_srun = Unicode("", config=True, help="no job step: the learner's own srun and mpirun get the job's CPUs")
    job_output_dir = Unicode(config=True, help="the folder of the jobs' output files, one per learner")
    req_output = Unicode()
    job_host = Unicode()

    @default("req_output")
    def _output_default(self) -> str:
        return str(Path(self.job_output_dir) / f"{self.user.name}.log")

    def cmd_formatted_for_batch(self) -> str:
        return shlex.join(SINGLEUSER + ["slurm-job", *self.get_args()])

    def get_env(self):
        env = super().get_env()
        for name in PASSED_TO_JOBS:
            if name in os.environ:
                env[name] = os.environ[name]
        return self.room_env(env, f"seat {self.seat() + 1} of {self.seats}")

    async def start(self):
        """Submit the job and wait until it runs and its server has told the hub its port; a job that ends before
        that fails the spawn with the end of its output."""
        self.ip, self.port = self.traits()["ip"].default_value, 0
        await asyncio.to_thread(self.make_output_file)
        try:
            await self.submit_batch_script()
        except RuntimeError as refused:  # sbatch's own words
            raise spawn_failed(f"Slurm refused your server's job: {refused}") from None
        while True:
            status = await self.query_job_status()
            if status == JobStatus.NOTFOUND:
                raise spawn_failed(await asyncio.to_thread(self.job_failure))
            if status == JobStatus.RUNNING and self.port:
                break
            await asyncio.sleep(self.startup_poll_interval)
        self.ip = self.job_host = self.state_gethost()
        self.log.info("%s's server: Slurm job %s on %s, port %s", self.user.name, self.job_id, self.ip, self.port)
        return self.ip, self.port

    def make_output_file(self) -> None:
        """The learner's output file, theirs alone (Slurm opens it as the learner; clear_state removed the last one)."""
        output = Path(self.req_output)
        output.touch(mode=0o600)
        entry = pwd.getpwnam(self.user.name)
        os.chown(output, entry.pw_uid, entry.pw_gid)

    def job_failure(self) -> str:
        """Why the job ended before its server answered: the last line it wrote."""
        try:
            lines = [line for line in Path(self.req_output).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        job = self.job_id
        self.clear_state()  # the job is gone: nothing to cancel
        if not lines:
            return f"Your server's Slurm job {job} ended before its server started, and wrote nothing."
        return lines[-1].strip()

    def get_state(self):
        state = super().get_state()
        if self.job_host:
            state["job_host"] = self.job_host
        return state

    def load_state(self, state):
        super().load_state(state)
        self.job_host = state.get("job_host", "")

    def clear_state(self):
        """The server is gone (or a new one starts): its job's output goes too."""
        super().clear_state()
        self.job_host = ""
        Path(self.req_output).unlink(missing_ok=True)
