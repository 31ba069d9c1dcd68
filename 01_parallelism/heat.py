"""Heat diffusion on a rows x cols grid, split by rows over the ranks, with a one-row halo exchange.

Run: mpirun -n 4 python -m mpi4py heat.py ROWS COLS STEPS [OUTPUT.npy]
Rank 0 prints the slowest rank's time for the steps (`seconds=`) and the longest time a rank spent of it in the
halo exchange (`halo_seconds=`); with OUTPUT it also gathers and saves the grid.
"""
import sys

import numpy as np
from mpi4py import MPI

from domain import block_range, heat_step, initial_rows

comm = MPI.COMM_WORLD
rank, size = comm.rank, comm.size
rows, cols, steps = (int(arg) for arg in sys.argv[1:4])
output = sys.argv[4] if len(sys.argv) > 4 else None
if rows < 3 * size:
    raise SystemExit(f"{rows} rows are too few for {size} ranks")

start, stop = block_range(rows, rank, size)
# local rows: [halo from the rank above] + my rows start..stop-1 + [halo from the rank below]
local = np.zeros((stop - start + 2, cols))
local[1:-1] = initial_rows(rows, cols, start, stop)
above = rank - 1 if rank > 0 else MPI.PROC_NULL  # PROC_NULL: a send/receive that does nothing
below = rank + 1 if rank < size - 1 else MPI.PROC_NULL
# update my rows except the grid's fixed top and bottom edges (local index = global row - start + 1)
first = 1 + max(0, 1 - start)
last = (stop - start + 1) - max(0, stop - (rows - 1))


def exchange_halos(local: np.ndarray) -> None:
    """Send my first row up and my last row down; receive the neighbours' rows into my halo rows."""
    comm.Sendrecv(local[1], dest=above, recvbuf=local[-1], source=below)
    comm.Sendrecv(local[-2], dest=below, recvbuf=local[0], source=above)


comm.Barrier()
started = MPI.Wtime()
halo_seconds = 0.0
for _ in range(steps):
    exchange_started = MPI.Wtime()
    exchange_halos(local)
    halo_seconds += MPI.Wtime() - exchange_started
    local = heat_step(local, first, last)
elapsed = comm.reduce(MPI.Wtime() - started, op=MPI.MAX, root=0)
halo_seconds = comm.reduce(halo_seconds, op=MPI.MAX, root=0)

blocks = comm.gather(local[1:-1], root=0) if output else None
if rank == 0:
    print(f"ranks={size} grid={rows}x{cols} steps={steps} rows_per_rank={rows // size}..{-(-rows // size)}")
    print(f"seconds={elapsed:.4f}")
    print(f"halo_seconds={halo_seconds:.4f}")
    if output:
        np.save(output, np.vstack(blocks))
