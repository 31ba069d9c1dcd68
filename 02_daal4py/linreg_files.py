"""Distributed linear regression from files: rank r reads part_r.csv, the ranks fit one model.

    mpirun -n 2 python -m mpi4py linreg_files.py FOLDER

Each file holds the features, then the target in the last column, without a header row. Every rank
checks every file before any rank starts, so a missing file or a header row stops all of them at once.
Only rank 0 prints.
"""
import argparse
import sys

import daal4py as d4p
import numpy as np

from clusterkit.rank import partition_path
from clusterkit.rank import InputError, require_headerless_csv


def main():
    from mpi4py import MPI  # initialises MPI; lets `python -m mpi4py` abort every rank if one raises

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the folder with part_0.csv, part_1.csv, ...")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD

    try:
        for rank in range(comm.size):
            require_headerless_csv(partition_path(args.folder, rank))
        part = np.loadtxt(partition_path(args.folder, comm.rank), delimiter=",", ndmin=2)
    except InputError as problem:
        if comm.rank == 0:
            print(f"error: {problem} ({comm.size} ranks need part_0.csv ... part_{comm.size - 1}.csv)", flush=True)
        sys.exit(2)

    d4p.daalinit()
    training = d4p.linear_regression_training(interceptFlag=True, distributed=True)
    model = training.compute(part[:, :-1], part[:, -1:]).model
    rows = comm.reduce(len(part), root=0)
    if comm.rank == 0:
        beta = np.round(model.Beta.ravel(), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
        print(f"{rows:,} rows in {comm.size} files, one per rank")
        print(f"intercept={beta[0]:.2f}")
        print("coefficients=" + " ".join(f"{b:.2f}" for b in beta[1:]))
    d4p.daalfini()


if __name__ == "__main__":
    main()
