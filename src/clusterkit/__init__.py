"""clusterkit: the plumbing behind the notebooks of 'Distributed ML and DL on CPU clusters'.

What the lessons are about stays in the notebooks and in their per-rank scripts; this package
launches `mpirun`, reads Intel MPI's debug output, draws pin maps, stages data and checks exercises.
Its layers, each a folder, in the order their imports go (a layer imports only from layers before it;
CONTRIBUTING.md has the table, tests/test_layers.py the proof):

    course, machine, rank, jobs, clusters, notebook, authoring, learner, exercises, bench

This module is the notebooks' short-hand, `import clusterkit as ck`: each name below is imported from its
layer when first used, so a per-rank script that imports `clusterkit.rank` loads nothing else. No layer
imports this module.
"""
from __future__ import annotations

import importlib

PUBLIC = {
    "clusterkit.exercises.checks": ("ExerciseFailed", "Hint", "exercise_check"),
    "clusterkit.jobs.impi_debug": ("DebugReport", "RankPin", "parse_debug"),
    "clusterkit.jobs.process": ("JobInterrupted",),
    "clusterkit.jobs.runner": ("MpiError", "MpiJobFailed", "MpiNotFound", "MpiResult", "MpiTimeout", "horovodrun",
                               "mpirun"),
    "clusterkit.machine.environment": ("REPO_ROOT", "data_dir", "mpi_environment", "runs_dir"),
    "clusterkit.machine.topology": ("local_topology",),
    "clusterkit.notebook.pinmap": ("draw_pinmap", "pinmap_text"),
    "clusterkit.notebook.scripts": ("show_script",),
    "clusterkit.notebook.timing": ("Timer", "best_time"),
    "clusterkit.rank.data": ("ImageDataset", "load_digits_dataset", "sample_image", "shard"),
}
PUBLIC_MODULES = {"topology": "clusterkit.machine.topology"}  # ck.topology.describe(...), ck.topology.rank_counts(...)
HOME = {name: module for module, names in PUBLIC.items() for name in names}
__all__ = sorted([*HOME, *PUBLIC_MODULES])


def __getattr__(name: str):
    if name in PUBLIC_MODULES:
        value = importlib.import_module(PUBLIC_MODULES[name])
    elif name in HOME:
        value = getattr(importlib.import_module(HOME[name]), name)
    else:
        raise AttributeError(f"module 'clusterkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
