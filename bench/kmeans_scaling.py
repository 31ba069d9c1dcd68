"""Strong and weak scaling of distributed k-means (daal4py): every rank runs this script.

    mpirun -n 4 python -m mpi4py kmeans_scaling.py --total-rows 400000 --rows-per-rank 200000

The k-means twin of solutions/02_daal4py/linreg_scaling.py, with the same options and output: each rank
makes its own points (nothing is read or sent), one oneDAL thread per rank; strong scaling shares
--total-rows, weak scaling gives each rank --rows-per-rank. Each fit is timed as the best of --repeats,
from a barrier to the slowest rank's finish. Rank 0 prints `strong_seconds=` and `weak_seconds=`.
"""
import argparse
import time

import daal4py as d4p
import numpy as np
from mpi4py import MPI

from clusterkit.rank.data import shard

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--total-rows", type=int, required=True)
parser.add_argument("--rows-per-rank", type=int, required=True)
parser.add_argument("--features", type=int, default=20)
parser.add_argument("--clusters", type=int, default=16)
parser.add_argument("--iterations", type=int, default=10)
parser.add_argument("--repeats", type=int, default=2)
args = parser.parse_args()

comm = MPI.COMM_WORLD
d4p.daalinit(nthreads=1)
rank, size = d4p.my_procid(), d4p.num_procs()
rng = np.random.default_rng(1000 * size + rank)
centres = np.random.default_rng(0).uniform(-10, 10, size=(args.clusters, args.features))
strong_rows = len(range(args.total_rows)[shard(args.total_rows, rank, size)])
points = centres[rng.integers(args.clusters, size=max(strong_rows, args.rows_per_rank))]
points += rng.normal(scale=4.0, size=points.shape)


def best_fit_seconds(block):
    best = float("inf")
    for _ in range(args.repeats):
        comm.Barrier()
        started = time.perf_counter()
        d4p.kmeans(args.clusters, maxIterations=args.iterations, accuracyThreshold=0,
                   distributed=True).compute(block, centres)
        best = min(best, comm.allreduce(time.perf_counter() - started, op=MPI.MAX))
    return best


timings = {kind: best_fit_seconds(points[:rows]) for kind, rows in
           (("strong", strong_rows), ("weak", args.rows_per_rank))}
if rank == 0:
    print(f"ranks={size}")
    for kind, seconds in timings.items():
        print(f"{kind}_seconds={seconds:.4f}")
d4p.daalfini()
