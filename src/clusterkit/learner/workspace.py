"""The learner's workspace: their own copy of the course, which no course update overwrites.

The five module folders and README.md of the course are copied into the workspace (`$CLUSTERKIT_WORKSPACE`,
else `workspace/` in the course folder, which git ignores), and `make lab` serves only that folder. A file
there is the learner's: editing it changes no tracked file, and `git pull` never touches it.

A manifest (`.course-manifest.json` in the workspace) records, for each file, a hash of the course's version
last copied there. Syncing compares three versions of each file (the course's now, the one last copied, the
workspace's) and:

    missing in the workspace                 -> the course's version is copied
    unchanged since it was copied            -> replaced by the course's new version, if there is one
    changed by the learner                   -> kept as it is; a new course version goes beside it, as
                                                <name>.course-update.<ext>
    no longer in the course                  -> removed if unchanged, else kept

    python -m clusterkit.learner.workspace sync     bring the course's files into the workspace (make lab does)
    python -m clusterkit.learner.workspace update   git pull the course, then sync (make update)
    python -m clusterkit.learner.workspace status   which files of the workspace the learner changed
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from clusterkit.authoring.generate import skipped
from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT

MANIFEST = ".course-manifest.json"
TOP_FILES = ("README.md",)  # the course's files outside the module folders that the learner gets
UPDATE_TAG = ".course-update"  # 02_types.ipynb -> 02_types.course-update.ipynb
# folders of the course root that a workspace must never be in (they are tracked: the maintainers' rooms)
TRACKED_ROOMS = (*MODULES, "solutions", "src", "tests", "tools", "bench", ".git")


class WorkspaceError(RuntimeError):
    pass


@dataclass
class Report:
    """What a sync did, by relative path (posix) in the workspace."""

    new: list[str] = field(default_factory=list)  # copied: new in the course, or missing from the workspace
    updated: list[str] = field(default_factory=list)  # unchanged by the learner, replaced by the course's new version
    kept: list[str] = field(default_factory=list)  # changed by the learner, left as they are
    beside: list[str] = field(default_factory=list)  # changed by the learner; the course's new version beside them
    removed: list[str] = field(default_factory=list)  # gone from the course, unchanged by the learner: deleted
    messages: list[str] = field(default_factory=list)  # one line per change, as printed

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.beside or self.removed)


def default_workspace(course_root: str | os.PathLike | None = None) -> Path:
    """`$CLUSTERKIT_WORKSPACE`, else `<course root>/workspace`."""
    if os.environ.get("CLUSTERKIT_WORKSPACE"):
        return Path(os.environ["CLUSTERKIT_WORKSPACE"]).expanduser()
    return Path(course_root if course_root is not None else REPO_ROOT) / "workspace"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str | None:
    return sha256(path.read_bytes()) if path.is_file() else None


def course_files(course_root: str | os.PathLike) -> dict[str, Path]:
    """Relative path (posix) -> file, for every file the learner gets: the module folders' files (not runs/,
    caches or job output) and README.md."""
    root = Path(course_root)
    found = {}
    for module in MODULES:
        folder = root / module
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not skipped(path.relative_to(folder)):
                found[path.relative_to(root).as_posix()] = path
    for name in TOP_FILES:
        if (root / name).is_file():
            found[name] = root / name
    return found


def beside_name(relative: str) -> str:
    """Where the course's new version of a file the learner changed goes: `a/b.ipynb` -> `a/b.course-update.ipynb`."""
    path = Path(relative)
    return path.with_name(f"{path.stem}{UPDATE_TAG}{path.suffix}").as_posix()


def check_places(course_root: Path, workspace: Path) -> None:
    """Refuse a course root without the course, and a workspace that is (inside) a tracked folder."""
    if not any((course_root / module).is_dir() for module in MODULES):
        raise WorkspaceError(f"{course_root} is not the course: it has none of the module folders "
                             f"({', '.join(MODULES)}). Give the course folder with --course")
    course, mine = course_root.resolve(), workspace.resolve()
    rooms = [course, *(course / room for room in TRACKED_ROOMS)]
    if mine == course or any(mine.is_relative_to(room) for room in rooms[1:]):
        raise WorkspaceError(f"{workspace} cannot be the workspace: it is the course's own folder (tracked by git, "
                             "made from solutions/). Leave --workspace and $CLUSTERKIT_WORKSPACE unset for "
                             f"{course / 'workspace'}, or choose a folder outside the course")


def read_manifest(workspace: Path) -> dict[str, str]:
    path = workspace / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text())["files"]
        return {str(name): str(digest) for name, digest in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WorkspaceError(f"{path} is damaged. Delete it and run sync again: every file that differs from "
                             "the course is then kept as yours, with the course's version beside it") from None


def write_manifest(workspace: Path, manifest: dict[str, str]) -> None:
    path = workspace / MANIFEST
    text = json.dumps({"about": "the course's version of each file last copied here (sha256); "
                                "python -m clusterkit.learner.workspace reads it",
                       "files": dict(sorted(manifest.items()))}, indent=1) + "\n"
    _write(path, text.encode())


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so an interrupted sync never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _remove_empty_folders(folder: Path, workspace: Path) -> None:
    while folder != workspace and folder.is_relative_to(workspace) and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _changed_by_you(relative: str) -> str:
    """How a file became the learner's: a notebook changes when its cells run, too."""
    return " (your edits, or the outputs of cells you ran)" if relative.endswith(".ipynb") else ""


def sync(course_root: str | os.PathLike, workspace: str | os.PathLike, echo: bool = True) -> Report:
    """Bring the course's files into the workspace, keeping every file the learner changed (module docstring)."""
    course_root, workspace = Path(course_root), Path(workspace)
    check_places(course_root, workspace)
    first_time = not (workspace / MANIFEST).exists() and not (workspace.is_dir() and any(workspace.iterdir()))
    manifest = read_manifest(workspace)
    report = Report()

    def say(line: str) -> None:
        report.messages.append(line)
        if echo and not first_time:
            print(line)

    current = course_files(course_root)
    for relative, source in current.items():
        data = source.read_bytes()
        course, given, mine = sha256(data), manifest.get(relative), file_hash(workspace / relative)
        if mine is None:
            _write(workspace / relative, data)
            report.new.append(relative)
            say(f"new: {relative}" if given is None else
                f"put back: {relative} (it was missing from your workspace: this is the course's version)")
        elif mine == course:
            pass  # the course's version is there already
        elif mine == given:
            _write(workspace / relative, data)
            report.updated.append(relative)
            say(f"updated: {relative} (the course changed it; you had not)")
        elif course == given:
            report.kept.append(relative)  # the learner's, and the course has nothing new for it
        else:
            other = beside_name(relative)
            _write(workspace / other, data)
            report.kept.append(relative)
            report.beside.append(relative)
            if given is None:
                say(f"kept your file {relative}; the course now has a file of that name too, it is {other}: "
                    "compare and copy what you want")
            else:
                say(f"kept your edits in {relative}{_changed_by_you(relative)}; the course's new version is "
                    f"{other}: compare and copy what you want (delete it when done)")
        manifest[relative] = course
    for relative in sorted(set(manifest) - set(current)):
        path = workspace / relative
        mine = file_hash(path)
        if mine is not None and mine == manifest[relative]:
            path.unlink()
            _remove_empty_folders(path.parent, workspace)
            report.removed.append(relative)
            say(f"removed: {relative} (the course no longer has it; you had not changed it)")
        elif mine is not None:
            report.kept.append(relative)
            say(f"kept your edits in {relative}, which the course no longer has: it is yours now "
                "(delete it when you no longer need it)")
        del manifest[relative]
    workspace.mkdir(parents=True, exist_ok=True)
    write_manifest(workspace, manifest)
    if echo:
        if first_time:
            print(f"Made your workspace {workspace}: the course's {len(report.new)} files (its module folders and "
                  "README.md), yours to edit.")
        else:
            edited = len(report.kept)
            print(f"Your workspace {workspace} is in step with the course"
                  + (f" ({edited} file{'s' * (edited != 1)} with your edits, untouched)." if edited else "."))
    return report


@dataclass
class Status:
    edited: list[str]  # changed by the learner since the course's version was copied
    missing: list[str]  # in the manifest, deleted from the workspace (sync puts them back)
    pending: list[str]  # the course has a version the workspace has not got yet (sync brings it in)
    updates: list[str]  # .course-update files waiting beside the learner's files


def status(course_root: str | os.PathLike, workspace: str | os.PathLike) -> Status:
    course_root, workspace = Path(course_root), Path(workspace)
    manifest = read_manifest(workspace)
    current = course_files(course_root)
    edited, missing = [], []
    for relative, given in sorted(manifest.items()):
        mine = file_hash(workspace / relative)
        if mine is None:
            missing.append(relative)
        elif mine != given:
            edited.append(relative)
    pending = sorted(relative for relative, path in current.items()
                     if manifest.get(relative) != sha256(path.read_bytes()))
    updates = sorted(path.relative_to(workspace).as_posix() for path in workspace.rglob(f"*{UPDATE_TAG}*")
                     if path.is_file() and beside_name_of(path.relative_to(workspace).as_posix()) in manifest)
    return Status(edited, missing, pending, updates)


def beside_name_of(update: str) -> str:
    """The inverse of beside_name: `a/b.course-update.ipynb` -> `a/b.ipynb`."""
    return update.replace(UPDATE_TAG, "", 1)


def _git(course_root: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}  # never wait on a password prompt
    return subprocess.run(["git", "-C", str(course_root), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def pull(course_root: Path) -> tuple[bool, str]:
    """`git pull --ff-only` in the course, when it is a git checkout with an upstream: (worked, what to tell)."""
    try:
        top = _git(course_root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return True, "git is not installed: the course was not pulled, only your workspace synced."
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != course_root.resolve():
        return True, f"{course_root} is not a git checkout: the course was not pulled, only your workspace synced."
    upstream = _git(course_root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if upstream.returncode != 0:
        return True, ("the course's branch follows no remote branch (git pull would not know where from): "
                      "the course was not pulled, only your workspace synced.")
    before = _git(course_root, "rev-parse", "HEAD").stdout.strip()
    try:
        pulled = _git(course_root, "pull", "--ff-only", "--quiet", timeout=600)
    except subprocess.TimeoutExpired:
        return False, ("`git pull` took more than 10 minutes: check the network, then run `make update` again. "
                       "Your workspace was not touched.")
    if pulled.returncode != 0:
        said = (pulled.stderr or pulled.stdout).strip()
        if "would be overwritten" in said or "commit your changes or stash them" in said.lower():
            advice = (f"files the course tracks were changed in {course_root} (outside your workspace). "
                      f"`git -C {course_root} status` lists them: copy what you want to keep into your workspace, "
                      f"then undo them there with `git -C {course_root} restore FILE`, and run `make update` again.")
        elif "fast-forward" in said.lower() or "diverg" in said.lower():
            advice = (f"the course checkout {course_root} has commits of its own that the course does not have. "
                      "Ask your instructor, or keep your work in the workspace and make a fresh clone of the course.")
        else:
            advice = ("git could not reach the course's repository, or refused (its message is above). Check the "
                      f"network and `git -C {course_root} remote -v`, then run `make update` again.")
        return False, f"git pull failed:\n  {said.replace(chr(10), chr(10) + '  ')}\nWhat to do: {advice}\n" \
                      "Your workspace was not touched."
    after = _git(course_root, "rev-parse", "HEAD").stdout.strip()
    if after == before:
        return True, f"The course is up to date ({upstream.stdout.strip()} at {after[:10]})."
    count = _git(course_root, "rev-list", "--count", f"{before}..{after}").stdout.strip()
    return True, (f"Pulled the course: {count} new commit{'s' * (count != '1')} from {upstream.stdout.strip()} "
                  f"({before[:10]} -> {after[:10]}). Its module folders come with the pull: there is nothing to "
                  "regenerate.")


def update(course_root: str | os.PathLike, workspace: str | os.PathLike) -> int:
    """Pull the course, then sync the workspace; 1 (workspace untouched) when the pull fails."""
    course_root, workspace = Path(course_root), Path(workspace)
    check_places(course_root, workspace)
    worked, told = pull(course_root)
    print(told, file=sys.stdout if worked else sys.stderr)
    if not worked:
        return 1
    sync(course_root, workspace)
    return 0


def show_status(course_root: Path, workspace: Path) -> int:
    if not (workspace / MANIFEST).is_file():
        print(f"There is no workspace at {workspace} yet: `make lab` (or `python -m clusterkit.learner.workspace "
              "sync`) makes it.", file=sys.stderr)
        return 1
    found = status(course_root, workspace)
    print(f"Your workspace: {workspace}")
    if found.edited:
        print(f"Files you changed ({len(found.edited)}; a course update keeps them as they are):")
        print("".join(f"  {name}\n" for name in found.edited), end="")
    else:
        print("You have changed none of the course's files.")
    if found.updates:
        print("The course's newer versions waiting beside your files (compare, copy what you want, delete them):")
        print("".join(f"  {name}\n" for name in found.updates), end="")
    if found.missing:
        print("Deleted from your workspace (`make update` or `... workspace sync` puts the course's version back):")
        print("".join(f"  {name}\n" for name in found.missing), end="")
    if found.pending:
        print(f"{len(found.pending)} course file(s) not in your workspace yet: run `make update` (or "
              "`python -m clusterkit.learner.workspace sync`).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterkit.learner.workspace",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("sync", "update", "status"),
                        help="sync: copy the course's files in; update: git pull the course, then sync; "
                             "status: the files you changed")
    parser.add_argument("--course", type=Path, default=REPO_ROOT, help=f"the course folder (default {REPO_ROOT})")
    parser.add_argument("--workspace", type=Path, default=None,
                        help="your workspace (default $CLUSTERKIT_WORKSPACE, else <course>/workspace)")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    workspace = (args.workspace if args.workspace is not None else default_workspace(course)).resolve()
    try:
        if args.command == "sync":
            sync(course, workspace)
            return 0
        if args.command == "update":
            return update(course, workspace)
        return show_status(course, workspace)
    except WorkspaceError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"error: {problem}. Your workspace may be only partly synced: fix the cause and run the same "
              "command again (what is already there is kept).", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
