"""STREAM-like copy bandwidth: every rank copies its own large array at the same time.

    mpirun -n 2 python -m mpi4py stream_copy.py --mib 256 --repeats 5

A copy reads each byte once and writes it once, so it moves 2 x the array's bytes. Rank 0 prints
`copy_gb_per_s=` for the best repeat (as STREAM reports): the bytes every rank moved, summed, over the
slowest rank's time. With one rank per core it is the bandwidth all those cores get from memory together.
"""
import argparse
import time

import numpy as np
from mpi4py import MPI

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--mib", type=int, default=256, help="array size per rank, MiB (far larger than the caches)")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

comm = MPI.COMM_WORLD
source = np.ones(args.mib * 2**20 // 8)
target = np.empty_like(source)
np.copyto(target, source)  # touch every page before timing
best = float("inf")
for _ in range(args.repeats):
    comm.Barrier()
    started = time.perf_counter()
    np.copyto(target, source)
    best = min(best, comm.allreduce(time.perf_counter() - started, op=MPI.MAX))
if comm.rank == 0:
    print(f"copy_gb_per_s={2 * source.nbytes * comm.size / best / 1e9:.2f}")
