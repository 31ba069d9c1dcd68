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
    3. otherwise (None, None, one sentence saying why there is no cluster and what to do)."""
    cluster = practice.load(folder)
    reason = None
    if cluster is None:
        reason = practice.unavailable_reason()
        if reason is None and start:
            cluster = practice.start(folder)
    if cluster is not None:
        return NodeClients(cluster), cluster, None
    # a login node has a configuration; without one, a client would look the controller up in DNS
    configured = any(
        Path(p).exists()
        for p in (os.environ.get("SLURM_CONF", ""), "/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf")
        if p
    )
    if shutil.which("sbatch") and os.geteuid() != 0 and configured:
        return LocalClients(), None, None
    return None, None, reason or "no practice cluster was started (start=False) and no Slurm here"


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
