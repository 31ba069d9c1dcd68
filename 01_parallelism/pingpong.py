"""Ping-pong: rank 0 sends a message to rank 1, which sends it straight back. Half the round trip is
the time one message takes; for tiny messages that is the latency, for big ones size / bandwidth.

Run: mpirun -n 2 python -m mpi4py pingpong.py [TOTAL_BYTES]
TOTAL_BYTES (default 64 MiB) sets the repeats per size, at least 10: pass 1 for 10 repeats of each.
"""
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
if comm.size != 2:
    raise SystemExit("ping-pong needs exactly 2 ranks")
partner = 1 - comm.rank
SIZES = [2 ** k for k in range(0, 23, 2)]  # 1 B .. 4 MiB
# per size, so that small messages repeat often and big ones a few times
TOTAL_BYTES = int(sys.argv[1]) if len(sys.argv) > 1 else 64 * 2 ** 20

if comm.rank == 0:
    print(f"{'bytes':>9}  {'repeats':>7}  {'one-way time':>12}  {'bandwidth':>12}")
for size in SIZES:
    message = np.full(size, comm.rank + 1, dtype=np.uint8)
    received = np.empty(size, dtype=np.uint8)
    repeats = int(min(2000, max(10, TOTAL_BYTES // size)))
    for attempt in ("warm-up", "measure"):
        comm.Barrier()
        started = MPI.Wtime()
        for _ in range(repeats):
            if comm.rank == 0:
                comm.Send(message, dest=partner)
                comm.Recv(received, source=partner)
            else:
                comm.Recv(received, source=partner)
                comm.Send(message, dest=partner)
        one_way = (MPI.Wtime() - started) / (2 * repeats)
    assert (received == partner + 1).all(), "the message arrived corrupted"
    if comm.rank == 0:
        print(f"{size:>9}  {repeats:>7}  {one_way * 1e6:>9.2f} us  {size / one_way / 1e9:>8.3f} GB/s")
if comm.rank == 0:
    print("verified=every message arrived intact")
