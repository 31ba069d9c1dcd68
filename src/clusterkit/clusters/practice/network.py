"""The practice cluster's network: one network namespace per node, a veth pair whose two ends live only
inside the namespaces, on a private subnet that exists nowhere else, and a blackhole route for that subnet
in the host's own namespace while the cluster is up (a stray packet to a node address fails locally
instead of leaving the machine). The nodes have no default route."""
from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
from pathlib import Path

from clusterkit.clusters.practice.errors import ClusterError

DEFAULT_SUBNET = "10.213.47.0/24"
NETNS_DIR = Path("/run/netns")
PREFIX = "dmlcpu-"


def host_run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """A command in the host's namespace (ip, mount, mungekey): never a Slurm client."""
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
    if check and done.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


def namespaces_refused() -> str | None:
    """None when this process may create a network namespace, else what `ip netns add` said."""
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    netns_dir_existed = NETNS_DIR.is_dir()
    made = host_run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return made.stderr.strip() or str(made.returncode)
    host_run(["ip", "netns", "del", probe], check=False)
    unmount_netns_dir_if_empty(remove=not netns_dir_existed)
    return None


def running_namespaces() -> list[str]:
    """The namespaces of any practice cluster on this machine (only one may run at a time)."""
    return [p.name for p in NETNS_DIR.glob(f"{PREFIX}*")] if NETNS_DIR.is_dir() else []


def check_subnet(subnet: str) -> ipaddress.IPv4Network:
    """The subnet, when it is a small private range that no route or address of this machine overlaps."""
    network = ipaddress.ip_network(subnet)
    if not network.is_private or network.prefixlen > 29:
        raise ClusterError(f"the cluster subnet {subnet} must be a small private range (e.g. {DEFAULT_SUBNET})")
    routes = host_run(["ip", "-4", "-o", "route", "show", "table", "all"], check=False).stdout.splitlines()
    addresses = host_run(["ip", "-4", "-o", "addr"], check=False).stdout.splitlines()
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


def make_network(subnet: str, nodes) -> None:
    """The blackhole route first (from then on the host refuses the cluster's addresses without sending
    anything), then the namespaces, and the veth pair born with its two ends inside them."""
    first, second = nodes
    host_run(["ip", "route", "add", "blackhole", subnet])
    for node in nodes:
        host_run(["ip", "netns", "add", node.namespace])
    host_run(["ip", "link", "add", first.interface, "netns", first.namespace,
              "type", "veth", "peer", "name", second.interface, "netns", second.namespace])
    prefix = ipaddress.ip_network(subnet).prefixlen
    for node in nodes:
        host_run(["ip", "-n", node.namespace, "link", "set", "lo", "up"])
        host_run(["ip", "-n", node.namespace, "addr", "add", f"{node.address}/{prefix}", "dev", node.interface])
        host_run(["ip", "-n", node.namespace, "link", "set", node.interface, "up"])


def namespace_pids(namespace: str) -> list[int]:
    """The pids of every process living in a namespace (none once it is gone)."""
    done = host_run(["ip", "netns", "pids", namespace], check=False)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def interface_bytes(namespace: str, interface: str) -> dict[str, int]:
    """rx_bytes/tx_bytes of a node's end of the veth: the kernel's counters, read inside the node's namespace
    (a netlink query; /sys/class/net in a node shows the host's sysfs)."""
    done = host_run(["ip", "-n", namespace, "-s", "-j", "link", "show", "dev", interface])
    stats = json.loads(done.stdout)[0]["stats64"]
    return {"rx_bytes": int(stats["rx"]["bytes"]), "tx_bytes": int(stats["tx"]["bytes"])}


def remove_network(subnet: str, nodes, netns_dir_existed: bool) -> None:
    """Delete the namespaces, the blackhole route, and the /run/netns mount when no namespace needs it."""
    for node in nodes:
        if (NETNS_DIR / node.namespace).exists():
            host_run(["ip", "netns", "del", node.namespace], check=False)
    host_run(["ip", "route", "del", "blackhole", subnet], check=False)
    unmount_netns_dir_if_empty(remove=not netns_dir_existed)


def unmount_netns_dir_if_empty(remove: bool = False) -> None:
    """`ip netns add` bind-mounts /run/netns onto itself; undo that once no namespace is left in it."""
    if NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        mounts = Path("/proc/self/mounts").read_text().split("\n")
        while any(line.split(" ")[1:2] == [str(NETNS_DIR)] for line in mounts if line):
            if host_run(["umount", str(NETNS_DIR)], check=False).returncode != 0:
                break
            mounts = Path("/proc/self/mounts").read_text().split("\n")
        if remove:
            try:
                NETNS_DIR.rmdir()
            except OSError:
                pass
