from clusterkit.jobs.impi_debug import parse_cpu_list, parse_debug

SHM_RUN = """\
[0] MPI startup(): Intel(R) MPI Library, Version 2021.18.1  Build 20260626 (id: b44796a)
[0] MPI startup(): library kind: release
[0] MPI startup(): ===== CPU pinning =====
[0] MPI startup(): Rank    Pid      Node name  Pin cpu
[0] MPI startup(): 0       3321     vm         {0}
[0] MPI startup(): 1       3322     vm         {1}
[0] MPI startup(): 2       3323     vm         {0}
[0] MPI startup(): 3       3324     vm         {1}
[0] MPI startup(): I_MPI_PIN_DOMAIN=core
[0] MPI startup(): I_MPI_DEBUG=5
hello from rank 0
"""

TCP_TWO_NODES = """\
[0] MPI startup(): Intel(R) MPI Library, Version 2021.18.1  Build 20260626 (id: b44796a)
[0] MPI startup(): libfabric version: 2.4.0-impi
[0] MPI startup(): libfabric provider: tcp
[0] MPI startup(): ===== NIC pinning on node-a =====
[0] MPI startup(): Rank    Thread id  Pin nic
[0] MPI startup(): 0       0          eth0
[0] MPI startup(): ===== CPU pinning =====
[0] MPI startup(): Rank    Pid      Node name  Pin cpu
[0] MPI startup(): 0       100      node-a     {0-1}
[0] MPI startup(): 1       200      node-b     {0,2,4-5}
[0] MPI startup(): I_MPI_FABRICS=ofi
"""


def test_version_table_and_settings():
    report = parse_debug(SHM_RUN)
    assert report.version == "2021.18.1"
    assert report.provider is None
    assert [(p.rank, p.pid, p.node, p.cpus) for p in report.pinning] == [
        (0, 3321, "vm", (0,)), (1, 3322, "vm", (1,)), (2, 3323, "vm", (0,)), (3, 3324, "vm", (1,))]
    assert report.settings == {"I_MPI_PIN_DOMAIN": "core", "I_MPI_DEBUG": "5"}
    assert report.ranks_per_cpu()[("vm", 0)] == [0, 2]


def test_provider_ranges_and_nic_table_ignored():
    report = parse_debug(TCP_TWO_NODES)
    assert report.provider == "tcp"
    assert report.nodes == ["node-a", "node-b"]
    assert report.pinning[0].cpus == (0, 1)
    assert report.pinning[1].cpus == (0, 2, 4, 5)
    assert report.ranks_on("node-b") == [1]
    assert report.settings["I_MPI_FABRICS"] == "ofi"


def test_no_debug_output_gives_empty_report():
    report = parse_debug("just a program\n")
    assert report.version is None and report.pinning == [] and report.settings == {}
    assert report.is_debug_line("[3] MPI startup(): x") and not report.is_debug_line("rank 3")


def test_cpu_list_forms():
    assert parse_cpu_list("") == ()
    assert parse_cpu_list("7") == (7,)
    assert parse_cpu_list("0-2,5") == (0, 1, 2, 5)
