"""Run a real distributed job with Intel MPI's `mpirun` from a notebook cell.

    result = mpirun("hello_mpi.py", n=2)            # streams every line into the cell
    result.pinning                                  # [RankPin(rank=0, pid=..., node=..., cpus=(0,)), ...]

The runner is plumbing, not the lesson: it builds the command line a learner would type on a
cluster (shown before the run), streams each line as it arrives, kills the whole job when it
outlives its time-out, and turns the ways a job fails into one clear error.
"""
from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from clusterkit.jobs.impi_debug import DebugReport, parse_cpu_list, parse_debug
from clusterkit.jobs.process import stream, tail
from clusterkit.machine.environment import find_mpirun, mpi_environment
from clusterkit.machine.topology import allowed_cpus, busy_cpus

DEFAULT_TIMEOUT = 180.0
MPI_NOT_FOUND = (
    "Intel MPI's mpirun is not installed in this Python environment ({prefix}).\n"
    "What to do: run the course setup (`make setup` in the repository root), then choose the kernel "
    "'Python (Distributed ML on CPU)' for this notebook (Kernel > Change Kernel)."
)
BAD_TERMINATION = re.compile(
    r"RANK (?P<rank>\d+) PID (?P<pid>\d+) RUNNING AT (?P<node>\S+)\s*\n"
    r"=\s+(?P<how>KILLED BY SIGNAL: .*|EXIT STATUS: .*)"
)
MPI_ABORT = re.compile(r"Abort\((?P<code>\d+)\) on node (?P<rank>\d+)")


class MpiError(RuntimeError):
    """Base class: a distributed job did not do what was asked. The message says what to do."""


class MpiNotFound(MpiError):
    """Intel MPI's mpirun is not in this environment."""


class MpiTimeout(MpiError):
    """The job outlived its time-out and was killed, every rank of it."""


class MpiJobFailed(MpiError):
    """mpirun exited with a non-zero status (a rank raised, aborted or was killed)."""


@dataclass
class MpiResult:
    """What a finished job left behind: its command, output, exit status and wall time."""

    command: list[str]
    output: str
    returncode: int
    seconds: float
    debug: DebugReport = field(init=False)

    def __post_init__(self) -> None:
        self.debug = parse_debug(self.output)

    @property
    def pinning(self):
        """The rank/pid/node/pin-cpu table that I_MPI_DEBUG printed (empty if it printed none)."""
        return self.debug.pinning

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()

    def app_lines(self) -> list[str]:
        """The output without Intel MPI's own debug lines: what the ranks printed."""
        return [line for line in self.lines if not self.debug.is_debug_line(line)]

    def values(self, key: str) -> list[str]:
        """Every value printed as `key=value` or `key: value` on a line of its own, in order (after the
        `[rank]<stdout>:` that horovodrun puts before each line, if any)."""
        pattern = re.compile(rf"^(?:\[\d+\]<stdout>:)?\s*{re.escape(key)}\s*[=:]\s*(.+?)\s*$")
        return [m.group(1) for line in self.lines if (m := pattern.match(line))]

    def value(self, key: str, cast=float):
        """The last value printed for `key`, cast (default float)."""
        found = self.values(key)
        if not found:
            raise KeyError(f"the job printed no line '{key}=...'; its output ends with:\n{tail(self.output)}")
        return cast(found[-1])


def build_command(
    program: str | os.PathLike | list[str],
    *args: object,
    n: int = 2,
    ppn: int | None = None,
    hosts: list[str] | str | None = None,
    genv: dict[str, object] | None = None,
    debug: int | None = 5,
    python: bool | None = None,
    mpirun_path: str = "mpirun",
    ordered_output: bool = True,
) -> list[str]:
    """The mpirun command line for `program` (a `.py` script runs under `python -m mpi4py`).

    `python -m mpi4py script.py` turns an uncaught exception on any rank into MPI_Abort, so the
    other ranks are ended too instead of waiting forever in their next collective. It does so only
    when the script has imported `mpi4py.MPI` (course scripts do); otherwise the time-out ends it.
    """
    if n < 1:
        raise ValueError(f"n (the number of ranks) must be at least 1, got {n}")
    command = [mpirun_path, "-n", str(n)]
    if ppn is not None:
        command += ["-ppn", str(ppn)]
    if hosts:
        command += ["-hosts", hosts if isinstance(hosts, str) else ",".join(hosts)]
    if ordered_output:
        command += ["-ordered-output"]
    variables = dict(genv or {})
    if debug is not None:
        variables.setdefault("I_MPI_DEBUG", debug)
    for name, value in variables.items():
        command += ["-genv", name, str(value)]
    if isinstance(program, list):
        command += [str(part) for part in program]
    else:
        program = str(program)
        if python is None:
            python = program.endswith(".py")
        command += [sys.executable, "-m", "mpi4py", program] if python else [program]
    return command + [str(a) for a in args]


def mpirun(
    program: str | os.PathLike | list[str],
    *args: object,
    env: dict[str, object] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike | None = None,
    echo: bool = True,
    show_command: bool = True,
    check: bool = True,
    check_load: bool = True,
    **placement,
) -> MpiResult:
    """Run `program` on `n` ranks with Intel MPI and return its output for parsing.

    placement       build_command()'s options: n, ppn, hosts (as in `mpirun -n -ppn -hosts`), genv (variables
                    for every rank, `-genv NAME VALUE`: pinning, threads...), debug (I_MPI_DEBUG level; 5
                    prints the rank/pid/node/pin-cpu table, None for none), python, ordered_output;
    env             variables set for mpirun itself (inherited by all ranks);
    timeout         seconds after which the whole job is killed and MpiTimeout raised;
    echo            print each line into the cell as it arrives;
    check           raise MpiJobFailed on a non-zero exit status;
    check_load      first say so if other processes keep the CPUs this job will use busy.
    """
    command = build_command(program, *args, mpirun_path=require_mpirun(), **placement)
    if show_command and echo:
        print("$ " + display_command(command), flush=True)
    if echo and check_load:
        warn_if_cores_busy(placement.get("genv"))
    return run_job(command, env=mpi_environment(env), cwd=cwd, timeout=timeout, echo=echo, check=check)


def horovodrun(
    script: str | os.PathLike,
    *args: object,
    n: int = 2,
    env: dict[str, object] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike | None = None,
    echo: bool = True,
    check: bool = True,
) -> MpiResult:
    """Run a Horovod script on `n` ranks of this machine with Horovod's own launcher and Gloo
    (`horovodrun --gloo`): no MPI at all, Horovod's rendezvous server and the ranks meet on 127.0.0.1.
    Same time-out, stop button and result as mpirun(); each output line starts with `[rank]<stdout>:`.
    Horovod's operations are carried by Gloo too: `horovodrun --gloo` sets HOROVOD_CPU_OPERATIONS=gloo for every
    rank itself (horovod/runner/gloo_run.py), whatever `env` says."""
    command = [str(Path(sys.executable).parent / "horovodrun"), "--gloo", "-np", str(n), "-H", f"localhost:{n}",
               sys.executable, str(script), *(str(a) for a in args)]
    if echo:
        print("$ " + display_command(command), flush=True)
    return run_job(command, env=mpi_environment(env), cwd=cwd, timeout=timeout, echo=echo, check=check)


def require_mpirun() -> str:
    """The path of this environment's mpirun, or MpiNotFound saying what to do."""
    mpirun_path = find_mpirun()
    if mpirun_path is None:
        raise MpiNotFound(MPI_NOT_FOUND.format(prefix=sys.prefix))
    return mpirun_path


def run_job(
    command: list[str], *, env: dict[str, str], cwd=None, timeout: float = DEFAULT_TIMEOUT, echo: bool = True,
    check: bool = True, start: list[str] | None = None,
) -> MpiResult:
    """The one job runner behind mpirun(), horovodrun() and the practice cluster's launcher: stream the job,
    and turn a time-out or a failed rank into MpiTimeout or MpiJobFailed with what to do.

    command   the job's command line, as the learner would type it (kept in the result and the messages);
    start     what actually starts it, when that differs (the same command entered into a cluster node)."""
    streamed = stream(start or command, env, cwd, timeout, echo)
    result = MpiResult(command=command, output=streamed.output, returncode=streamed.returncode,
                       seconds=streamed.seconds)
    if streamed.timed_out:
        raise MpiTimeout(
            f"The job did not finish within {timeout:g} s, so every rank was killed.\n"
            "Likely cause: one rank is waiting in a send, receive or collective that another rank never "
            "reaches (a deadlock), or the job is far bigger than this machine.\n"
            "What to do: check that every rank calls the same collectives in the same order, try fewer "
            f"ranks or less data, or pass a larger timeout=.\nLast lines:\n{tail(streamed.output)}"
        )
    if check and result.returncode != 0:
        raise MpiJobFailed(explain_failure(result))
    return result


def warn_if_cores_busy(genv: dict | None = None) -> None:
    """On a shared machine, say before the job starts that its CPUs are busy, and what to do."""
    listed = str((genv or {}).get("I_MPI_PIN_PROCESSOR_LIST", ""))
    owned = allowed_cpus() or set()
    target = set(parse_cpu_list(listed)) if re.fullmatch(r"[\d,\s-]+", listed) else owned
    busy = busy_cpus(target)
    if not busy:
        return
    idle = sorted(owned - busy.keys() - target)
    fix = (f"pin the job to CPUs nobody uses, genv={{'I_MPI_PIN_PROCESSOR_LIST': '{','.join(map(str, idle[:4]))}'}}"
           if idle else "ask for cores of your own (on Slurm: salloc -N 1 --exclusive)")
    shown = ", ".join(f"{cpu} ({share:.0%})" for cpu, share in busy.items())
    print(f"note: other processes keep CPU {shown} busy: the ranks pinned there share it, so this job runs "
          f"slower than the lesson expects, and timings are not the lesson's. What to do: {fix}.", flush=True)


def display_command(command: list[str]) -> str:
    """The command as a learner would type it: `python` instead of the environment's full path."""
    shown = ["python" if part == sys.executable else part for part in command]
    shown[0] = Path(shown[0]).name if shown[0].endswith(("/mpirun", "/horovodrun")) else shown[0]
    return shlex.join(shown)


def explain_failure(result: MpiResult) -> str:
    """Turn mpirun's exit status and its BAD TERMINATION blocks into a message a learner can act on."""
    reasons = []
    for aborted in MPI_ABORT.finditer(result.output):
        reasons.append(f"rank {aborted['rank']} called MPI_Abort (error code {aborted['code']}), "
                       "usually after an uncaught Python exception: see its traceback above")
    killed = [m for m in BAD_TERMINATION.finditer(result.output) if "SIGNAL: 15" not in m["how"]]
    for block in killed:
        how = block["how"].strip().lower()
        if "signal: 9" in how:  # hydra SIGKILLs the survivors when a rank vanishes without MPI_Finalize
            how += (" (it died, e.g. out of memory, or mpirun stopped it because another rank ended "
                    "without calling MPI_Finalize)")
        reasons.append(f"rank {block['rank']} (pid {block['pid']} on {block['node']}) ended badly: {how}")
    if not reasons:
        reasons.append("a rank exited with an error; see its message above")
    return (
        f"{Path(result.command[0]).name} exited with status {result.returncode}: "
        + "; ".join(dict.fromkeys(reasons)) + ".\n"
        "The other ranks were stopped with it. What to do: read the first traceback or error in the "
        f"output, fix the script, and run the cell again.\nLast lines:\n{tail(result.output)}"
    )
