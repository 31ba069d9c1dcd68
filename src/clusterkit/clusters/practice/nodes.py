"""A node of the practice cluster: a network namespace entered with its own host name, hosts file, resolver
and /dev/shm (in a private mount namespace, so the host's /etc and /dev/shm are never written), and the
stand-in for ssh that lets hydra start its proxy on the other node."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clusterkit.clusters.practice.network import NETNS_DIR

NODE_NAMES = ("node1", "node2")


@dataclass
class Node:
    name: str
    namespace: str
    address: str
    interface: str


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


def enter_node(node: Node, hosts_file: Path, resolv_conf: Path, argv: list[str]) -> list[str]:
    """The command line that runs argv inside `node`."""
    return ["nsenter", f"--net={NETNS_DIR / node.namespace}", "--", "unshare", "--mount", "--uts", "--",
            "sh", "-c", NODE_SETUP + ' && exec "$@"', "sh", str(hosts_file), str(resolv_conf), node.name,
            *[str(a) for a in argv]]


def fake_ssh_script(nodes: list[Node], hosts_file: Path, resolv_conf: Path) -> str:
    cases = "\n".join(f"  {n.name}) ns={n.namespace} ;;" for n in nodes)
    return FAKE_SSH.format(cases=cases, setup=NODE_SETUP, hosts=hosts_file, resolv=resolv_conf)
