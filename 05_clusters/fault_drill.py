"""Fault drill for a multi-node job: what a failing rank or a stuck job looks like under a scheduler.

    mpirun -n 4 -ppn 2 python -m mpi4py fault_drill.py raise   # the first rank on the last node raises
    mpirun -n 4 -ppn 2 python -m mpi4py fault_drill.py hang    # every rank waits (for --time or scancel)

Every rank first says where it runs (one line each, so a test or a learner can see all ranks start).
"""
import socket
import sys
import time

from mpi4py import MPI  # MPI_Init; `python -m mpi4py` turns an uncaught exception into MPI_Abort of all ranks

comm = MPI.COMM_WORLD
host = socket.gethostname()
hosts = comm.allgather(host)
print(f"rank {comm.rank} of {comm.size} ready on {host}", flush=True)
mode = sys.argv[1] if len(sys.argv) > 1 else "raise"
comm.Barrier()
if mode == "raise":
    if comm.rank == hosts.index(hosts[-1]):  # the first rank on the last node
        raise RuntimeError(f"rank {comm.rank} on {host}: simulated failure (the drill)")
    comm.Barrier()  # the other ranks wait here for a rank that will never come
elif mode == "hang":
    while True:     # a job that never ends by itself
        time.sleep(1)
else:
    raise SystemExit(f"mode must be raise or hang, not {mode!r}")
