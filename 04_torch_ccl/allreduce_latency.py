"""Allreduce time over message sizes, gloo (torch.distributed) vs Intel MPI (mpi4py), in one job.

Both libraries run on the same ranks, the same cores and the same buffers, one after the other for
each size, so the comparison is side by side. Rank 0 prints `result=<bytes> <gloo s> <mpi s>`.
"""
import argparse
import time

import torch
import torch.distributed as dist
from mpi4py import MPI

from clusterkit.rank import init_distributed

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--sizes", nargs="+", type=int, default=[4 ** k * 4 for k in range(12)],
                    help="message sizes in bytes, multiples of 4 (default: 4 B to 16 MiB, x4 each)")
args = parser.parse_args()
info = init_distributed(timeout=30)
comm = MPI.COMM_WORLD
size = info.world_size
BUDGET = 0.15  # seconds of repetitions per size and library, after a warm-up


def seconds_per_call(allreduce, buffer) -> float:
    """Mean time of one allreduce, repeated for about BUDGET seconds (rank 0 decides the count)."""
    allreduce(buffer)  # warm-up: connections and buffers set up
    comm.Barrier()
    started = time.perf_counter()
    allreduce(buffer)
    once = comm.bcast(time.perf_counter() - started, root=0)
    repeats = int(min(max(BUDGET / max(once, 1e-6), 3), 2000))
    comm.Barrier()
    started = time.perf_counter()
    for _ in range(repeats):
        allreduce(buffer)
    return comm.allreduce(time.perf_counter() - started, op=MPI.MAX) / repeats


def gloo_allreduce(tensor):
    dist.all_reduce(tensor)


def mpi_allreduce(tensor):
    comm.Allreduce(MPI.IN_PLACE, tensor.numpy())


for nbytes in args.sizes:
    count = nbytes // 4
    timings = []
    for allreduce in (gloo_allreduce, mpi_allreduce):
        timings.append(seconds_per_call(allreduce, torch.ones(count)))
        check = torch.ones(count)
        allreduce(check)
        assert torch.all(check == size), f"{allreduce.__name__} summed wrong"
    if info.rank == 0:
        print(f"result={nbytes} {timings[0]:.3e} {timings[1]:.3e}", flush=True)
dist.destroy_process_group()
