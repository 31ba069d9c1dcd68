# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/01_parallelism/domain.py (`%solution` loads it). Made from it by `make exercises`; sha256:94379684279b0694
"""The numerics of the heat-diffusion lesson, shared by the notebook (serial) and heat.py (per rank).

No MPI in here: the notebook imports this module without starting MPI.
"""
import numpy as np

ALPHA = 0.2  # diffusion number; the explicit scheme is stable for ALPHA <= 0.25
HOT_EDGE = 100.0


def block_range(n_items: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous block [start, stop) of range(n_items) that `rank` of `size` owns.

    Blocks are in rank order, cover every item exactly once and differ in size by at most one.
    """
    # TODO: return (start, stop) of rank's block: balanced, remainder handed out, no gaps or overlaps
    raise NotImplementedError("TODO: return (start, stop) of rank's block: balanced, remainder handed out, no gaps or overlaps")


def initial_rows(rows: int, cols: int, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of the starting temperature: a hot top edge and a warm square in the middle."""
    index = np.arange(start, stop)[:, None]
    column = np.arange(cols)[None, :]
    warm = (abs(index - rows // 2) < rows // 8) & (abs(column - cols // 2) < cols // 8)
    grid = np.where(warm, 50.0, 0.0)
    grid[index[:, 0] == 0, :] = HOT_EDGE
    return grid


def heat_step(grid: np.ndarray, first: int, last: int) -> np.ndarray:
    """One explicit diffusion step for rows first..last-1 (columns 1..cols-2) of `grid`, which must hold
    the row above `first` and the row below `last - 1` too. Returns a new array; edges stay fixed."""
    new = grid.copy()
    centre = grid[first:last, 1:-1]
    neighbours = (grid[first - 1:last - 1, 1:-1] + grid[first + 1:last + 1, 1:-1]
                  + grid[first:last, :-2] + grid[first:last, 2:])
    new[first:last, 1:-1] = centre + ALPHA * (neighbours - 4.0 * centre)
    return new


def diffuse_serial(rows: int, cols: int, steps: int) -> np.ndarray:
    """The whole grid on one process: the reference the distributed result must equal exactly."""
    grid = initial_rows(rows, cols, 0, rows)
    for _ in range(steps):
        grid = heat_step(grid, 1, rows - 1)
    return grid
