"""Strong and weak scaling of distributed linear regression: every rank runs this script.

    mpirun -n 4 python -m mpi4py linreg_scaling.py --total-rows 600000 --rows-per-rank 300000

Each rank makes its own partition of a data set with known coefficients (nothing is read or sent).
Strong scaling: the ranks share --total-rows. Weak scaling: each rank has --rows-per-rank. Every
rank uses one thread unless --threads says otherwise. Each training is timed as the best of
--repeats, from a barrier to the slowest rank's finish. Rank 0 prints `strong_seconds=`,
`weak_seconds=` and how far the fitted coefficients are from the true ones.
"""
import argparse
import sys
import time

import daal4py as d4p
import numpy as np
from mpi4py import MPI  # initialises MPI; lets `python -m mpi4py` abort every rank if one raises

from clusterkit.rank import shard
from clusterkit.rank import InputError, require_rows_per_rank

TRUE_INTERCEPT = 1.0


def true_coefficients(features):
    return np.linspace(-2, 2, features)


def partition(rows, features, seed):
    """`rows` rows of features and target from the known coefficients, plus a little noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = TRUE_INTERCEPT + X @ true_coefficients(features) + 0.01 * rng.standard_normal(rows)
    return X, y.reshape(-1, 1)


def timed_training(comm, X, y, repeats):
    """Best wall time over the ranks of a distributed training (the slowest rank decides), and the model."""
    best = float("inf")
    for _ in range(repeats):
        comm.Barrier()
        started = time.perf_counter()
        model = d4p.linear_regression_training(interceptFlag=True, distributed=True).compute(X, y).model
        best = min(best, comm.allreduce(time.perf_counter() - started, op=MPI.MAX))
    return best, model


def coefficient_error(model, features):
    truth = np.concatenate([[TRUE_INTERCEPT], true_coefficients(features)])
    return float(np.abs(model.Beta.ravel() - truth).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-rows", type=int, required=True, help="strong scaling: rows shared by all ranks")
    parser.add_argument("--rows-per-rank", type=int, required=True, help="weak scaling: rows of every rank")
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="oneDAL threads per rank (1: n ranks use n cores, so the scaling is about ranks alone)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    try:
        require_rows_per_rank(args.total_rows, comm.size)
    except InputError as problem:
        if comm.rank == 0:
            print(f"error: {problem}", flush=True)
        sys.exit(2)

    d4p.daalinit(nthreads=args.threads)
    rank, size = d4p.my_procid(), d4p.num_procs()
    rows = {"strong": len(range(args.total_rows)[shard(args.total_rows, rank, size)]), "weak": args.rows_per_rank}
    X, y = partition(max(rows.values()), args.features, seed=1000 * size + rank)  # generated once, sliced below
    results = {kind: timed_training(comm, X[:count], y[:count], args.repeats) for kind, count in rows.items()}
    if rank == 0:
        print(f"ranks={size}")
        for kind, (seconds, model) in results.items():
            print(f"{kind}_seconds={seconds:.4f}")
            print(f"{kind}_error={coefficient_error(model, args.features):.2e}")
    d4p.daalfini()


if __name__ == "__main__":
    main()
