"""clusterkit: the plumbing behind the notebooks of 'Distributed ML and DL on CPU clusters'.

What the lessons are about stays in the notebooks and in their per-rank scripts; this package
launches `mpirun`, reads Intel MPI's debug output, draws pin maps, stages data and checks exercises.
Its layers (each a folder; imports go from a later one to an earlier one only, see CONTRIBUTING.md):
course, machine, rank, jobs, clusters, notebook, authoring, learner, exercises, bench. This module is the
notebooks' short-hand, `import clusterkit as ck`; no layer imports it.
"""
from clusterkit.exercises.checks import ExerciseFailed, Hint, exercise_check
from clusterkit.jobs.impi_debug import DebugReport, RankPin, parse_debug
from clusterkit.jobs.process import JobInterrupted
from clusterkit.jobs.runner import MpiError, MpiJobFailed, MpiNotFound, MpiResult, MpiTimeout, horovodrun, mpirun
from clusterkit.machine import topology
from clusterkit.machine.environment import REPO_ROOT, data_dir, mpi_environment, runs_dir
from clusterkit.machine.topology import local_topology
from clusterkit.notebook.pinmap import draw_pinmap, pinmap_text
from clusterkit.notebook.scripts import show_script
from clusterkit.notebook.timing import Timer, best_time
from clusterkit.rank.data import ImageDataset, load_digits_dataset, sample_image, shard

__all__ = [
    "DebugReport", "ExerciseFailed", "Hint", "ImageDataset", "JobInterrupted", "MpiError", "MpiJobFailed",
    "MpiNotFound", "MpiResult", "MpiTimeout", "REPO_ROOT", "RankPin", "Timer", "best_time", "data_dir", "draw_pinmap",
    "exercise_check", "horovodrun", "load_digits_dataset", "local_topology", "mpi_environment", "mpirun", "parse_debug",
    "pinmap_text", "runs_dir", "sample_image", "shard", "show_script", "topology",
]
