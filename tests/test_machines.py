"""Topology, I_MPI_DEBUG parsing, pin maps and the checks that read them, on other machines' outputs
(tests/fixtures/machines: a 2-socket 28-core node with hyper-threading, an 8-core laptop without
AVX-512, a 2-node job, a 1-core allocation, and the 2-core AVX-512 machine of the course's CI)."""
from collections import Counter

import pytest

from clusterkit.exercises.daal4py import check_whole_node_rank
from clusterkit.exercises.horovod import check_ranks_per_cpu
from clusterkit.exercises.parallelism import check_four_ranks, check_hybrid_layout
from clusterkit.notebook.pinmap import pinmap_text
from clusterkit.machine.topology import describe, parse_lscpu, rank_counts, recorded_on
from conftest import job_result, pinning_table, recorded_job, recorded_machine


@pytest.mark.parametrize("name, sockets, cores, threads, widest, bf16", [
    ("xeon_2s28c_ht", 2, 56, 2, 512, False),
    ("laptop_8c_ht_avx2", 1, 8, 2, 256, False),
    ("epyc_avx512_2core", 1, 2, 1, 512, True),
])
def test_cpuinfo_of_other_machines(name, sockets, cores, threads, widest, bf16):
    topology = recorded_machine(name)
    assert len(topology.sockets) == sockets and topology.n_cores == cores
    assert topology.threads_per_core == threads and topology.widest_vector_bits == widest
    assert ("avx512_bf16" in topology.vector_extensions) is bf16
    assert f"{sockets} socket(s) x {cores // sockets} core(s) x {threads} thread(s)" in topology.summary()


def test_hyper_threads_of_a_xeon_core_are_one_core():
    xeon = recorded_machine("xeon_2s28c_ht")
    assert xeon.core_of(0) == xeon.core_of(56) == (0, 0)
    assert xeon.core_of(27) == (0, 30) and xeon.core_of(28) == (1, 0)
    assert xeon.cpus_of(1, 30) == [55, 111]


def test_lscpu_parseable_output_gives_the_same_cores():
    lscpu = "# CPU,Core,Socket\n" + "\n".join(f"{cpu},{cpu % 8},0" for cpu in range(16))
    laptop = parse_lscpu(lscpu)
    assert laptop.n_cores == 8 and laptop.threads_per_core == 2 and laptop.cpus_of(0, 3) == [3, 11]


def test_one_core_allocation_of_a_big_node():
    whole = recorded_machine("xeon_2s28c_ht")
    owned = whole.restricted_to({5})
    assert owned.n_cores == 1 and owned.sockets == [0]
    text = describe(owned, whole)
    assert "1 socket(s) x 1 core(s) x 1 thread(s) = 1 logical CPUs" in text
    assert "the whole machine:    2 socket(s) x 28 core(s) x 2 thread(s) = 112 logical CPUs" in text
    assert "whole machine" not in describe(whole, whole)
    assert "1 core(s) owned" in recorded_on(owned)


@pytest.mark.parametrize("cores, counts", [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (8, [1, 2, 4, 8]),
                                           (16, [1, 2, 4, 8, 16]), (56, [1, 2, 4, 8, 16, 32, 56])])
def test_rank_counts_follow_the_cores_owned(cores, counts):
    assert rank_counts(cores) == counts
    assert rank_counts(cores, oversubscribe=True) == counts + [2 * cores]


def test_xeon_default_pinning_gives_each_rank_a_quarter():
    report = recorded_job("xeon_2s28c_ht.4ranks").debug
    assert [len(pin.cpus) for pin in report.pinning] == [28, 28, 28, 28]
    assert report.pinning[1].cpus[:2] == (14, 15) and report.pinning[1].cpus[-1] == 83
    text = pinmap_text(report, recorded_machine("xeon_2s28c_ht"))
    assert text.count("node xeon-n01") == 1 and "oversubscribed" not in text
    socket0, socket1 = text.split("socket 0 ")[1].split("  socket 1 ")
    assert socket0.strip("[]").split("/") == ["0"] * 14 + ["1"] * 14
    assert socket1.strip().strip("[]").split("/") == ["2"] * 14 + ["3"] * 14


def test_two_nodes_two_ranks_each():
    report = recorded_job("two_nodes_2ppn.4ranks").debug
    assert report.nodes == ["node1", "node2"] and report.provider == "tcp"
    assert report.ranks_on("node2") == [2, 3]
    lines = pinmap_text(report, recorded_machine("epyc_avx512_2core")).splitlines()
    assert lines[0].startswith("node node1") and lines[0].endswith("[0/1]")
    assert lines[1].startswith("node node2") and lines[1].endswith("[2/3]")


def test_one_core_allocation_shares_its_core():
    report = recorded_job("one_core_allocation.2ranks").debug
    assert {pin.cpus for pin in report.pinning} == {(1,)}
    assert max(len(ranks) for ranks in report.ranks_per_cpu().values()) == 2
    owned = recorded_machine("epyc_avx512_2core", {1})
    assert "oversubscribed: up to 2 ranks share one core" in pinmap_text(report, owned)


def test_recorded_two_core_runs():
    two, four = recorded_job("epyc_avx512_2core.2ranks").debug, recorded_job("epyc_avx512_2core.4ranks").debug
    assert [pin.cpus for pin in two.pinning] == [(0,), (1,)]
    assert [pin.cpus for pin in four.pinning] == [(0,), (1,), (0,), (1,)]


@pytest.mark.parametrize("name", ["xeon_2s28c_ht.4ranks", "two_nodes_2ppn.4ranks"])
def test_four_rank_check_reads_any_machine(name, capsys):
    lines = "".join(f"rank {r} of 4: node=n cpus=[...]\n" for r in range(4))
    check_four_ranks(recorded_job(name, lines))
    assert capsys.readouterr().out.startswith("PASS")


def test_ranks_per_cpu_check_with_a_xeon_run(capsys):
    def right(pinning):
        return dict(Counter(cpu for pin in pinning for cpu in pin.cpus))

    check_ranks_per_cpu(right, recorded_job("xeon_2s28c_ht.4ranks").pinning)
    assert "PASS" in capsys.readouterr().out


def whole_node_job(cpus: str, threads: int, blas: int | None = None):
    lines = f"OMP_NUM_THREADS={threads}\nthreads={threads}\nblas_threads={blas or threads}\n"
    return job_result(pinning_table(cpus, node="xeon-n01") + lines)


def test_whole_node_checks_on_a_56_core_node(capsys):
    check_whole_node_rank(whole_node_job("0-111", 112), n_cores=56)
    check_hybrid_layout(whole_node_job("0-111", 56), n_cores=56)
    assert capsys.readouterr().out.count("PASS") == 2
    with pytest.raises(AssertionError, match="pinned to CPUs"):
        check_whole_node_rank(whole_node_job("0", 112), n_cores=56)
    with pytest.raises(AssertionError, match="BLAS runs 2 thread"):
        check_hybrid_layout(whole_node_job("0-111", 2), n_cores=56)


def test_whole_node_checks_on_one_core(capsys):
    check_whole_node_rank(whole_node_job("1", 1), n_cores=1)
    check_hybrid_layout(whole_node_job("1", 1), n_cores=1)
    assert capsys.readouterr().out.count("PASS") == 2
