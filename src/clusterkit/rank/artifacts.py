"""Names of the files per-rank scripts write, shared by the scripts and the checks that read them."""
from __future__ import annotations

from pathlib import Path

# 02_daal4py/quantize.py: rank 0 writes the run's settings, the palette and the quantized image
RUN_FILE, PALETTE_FILE, IMAGE_FILE = "run.json", "palette.npz", "quantized.png"


def partition_path(folder, rank: int) -> Path:
    """The file of rank `rank`'s rows: features first, the target in the last column, no header."""
    return Path(folder) / f"part_{rank}.csv"
