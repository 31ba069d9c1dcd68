import matplotlib

matplotlib.use("Agg")

from clusterkit.jobs.impi_debug import RankPin, parse_debug
from clusterkit.notebook.pinmap import draw_pinmap, pinmap_text
from clusterkit.machine.topology import LogicalCpu, Topology, local_topology, parse_cpuinfo

CPUINFO = "\n\n".join(
    f"processor\t: {cpu}\nmodel name\t: Test CPU\nphysical id\t: {cpu // 4}\ncore id\t\t: {(cpu % 4) // 2}\n"
    f"flags\t\t: fpu sse4_2 avx avx2 fma avx512f"
    for cpu in range(8)
)  # 2 sockets x 2 cores x 2 hardware threads


def two_sockets():
    return parse_cpuinfo(CPUINFO)


def test_parse_cpuinfo_sockets_cores_threads_flags():
    topology = two_sockets()
    assert topology.sockets == [0, 1]
    assert topology.cores_of(1) == [0, 1]
    assert topology.cpus_of(1, 1) == [6, 7]
    assert topology.n_cores == 4 and topology.threads_per_core == 2
    assert topology.widest_vector_bits == 512
    assert topology.vector_extensions == ["sse4_2", "avx", "avx2", "fma", "avx512f"]
    assert "2 socket(s) x 2 core(s) x 2 thread(s)" in topology.summary()


def test_local_topology_matches_os():
    import os

    topology = local_topology()
    assert len(topology.cpus) == len(os.sched_getaffinity(0))
    assert topology.widest_vector_bits in (128, 256, 512)


def test_pinmap_text_oversubscribed_layout():
    flat = Topology("t", [LogicalCpu(0, 0, 0), LogicalCpu(1, 0, 1)])
    pins = [RankPin(r, 100 + r, "vm", (r % 2,)) for r in range(4)]
    text = pinmap_text(pins, flat)
    assert "node vm" in text and "socket 0 [02/13]" in text
    assert "oversubscribed: up to 2 ranks share one core" in text


def test_pinmap_text_two_nodes_two_sockets_and_idle_cores():
    pins = [RankPin(0, 1, "a", (0, 1)), RankPin(1, 2, "b", (4,))]
    text = pinmap_text(pins, two_sockets()).splitlines()
    assert text[0].startswith("node a") and "socket 0 [0/.]  socket 1 [./.]" in text[0]
    assert text[1].startswith("node b") and "socket 0 [./.]  socket 1 [1/.]" in text[1]
    assert len(text) == 2


def test_pinmap_without_table_says_why():
    assert "I_MPI_DEBUG" in pinmap_text(parse_debug("nothing"))


def test_draw_pinmap_one_panel_per_node():
    pins = [RankPin(0, 1, "a", (0,)), RankPin(1, 2, "b", (2,))]
    figure = draw_pinmap(pins, two_sockets(), title="two nodes")
    assert len(figure.axes) == 2
    labels = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert "rank 0" in labels and "rank 1" in labels and labels.count("socket 1") == 2
