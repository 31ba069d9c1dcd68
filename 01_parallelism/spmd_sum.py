# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/01_parallelism/spmd_sum.py (`%solution` loads it). Made from it by `make exercises`; sha256:189ccfda4282226a
"""Sum of squares 0^2 + 1^2 + ... + (n_items-1)^2, computed in pieces by every rank (SPMD).

Run: mpirun -n 2 python -m mpi4py spmd_sum.py 1000
"""
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
n_items = int(sys.argv[1])

# TODO: sum i*i over this rank's share of range(n_items), combine all ranks' parts into `total`
raise NotImplementedError("TODO: sum i*i over this rank's share of range(n_items), combine all ranks' parts into `total`")

if comm.rank == 0:
    print(f"total={total}")
