"""Where things are: the course repository, its data folder, and the environment's Intel MPI.

Every notebook and every per-rank script finds Intel MPI the same way: the `bin/` of the Python
environment that runs it comes first on PATH, and libfabric finds its providers in that
environment's `lib/`. `mpi_environment()` returns such an environment for child processes.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/clusterkit
REPO_ROOT = PACKAGE_DIR.parent.parent
ENV_PREFIX = Path(sys.prefix)
ENV_BIN = ENV_PREFIX / "bin"
ENV_LIB = ENV_PREFIX / "lib"


def data_dir() -> Path:
    """The folder where staged data sets live (`$CLUSTERKIT_DATA`, else `<repo>/data`)."""
    return Path(os.environ.get("CLUSTERKIT_DATA", REPO_ROOT / "data"))


FRESH_MARKER = ".fresh"


def runs_dir(name: str = "", fresh: bool = False) -> Path:
    """A scratch folder for run artefacts (checkpoints, logs, images), created on demand.

    It lives in `runs/` beside the notebook (the kernel's working folder), or under `$CLUSTERKIT_RUNS`: an
    exercise notebook and its solution never share artefacts, nor do two learners' copies of the course.
    With fresh=True the folder is emptied first and gets a marker file, so a check can tell a file this
    run wrote from one left by an earlier run (see `written_since_fresh`)."""
    path = Path(os.environ.get("CLUSTERKIT_RUNS", Path.cwd() / "runs")) / name
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    if fresh:
        (path / FRESH_MARKER).touch()
    return path


def written_since_fresh(path: str | os.PathLike) -> bool:
    """Whether the file was written after its folder was last emptied by runs_dir(fresh=True); True when its
    folder never was (a folder of the learner's own choosing)."""
    path = Path(path)
    marker = path.parent / FRESH_MARKER
    return path.exists() and (not marker.exists() or path.stat().st_mtime_ns >= marker.stat().st_mtime_ns)


def mpi_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of os.environ in which this environment's Intel MPI comes first.

    - PATH starts with the environment's bin/ (mpirun is a wrapper that finds mpiexec.hydra there);
    - FI_PROVIDER_PATH points libfabric at its providers (needed for tcp/ofi across nodes);
    - I_MPI_ROOT lets the mpicc/mpicxx wrappers compile against it;
    - PYTHONUNBUFFERED makes every rank's print() arrive as it happens.
    """
    env = dict(os.environ)
    path_entries = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != str(ENV_BIN)]
    env["PATH"] = os.pathsep.join([str(ENV_BIN), *path_entries])
    env.setdefault("FI_PROVIDER_PATH", str(ENV_LIB))
    env.setdefault("I_MPI_ROOT", str(ENV_PREFIX))
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update({key: str(value) for key, value in extra.items()})
    return env


def find_mpirun() -> str | None:
    """The mpirun that this environment provides, or None when Intel MPI is not installed."""
    candidate = ENV_BIN / "mpirun"
    if candidate.exists() and (ENV_BIN / "mpiexec.hydra").exists():
        return str(candidate)
    return None
