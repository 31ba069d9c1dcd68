"""A fixed amount of pure-Python arithmetic, split evenly over the ranks (compute-bound, no memory
traffic, no messages until the end): the cleanest way to see what cores, not bandwidth, give.

Run: mpirun -n 4 python -m mpi4py busy_work.py TOTAL_ITERATIONS
"""
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
total_iterations = int(sys.argv[1])
mine = total_iterations // comm.size + (comm.rank < total_iterations % comm.size)

comm.Barrier()
started = MPI.Wtime()
accumulator = 0
for i in range(mine):
    accumulator = (accumulator + i * i) % 1_000_003
elapsed = comm.gather(MPI.Wtime() - started, root=0)
if comm.rank == 0:
    print(f"iterations_per_rank={mine}")
    print("per-rank seconds: " + " ".join(f"{t:.3f}" for t in elapsed))
    print(f"seconds={max(elapsed):.4f}")
