"""clusterkit: the plumbing behind the notebooks of 'Distributed ML and DL on CPU clusters'.

What the lessons are about stays in the notebooks and in their per-rank scripts; this package
launches `mpirun`, reads Intel MPI's debug output, draws pin maps, stages data and checks exercises.
"""
from .checks import ExerciseFailed, Hint, exercise_check
from .data import ImageDataset, load_digits_dataset, sample_image, shard
from .environment import REPO_ROOT, data_dir, mpi_environment, runs_dir
from .impi_debug import DebugReport, RankPin, parse_debug
from .pinmap import draw_pinmap, pinmap_text
from .runner import (JobInterrupted, MpiError, MpiJobFailed, MpiNotFound, MpiResult, MpiTimeout, horovodrun,
                     mpirun, show_script)
from .timing import Timer, best_time
from .topology import local_topology

__all__ = [
    "DebugReport", "ExerciseFailed", "Hint", "ImageDataset", "JobInterrupted", "MpiError", "MpiJobFailed",
    "MpiNotFound", "MpiResult", "MpiTimeout", "REPO_ROOT", "RankPin", "Timer", "best_time", "data_dir", "draw_pinmap",
    "exercise_check", "horovodrun", "load_digits_dataset", "local_topology", "mpi_environment", "mpirun", "parse_debug",
    "pinmap_text", "runs_dir", "sample_image", "shard", "show_script",
]
