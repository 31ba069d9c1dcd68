"""One program, many ranks: who am I, point-to-point messages around a ring, and collectives.

Run: mpirun -n 4 python -m mpi4py spmd_basics.py
Every rank runs this same file; `rank` is the only thing that differs. Only rank 0 prints.
"""
import os
import socket

from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.rank, comm.size

# Who am I? Every rank answers; rank 0 collects the answers and prints them in rank order.
me = (rank, socket.gethostname(), os.getpid(), sorted(os.sched_getaffinity(0)))
everyone = comm.gather(me, root=0)
if rank == 0:
    print(f"size={size}")
    for who, host, pid, cpus in everyone:
        print(f"  rank {who} of {size}: host={host} pid={pid} cpus={cpus}")

# Point-to-point: pass a token around a ring. Each rank receives from its left neighbour, adds its own
# rank and sends to its right neighbour. Rank 0 starts and finally receives it back.
right, left = (rank + 1) % size, (rank - 1) % size
if rank == 0:
    comm.send([0], dest=right)
    token = comm.recv(source=left)
    print(f"ring: the token visited ranks {token}")
else:
    token = comm.recv(source=left)
    comm.send(token + [rank], dest=right)

# Collectives: every rank calls the same function; MPI moves the data.
config = comm.bcast({"learning_rate": 0.1} if rank == 0 else None, root=0)
chunks = [list(range(r * 3, r * 3 + 3)) for r in range(size)] if rank == 0 else None
my_chunk = comm.scatter(chunks, root=0)
my_sum = sum(my_chunk)
all_sums = comm.allgather(my_sum)
grand_total = comm.allreduce(my_sum, op=MPI.SUM)
if rank == 0:
    print(f"bcast: every rank got {config}")
    print(f"scatter: rank 0 got {my_chunk}; allgather of the chunk sums: {all_sums}")
    print(f"allreduce: total={grand_total} (= sum of 0..{3 * size - 1} = {sum(range(3 * size))})")
