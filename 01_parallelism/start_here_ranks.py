"""Every rank reports who it is and where it runs; rank 0 prints the reports in rank order.

Run with: mpirun -n 2 -genv I_MPI_DEBUG 5 python -m mpi4py start_here_ranks.py
"""
import os
import socket

from mpi4py import MPI

comm = MPI.COMM_WORLD
cpus = sorted(os.sched_getaffinity(0))  # the logical CPUs this process may run on (its pinning)
report = f"rank {comm.rank} of {comm.size}: node={socket.gethostname()} cpus={cpus}"

reports = comm.gather(report, root=0)  # one message per rank, collected on rank 0
if comm.rank == 0:
    print("\n".join(reports))
