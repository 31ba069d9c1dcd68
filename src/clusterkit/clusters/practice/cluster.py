"""A real two-node Slurm cluster on one machine, for practising (and testing) multi-node jobs.

    python -m clusterkit.clusters.practice up          # about a second
    python -m clusterkit.clusters.practice status
    python -m clusterkit.clusters.practice exec node1 -- sinfo
    python -m clusterkit.clusters.practice down        # about a second

Each node is a network namespace (`network`, `nodes`); `munged` and `slurmctld` run on node1, one `slurmd`
on each node (`daemons`, `slurm_conf`); Intel MPI between the nodes takes its TCP fabric over the veth,
as it would between two machines (`launcher`).

Network rule: every Slurm client (sinfo, sbatch, srun, scontrol, ...) and every multi-node `mpirun` runs
inside a node, through `run_on_node()` / `node_command()`; SLURM_CONF is set only there. Everything the
cluster writes stays in its folder (`runs/cluster/` by default); `down()` kills the namespaces' processes,
deletes the namespaces, the route and the /run/netns mount that `ip netns` made, and leaves nothing else.

Where namespaces cannot be made (not root, a container without CAP_NET_ADMIN, no Slurm packages),
`ClusterUnavailable` says why in one sentence and how to use a real cluster instead.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from clusterkit.clusters.practice.daemons import links_running, start_daemons
from clusterkit.clusters.practice.errors import ClusterError, ClusterUnavailable, NodeCommandFailed
from clusterkit.clusters.practice.launcher import hostfile_mpirun
from clusterkit.clusters.practice.network import (
    DEFAULT_SUBNET, NETNS_DIR, PREFIX, check_subnet, host_run, interface_bytes, make_network, namespace_pids,
    namespaces_refused, remove_network, running_namespaces,
)
from clusterkit.clusters.practice.nodes import NODE_NAMES, Node, enter_node, fake_ssh_script
from clusterkit.clusters.practice.shared_cores import SHARED_CORES_ENV, set_autogroup
from clusterkit.clusters.practice.slurm_conf import slurm_conf_text
from clusterkit.machine.environment import REPO_ROOT

PACKAGES = "slurm-wlm munge libpmi2-0"
REAL_CLUSTER_HINT = ("On a real cluster, submit the job scripts of 05_clusters/ with sbatch from a login node "
                     "(or use clusterkit.clusters.slurm with clients=LocalClients()).")
REQUIRED_PROGRAMS = ("ip", "nsenter", "unshare", "mount", "umount", "munged", "mungekey", "slurmctld",
                     "slurmd", "sbatch", "sinfo", "scontrol", "squeue", "scancel", "srun")


def default_folder() -> Path:
    return Path(os.environ.get("CLUSTERKIT_CLUSTER_DIR", REPO_ROOT / "runs" / "cluster"))


def unavailable_reason() -> str | None:
    """None when this machine can run the practice cluster, else one sentence saying why not."""
    if sys.platform != "linux":
        return f"the practice cluster needs Linux network namespaces, and this is {sys.platform}. {REAL_CLUSTER_HINT}"
    if os.geteuid() != 0:
        return ("the practice cluster needs root (it creates network namespaces and starts Slurm's daemons), and "
                f"this process runs as uid {os.geteuid()}. {REAL_CLUSTER_HINT}")
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]
    if missing:
        return (f"the practice cluster needs Debian's {PACKAGES} packages (missing here: {', '.join(missing)}); "
                f"install them with `bash tools/setup_cluster.sh` (root and apt-get). {REAL_CLUSTER_HINT}")
    refused = namespaces_refused()
    if refused:
        return ("this machine does not let the course create network namespaces (`ip netns add` said: "
                f"{refused}; a container without CAP_NET_ADMIN?). {REAL_CLUSTER_HINT}")
    return None


@dataclass
class PracticeCluster:
    """A running (or recorded) practice cluster; `load()` finds it again from another process."""

    folder: str
    cluster_id: str
    subnet: str
    nodes: list[Node]
    netns_dir_existed: bool = True
    started: float = 0.0
    autogroup_was: str = ""   # kernel.sched_autogroup_enabled before the cluster changed it ("" = untouched)
    started_here: bool = False  # this process started it (start()), rather than finding it up (load())

    # -- where things are ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.folder)

    @property
    def slurm_conf(self) -> Path:
        return self.path / "slurm.conf"

    @property
    def hosts_file(self) -> Path:
        return self.path / "hosts"

    @property
    def resolv_conf(self) -> Path:
        return self.path / "resolv.conf"

    @property
    def munge_socket(self) -> Path:
        return self.path / "munge" / "munge.socket"

    @property
    def fake_ssh(self) -> Path:
        """A stand-in for ssh that hydra can use to start its proxies on the other node (`mpirun -hosts`)."""
        return self.path / "ssh-into-node"

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node '{name}' in the practice cluster (its nodes: {', '.join(self.node_names)})")

    # -- running things inside a node -----------------------------------------------------------------
    def client_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a command inside a node: this process's, without any SLURM_* variable of an
        outer allocation, plus SLURM_CONF for the practice cluster (set nowhere else) and SHARED_CORES_ENV
        (unless set already)."""
        base = {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("SLURM_")}
        base["SLURM_CONF"] = str(self.slurm_conf)
        return {**SHARED_CORES_ENV, **base}

    def node_command(self, node: str, argv: list[str]) -> list[str]:
        """The command line that runs argv inside `node` (see `nodes.enter_node`)."""
        return enter_node(self.node(node), self.hosts_file, self.resolv_conf, argv)

    def run_on_node(
        self,
        node: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        timeout: float | None = 60,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv inside `node` and return its CompletedProcess (stdout and stderr as text)."""
        done = subprocess.run(
            self.node_command(node, argv),
            env=self.client_env(env),
            cwd=cwd,
            timeout=timeout,
            capture_output=True,
            text=True,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise NodeCommandFailed(
                f"`{' '.join(map(str, argv))}` on {node} exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def mpirun(self, program, *args, **options):
        """`mpirun -f hostfile` on both nodes without a scheduler (see `launcher.hostfile_mpirun`)."""
        return hostfile_mpirun(self, program, *args, **options)

    # -- what is running ---------------------------------------------------------------------------
    def pids(self) -> dict[str, list[int]]:
        """node -> the pids of every process living in its namespace."""
        return {node.name: namespace_pids(node.namespace) for node in self.nodes}

    def node_states(self) -> dict[str, str]:
        """node -> Slurm's state of it ('idle', 'alloc', 'mix', 'down', ...), asked inside node1."""
        done = self.run_on_node(self.nodes[0].name, ["sinfo", "-h", "-N", "-o", "%N %t"], check=False, timeout=15)
        states = {}
        for line in done.stdout.splitlines():
            name, _, state = line.partition(" ")
            states[name] = state.strip()
        return states

    def links_running(self) -> bool:
        return links_running(self)

    def interface_bytes(self) -> dict[str, dict[str, int]]:
        """node -> rx_bytes/tx_bytes of its end of the veth."""
        return {node.name: interface_bytes(node.namespace, node.interface) for node in self.nodes}

    def status(self) -> dict:
        pids = self.pids()
        return {
            "cluster": self.cluster_id,
            "folder": self.folder,
            "subnet": self.subnet,
            "nodes": {
                n.name: {"address": n.address, "namespace": n.namespace, "processes": len(pids[n.name])}
                for n in self.nodes
            },
            "slurm": self.node_states() if all(pids.values()) else {},
        }

    # -- teardown --------------------------------------------------------------------------------
    def down(self, quiet: bool = True) -> None:
        """Kill every process of the nodes (TERM, then KILL), then remove the network and put the scheduler
        setting back. Safe to call twice."""
        deadline = time.monotonic() + 10
        term_sent_at = None
        while time.monotonic() < deadline:
            alive = [pid for pids in self.pids().values() for pid in pids]
            if not alive:
                break
            now = time.monotonic()
            sig = signal.SIGTERM if term_sent_at is None else signal.SIGKILL
            if sig == signal.SIGKILL and now - term_sent_at < 0.5:
                time.sleep(0.05)
                continue
            for pid in alive:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if term_sent_at is None:
                term_sent_at = now
            time.sleep(0.05)
        remove_network(self.subnet, self.nodes, self.netns_dir_existed)
        if self.autogroup_was:
            set_autogroup(self.autogroup_was)
        (self.path / "state.json").unlink(missing_ok=True)
        if not quiet:
            print(f"practice cluster {self.cluster_id} stopped")


def start(
    folder: str | os.PathLike | None = None, subnet: str | None = None, timeout: float = 30.0, quiet: bool = True
) -> PracticeCluster:
    """Bring the two-node cluster up and wait until both nodes are idle; on any failure tear down what was
    made and raise. Only one practice cluster runs at a time (per folder)."""
    netns_dir_existed = NETNS_DIR.is_dir()
    reason = unavailable_reason()
    if reason:
        raise ClusterUnavailable(reason)
    folder = Path(folder or default_folder()).resolve()
    existing = load(folder)
    if existing is not None:
        raise ClusterError(
            f"a practice cluster ({existing.cluster_id}) is already up with its state in {folder}; "
            "stop it first: python -m clusterkit.clusters.practice down"
        )
    running = running_namespaces()
    if running:
        raise ClusterError(
            f"another practice cluster's namespaces exist ({', '.join(running)}); only one may run "
            "on a machine. Stop it with `python -m clusterkit.clusters.practice down` from its folder."
        )
    network = check_subnet(subnet or os.environ.get("CLUSTERKIT_CLUSTER_SUBNET", DEFAULT_SUBNET))
    hosts = list(network.hosts())
    cluster_id = secrets.token_hex(3)
    nodes = [
        Node(name, f"{PREFIX}{cluster_id}-{name}", str(hosts[i]), f"dm{cluster_id}n{i + 1}")
        for i, name in enumerate(NODE_NAMES)
    ]
    cluster = PracticeCluster(str(folder), cluster_id, str(network), nodes, netns_dir_existed, time.time(),
                              started_here=True)
    if len(str(cluster.munge_socket)) > 100:
        raise ClusterError(
            f"the cluster folder's path is too long for a unix socket ({cluster.munge_socket}); "
            "set CLUSTERKIT_CLUSTER_DIR to a shorter folder"
        )
    started = time.perf_counter()
    try:
        _write_files(cluster)
        cluster.autogroup_was = set_autogroup("0")
        (folder / "state.json").write_text(json.dumps(asdict(cluster), indent=1))
        make_network(cluster.subnet, cluster.nodes)
        start_daemons(cluster, timeout)
    except BaseException:
        cluster.down()
        raise
    if not quiet:
        print(
            f"practice cluster {cluster_id} up in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{n.name} ({n.address})" for n in nodes)
            + f"; state in {folder}"
        )
    return cluster


def _write_files(cluster: PracticeCluster) -> None:
    folder = cluster.path
    if folder.exists():  # logs of an earlier cluster: start clean
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for sub in ("munge", "slurmctld", *cluster.node_names):
        (folder / sub).mkdir(mode=0o755)
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755)
    (folder / "hosts").write_text(
        "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"{n.address} {n.name}\n" for n in cluster.nodes)
    )
    # a resolver that answers nothing: any name not in the hosts file fails inside the node, at once
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    (folder / "plugstack.conf").write_text("")
    (folder / "slurm.conf").write_text(slurm_conf_text(cluster))
    cluster.fake_ssh.write_text(fake_ssh_script(cluster.nodes, cluster.hosts_file, cluster.resolv_conf))
    cluster.fake_ssh.chmod(0o755)
    host_run(["mungekey", "--create", f"--keyfile={folder / 'munge' / 'munge.key'}"])
    (folder / "munge" / "munge.key").chmod(0o600)


def load(folder: str | os.PathLike | None = None) -> PracticeCluster | None:
    """The cluster recorded in `folder` (default runs/cluster/), or None when none is up."""
    state = Path(folder or default_folder()) / "state.json"
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    data["nodes"] = [Node(**node) for node in data["nodes"]]
    cluster = PracticeCluster(**{**data, "started_here": False})
    if not all((NETNS_DIR / node.namespace).exists() for node in cluster.nodes):
        cluster.down()  # a stale record (the machine restarted, or someone deleted the namespaces): clean up
        return None
    return cluster
