"""The same distributed k-means, however the cores are split into ranks and threads.

    mpirun -n 2 python -m mpi4py threads_vs_ranks.py [--threads T]

Every rank makes the same data set (same seed) and keeps its own block, so every layout of ranks and
threads fits the same points and must find the same centroids. Rank 0 prints, for each rank, the CPUs
it may run on and the threads oneDAL uses, then the best time of the fit.
"""
import argparse
import os
import time

import daal4py as d4p
import numpy as np
from mpi4py import MPI  # initialises MPI; lets `python -m mpi4py` abort every rank if one raises

from clusterkit.rank import shard

CLUSTERS, ITERATIONS, POINTS, FEATURES = 16, 10, 400_000, 20


def make_points():
    """The same points on every rank: wide clusters around random centres."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(-10, 10, size=(CLUSTERS, FEATURES))
    return centres[rng.integers(CLUSTERS, size=POINTS)] + rng.normal(scale=6.0, size=(POINTS, FEATURES))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=-1, help="threads per rank (default: one per CPU it may use)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD

    d4p.daalinit(nthreads=args.threads)
    rank, size = d4p.my_procid(), d4p.num_procs()
    layout = comm.gather((sorted(os.sched_getaffinity(0)), d4p.num_threads()), root=0)
    points = make_points()
    block = points[shard(len(points), rank, size)]
    start = points[:CLUSTERS]  # a fixed start: the layouts differ only in how the work is split

    best = float("inf")
    for _ in range(args.repeats):
        comm.Barrier()
        started = time.perf_counter()
        result = d4p.kmeans(CLUSTERS, maxIterations=ITERATIONS, accuracyThreshold=0,
                            distributed=True).compute(block, start)
        best = min(best, comm.allreduce(time.perf_counter() - started, op=MPI.MAX))
    if rank == 0:
        for number, (cpus, threads) in enumerate(layout):
            print(f"rank {number}: cpus={cpus} threads={threads}")
        print(f"threads={sum(threads for _, threads in layout)}")
        print(f"objective={result.objectiveFunction[0, 0]:.8g}")
        print(f"fit_time={best:.4f} s")
    d4p.daalfini()


if __name__ == "__main__":
    main()
