"""Submit a batch job to Slurm from a notebook cell and follow it as dependably as `ck.mpirun`.

    result = sbatch("quantize.sbatch", nodes=2, ntasks_per_node=2, clients=clients)
    result.pinning          # the I_MPI_DEBUG table, with the node names of both nodes
    result.value("test_accuracy")

It prints the command, submits (`sbatch --parsable`), streams the job's output file into the cell
as the job writes it, and waits by polling `scontrol show job` (not `sbatch --wait`, which polls
slowly). At the time-out, or when the cell is interrupted, the job is cancelled with `scancel` and
the error says so in one line. A failed job raises SlurmJobFailed naming its exit code and the
first error in its output; a job that ran past its `--time` raises SlurmTimeLimit.

Where the Slurm commands run is a parameter, `clients`:
- `LocalClients()`: on this machine, as on a real cluster's login node;
- `NodeClients(cluster)`: inside node1 of the practice cluster (`clusterkit.clusters.practice`),
  the only place its clients may run (`clusterkit.clusters.connect` picks one of the two).
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clusterkit.jobs.process import shorten_paths, tail
from clusterkit.jobs.runner import BAD_TERMINATION, MPI_ABORT, MpiResult

TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED"}
FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w/:]*)=(\S*)")
PYTHON_ERROR = re.compile(r"^(?:\[\d+\]\s*)?(?P<error>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$", re.M)
DEFAULT_TIMEOUT = 600.0


class SlurmError(RuntimeError):
    """Base class: a Slurm job did not do what was asked. The message says what to do."""


class SlurmNotFound(SlurmError):
    """No Slurm commands where the clients were asked to run."""


class SlurmSubmitError(SlurmError):
    """sbatch refused the job (bad option, no such partition, too many nodes asked...)."""


class SlurmJobFailed(SlurmError):
    """The job ended in a state other than COMPLETED."""

    def __init__(self, message: str, result: "SlurmResult | None" = None):
        super().__init__(message)
        self.result = result


class SlurmTimeLimit(SlurmJobFailed):
    """The job ran past its --time and Slurm cancelled it."""


class SlurmJobCancelled(SlurmJobFailed):
    """Someone (scancel) cancelled the job."""


class SlurmTimeout(SlurmError):
    """The job outlived the helper's time-out; it was cancelled with scancel."""


# -- where the clients run -------------------------------------------------------------------------
class LocalClients:
    """Slurm's commands on this machine: a real cluster's login node, or a node where this process runs inside a job
    (a learner's server in the room). The variables of an allocation this process runs in (SLURM_JOB_ID,
    SLURM_CPUS_PER_TASK ...) are not passed on: sbatch and srun would read them as options for the new job."""

    def __init__(self, where: str = "this machine"):
        self.where = where

    def run(
        self, argv: list[str], *, timeout: float = 30, cwd=None, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}
        full_env.update(env or {})
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError as missing:
            raise SlurmNotFound(
                f"`{argv[0]}` is not installed here: this machine is not a Slurm login node. What to "
                "do: run this on your cluster's login node, or start the practice cluster "
                "(python -m clusterkit.clusters.practice up) and pass clients=NodeClients(cluster)."
            ) from missing


class NodeClients:
    """Slurm's commands inside a node of the practice cluster (node1 by default)."""

    def __init__(self, cluster, node: str | None = None):
        self.cluster = cluster
        self.node = node or cluster.nodes[0].name
        self.where = f"{self.node} of the practice cluster"

    def run(
        self, argv: list[str], *, timeout: float = 30, cwd=None, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return self.cluster.run_on_node(self.node, argv, timeout=timeout, cwd=cwd, env=full_env, check=False)


def _call(clients, argv: list[str], timeout: float = 30, **kwargs) -> str:
    done = clients.run(argv, timeout=timeout, **kwargs)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        raise SlurmError(f"`{shlex.join(argv)}` on {clients.where} failed ({done.returncode}): {message}")
    return done.stdout


def kill_on_node(clients, job_id: int, node: str, *programs: str) -> str:
    """SIGKILL the job's processes on `node` whose command line names one of `programs`, as a lost node would lose
    them: `srun --overlap` runs clusterkit.jobs.kill_here there, inside the job's allocation. What it printed."""
    return _call(clients, ["srun", "--overlap", f"--jobid={job_id}", "-w", node, "-N1", "-n1", sys.executable, "-m",
                           "clusterkit.jobs.kill_here", *programs], timeout=60)


# -- job state -------------------------------------------------------------------------------------
@dataclass
class JobInfo:
    """What `scontrol show job` says about one job."""

    job_id: int
    fields: dict[str, str]

    @property
    def state(self) -> str:
        return self.fields.get("JobState", "UNKNOWN")

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def exit_code(self) -> int:
        """The batch script's exit status (the part before ':'); 128+N when a signal N ended it."""
        status, _, sig = self.fields.get("ExitCode", "0:0").partition(":")
        return (
            int(status) if status.isdigit() and int(status) else (128 + int(sig) if sig.isdigit() and int(sig) else 0)
        )

    @property
    def nodes(self) -> str:
        return self.fields.get("NodeList", "")

    @property
    def output_path(self) -> str | None:
        return self.fields.get("StdOut") or None


def parse_job(text: str) -> dict[str, str]:
    """`scontrol show job -o` text -> {field: value} (values without spaces, which is all we read)."""
    return {m.group(1): m.group(2) for m in FIELD.finditer(text)}


def job_info(job_id: int, clients) -> JobInfo | None:
    """The job's current record, or None once Slurm has forgotten it."""
    done = clients.run(["scontrol", "show", "job", "-o", str(job_id)], timeout=30)
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return None
        raise SlurmError(f"scontrol show job {job_id} failed on {clients.where}: {done.stderr.strip()}")
    return JobInfo(job_id, parse_job(done.stdout))


def run(clients, argv: list[str], timeout: float = 30) -> str:
    """Any Slurm command (sinfo, scontrol ...) where the clients run; its output, or SlurmError."""
    return _call(clients, [str(a) for a in argv], timeout)


def squeue(clients) -> str:
    """The queue, as a learner reads it with `squeue`."""
    return _call(clients, ["squeue", "-o", "%.6i %.12j %.9T %.6D %.10M %R"])


def jobs_table(clients, job_ids: list[int] | None = None) -> list[dict[str, str]]:
    """An sacct-like table of the jobs Slurm still remembers: id, name, state, exit code, time, nodes.

    (The practice cluster keeps no accounting database, so `sacct` has nothing to read there; on a real
    cluster `sacct -j ID -o JobID,JobName,State,ExitCode,Elapsed,NodeList` shows the same.)"""
    text = _call(clients, ["scontrol", "show", "job", "-o"])
    rows = []
    for line in text.splitlines():
        fields = parse_job(line)
        if "JobId" not in fields or (job_ids is not None and int(fields["JobId"]) not in job_ids):
            continue
        rows.append(
            {
                "JobID": fields["JobId"],
                "JobName": fields.get("JobName", ""),
                "State": fields.get("JobState", ""),
                "ExitCode": fields.get("ExitCode", ""),
                "Elapsed": fields.get("RunTime", ""),
                "NodeList": fields.get("NodeList", ""),
            }
        )
    return rows


def format_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no jobs)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


# -- results ---------------------------------------------------------------------------------------
@dataclass
class SlurmResult(MpiResult):
    """A finished batch job: its sbatch command, output (parsed for I_MPI_DEBUG), state and nodes."""

    job_id: int = 0
    state: str = ""
    nodes: str = ""
    output_path: str = ""


@dataclass
class SlurmJob:
    """A submitted job: `follow()` streams its output and waits; `cancel()` ends it on every node."""

    job_id: int
    command: list[str]
    clients: object
    submitted: float = field(default_factory=time.perf_counter)
    reader: "_OutputReader | None" = field(default=None, repr=False)  # what was read of the output so far
    submitted_at: float = field(default_factory=time.time)  # wall clock, taken just before sbatch ran

    def info(self) -> JobInfo | None:
        return job_info(self.job_id, self.clients)

    def cancel(self, wait: float = 15.0) -> JobInfo | None:
        """scancel the job, then wait (up to `wait` s) until Slurm says it has ended."""
        self.clients.run(["scancel", str(self.job_id)], timeout=30)
        deadline = time.monotonic() + wait
        info = self.info()
        while info is not None and not info.finished and time.monotonic() < deadline:
            time.sleep(0.1)
            info = self.info()
        return info

    def follow(
        self, timeout: float = DEFAULT_TIMEOUT, echo: bool = True, check: bool = True, poll: float = 0.25
    ) -> SlurmResult:
        """Stream the job's output until it ends; raise on failure (check), time-out or interrupt."""
        deadline = time.perf_counter() + timeout
        reader = self.reader = self.reader or _OutputReader(echo, self.submitted_at)
        started_said = False
        with self.cancelled_if_interrupted():
            while True:
                info = self.info()
                if info is None:
                    raise SlurmError(
                        f"Slurm no longer knows job {self.job_id} (it was purged before it was seen "
                        "to end). What to do: read its output file, and follow jobs right after submitting."
                    )
                if echo and not started_said and info.state == "RUNNING":
                    print(f"job {self.job_id} running on {info.nodes}", flush=True)
                    started_said = True
                if info.output_path:
                    reader.read(info.output_path)
                if info.finished:
                    time.sleep(0.2)  # the last lines may land just after the state changes
                    if info.output_path:
                        reader.read(info.output_path, final=True)
                    break
                if time.perf_counter() > deadline:
                    final = self.cancel()
                    if final is not None and final.output_path:
                        reader.read(final.output_path, final=True)
                    raise SlurmTimeout(
                        f"job {self.job_id} did not finish within {timeout:g} s, so it was cancelled (scancel) on "
                        f"every node.\nLikely cause: a deadlock (a rank waits in a collective another never reaches), "
                        f"or the job waits for nodes that are busy.\nWhat to do: check the output, ask for fewer "
                        f"resources, or pass a larger timeout=.\nLast lines:\n{tail(reader.text)}"
                    )
                time.sleep(poll)
        result = SlurmResult(
            command=self.command,
            output=reader.text,
            returncode=info.exit_code,
            seconds=time.perf_counter() - self.submitted,
            job_id=self.job_id,
            state=info.state,
            nodes=info.nodes,
            output_path=info.output_path or "",
        )
        if echo:
            print(
                f"job {self.job_id} {info.state} (exit code {info.fields.get('ExitCode', '?')}) on {info.nodes}",
                flush=True,
            )
        if check and info.state != "COMPLETED":
            raise _failure(result, info)
        return result

    def wait_for_line(self, pattern: str, timeout: float = 120, echo: bool = True, poll: float = 0.1) -> str:
        """Stream the job's output until a line matches the regular expression `pattern`, and return that line
        (`follow()` then goes on from there). The job keeps running; SlurmJobFailed if it ends first, SlurmTimeout
        (the job cancelled) if no such line comes within `timeout` s."""
        wanted = re.compile(pattern, re.M)
        reader = self.reader = self.reader or _OutputReader(echo, self.submitted_at)
        deadline = time.perf_counter() + timeout
        info, asked = None, 0.0
        with self.cancelled_if_interrupted():
            while True:
                if info is None or not info.output_path or time.perf_counter() - asked > 1.0:  # scontrol once a second
                    info, asked = self.info(), time.perf_counter()
                if info is not None and info.output_path:
                    reader.read(info.output_path)
                found = wanted.search(reader.text)
                if found:
                    return reader.text[found.start():].split("\n", 1)[0]
                if info is None or info.finished:
                    raise SlurmJobFailed(f"job {self.job_id} ended ({info.state if info else 'forgotten'}) before it "
                                         f"printed a line matching {pattern!r}.\nLast lines:\n{tail(reader.text)}")
                if time.perf_counter() > deadline:
                    self.cancel()
                    raise SlurmTimeout(f"job {self.job_id} printed no line matching {pattern!r} within {timeout:g} s, "
                                       f"so it was cancelled (scancel).\nLast lines:\n{tail(reader.text)}")
                time.sleep(poll)

    @contextlib.contextmanager
    def cancelled_if_interrupted(self):
        """The stop button (KeyboardInterrupt) while waiting for the job cancels it on every node, and says so."""
        try:
            yield
        except KeyboardInterrupt:
            self.cancel(wait=5)
            print(f"\njob {self.job_id} was cancelled (scancel) because the cell was interrupted", flush=True)
            raise


class _OutputReader:
    """Reads an output file as it grows and echoes whole lines. A file last written before `not_before` (epoch
    seconds) is an earlier job's, left under the same name (the practice cluster numbers its jobs from 1 again
    each time it starts): it is ignored until Slurm truncates it for this job."""

    def __init__(self, echo: bool, not_before: float = 0.0):
        self.echo, self.offset, self.pending, self.chunks = echo, 0, b"", []
        self.not_before = not_before

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def read(self, path: str, final: bool = False) -> None:
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_mtime < self.not_before:
                    return
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        data = self.pending + data
        if final:
            complete, self.pending = data, b""
        else:
            cut = data.rfind(b"\n") + 1
            complete, self.pending = data[:cut], data[cut:]
        if complete:
            text = complete.decode(errors="replace")
            if not text.endswith("\n"):
                text += "\n"
            self.chunks.append(text)
            if self.echo:
                sys.stdout.write(shorten_paths(text))
                sys.stdout.flush()


def _failure(result: SlurmResult, info: JobInfo) -> SlurmJobFailed:
    where = f"job {result.job_id} ({info.fields.get('JobName', '')}) on {info.nodes or 'no node'}"
    last_lines = f"Last lines:\n{tail(result.output)}"
    if info.state == "TIMEOUT":
        return SlurmTimeLimit(
            f"{where} ran past its time limit (--time={info.fields.get('TimeLimit')}) and Slurm cancelled it after "
            f"{info.fields.get('RunTime')}.\nWhat to do: ask for more time (#SBATCH --time), or make the job "
            f"smaller; a job that hangs in a collective also ends this way.\n{last_lines}",
            result,
        )
    if info.state == "CANCELLED":
        return SlurmJobCancelled(
            f"{where} was cancelled (scancel) after {info.fields.get('RunTime')}.\n{last_lines}", result)
    reasons = []
    for aborted in MPI_ABORT.finditer(result.output):
        reasons.append(f"rank {aborted['rank']} called MPI_Abort (error code {aborted['code']})")
    for block in BAD_TERMINATION.finditer(result.output):
        if "SIGNAL: 15" not in block["how"] and "SIGNAL: 9" not in block["how"]:
            reasons.append(f"rank {block['rank']} on {block['node']} ended badly: {block['how'].strip().lower()}")
    errors = [m["error"].strip() for m in PYTHON_ERROR.finditer(result.output)]
    if errors:
        reasons.append(f"first error in the output: {errors[0]}")
    if not reasons:
        reasons.append("see its output above")
    return SlurmJobFailed(
        f"{where} ended {info.state} with exit code {result.returncode}: "
        + "; ".join(dict.fromkeys(reasons))
        + f".\nWhat to do: read the first traceback or error in the job's output ({result.output_path}), fix it, "
        f"and submit again.\n{last_lines}",
        result,
    )


# -- submitting ------------------------------------------------------------------------------------
def sbatch_command(
    script: str | os.PathLike,
    *args: object,
    nodes: int | None = None,
    ntasks_per_node: int | None = None,
    time_limit: str | None = None,
    job_name: str | None = None,
    output: str | None = None,
    partition: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The sbatch command line (options override the script's #SBATCH lines)."""
    command = ["sbatch", "--parsable"]
    for option, value in (
        ("--nodes", nodes),
        ("--ntasks-per-node", ntasks_per_node),
        ("--time", time_limit),
        ("--job-name", job_name),
        ("--output", output),
        ("--partition", partition),
    ):
        if value is not None:
            command.append(f"{option}={value}")
    return command + [str(e) for e in (extra or [])] + [str(script)] + [str(a) for a in args]


def submit(
    script: str | os.PathLike,
    *args: object,
    clients=None,
    cwd: str | os.PathLike | None = None,
    env: dict[str, object] | None = None,
    echo: bool = True,
    **options,
) -> SlurmJob:
    """Submit `script` with sbatch (run in `cwd`, default the script's folder) and return the job."""
    clients = clients or LocalClients()
    script = Path(script)
    cwd = Path(cwd) if cwd is not None else script.resolve().parent
    shown_script = os.path.relpath(script.resolve(), cwd.resolve())
    command = sbatch_command(shown_script, *args, **options)
    if echo:
        print("$ " + shlex.join(c for c in command if c != "--parsable"), flush=True)
    submitted_at = time.time()
    done = clients.run(command, timeout=60, cwd=str(cwd), env={k: str(v) for k, v in (env or {}).items()})
    if done.returncode != 0:
        raise SlurmSubmitError(
            f"sbatch refused the job ({done.returncode}): {(done.stderr or done.stdout).strip()}\n"
            "What to do: check the #SBATCH options (nodes, tasks per node, time, partition) "
            "against what `sinfo` shows."
        )
    job_id = int(done.stdout.strip().split(";")[0])
    if echo:
        print(f"Submitted batch job {job_id}", flush=True)
    return SlurmJob(job_id, command, clients, submitted_at=submitted_at)


def sbatch(
    script: str | os.PathLike,
    *args: object,
    clients=None,
    cwd=None,
    env=None,
    timeout: float = DEFAULT_TIMEOUT,
    echo: bool = True,
    check: bool = True,
    **options,
) -> SlurmResult:
    """Submit `script`, stream its output, wait for it, and return the result (see the module doc)."""
    job = submit(script, *args, clients=clients, cwd=cwd, env=env, echo=echo, **options)
    return job.follow(timeout=timeout, echo=echo, check=check)
