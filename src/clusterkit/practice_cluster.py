"""A real two-node Slurm cluster on one machine, for practising (and testing) multi-node jobs.

    python -m clusterkit.practice_cluster up          # about a second
    python -m clusterkit.practice_cluster status
    python -m clusterkit.practice_cluster exec node1 -- sinfo
    python -m clusterkit.practice_cluster down        # about a second

Each node is a Linux network namespace with its own host name (node1, node2), joined to the other by
a veth pair whose two ends live only inside the namespaces, on a private /24 that exists nowhere else.
`munged` and `slurmctld` run on node1, one `slurmd` on each node; Intel MPI between the nodes takes
its TCP fabric over the veth, exactly as it would between two machines.

Network rule: every Slurm client (sinfo, sbatch, srun, scontrol, ...) and every multi-node `mpirun`
runs inside a node, through `run_on_node()` / `node_command()`; SLURM_CONF is set only there. While
the cluster is up, the host's own namespace holds a `blackhole` route for the cluster's subnet, so a
stray connection to a node address fails locally instead of leaving the machine. The nodes have no
default route. Everything the cluster writes stays in its folder (`runs/cluster/` by default);
`down()` kills the namespaces' processes, deletes the namespaces, the route and the /run/netns mount
that `ip netns` made, and leaves nothing else behind.

The two nodes share this machine's cores, which two real nodes never do. While the cluster is up, the
kernel's per-session scheduling groups are off (`kernel.sched_autogroup_enabled=0`, put back by `down()`):
with them on, every Slurm task runs in a group of its own, and a rank of one node was seen starving for
minutes (runnable, never run) behind a busy-polling rank of the other node on the same core, which hung
the Horovod job in MPI_Init in about 1 run in 4.

Where namespaces cannot be made (not root, a container without CAP_NET_ADMIN, no Slurm packages),
`ClusterUnavailable` says why in one sentence and how to use a real cluster instead.
"""
from __future__ import annotations

import argparse
import ipaddress
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

from .environment import REPO_ROOT

DEFAULT_SUBNET = "10.213.47.0/24"
NODE_NAMES = ("node1", "node2")
NETNS_DIR = Path("/run/netns")
PREFIX = "dmlcpu-"
PARTITION = "course"
PACKAGES = "slurm-wlm munge libpmi2-0"
REAL_CLUSTER_HINT = ("On a real cluster, submit the job scripts of 05_clusters/ with sbatch from a login node "
                     "(or use clusterkit.slurm with clients=LocalClients()).")
# Both nodes run on this machine's cores, so 2 nodes x 2 ranks put two ranks on each core. An Intel MPI rank
# waiting for a message spins on its core by default, and starves the rank it shares the core with: Horovod's
# MNIST on 2 x 2 ranks took 110-150 s. Sleeping after one spin (usleep back-off) took 57-75 s in 5 of 6
# runs (142 s once). I_MPI_WAIT_MODE=1 was faster when it worked, but hung Horovod after MPI_Init in 2 of 3
# runs on two nodes. On a real cluster each rank owns its cores: leave these unset there.
SHARED_CORES_ENV = {"I_MPI_THREAD_YIELD": "3", "I_MPI_SPIN_COUNT": "1"}

AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")

REQUIRED_PROGRAMS = ("ip", "nsenter", "unshare", "mount", "umount", "munged", "mungekey", "slurmctld",
                     "slurmd", "sbatch", "sinfo", "scontrol", "squeue", "scancel", "srun")


class ClusterError(RuntimeError):
    """The practice cluster did not do what was asked; the message says what to do."""


class ClusterUnavailable(ClusterError):
    """This machine cannot run the practice cluster (no root, no namespaces, no Slurm packages)."""


class NodeCommandFailed(ClusterError):
    """A command run inside a node exited non-zero."""


def default_folder() -> Path:
    return Path(os.environ.get("CLUSTERKIT_CLUSTER_DIR", REPO_ROOT / "runs" / "cluster"))


def _run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """A host command (ip, mount, ...): never a Slurm client."""
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
    if check and done.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


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
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    netns_dir_existed = NETNS_DIR.is_dir()
    made = _run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return ("this machine does not let the course create network namespaces (`ip netns add` said: "
                f"{made.stderr.strip() or made.returncode}; a container without CAP_NET_ADMIN?). {REAL_CLUSTER_HINT}")
    _run(["ip", "netns", "del", probe], check=False)
    _unmount_netns_dir_if_empty(remove=not netns_dir_existed)
    return None


@dataclass
class Node:
    name: str
    namespace: str
    address: str
    interface: str


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
        """The command line that runs argv inside `node`: its network namespace, its own host name, a hosts
        file naming both nodes and a /dev/shm of its own (in a private mount namespace: the host's /etc and
        /dev/shm are never written)."""
        entry = self.node(node)
        return [
            "nsenter",
            f"--net={NETNS_DIR / entry.namespace}",
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--",
            "sh",
            "-c",
            NODE_SETUP + ' && exec "$@"',
            "sh",
            str(self.hosts_file),
            str(self.path / "resolv.conf"),
            entry.name,
            *[str(a) for a in argv],
        ]

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

    def popen_on_node(
        self, node: str, argv: list[str], *, env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.Popen:
        """Start argv inside `node` without waiting (e.g. a multi-node `mpirun` whose output is streamed)."""
        return subprocess.Popen(self.node_command(node, argv), env=self.client_env(env), **kwargs)

    def mpirun(
        self,
        program,
        *args,
        n: int = 4,
        ppn: int = 2,
        genv: dict | None = None,
        timeout: float = 120,
        echo: bool = True,
        check: bool = True,
        cwd: str | os.PathLike | None = None,
        debug: int | None = 5,
    ):
        """`mpirun -f hostfile` on both nodes without a scheduler: hydra starts its proxy on node2 through
        ssh (here a stand-in that enters the node), as on machines you reach with ssh. Started inside node1;
        same errors and result as `ck.mpirun`."""
        from .environment import find_mpirun, mpi_environment
        from .runner import (
            MpiJobFailed,
            MpiNotFound,
            MpiResult,
            MpiTimeout,
            _stream,
            _tail,
            build_command,
            display_command,
            explain_failure,
        )

        mpirun_path = find_mpirun()
        if mpirun_path is None:
            raise MpiNotFound("Intel MPI's mpirun is not installed in this Python environment: run `make setup`.")
        hostfile = self.path / "hostfile"
        hostfile.write_text("".join(f"{node.name}:{ppn}\n" for node in self.nodes))
        command = build_command(program, *args, n=n, ppn=ppn, genv=genv, debug=debug, mpirun_path=mpirun_path)
        command[1:1] = ["-f", str(hostfile)]
        env = mpi_environment(
            {
                "I_MPI_HYDRA_BOOTSTRAP": "ssh",
                "I_MPI_HYDRA_BOOTSTRAP_EXEC": str(self.fake_ssh),
                "FI_PROVIDER": "tcp",
                "I_MPI_FABRICS": "shm:ofi",
            }
        )
        if echo:
            shown = display_command(command).replace(str(hostfile), "hostfile")
            print(f"$ cat hostfile\n{hostfile.read_text().rstrip()}\n$ {shown}", flush=True)
        import contextlib

        from .slurm import ShortPathWriter

        with contextlib.redirect_stdout(ShortPathWriter(sys.stdout)) if echo else contextlib.nullcontext():
            output, returncode, seconds, timed_out = _stream(
                self.node_command(self.nodes[0].name, command), self.client_env(env), cwd, timeout, echo
            )
        result = MpiResult(command=command, output=output, returncode=returncode, seconds=seconds)
        if timed_out:
            raise MpiTimeout(
                f"the job did not finish within {timeout:g} s, so every rank on both nodes was killed."
                f"\nLast lines:\n{_tail(output)}"
            )
        if check and returncode != 0:
            raise MpiJobFailed(explain_failure(result))
        return result

    # -- what is running ---------------------------------------------------------------------------
    def pids(self) -> dict[str, list[int]]:
        """node -> the pids of every process living in its namespace."""
        found = {}
        for node in self.nodes:
            done = _run(["ip", "netns", "pids", node.namespace], check=False)
            found[node.name] = [int(p) for p in done.stdout.split()] if done.returncode == 0 else []
        return found

    def node_states(self) -> dict[str, str]:
        """node -> Slurm's state of it ('idle', 'alloc', 'mix', 'down', ...), asked inside node1."""
        done = self.run_on_node(self.nodes[0].name, ["sinfo", "-h", "-N", "-o", "%N %t"], check=False, timeout=15)
        states = {}
        for line in done.stdout.splitlines():
            name, _, state = line.partition(" ")
            states[name] = state.strip()
        return states

    def links_running(self) -> bool:
        """Whether each node's end of the veth is RUNNING, as programs inside the node see it. The kernel sets
        the flag up to a second after `ip link set up` (its link watch); until then libfabric's tcp provider
        finds no usable interface on that node, takes 127.0.0.1, and the job's ranks crash at start."""
        for node in self.nodes:
            done = self.run_on_node(node.name, [sys.executable, "-c", _RUNNING_CHECK, node.interface], check=False)
            if done.returncode != 0:
                return False
        return True

    def interface_bytes(self) -> dict[str, dict[str, int]]:
        """node -> rx_bytes/tx_bytes of its end of the veth, the kernel's counters read inside the node's
        namespace (a netlink query; /sys/class/net in a node would show the host's sysfs)."""
        counts = {}
        for node in self.nodes:
            done = _run(["ip", "-n", node.namespace, "-s", "-j", "link", "show", "dev", node.interface])
            stats = json.loads(done.stdout)[0]["stats64"]
            counts[node.name] = {"rx_bytes": int(stats["rx"]["bytes"]), "tx_bytes": int(stats["tx"]["bytes"])}
        return counts

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
        """Kill every process of the nodes (TERM, then KILL), delete the namespaces, the blackhole route and
        the /run/netns mount when no other namespace needs it. Safe to call twice."""
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
        for node in self.nodes:
            if (NETNS_DIR / node.namespace).exists():
                _run(["ip", "netns", "del", node.namespace], check=False)
        _run(["ip", "route", "del", "blackhole", self.subnet], check=False)
        if self.autogroup_was:
            _set_autogroup(self.autogroup_was)
        _unmount_netns_dir_if_empty(remove=not self.netns_dir_existed)
        (self.path / "state.json").unlink(missing_ok=True)
        if not quiet:
            print(f"practice cluster {self.cluster_id} stopped")


def _set_autogroup(value: str) -> str:
    """Set kernel.sched_autogroup_enabled (see the module's docstring); return the value it had, or "" when
    this kernel has no such setting or it cannot be written here (then nothing changes)."""
    try:
        before = AUTOGROUP.read_text().strip()
        if before != value:
            AUTOGROUP.write_text(value)
        return before
    except OSError:
        return ""


def _unmount_netns_dir_if_empty(remove: bool = False) -> None:
    """`ip netns add` bind-mounts /run/netns onto itself; undo that once no namespace is left in it."""
    if NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        mounts = Path("/proc/self/mounts").read_text().split("\n")
        while any(line.split(" ")[1:2] == [str(NETNS_DIR)] for line in mounts if line):
            if _run(["umount", str(NETNS_DIR)], check=False).returncode != 0:
                break
            mounts = Path("/proc/self/mounts").read_text().split("\n")
        if remove:
            try:
                NETNS_DIR.rmdir()
            except OSError:
                pass


def _check_subnet(subnet: str) -> ipaddress.IPv4Network:
    network = ipaddress.ip_network(subnet)
    if not network.is_private or network.prefixlen > 29:
        raise ClusterError(f"the cluster subnet {subnet} must be a small private range (e.g. {DEFAULT_SUBNET})")
    routes = _run(["ip", "-4", "-o", "route", "show", "table", "all"], check=False).stdout.splitlines()
    addresses = _run(["ip", "-4", "-o", "addr"], check=False).stdout.splitlines()
    for line in routes + addresses:
        for token in line.split():
            try:
                other = ipaddress.ip_network(token, strict=False)
            except ValueError:
                continue
            if other.prefixlen > 0 and other.overlaps(network):
                raise ClusterError(
                    f"the cluster subnet {subnet} overlaps something this machine already uses "
                    f"({line.strip()}); choose another with CLUSTERKIT_CLUSTER_SUBNET"
                )
    return network


JOB_TASKS_PER_NODE = 2  # the ranks per node of the course's job scripts (#SBATCH --ntasks-per-node=2)


def slurm_conf_text(cluster: PracticeCluster, topology=None) -> str:
    """slurm.conf for the two nodes: every path in the cluster's folder, no cgroups, no accounting."""
    from .topology import local_topology

    topology = topology or local_topology()
    sockets = max(len(topology.sockets), 1)
    threads = max(topology.threads_per_core, 1)
    # at least the cores the course's job scripts ask for per node: with fewer (a process owning 1 CPU),
    # their jobs would wait forever (PartitionConfig); the ranks then share the cores this process owns
    # (cores, not CPUs: Slurm gives each task a whole core, SelectTypeParameters=CR_Core)
    cores = max(topology.n_cores // sockets, -(-JOB_TASKS_PER_NODE // sockets), 1)
    folder = cluster.path
    first = cluster.nodes[0]
    lines = [
        "# written by clusterkit.practice_cluster: a two-node practice cluster in network namespaces",
        f"ClusterName=dmlcpu{cluster.cluster_id}",
        f"SlurmctldHost={first.name}({first.address})",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={cluster.munge_socket}",
        f"StateSaveLocation={folder}/slurmctld",
        f"SlurmdSpoolDir={folder}/%n/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/%n/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/%n/slurmd.log",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/builtin",
        "MpiDefault=pmi2",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "KillWait=2",
        "MinJobAge=600",
        "InactiveLimit=0",
        "MessageTimeout=10",
        "SlurmdTimeout=60",
        "PropagateResourceLimits=NONE",
        # slurmd takes the nodes' CPUs from here, not from the hardware it sees (they may differ, see above)
        "SlurmdParameters=config_overrides",
        f"PlugStackConfig={folder}/plugstack.conf",
    ]
    for node in cluster.nodes:
        lines.append(
            f"NodeName={node.name} NodeAddr={node.address} CPUs={sockets * cores * threads} "
            f"Sockets={sockets} CoresPerSocket={cores} ThreadsPerCore={threads} RealMemory=1000 State=UNKNOWN"
        )
    # FORCE:2 lets two jobs share a CPU: the tests' sleeping --time job runs beside the others (a real
    # cluster's partitions usually say OverSubscribe=NO: one job per CPU)
    lines.append(
        f"PartitionName={PARTITION} Nodes={','.join(cluster.node_names)} Default=YES MaxTime=INFINITE "
        "State=UP OverSubscribe=FORCE:2"
    )
    return "\n".join(lines) + "\n"


# What every command entering a node does first, in its private mount namespace ($1 hosts file, $2 resolver,
# $3 node name): the node's names, a /dev/shm of its own (two real nodes share no shared memory, and files a
# killed rank leaves there vanish with the node), its host name.
NODE_SETUP = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf '
              '&& mount -t tmpfs -o mode=1777 node-shm /dev/shm && hostname "$3" && shift 3')

FAKE_SSH = """#!/bin/sh
# A stand-in for ssh between the practice cluster's nodes, for hydra's ssh bootstrap
# (I_MPI_HYDRA_BOOTSTRAP=ssh I_MPI_HYDRA_BOOTSTRAP_EXEC=this file): drops ssh's options, then runs the
# command inside the named node, as ssh would run it on another machine.
while [ $# -gt 0 ]; do
  case "$1" in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host="$1"; shift
case "$host" in
{cases}
  *) echo "ssh-into-node: no node '$host' in the practice cluster" >&2; exit 255 ;;
esac
exec nsenter --net=/run/netns/"$ns" -- unshare --mount --uts -- sh -c \\
  '{setup} && exec sh -c "$*"' \\
  sh {hosts} {resolv} "$host" "$@"
"""


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
            "stop it first: python -m clusterkit.practice_cluster down"
        )
    running = [p.name for p in NETNS_DIR.glob(f"{PREFIX}*")] if NETNS_DIR.is_dir() else []
    if running:
        raise ClusterError(
            f"another practice cluster's namespaces exist ({', '.join(running)}); only one may run "
            "on a machine. Stop it with `python -m clusterkit.practice_cluster down` from its folder."
        )
    network = _check_subnet(subnet or os.environ.get("CLUSTERKIT_CLUSTER_SUBNET", DEFAULT_SUBNET))
    hosts = list(network.hosts())
    cluster_id = secrets.token_hex(3)
    nodes = [
        Node(name, f"{PREFIX}{cluster_id}-{name}", str(hosts[i]), f"dm{cluster_id}n{i + 1}")
        for i, name in enumerate(NODE_NAMES)
    ]
    cluster = PracticeCluster(str(folder), cluster_id, str(network), nodes, netns_dir_existed, time.time())
    if len(str(cluster.munge_socket)) > 100:
        raise ClusterError(
            f"the cluster folder's path is too long for a unix socket ({cluster.munge_socket}); "
            "set CLUSTERKIT_CLUSTER_DIR to a shorter folder"
        )
    started = time.perf_counter()
    try:
        _write_files(cluster)
        cluster.autogroup_was = _set_autogroup("0")
        (folder / "state.json").write_text(json.dumps(asdict(cluster), indent=1))
        _make_network(cluster)
        _start_daemons(cluster, timeout)
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
    cases = "\n".join(f"  {n.name}) ns={n.namespace} ;;" for n in cluster.nodes)
    cluster.fake_ssh.write_text(FAKE_SSH.format(cases=cases, setup=NODE_SETUP, hosts=cluster.hosts_file,
                                                resolv=folder / "resolv.conf"))
    cluster.fake_ssh.chmod(0o755)
    _run(["mungekey", "--create", f"--keyfile={folder / 'munge' / 'munge.key'}"])
    (folder / "munge" / "munge.key").chmod(0o600)


def _make_network(cluster: PracticeCluster) -> None:
    first, second = cluster.nodes
    # the guard first: from here on, the host refuses the cluster's addresses without sending anything
    _run(["ip", "route", "add", "blackhole", cluster.subnet])
    for node in cluster.nodes:
        _run(["ip", "netns", "add", node.namespace])
    # the veth pair is born with its two ends already inside the two namespaces
    _run(
        [
            "ip",
            "link",
            "add",
            first.interface,
            "netns",
            first.namespace,
            "type",
            "veth",
            "peer",
            "name",
            second.interface,
            "netns",
            second.namespace,
        ]
    )
    prefix = ipaddress.ip_network(cluster.subnet).prefixlen
    for node in cluster.nodes:
        _run(["ip", "-n", node.namespace, "link", "set", "lo", "up"])
        _run(["ip", "-n", node.namespace, "addr", "add", f"{node.address}/{prefix}", "dev", node.interface])
        _run(["ip", "-n", node.namespace, "link", "set", node.interface, "up"])


def _start_daemons(cluster: PracticeCluster, timeout: float) -> None:
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
    _wait_for(lambda: cluster.munge_socket.exists(), 10, "munged did not create its socket", munge / "munged.log")
    cluster.run_on_node(first, ["slurmctld", "-f", str(cluster.slurm_conf)], timeout=20)
    for node in cluster.nodes:
        cluster.run_on_node(node.name, ["slurmd", "-f", str(cluster.slurm_conf)], timeout=20)

    def idle() -> bool:
        states = cluster.node_states()
        return all(states.get(name, "").rstrip("*") == "idle" for name in cluster.node_names)

    _wait_for(idle, timeout, "the nodes did not become idle", folder / "slurmctld.log")
    _wait_for(cluster.links_running, timeout, "the nodes' network link did not come up", folder / "slurmctld.log")


# exits 0 when the interface named by argv[1] is RUNNING (the SIOCGIFFLAGS ioctl, as getifaddrs reports it)
_RUNNING_CHECK = (
    "import fcntl, socket, struct, sys; "
    "request = struct.pack('16sH', sys.argv[1].encode(), 0); "
    "flags = struct.unpack('16sH', fcntl.ioctl(socket.socket(), 0x8913, request)[:18])[1]; "
    "sys.exit(0 if flags & 0x40 else 1)"
)


def _wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else "(no log)"
    raise ClusterError(f"{what} within {timeout:g} s. The end of {log}:\n{tail}")


def load(folder: str | os.PathLike | None = None) -> PracticeCluster | None:
    """The cluster recorded in `folder` (default runs/cluster/), or None when none is up."""
    state = Path(folder or default_folder()) / "state.json"
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    data["nodes"] = [Node(**node) for node in data["nodes"]]
    cluster = PracticeCluster(**data)
    if not all((NETNS_DIR / node.namespace).exists() for node in cluster.nodes):
        cluster.down()  # a stale record (the machine restarted, or someone deleted the namespaces): clean up
        return None
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterkit.practice_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=None, help="the cluster's state folder (default: runs/cluster/)")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("up", help="start the two nodes, munge, slurmctld and both slurmd")
    sub.add_parser("down", help="stop everything and remove the namespaces, route and mount")
    sub.add_parser("status", help="nodes, addresses, processes, Slurm's view of the nodes")
    run = sub.add_parser("exec", help="run a command inside a node: exec node1 -- sinfo")
    run.add_argument("node")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            start(args.folder, quiet=False)
            return 0
        cluster = load(args.folder)
        if cluster is None:
            print("no practice cluster is up" + (" (nothing to stop)" if args.action == "down" else ""))
            return 0 if args.action in ("down", "status") else 1
        if args.action == "down":
            cluster.down(quiet=False)
        elif args.action == "status":
            print(json.dumps(cluster.status(), indent=1))
        else:
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("exec needs a command: exec node1 -- sinfo")
            return subprocess.call(cluster.node_command(args.node, command), env=cluster.client_env())
    except ClusterUnavailable as reason:
        print(f"practice cluster unavailable: {reason}", file=sys.stderr)
        return 2
    except ClusterError as problem:
        print(f"practice cluster: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
