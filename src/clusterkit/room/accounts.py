"""The learners' local accounts: ordinary users of the node, each with a password of their own and a home
folder only they can read (mode 700), members of the room's group. The hub logs them in through PAM and
starts each learner's server as that user, so the kernel sees the learner's files and nobody else's.

Needs root (useradd, chpasswd, userdel). Names are the prefix and a two-digit number: learner01, learner02 ...
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from clusterkit.room import cpuset

DEFAULT_GROUP = "dmlcpu-learners"
DEFAULT_PREFIX = "learner"


class AccountError(RuntimeError):
    pass


@dataclass(frozen=True)
class Account:
    name: str
    password: str


def _run(*command: str, stdin: str | None = None) -> None:
    done = subprocess.run(command, input=stdin, text=True, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise AccountError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()}")


def members(group: str = DEFAULT_GROUP) -> list[str]:
    """The room's learners: every account whose supplementary groups include the room's group."""
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise AccountError(f"{what} needs root (it creates and removes local accounts): run it with sudo")


def add(count: int, prefix: str = DEFAULT_PREFIX, group: str = DEFAULT_GROUP, home_root: str = "/home",
        shell: str = "/bin/bash") -> list[Account]:
    """Create `count` new learner accounts after the ones the room has, each with a fresh password."""
    require_root("adding learner accounts")
    if count < 1:
        raise AccountError(f"the number of accounts to add must be at least 1, not {count}")
    try:
        grp.getgrnam(group)
    except KeyError:
        _run("groupadd", group)
    existing = set(members(group))
    created, number = [], 1
    while len(created) < count:
        name = f"{prefix}{number:02d}"
        number += 1
        if name in existing:
            continue
        try:
            pwd.getpwnam(name)
            raise AccountError(f"an account {name!r} already exists on this machine and is not in the room's group "
                               f"{group!r}: choose another prefix (--prefix)")
        except KeyError:
            pass
        password = secrets.token_urlsafe(9)
        _run("useradd", "--create-home", "--home-dir", f"{home_root}/{name}", "--shell", shell,
             "--groups", group, "--key", "HOME_MODE=0700", "--key", "UMASK=077", name)
        os.chmod(Path(home_root) / name, 0o700)
        _run("chpasswd", stdin=f"{name}:{password}\n")
        created.append(Account(name, password))
    return created


def processes_of(name: str) -> list[int]:
    """The pids of every process the account runs."""
    uid = pwd.getpwnam(name).pw_uid
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                found.append(int(entry.name))
        except FileNotFoundError:
            continue
    return found


def end_processes(name: str, grace: float = 2.0) -> None:
    """Every process the account runs: TERM, then KILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_of(name):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while processes_of(name) and time.monotonic() < deadline:
            time.sleep(0.05)
    if processes_of(name):
        raise AccountError(f"processes of {name} survived SIGKILL: {processes_of(name)}")


def remove(names: list[str], group: str = DEFAULT_GROUP, acl_record: Path | None = None) -> list[str]:
    """Remove learner accounts (only members of the room's group), their processes and home folders; with the
    last one, the group and the ACL entries recorded in `acl_record` (let_through) go too."""
    require_root("removing learner accounts")
    room = set(members(group))
    strangers = sorted(set(names) - room)
    if strangers:
        raise AccountError(f"not learners of this room (group {group!r}): {', '.join(strangers)}; nothing removed")
    for name in names:
        end_processes(name)
        cpuset.remove(name)
        entry = pwd.getpwnam(name)
        if os.path.isdir(entry.pw_dir):  # userdel removes a home folder only when it belongs to the learner
            os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, timeout=60)
        if done.returncode not in (0, 12):  # 12: no mail spool to remove, which Debian's accounts do not have
            raise AccountError(f"`userdel --remove {name}` failed ({done.returncode}): {done.stderr.strip()}")
    if not members(group):
        if acl_record is not None:
            revoke(acl_record)
        try:
            grp.getgrnam(group)
            _run("groupdel", group)
        except KeyError:
            pass
    return names


def blocked_folders(paths, group: str = DEFAULT_GROUP) -> list[Path]:
    """The folders on the way to `paths` (real paths) that a learner of `group` cannot pass through: a learner is
    neither their owner, nor in their group with g+x, nor let through by o+x or an ACL the room set."""
    gid = grp.getgrnam(group).gr_gid if group in {g.gr_name for g in grp.getgrall()} else None
    blocked = []
    for path in paths:
        real = Path(os.path.realpath(path))
        for folder in [*reversed(real.parents), real] if real.is_dir() else reversed(real.parents):
            mode = folder.stat()
            if mode.st_mode & 0o001 or (gid is not None and mode.st_gid == gid and mode.st_mode & 0o010):
                continue
            if gid is not None and _acl_lets_through(folder, group):
                continue
            if folder not in blocked:
                blocked.append(folder)
    return blocked


def _acl_lets_through(folder: Path, group: str) -> bool:
    if shutil.which("getfacl") is None:
        return False
    listed = subprocess.run(["getfacl", "--omit-header", "--absolute-names", str(folder)], capture_output=True,
                            text=True, timeout=10).stdout
    return any(line.startswith(f"group:{group}:") and line.split(":")[2][2:3] == "x" for line in listed.splitlines())


def let_through(folders: list[Path], group: str, record: Path) -> None:
    """Let the room's group pass through (not list) these folders, with an ACL entry `group:GROUP:--x` each;
    `record` remembers them for `revoke`."""
    if shutil.which("setfacl") is None:
        raise AccountError("setfacl is missing: `bash tools/setup_hub.sh` installs Debian's acl package")
    done = json.loads(record.read_text()) if record.exists() else []
    for folder in folders:
        _run("setfacl", "--modify", f"group:{group}:--x", str(folder))
        done.append([str(folder), group])
    record.write_text(json.dumps(done))


def revoke(record: Path) -> list[str]:
    """Remove the ACL entries `let_through` made."""
    if not record.exists():
        return []
    entries = json.loads(record.read_text())
    for folder, group in entries:
        if Path(folder).exists():
            _run("setfacl", "--remove", f"group:{group}", folder)
    record.unlink()
    return [folder for folder, _ in entries]
