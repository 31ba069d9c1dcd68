"""Slurm's daemons on the practice cluster: munged and slurmctld on node1, one slurmd on each node, started
inside the nodes, and the wait until both nodes are idle and their network link is up."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from clusterkit.clusters.practice.errors import ClusterError


def start_daemons(cluster, timeout: float) -> None:
    folder = cluster.path
    first = cluster.nodes[0].name
    munge = folder / "munge"
    cluster.run_on_node(
        first,
        [
            "munged",
            f"--key-file={munge / 'munge.key'}",
            f"--socket={cluster.munge_socket}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
            "--num-threads=2",
            "--force",
        ],
        timeout=20,
    )
    wait_for(lambda: cluster.munge_socket.exists(), 10, "munged did not create its socket", munge / "munged.log")
    cluster.run_on_node(first, ["slurmctld", "-f", str(cluster.slurm_conf)], timeout=20)
    for node in cluster.nodes:
        cluster.run_on_node(node.name, ["slurmd", "-f", str(cluster.slurm_conf)], timeout=20)

    def idle() -> bool:
        states = cluster.node_states()
        return all(states.get(name, "").rstrip("*") == "idle" for name in cluster.node_names)

    wait_for(idle, timeout, "the nodes did not become idle", folder / "slurmctld.log")
    wait_for(cluster.links_running, timeout, "the nodes' network link did not come up", folder / "slurmctld.log")


# exits 0 when the interface named by argv[1] is RUNNING (the SIOCGIFFLAGS ioctl, as getifaddrs reports it)
RUNNING_CHECK = (
    "import fcntl, socket, struct, sys; "
    "request = struct.pack('16sH', sys.argv[1].encode(), 0); "
    "flags = struct.unpack('16sH', fcntl.ioctl(socket.socket(), 0x8913, request)[:18])[1]; "
    "sys.exit(0 if flags & 0x40 else 1)"
)


def links_running(cluster) -> bool:
    """Whether each node's end of the veth is RUNNING, as programs inside the node see it. The kernel sets the
    flag up to a second after `ip link set up`; until then libfabric's tcp provider finds no usable interface
    on that node, takes 127.0.0.1, and a job's ranks crash at start."""
    for node in cluster.nodes:
        done = cluster.run_on_node(node.name, [sys.executable, "-c", RUNNING_CHECK, node.interface], check=False)
        if done.returncode != 0:
            return False
    return True


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else "(no log)"
    raise ClusterError(f"{what} within {timeout:g} s. The end of {log}:\n{tail}")
