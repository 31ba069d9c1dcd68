"""`mpirun -f hostfile` on the practice cluster's nodes without a scheduler: hydra starts its proxy on the
other node through ssh (a stand-in that enters the node), as on machines reached with ssh. The job is
started inside node1 and run by the course's one job runner (same errors, stop button and result as
`ck.mpirun`)."""
from __future__ import annotations

import contextlib
import os
import sys

from clusterkit.jobs.process import ShortPathWriter
from clusterkit.jobs.runner import MpiResult, build_command, display_command, require_mpirun, run_job
from clusterkit.machine.environment import mpi_environment

# hydra's ssh bootstrap through the stand-in, and Intel MPI's TCP fabric over the veth between the nodes
HOSTFILE_ENV = {"I_MPI_HYDRA_BOOTSTRAP": "ssh", "FI_PROVIDER": "tcp", "I_MPI_FABRICS": "shm:ofi"}


def hostfile_mpirun(cluster, program, *args, n: int = 4, ppn: int = 2, genv: dict | None = None,
                    timeout: float = 120, echo: bool = True, check: bool = True,
                    cwd: str | os.PathLike | None = None, debug: int | None = 5) -> MpiResult:
    """Run `program` on `n` ranks, `ppn` per node, on every node of `cluster`."""
    hostfile = cluster.path / "hostfile"
    hostfile.write_text("".join(f"{node.name}:{ppn}\n" for node in cluster.nodes))
    command = build_command(program, *args, n=n, ppn=ppn, genv=genv, debug=debug, mpirun_path=require_mpirun())
    command[1:1] = ["-f", str(hostfile)]
    env = mpi_environment({**HOSTFILE_ENV, "I_MPI_HYDRA_BOOTSTRAP_EXEC": str(cluster.fake_ssh)})
    if echo:
        shown = display_command(command).replace(str(hostfile), "hostfile")
        print(f"$ cat hostfile\n{hostfile.read_text().rstrip()}\n$ {shown}", flush=True)
    with contextlib.redirect_stdout(ShortPathWriter(sys.stdout)) if echo else contextlib.nullcontext():
        return run_job(command, env=cluster.client_env(env), cwd=cwd, timeout=timeout, echo=echo, check=check,
                       start=cluster.node_command(cluster.nodes[0].name, command))
