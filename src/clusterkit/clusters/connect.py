"""Where a notebook's Slurm commands run: the practice cluster, or this machine's own Slurm on a login node."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from clusterkit.clusters import practice
from clusterkit.clusters.slurm import LocalClients, NodeClients, SlurmNotFound


def connect(folder=None, start: bool = True):
    """Where this notebook's Slurm commands run: (clients, practice cluster or None, why-not or None).

    1. a practice cluster already up (its folder: runs/cluster/), or a new one when this machine can run
       it (root, network namespaces, Slurm installed);
    2. otherwise this machine's own Slurm, when `sbatch` is here (a real cluster's login node);
    3. otherwise (None, None, one sentence saying why there is no cluster and what to do).

    A process inside a Slurm job that knows its Slurm (a learner's server in the room, started as a batch job on a
    cluster's node, SLURM_CONF set or a site configuration) submits from where it is: there is nothing to enter
    or start."""
    if os.environ.get("SLURM_JOB_ID") and slurm_configured():
        return LocalClients(f"this job's node ({os.uname().nodename})"), None, None
    cluster = practice.load(folder)
    reason = None
    if cluster is None:
        reason = practice.unavailable_reason()
        if reason is None and start:
            cluster = practice.start(folder)
    if cluster is not None:
        return NodeClients(cluster), cluster, None
    if os.geteuid() != 0 and slurm_configured():
        return LocalClients(), None, None
    return None, None, reason or "no practice cluster was started (start=False) and no Slurm here"


def slurm_configured() -> bool:
    """Slurm's commands are here and know their controller: a login node, or a node, has a configuration; without
    one, a client would look the controller up in DNS."""
    configured = any(Path(p).exists() for p in (os.environ.get("SLURM_CONF", ""), "/etc/slurm/slurm.conf",
                                                "/run/slurm/conf/slurm.conf") if p)
    return configured and shutil.which("sbatch") is not None


def skip_remaining_cells(reason: str) -> None:
    """In a notebook without a cluster: every cell run after this one prints why it was skipped instead of
    failing (an IPython input transformer replaces the cell's code)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise SlurmNotFound(reason)
    line = f"print({('skipped: ' + reason)!r})\n"
    shell.input_transformers_post.append(lambda lines: [line])
    print(f"No cluster for this notebook: {reason}\nEvery cell below will say it was skipped.")
