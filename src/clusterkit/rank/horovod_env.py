"""The Horovod environment of module 03_horovod: is this Horovod fit for the course, and what every rank
of its jobs gets in its environment."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

# Every rank of this module's jobs: Horovod's allreduce is carried by MPI, said here rather than left to
# Horovod's default (oneCCL whenever Horovod was built with it; notebook 07 compares the three); Intel
# MPI waits for messages without spinning (a spinning wait steals the core that the rank's TensorFlow
# needs: see the stack notes), and TensorFlow's C++ info lines stay out of the cell.
RANK_ENV = {"HOROVOD_CPU_OPERATIONS": "MPI", "I_MPI_WAIT_MODE": 1, "TF_CPP_MIN_LOG_LEVEL": 2}

# Written by tools/setup.sh where oneCCL's CPU library could not be linked; it says why.
CCL_UNAVAILABLE_FILE = Path(sys.prefix) / ".oneccl-unavailable"


class HorovodBuildError(RuntimeError):
    """Horovod is missing, or was built without the pieces this module needs."""


def horovod_build_problems() -> list[str]:
    """What is wrong with this environment's Horovod for the course (an empty list: nothing)."""
    try:
        importlib.import_module("tensorflow")
    except ImportError as error:
        return [f"TensorFlow cannot be imported ({error})"]
    try:
        hvd = importlib.import_module("horovod.tensorflow")
    except ImportError as error:
        return [f"horovod.tensorflow cannot be imported ({error}): Horovod is missing or was built "
                "without TensorFlow support (HOROVOD_WITH_TENSORFLOW=1)"]
    problems = []
    if not hvd.mpi_built():
        problems.append("Horovod was built without MPI (HOROVOD_WITH_MPI=1), so `mpirun` cannot start it")
    return problems


def require_horovod() -> str:
    """One line describing the Horovod in use; HorovodBuildError with what to do if it is unfit."""
    problems = horovod_build_problems()
    if problems:
        raise HorovodBuildError(
            "This module needs Horovod built with TensorFlow and MPI: " + "; ".join(problems) + ".\n"
            "What to do: run the course setup again (`make setup`); it rebuilds Horovod from source with "
            "HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 against this environment's TensorFlow and Intel MPI.")
    import horovod
    import horovod.tensorflow as hvd
    import tensorflow as tf

    backends = [name for name, built in (("MPI", hvd.mpi_built()), ("Gloo", hvd.gloo_built()),
                                         ("oneCCL", hvd.ccl_built())) if built]
    listed = " and ".join(filter(None, [", ".join(backends[:-1]), backends[-1]]))
    summary = f"Horovod {horovod.__version__} for TensorFlow {tf.__version__}, built with {listed}"
    print(summary)
    return summary


def ccl_unavailable_reason() -> str | None:
    """None when this Horovod can carry its operations with oneCCL; otherwise why not, in one sentence."""
    problems = horovod_build_problems()
    if problems:
        return "; ".join(problems)
    if importlib.import_module("horovod.tensorflow").ccl_built():
        return None
    why = CCL_UNAVAILABLE_FILE.read_text().strip() if CCL_UNAVAILABLE_FILE.exists() else "reason unknown"
    return (f"this Horovod was built without oneCCL ({why}); the course's setup builds it with oneCCL "
            "where it can: run `make setup` again after fixing that")
