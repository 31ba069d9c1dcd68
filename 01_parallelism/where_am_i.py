"""Where does each rank run, and how many threads will its maths library start?

Run: mpirun -n 2 -genv OMP_NUM_THREADS 1 python -m mpi4py where_am_i.py [MATRIX_SIZE]
With MATRIX_SIZE, every rank also times one matrix product (NumPy's BLAS, OpenMP-style threads).
"""
import os
import sys
import time

import numpy as np
from mpi4py import MPI
from threadpoolctl import threadpool_info

comm = MPI.COMM_WORLD
blas_threads = max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
report = {"cpus": sorted(os.sched_getaffinity(0)), "omp": os.environ.get("OMP_NUM_THREADS", "unset"),
          "blas_threads": blas_threads}
if len(sys.argv) > 1:
    size = int(sys.argv[1])
    a = np.random.default_rng(comm.rank).random((size, size))
    comm.Barrier()
    started = time.perf_counter()
    a @ a
    report["matmul_seconds"] = time.perf_counter() - started

reports = comm.gather(report, root=0)
if comm.rank == 0:
    for rank, found in enumerate(reports):
        print(f"rank {rank}: cpus={found['cpus']} OMP_NUM_THREADS={found['omp']} blas_threads={found['blas_threads']}")
    print(f"blas_threads={reports[0]['blas_threads']}")
    if "matmul_seconds" in report:
        print(f"matmul_seconds={max(found['matmul_seconds'] for found in reports):.4f}")
