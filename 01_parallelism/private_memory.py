"""Distributed memory: every rank has its own copy of every variable. Changing it changes nothing on
the other ranks; data moves only in messages.

Run: mpirun -n 2 python -m mpi4py private_memory.py
"""
import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.rank, comm.size

counts = np.zeros(size, dtype=np.int64)  # same name, same line of code, a separate array on every rank
counts[rank] += rank + 1  # each rank writes only its own slot

seen = comm.gather(counts.copy(), root=0)  # what each rank's array looks like now
combined = np.zeros_like(counts)
comm.Allreduce(counts, combined, op=MPI.SUM)  # a message exchange that combines them
if rank == 0:
    for other, array in enumerate(seen):
        print(f"rank {other} sees counts={array.tolist()}")
    print(f"after Allreduce every rank holds counts={combined.tolist()}")
