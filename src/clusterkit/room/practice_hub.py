"""The room on the practice cluster (`make hub SPAWNER=slurm`): the hub runs inside node1, and the browsers reach it
through a forwarder on this machine.

The network rule of the practice cluster (clusterkit.clusters.practice.cluster) allows Slurm's clients only inside a
node, and the hub runs sbatch, squeue and scancel itself: so the hub and its proxy run in node1 (`node_command`),
the hub's API on node1's address (the servers of node2 call it back there), the proxy on node1's 127.0.0.1. The
`Forwarder` listens on this machine's address and port of the room and relays each connection to the proxy from a
socket made inside node1's network namespace (its thread enters the namespace with setns first): the host itself
sends nothing to the cluster's subnet.
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import subprocess
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_network_namespace(path: str | os.PathLike) -> None:
    """Move the calling thread (only it) into the network namespace at `path` (/run/netns/NAME); Python 3.11 has no
    os.setns."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {path}: {os.strerror(error)}")
    finally:
        os.close(fd)


class Forwarder:
    """Relays TCP connections made to (ip, port) here to 127.0.0.1:target_port inside a network namespace."""

    def __init__(self, ip: str, port: int, namespace: str | os.PathLike, target_port: int):
        self.namespace, self.target_port = Path(namespace), target_port
        self.listener = socket.create_server((ip, port), reuse_port=False)
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, name="room-forwarder", daemon=True)

    def start(self) -> "Forwarder":
        self.acceptor.start()
        return self

    def stop(self) -> None:
        """Stop listening and end every relayed connection."""
        self.stopping.set()
        self.acceptor.join()
        self.listener.close()
        for thread in self.threads:
            thread.join()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.threads = [thread for thread in self.threads if thread.is_alive()]
            relay = threading.Thread(target=self._relay, args=(client,), name="room-forwarder-relay", daemon=True)
            self.threads.append(relay)
            relay.start()

    def _relay(self, client: socket.socket) -> None:
        with client:
            enter_network_namespace(self.namespace)  # this thread only: the socket below is made in the namespace
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                return  # the proxy is not listening (yet): the browser sees the connection closed
            with upstream:
                peer = {client: upstream, upstream: client}
                reading = [client, upstream]
                while reading and not self.stopping.is_set():
                    ready, _, _ = select.select(reading, [], [], 0.2)
                    for source in ready:
                        try:
                            data = source.recv(65536)
                            if data:
                                peer[source].sendall(data)
                                continue
                            peer[source].shutdown(socket.SHUT_WR)  # pass the end of one direction on
                        except OSError:
                            return  # reset by either side
                        reading.remove(source)


def run_hub_in_node(cluster, command: list[str], env: dict, cwd: Path, forwarder: Forwarder) -> int:
    """Run the hub (`command`) inside node1 until it ends; SIGINT or SIGTERM to this process stop it (a second one
    kills it). The hub has a session of its own, so Ctrl-C reaches it once, through here."""
    hub = subprocess.Popen(cluster.node_command(cluster.nodes[0].name, command), env=cluster.client_env(env), cwd=cwd,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    signals_seen = []

    def stop_hub(signum, _frame):
        signals_seen.append(signum)
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM if len(signals_seen) == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, stop_hub) for sig in (signal.SIGINT, signal.SIGTERM)}
    forwarder.start()
    try:
        return hub.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        forwarder.stop()
