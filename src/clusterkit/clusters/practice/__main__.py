"""python -m clusterkit.clusters.practice up | down | status | exec NODE -- COMMAND"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from clusterkit.clusters.practice.cluster import ClusterError, ClusterUnavailable, load, start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterkit.clusters.practice",
                                     description="the two-node practice Slurm cluster")
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
