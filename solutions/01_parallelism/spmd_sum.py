"""Sum of squares 0^2 + 1^2 + ... + (n_items-1)^2, computed in pieces by every rank (SPMD).

Run: mpirun -n 2 python -m mpi4py spmd_sum.py 1000
"""
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
n_items = int(sys.argv[1])

# EXERCISE: sum i*i over this rank's share of range(n_items), combine all ranks' parts into `total`
partial = sum(i * i for i in range(comm.rank, n_items, comm.size))  # items rank, rank+size, ...
total = comm.allreduce(partial, op=MPI.SUM)
# END EXERCISE

if comm.rank == 0:
    print(f"total={total}")
