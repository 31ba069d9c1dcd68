"""What a learner's server runs, as the learner (the room's spawners start it):

    python -m clusterkit.room.singleuser prepare   copy the course into $CLUSTERKIT_WORKSPACE (keeping their edits)
    python -m clusterkit.room.singleuser serve ... jupyterhub-singleuser on that workspace, the course kernel chosen

`prepare` ends with one sentence on stderr when it cannot: the hub shows it as the reason the spawn failed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from clusterkit.course import KERNEL_NAME
from clusterkit.exercises.checks import PROGRESS_ENV
from clusterkit.machine.environment import ENV_BIN, REPO_ROOT
from clusterkit.learner.workspace import WorkspaceError, sync


def workspace() -> Path:
    return Path(os.environ["CLUSTERKIT_WORKSPACE"])


def prepare() -> int:
    target = workspace()
    try:
        sync(REPO_ROOT, target, echo=False)
        Path(os.environ[PROGRESS_ENV]).touch()
    except PermissionError as denied:
        print(f"Your course files cannot be written to {denied.filename or target} (permission denied): your home "
              f"folder {Path.home()} must belong to you. Ask your instructor to fix its owner.", file=sys.stderr)
        return 1
    except (OSError, WorkspaceError) as problem:
        print(f"Your course files could not be prepared in {target}: {problem}. Ask your instructor.",
              file=sys.stderr)
        return 1
    return 0


def serve(extra: list[str]) -> None:
    os.chdir(workspace())
    os.execv(ENV_BIN / "jupyterhub-singleuser", [
        "jupyterhub-singleuser", f"--ServerApp.root_dir={workspace()}",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}", *extra])


def main(argv: list[str]) -> int:
    if argv[:1] == ["prepare"]:
        return prepare()
    if argv[:1] == ["serve"]:
        serve(argv[1:])
    print("usage: python -m clusterkit.room.singleuser prepare|serve [jupyterhub-singleuser options]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
