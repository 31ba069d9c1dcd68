"""The room's commands (as root; INSTRUCTORS.md, "The room"):

    python -m clusterkit.room accounts add 20      20 learner accounts, each with its own password (printed)
    python -m clusterkit.room serve                the hub on http://127.0.0.1:8000 (make hub; settings: --help)
    python -m clusterkit.room serve --spawner slurm   each learner's server a Slurm job (the practice cluster's,
                                                   or with --slurm site the Slurm of this machine)
    python -m clusterkit.room status               the instructor's view
    python -m clusterkit.room seats free NAME      give NAME's seat to the next learner who logs in
    python -m clusterkit.room accounts remove --all   after the workshop: the accounts, their files and processes
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
from dataclasses import fields

from clusterkit.clusters import practice
from clusterkit.clusters.practice.network import NETNS_DIR
from clusterkit.machine.environment import ENV_BIN, ENV_PREFIX, PACKAGE_DIR, REPO_ROOT, data_dir
from clusterkit.machine.topology import format_cpu_list, local_topology
from clusterkit.rank.torch_dist import free_port
from clusterkit.room import accounts
from clusterkit.room.practice_hub import Forwarder, run_hub_in_node
from clusterkit.room.seats import SeatMap, assign_cpus
from clusterkit.room.settings import ACL_RECORD, INTERNAL, PROXY, STATE_ENV, RoomSettings
from clusterkit.room.view import format_rows, room_rows


def open_the_way(settings: RoomSettings, also=()) -> None:
    """Learners run the course's Python and read the course (and `also`: the Slurm spawner's configuration and job
    output): every folder on the way must let them through."""
    needed = [os.path.realpath(sys.executable), sys.base_prefix, ENV_PREFIX, REPO_ROOT, data_dir(), *also]
    blocked = accounts.blocked_folders(needed, settings.group)
    if not blocked:
        return
    names = ", ".join(str(folder) for folder in blocked)
    if not settings.let_learners_through:
        raise SystemExit(
            f"learners could not run the course: its Python ({os.path.realpath(sys.executable)}) or files lie behind "
            f"{names}, which other users may not pass through. Either set the course up with a Python every user "
            "can read (PYTHON=/usr/bin/python3.11 make setup, in a folder such as /opt), or let the room's group "
            f"through with an ACL (make hub LET_LEARNERS_THROUGH=1: `setfacl -m group:{settings.group}:--x` on "
            "each, which lets them pass, not list; `accounts remove --all` takes it back)")
    accounts.let_through(blocked, settings.group, settings.state / ACL_RECORD)
    print(f"note: learners of group {settings.group} may now pass through (not list) {names} (ACL --x), to reach "
          "the course's Python and files; `python -m clusterkit.room accounts remove --all` takes it back")


def prepare_state(settings: RoomSettings, reachable=()) -> None:
    """The state folder, the hub's secrets and ports, the settings the hub's configuration reads; the header."""
    state = settings.state
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(state, 0o700)  # the seat map, the tokens and the database are the instructor's
    open_the_way(settings, reachable)
    for secret in ("proxy_token", "instructor_token"):
        if not (state / secret).exists():
            (state / secret).write_text(secrets.token_hex(32))
    settings.hub_port, settings.proxy_api_port = free_port(), free_port()
    settings.save()
    learners = accounts.members(settings.group)
    print(f"The room: {settings.url} ({settings.seats} seat(s), {settings.spawner} spawner, servers idle for "
          f"{settings.idle_minutes:g} min are stopped; {len(learners)} learner account(s) in group {settings.group})")
    if not learners:
        print(f"note: no learner accounts yet: `python -m clusterkit.room accounts add {settings.seats}` makes them")


def serve(settings: RoomSettings) -> int:
    accounts.require_root("serving the room")
    if not PROXY.exists():
        raise SystemExit(f"the room's proxy is missing ({PROXY}): `bash tools/setup_hub.sh` installs it with npm")
    if shutil.which("node") is None:
        raise SystemExit("Node.js is missing (the proxy, configurable-http-proxy, runs on it): install it, for "
                         "example `apt-get install nodejs npm`, then `bash tools/setup_hub.sh`")
    hub = [str(ENV_BIN / "jupyterhub"), "-f", str(PACKAGE_DIR / "room" / "jupyterhub_config.py")]
    if settings.in_practice_cluster:
        return serve_in_practice_cluster(settings, hub)
    if settings.spawner == "slurm":  # the site's Slurm: the nodes call the hub back at this machine's name
        settings.hub_ip, settings.hub_connect_ip = "0.0.0.0", socket.getfqdn()
        make_job_output(settings)
        prepare_state(settings, [settings.job_output])
        print(f"Each learner's server is a Slurm job ({job_request(settings)}); the nodes reach the hub at "
              f"{settings.hub_connect_ip}")
    else:
        prepare_state(settings)
        node = local_topology().cpu_ids
        plan = assign_cpus(node, settings.seats, settings.minimum_cpus)
        shared = sum(bool(seat.shared_with) for seat in plan)
        seats = "; ".join(f"seat {seat.seat + 1}: CPUs {format_cpu_list(seat.cpus)}" for seat in plan[:4])
        print(f"Seats on this node's {len(node)} CPU(s): {seats}" + (" ..." if len(plan) > 4 else "")
              + (f" ({shared} seat(s) share CPUs: fewer than {settings.minimum_cpus} per seat)" if shared else ""))
    print("Stop the room with Ctrl-C: it stops every learner's server.", flush=True)
    os.environ[STATE_ENV] = str(settings.state)
    os.chdir(settings.state)
    os.execv(hub[0], hub)


def job_request(settings: RoomSettings) -> str:
    return " ".join([f"--cpus-per-task={settings.minimum_cpus}", f"--time={settings.job_minutes}",
                     settings.slurm_options]).strip()


def make_job_output(settings: RoomSettings) -> None:
    """The folder of the learners' job output files: each may pass through it to their own file, none may list it."""
    settings.job_output.mkdir(mode=0o711, exist_ok=True)
    os.chmod(settings.job_output, 0o711)


def serve_in_practice_cluster(settings: RoomSettings, hub: list[str]) -> int:
    """The hub inside node1 of the practice cluster (the one up, else one started here and stopped at the end),
    reached through a forwarder on this machine (clusterkit.room.practice_hub)."""
    cluster = practice.load()
    started_here = cluster is None
    if started_here:
        cluster = practice.start(quiet=False)
    try:
        forwarder = Forwarder(settings.ip, settings.port, NETNS_DIR / cluster.nodes[0].namespace, settings.port)
        settings.hub_ip = cluster.nodes[0].address
        make_job_output(settings)
        prepare_state(settings, [cluster.path, settings.job_output])
        print(f"Each learner's server is a Slurm job ({job_request(settings)}) on the practice cluster "
              f"({', '.join(cluster.node_names)}); the hub runs in {cluster.nodes[0].name}, forwarded to "
              f"{settings.url}")
        print("Stop the room with Ctrl-C: it stops every learner's server"
              + (" and the practice cluster." if started_here else "."), flush=True)
        return run_hub_in_node(cluster, hub, {**os.environ, STATE_ENV: str(settings.state)}, settings.state,
                               forwarder)
    finally:
        if started_here:
            cluster.down(quiet=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterkit.room", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the room (the hub, its proxy, the idle culler)")
    defaults = RoomSettings.from_env()
    for field in fields(RoomSettings):
        if field.name not in INTERNAL:
            kind = ({"action": argparse.BooleanOptionalAction} if isinstance(field.default, bool)
                    else {"type": type(field.default)})
            now = getattr(defaults, field.name)
            serve_parser.add_argument(f"--{field.name.replace('_', '-')}", default=now,
                                      help=f"(ROOM_{field.name.upper()}; now {now!r})", **kind)
    commands.add_parser("status", help="the instructor's view of the room")
    seat_parser = commands.add_parser("seats", help="free a learner's seat")
    seat_parser.add_argument("action", choices=["free"])
    seat_parser.add_argument("name")
    account_parser = commands.add_parser("accounts", help="the learners' local accounts")
    account_parser.add_argument("action", choices=["add", "remove", "list"])
    account_parser.add_argument("what", nargs="*", help="add: how many; remove: names, or --all")
    account_parser.add_argument("--all", action="store_true", help="remove: every learner of the room")
    account_parser.add_argument("--prefix", default=accounts.DEFAULT_PREFIX)
    account_parser.add_argument("--group", default=defaults.group)
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            values = {f.name: getattr(args, f.name) for f in fields(RoomSettings) if hasattr(args, f.name)}
            return serve(RoomSettings(**values).checked())
        settings = RoomSettings.load(defaults.state) if (defaults.state / "settings.json").exists() else defaults
        if args.command == "status":
            print(format_rows(room_rows(settings), settings.seats))
        elif args.command == "seats":
            freed = SeatMap(settings.state / "seats.json", settings.seats).free(args.name)
            print(f"{args.name}'s seat is free again" if freed else f"{args.name} has no seat")
        elif args.action == "add":
            count = int(args.what[0]) if args.what else 1
            created = accounts.add(count, prefix=args.prefix, group=args.group)
            settings.state.mkdir(mode=0o700, parents=True, exist_ok=True)
            with (settings.state / "accounts.txt").open("a") as kept:  # the instructor's copy, for the cards
                os.chmod(kept.name, 0o600)
                for account in created:
                    print(f"{account.name}  {account.password}")
                    kept.write(f"{account.name}  {account.password}\n")
            print(f"(also in {settings.state / 'accounts.txt'}, readable by root only)")
        elif args.action == "remove":
            names = accounts.members(args.group) if args.all else args.what
            removed = accounts.remove(names, group=args.group, acl_record=settings.state / ACL_RECORD)
            print("removed: " + (", ".join(removed) or "nobody"))
        else:
            print("\n".join(accounts.members(args.group)) or f"no learner accounts in group {args.group}")
    except (accounts.AccountError, practice.ClusterError, ValueError, OSError) as problem:
        print(f"room: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
