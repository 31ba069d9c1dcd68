"""Draw where each rank runs: nodes, sockets, cores, and the ranks pinned to each logical CPU.

The text form follows the bracket diagrams of Intel's workshop material: one bracket per socket,
cores separated by `/`, one character per rank on a core. For 4 ranks on a 2-core socket:

    node vm   socket 0 [02/13]

reads: core 0 runs ranks 0 and 2, core 1 runs ranks 1 and 3 (two ranks a core: oversubscribed).
"""
from __future__ import annotations

from clusterkit.jobs.impi_debug import DebugReport, RankPin
from clusterkit.machine.topology import Topology, local_topology

RANK_SYMBOLS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def rank_symbol(rank: int) -> str:
    return RANK_SYMBOLS[rank] if rank < len(RANK_SYMBOLS) else "+"


def _pins(source: DebugReport | list[RankPin]) -> list[RankPin]:
    return source.pinning if isinstance(source, DebugReport) else list(source)


def pinmap_text(source: DebugReport | list[RankPin], topology: Topology | None = None) -> str:
    """The pin map as text; every node is drawn with the local topology (nodes of a cluster match)."""
    pins = _pins(source)
    if not pins:
        return "(no pinning table: was I_MPI_DEBUG set to 5 or more, and did the program call MPI_Init?)"
    topology = topology or local_topology()
    lines = []
    for node in dict.fromkeys(pin.node for pin in pins):
        on_node = [pin for pin in pins if pin.node == node]
        sockets = []
        for socket in topology.sockets:
            cores = []
            for core in topology.cores_of(socket):
                cpus = set(topology.cpus_of(socket, core))
                cores.append("".join(rank_symbol(p.rank) for p in on_node if cpus & set(p.cpus)) or ".")
            sockets.append(f"socket {socket} [{'/'.join(cores)}]")
        lines.append(f"node {node:<10} " + "  ".join(sockets))
    most = max(len(row) for row in _ranks_per_core(pins, topology).values())
    if most > 1:
        lines.append(f"oversubscribed: up to {most} ranks share one core")
    return "\n".join(lines)


def _ranks_per_core(pins: list[RankPin], topology: Topology) -> dict[tuple[str, int, int], list[int]]:
    table: dict[tuple[str, int, int], list[int]] = {}
    for pin in pins:
        for cpu in topology.cpus:
            if cpu.cpu in pin.cpus:
                ranks = table.setdefault((pin.node, cpu.socket, cpu.core), [])
                if pin.rank not in ranks:
                    ranks.append(pin.rank)
    return table


def draw_pinmap(source: DebugReport | list[RankPin], topology: Topology | None = None, title: str = ""):
    """A matplotlib figure: one panel per node, a box per core grouped by socket, ranks inside."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    pins = _pins(source)
    topology = topology or local_topology()
    nodes = list(dict.fromkeys(pin.node for pin in pins)) or ["(none)"]
    table = _ranks_per_core(pins, topology)
    width = sum(len(topology.cores_of(s)) + 0.5 for s in topology.sockets)
    fig, axes = plt.subplots(len(nodes), 1, figsize=(max(3.0, 1.3 * width), 1.6 * len(nodes)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, node in zip(axes[:, 0], nodes):
        x = 0.0
        for socket in topology.sockets:
            cores = topology.cores_of(socket)
            ax.add_patch(Rectangle((x - 0.1, -0.15), len(cores) + 0.2, 1.3, fill=False, lw=1.5, ls="--"))
            ax.text(x - 0.05, 1.2, f"socket {socket}", fontsize=8, va="bottom")
            for core in cores:
                ranks = table.get((node, socket, core), [])
                ax.add_patch(Rectangle((x, 0), 0.9, 1, facecolor="#eeeeee", edgecolor="black"))
                ax.text(x + 0.45, -0.05, f"core {core}", ha="center", va="top", fontsize=7)
                for i, rank in enumerate(ranks):
                    height = 1 / len(ranks)
                    ax.add_patch(Rectangle((x + 0.05, i * height + 0.03), 0.8, height - 0.06,
                                           facecolor=colours(rank % 10), alpha=0.8))
                    ax.text(x + 0.45, (i + 0.5) * height, f"rank {rank}", ha="center", va="center", fontsize=8)
                x += 1
            x += 0.5
        ax.set_xlim(-0.3, x)
        ax.set_ylim(-0.5, 1.6)
        ax.set_title(f"node {node}", fontsize=9, loc="left")
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def rank_pin_lines(source: DebugReport | list[RankPin], topology: Topology | None = None) -> str:
    """One line per rank in the style of Intel's workshop pictures, for jobs that span nodes:

        R0 node1 [B/]
        R2 node2 [B/]

    `R<rank> <node>`, then one bracket per socket of the node, its cores separated by `/`, and a `B`
    for each hardware thread of a core that the rank is bound to (a core with two hyperthreads both
    bound reads `BB`; an empty core between slashes is one the rank may not use). Every node is drawn
    with the local topology (the nodes of a cluster match)."""
    pins = _pins(source)
    if not pins:
        return "(no pinning table: was I_MPI_DEBUG set to 5 or more, and did the program call MPI_Init?)"
    topology = topology or local_topology()
    width = max(len(pin.node) for pin in pins)
    digits = len(str(max(pin.rank for pin in pins)))
    lines = []
    for pin in sorted(pins, key=lambda p: p.rank):
        sockets = []
        for socket in topology.sockets:
            cores = ["".join("B" for cpu in topology.cpus_of(socket, core) if cpu in pin.cpus)
                     for core in topology.cores_of(socket)]
            sockets.append(f"[{'/'.join(cores)}]")
        lines.append(f"R{pin.rank:<{digits}} {pin.node:<{width}} {''.join(sockets)}")
    return "\n".join(lines)
