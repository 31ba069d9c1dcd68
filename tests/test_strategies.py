"""Notebooks 07 and 08 of module 04 (distribution strategies): the pure logic of their per-rank scripts, and the
faults they must turn into a clear error on every rank within the time-out, never a hang (real mpirun jobs)."""
import sys

import pytest
import torch

import clusterkit as ck
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.notebook.scripts import load_script

SCRIPTS = REPO_ROOT / "solutions" / "04_torch_ccl"
sys.path.insert(0, str(SCRIPTS))  # the scripts import ddp_common from their folder
ring = load_script(SCRIPTS / "ring_allreduce.py")


def simulate_ring(tensors):
    """The ring's schedule played on one process: every 'rank' a list of chunks, sends done step by step."""
    size = len(tensors)
    chunks = [list(torch.split(t.clone(), ring.chunk_sizes(t.numel(), size))) for t in tensors]
    for step in range(2 * (size - 1)):
        sent = [chunks[rank][ring.chunk_sent(rank, step, size)].clone() for rank in range(size)]
        for rank in range(size):
            left = (rank - 1) % size
            index = ring.chunk_sent(left, step, size)
            chunks[rank][index] = chunks[rank][index] + sent[left] if step < size - 1 else sent[left]
    return [torch.cat(parts) for parts in chunks]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("numel", [1, 5, 12, 101])
def test_the_schedule_sums_every_chunk_on_every_rank(size, numel):
    tensors = [torch.arange(numel, dtype=torch.float64) * (rank + 1) for rank in range(size)]
    total = sum(tensors)
    assert all(torch.equal(result, total) for result in simulate_ring(tensors))


def test_chunks_differ_by_at_most_one_and_cover_the_tensor():
    assert ring.chunk_sizes(19, 4) == [5, 5, 5, 4]
    assert ring.chunk_sizes(3, 4) == [1, 1, 1, 0]  # fewer numbers than ranks: some chunks are empty
    for numel in range(0, 30):
        for size in range(1, 8):
            sizes = ring.chunk_sizes(numel, size)
            assert sum(sizes) == numel and max(sizes) - min(sizes) <= 1


# --- real jobs: results and faults -------------------------------------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ring_equals_all_reduce_and_counts_its_bytes(n):
    """3 ranks: 4*3+3 = 15 numbers divide evenly, the checked sizes 1 and 100,003 do not."""
    job = ck.mpirun(SCRIPTS / "ring_allreduce.py", n=n, timeout=90, echo=False, cwd=SCRIPTS)
    assert job.value("ring_equals_all_reduce", str) == "True"
    nbytes, ring_sent, server_sent, worker_sent = map(int, job.values("bytes")[0].split())
    assert ring_sent == 2 * (n - 1) * nbytes // n and server_sent == (n - 1) * nbytes and worker_sent == nbytes


@pytest.mark.mpi
def test_uneven_split_is_said():
    job = ck.mpirun(SCRIPTS / "ring_allreduce.py", n=2, timeout=90, echo=False, cwd=SCRIPTS)
    assert "uneven: 11 numbers over 2 ranks, split into chunks of [6, 5]" in job.output


@pytest.mark.mpi
def test_shape_mismatch_is_named_on_every_rank():
    job = ck.mpirun(SCRIPTS / "ring_allreduce.py", "--mismatch", n=2, timeout=90, echo=False, check=False,
                    cwd=SCRIPTS)
    assert job.returncode != 0 and job.seconds < 60
    for rank in (0, 1):
        assert f"rank 0 has (6,) torch.float32, but rank 1: (7,) torch.float32 (this is rank {rank})" in job.output


@pytest.mark.mpi
def test_a_stage_that_dies_mid_pipeline_ends_the_job():
    with pytest.raises(ck.MpiJobFailed, match=r"rank 1 \(pid \d+ on \S+\) ended badly: killed by signal: 9"):
        ck.mpirun(SCRIPTS / "pipeline.py", "--die-at-step", 2, "--steps", 5, n=2, timeout=90, echo=False,
                  cwd=SCRIPTS)


@pytest.mark.mpi
@pytest.mark.parametrize("script, args, n, says", [
    ("pipeline.py", [], 3, "start it with n=2, not n=3"),
    ("pipeline.py", ["--micro-batches", 0], 2, "--micro-batches must be between 1 and --batch"),
    ("param_server.py", [], 1, "a parameter server needs at least 2 ranks"),
])
def test_wrong_rank_counts_and_arguments_are_explained(script, args, n, says):
    job = ck.mpirun(SCRIPTS / script, *args, n=n, timeout=90, echo=False, check=False, cwd=SCRIPTS)
    assert job.returncode != 0 and says in job.output


@pytest.mark.mpi
def test_neuron_split_trains_like_one_process_on_a_short_run():
    one, two = (ck.mpirun(SCRIPTS / "model_parallel.py", "--steps", 20, n=n, timeout=120, echo=False, cwd=SCRIPTS)
                for n in (1, 2))
    assert two.value("replicated_identical", str) == "True"
    assert abs(one.value("test_accuracy") - two.value("test_accuracy")) <= 0.01
