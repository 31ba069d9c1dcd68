"""Elastic jobs on one machine: torchrun agents side by side as if on nodes of their own, Horovod's elastic
launcher, one real failure injected into the running job, and the job's own log read back.

    result = torchrun_nodes("elastic_train.py", "--state-dir", folder, nodes=2, min_nodes=1, max_restarts=1,
                            failure=kill_node("node2", after=r"committed step=10\\b"))
    result.rounds        # [Round(node='node1', restart=0, world_size=2, seconds=...), ...]
    result.restarts      # {'node1': 1}
    result.value("full_data_loss")

Plumbing, not the lesson: the lesson is the torchrun command line (printed before the run) and what the
training script saves. Each node's agent gets CLUSTERKIT_NODE=<name> in its environment (its workers inherit
it), so that a failure can aim at a node's agent and workers, or at its workers only. The processes run under
`clusterkit.jobs.failure_injector`, through the course's one job runner: the same time-out and stop button as
mpirun, and nothing of the job is left running afterwards.
"""
from __future__ import annotations

import json
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from clusterkit.jobs.failure_injector import NEVER_INJECTED
from clusterkit.jobs.process import tail
from clusterkit.jobs.runner import MpiJobFailed, display_command, run_job
from clusterkit.machine.environment import mpi_environment, runs_dir
from clusterkit.rank.torch_dist import LOOPBACK, free_port

NODE_VARIABLE = "CLUSTERKIT_NODE"
# rendezvous settings for a job on one machine: a lost node is noticed after 2 missed heartbeats of 1 s, the
# survivors wait 1 s for latecomers once the minimum is there, and a rendezvous that never fills fails in 30 s
RENDEZVOUS_CONF = {"join_timeout": 30, "last_call_timeout": 1, "keep_alive_interval": 1,
                   "keep_alive_max_attempt": 2}
DEFAULT_TIMEOUT = 120.0

LINE = re.compile(r"^\[(?P<node>[\w.-]+)\] (?P<text>.*)$")
LOG_TIME = re.compile(r"^[IWEC]\d{4} (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d\.\d+) ")
INJECTED_TIME = re.compile(r"at (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d\.\d+): ")
ROUND_FIELD = re.compile(r"\]\s+(?P<name>restart_count|global_world_sizes)=(?P<value>.+)$")
RESTARTING = re.compile(r"Worker group (?P<state>FAILED|UNHEALTHY)\. (?P<left>\d+)/(?P<max>\d+) attempts left")
EXPIRED = re.compile(r"Reaping worker_pid=\[(?P<pid>\d+)\]\. Expired timers: (?P<scopes>\[.*\])")
HOROVOD_PREFIX = re.compile(r"^\[\d+\]<std(?:out|err)>:")  # horovodrun's mark of the rank that printed a line
COMMITTED = re.compile(r"^committed step=(\d+)\b")
REPORT_FIELD = re.compile(r"^\s+(rank|exitcode)\s+: (.+)$")
WORKER_ERROR = re.compile(r"^\[rank\d+\]: (?P<error>\w+(?:Error|Exception): .*)$")


@dataclass(frozen=True)
class Round:
    """One completed rendezvous as a node's agent logged it: its restart count, the job's world size then, and
    when (seconds since the job's first log line)."""

    node: str
    restart: int
    world_size: int
    seconds: float


@dataclass
class ElasticResult:
    """What an elastic job left: its command lines (one per node), output, exit status, wall time, and what its
    log says (rounds, restarts, the failure injected, watchdog kills)."""

    commands: dict[str, list[str]]
    output: str
    returncode: int
    seconds: float
    rounds: list[Round] = field(init=False)
    restarts: dict[str, int] = field(init=False)
    injected: list[tuple[float, str]] = field(init=False)
    watchdog_kills: dict[str, list[str]] = field(init=False)
    log_seconds: float = field(init=False)

    def __post_init__(self) -> None:
        self.rounds, self.restarts, self.injected, self.watchdog_kills, self.log_seconds = read_log(self.output)

    def node_lines(self, node: str | None = None) -> list[str]:
        """What the nodes printed (agents and workers), without the [node] prefix; one node's only if named."""
        return [HOROVOD_PREFIX.sub("", m["text"]) for line in self.output.splitlines()
                if (m := LINE.match(line)) and m["node"] != "failure" and node in (None, m["node"])]

    def values(self, key: str) -> list[str]:
        """Every value printed on a line of its own as `key=value`, in order."""
        pattern = re.compile(rf"^{re.escape(key)}=(\S+)$")
        return [m.group(1) for line in self.node_lines() if (m := pattern.match(line))]

    def value(self, key: str, cast=float):
        found = self.values(key)
        if not found:
            raise KeyError(f"the job printed no line '{key}=...'; its output ends with:\n{tail(self.output)}")
        return cast(found[-1])

    def committed_steps(self) -> list[int]:
        """The steps whose state rank 0 committed (it prints `committed step=N ...` after each), in order."""
        return [int(m[1]) for line in self.node_lines() if (m := COMMITTED.match(line))]

    def rendezvous(self) -> list[tuple[float, int]]:
        """(seconds, world size) of each rendezvous, in order: rounds that the nodes logged within a second of each
        other with the same world size are one rendezvous."""
        found, last = [], None
        for round_ in sorted(self.rounds, key=lambda r: r.seconds):
            if last is None or round_.world_size != last.world_size or round_.seconds - last.seconds > 1.0:
                found.append((round_.seconds, round_.world_size))
            last = round_
        return found

    def world_sizes(self) -> list[int]:
        """The job's world size at each rendezvous, in order."""
        return [size for _, size in self.rendezvous()]

    def timeline(self) -> list[tuple[float, int]]:
        """The world size over time, as (seconds, world size from then on): each rendezvous, 0 from each injected
        failure until the next rendezvous, and 0 at the end of the log."""
        points = [*self.rendezvous(), *((seconds, 0) for seconds, _ in self.injected)]
        return sorted(points) + [(self.log_seconds, 0)]


SRUN_LABEL = re.compile(r"^ *(?P<task>\d+): ", re.M)


def srun_log(output: str, nodes: list[str]) -> str:
    """The output of agents started by `srun --label` (task i on nodes[i], one per node) as the log this module
    reads: each line `i: text` becomes `[nodes[i]] text`; lines without a label (the batch script's) stay."""
    return SRUN_LABEL.sub(lambda m: f"[{nodes[int(m['task'])]}] ", output)


def clock_seconds(match: re.Match) -> float:
    return int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])


def read_log(output: str):
    """Rounds, restarts per node, injected failures, watchdog kills and the log's length in seconds, from the agents'
    own log lines (LOGLEVEL INFO) and the injector's; times in seconds since the first time-stamped line."""
    rounds, restarts, injected, kills = [], {}, [], {}
    seconds = 0.0
    pending: dict[str, dict] = {}
    start = None

    def since(match):
        nonlocal start
        now = clock_seconds(match)
        start = now if start is None else start
        return (now - start) % 86400  # a job that runs past midnight

    for line in output.splitlines():
        parsed = LINE.match(line)
        if not parsed:
            continue
        node, text = parsed["node"], parsed["text"]
        if node == "failure":
            if (stamp := INJECTED_TIME.search(text)) and text[stamp.end():].startswith("SIG"):
                seconds = since(stamp)
                injected.append((seconds, text[stamp.end():]))
            continue
        stamp = LOG_TIME.match(text)
        if stamp is None:
            continue
        seconds = since(stamp)
        if "Rendezvous complete for workers" in text:
            pending[node] = {"seconds": seconds}
        elif node in pending and (found := ROUND_FIELD.search(text)):
            pending[node][found["name"]] = found["value"]
            if found["name"] == "global_world_sizes":
                fields = pending.pop(node)
                world_size = json.loads(fields["global_world_sizes"])[0]  # WORLD_SIZE of each local worker
                rounds.append(Round(node, int(fields["restart_count"]), world_size, fields["seconds"]))
        elif RESTARTING.search(text):
            restarts[node] = restarts.get(node, 0) + 1
        elif found := EXPIRED.search(text):
            kills.setdefault(node, []).append(f"pid {found['pid']} in {found['scopes']}")
    return rounds, restarts, injected, kills, seconds


class ElasticJobFailed(MpiJobFailed):
    """An elastic job ended without finishing its training; the message says what happened and what to do."""


@dataclass(frozen=True)
class Failure:
    """One failure to inject: `signal` to the job's processes whose environment holds all of `target`, once a
    line printed by a node of `printed_by` (any node if None) matches the regular expression `after`; `what`
    names the victims in messages."""

    signal: str
    target: dict[str, str]
    what: str
    after: str
    printed_by: tuple[str, ...] | None = None


def kill_node(node: str, after: str, printed_by: tuple[str, ...] | None = None) -> Failure:
    """A node lost: SIGKILL its agent and its workers (nothing of theirs can clean up or say goodbye)."""
    return Failure("SIGKILL", {NODE_VARIABLE: node}, f"{node}'s agent and its workers", after, printed_by)


def kill_worker(node: str, after: str, local_rank: int = 0) -> Failure:
    """A worker lost, its agent spared: SIGKILL the node's worker of `local_rank`."""
    return Failure("SIGKILL", worker_of(node, local_rank), f"{node}'s worker of local rank {local_rank}", after)


def freeze_worker(node: str, after: str, local_rank: int = 0) -> Failure:
    """A worker that hangs: SIGSTOP it (it stays alive, holds its sockets, and makes no progress)."""
    return Failure("SIGSTOP", worker_of(node, local_rank), f"{node}'s worker of local rank {local_rank}", after)


def worker_of(node: str, local_rank: int) -> dict[str, str]:
    """The environment that tells one worker of a node from its agent and the other workers."""
    return {NODE_VARIABLE: node, "LOCAL_RANK": str(local_rank)}


def kill_host_worker(host: str, after: str) -> Failure:
    """A Horovod worker lost: SIGKILL the worker that horovodrun started for `host` (and its middleman)."""
    return Failure("SIGKILL", {"HOROVOD_HOSTNAME": host}, f"the Horovod worker of host {host}", after)


def torchrun_command(script, *args, nnodes: str, nproc_per_node: int, max_restarts: int, endpoint: str, run_id: str,
                     rdzv_conf: dict, log_dir) -> list[str]:
    """The torchrun command line of one node (torchrun is `python -m torch.distributed.run`)."""
    conf = ",".join(f"{name}={value}" for name, value in rdzv_conf.items())
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc-per-node={nproc_per_node}",
            f"--max-restarts={max_restarts}", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id={run_id}", f"--rdzv-conf={conf}", "--monitor-interval=0.1", f"--local-addr={LOOPBACK}",
            f"--log-dir={log_dir}", str(script), *(str(a) for a in args)]


def shown(command: list[str]) -> str:
    """A node's command as a learner types it: `torchrun ...` for `python -m torch.distributed.run ...`."""
    if command[1:3] == ["-m", "torch.distributed.run"]:
        command = ["torchrun", *command[3:]]
    return display_command(command)


def torchrun_nodes(script, *args, nodes: int = 2, min_nodes: int | None = None, nproc_per_node: int = 1,
                   max_restarts: int = 1, failure: Failure | None = None, watchdog: bool = False,
                   env: dict | None = None, timeout: float = DEFAULT_TIMEOUT, cwd=None, echo: bool = False,
                   show_commands: bool = True, check: bool = True) -> ElasticResult:
    """Run `script` under one torchrun agent per node, all on this machine, meeting at a c10d rendezvous on
    127.0.0.1 that node1 hosts (`is_host=1`: the node that must not be lost); inject `failure` if given.

    nodes, min_nodes   --nnodes=min_nodes:nodes (min_nodes defaults to nodes: not elastic);
    max_restarts       --max-restarts: how many times an agent may restart its workers after a failure;
    watchdog           start torchrun's worker watchdog (TORCHELASTIC_ENABLE_FILE_TIMER=1), for --step-deadline;
    timeout            seconds after which every process of the job is killed (MpiTimeout);
    check              raise ElasticJobFailed, saying why, when the training did not finish."""
    min_nodes = nodes if min_nodes is None else min_nodes
    port = free_port()
    scratch = job_folder()
    plan = {"nodes": [], "failure": failure and failure.__dict__}
    for index in range(1, nodes + 1):
        name = f"node{index}"
        command = torchrun_command(
            script, *args, nnodes=f"{min_nodes}:{nodes}" if min_nodes != nodes else str(nodes),
            nproc_per_node=nproc_per_node, max_restarts=max_restarts, endpoint=f"{LOOPBACK}:{port}",
            run_id=f"elastic-{port}", rdzv_conf={**RENDEZVOUS_CONF, "is_host": int(index == 1)},
            log_dir=scratch / f"logs-{name}")
        node_env = {NODE_VARIABLE: name, "LOGLEVEL": "INFO", "GLOO_SOCKET_IFNAME": "lo"}
        if watchdog:
            node_env |= {"TORCHELASTIC_ENABLE_FILE_TIMER": "1",
                         "TORCHELASTIC_TIMER_FILE": str(scratch / f"watchdog-{name}")}
        plan["nodes"].append({"name": name, "command": command, "env": node_env})
    if show_commands:
        for node in plan["nodes"]:
            print(f"{node['name']}$ {shown(node['command'])}", flush=True)
    return run_plan(plan, scratch, env, timeout, cwd, echo, check)


def horovodrun_elastic(script, *args, np: int = 2, min_np: int = 1, max_np: int = 2,
                       discovery: str = "discover_hosts.sh", failure: Failure | None = None, env: dict | None = None,
                       timeout: float = DEFAULT_TIMEOUT, cwd=None, echo: bool = False, show_command: bool = True,
                       check: bool = True) -> ElasticResult:
    """Run `script` under Horovod's elastic launcher with Gloo on this machine: `np` workers to start with, at
    least `min_np`, at most `max_np`, on the hosts that the discovery script prints; inject `failure` if given.
    `--network-interface lo` keeps Horovod's traffic on 127.0.0.1 (an elastic job otherwise probes the hosts'
    interfaces, which needs two machines)."""
    horovodrun = str(Path(sys.executable).parent / "horovodrun")
    command = [horovodrun, "--gloo", "--network-interface", "lo", "-np", str(np), "--min-np", str(min_np),
               "--max-np", str(max_np), "--host-discovery-script", f"sh {discovery}", sys.executable, str(script),
               *(str(a) for a in args)]
    if show_command:
        print(f"$ {display_command(command)}", flush=True)
    plan = {"nodes": [{"name": "horovodrun", "command": command, "env": {}}], "failure": failure and failure.__dict__}
    return run_plan(plan, job_folder(), env, timeout, cwd, echo, check)


def job_folder() -> Path:
    """Where a job keeps its plan, its agents' logs and watchdog files: runs/elastic-job/ beside the notebook,
    emptied at each job (a learner can read the agents' logs after it; no path of the machine's /tmp is shown)."""
    return runs_dir("elastic-job", fresh=True)


def run_plan(plan: dict, scratch: Path, env, timeout: float, cwd, echo: bool, check: bool) -> ElasticResult:
    """Start the plan's nodes under the failure injector, through the course's job runner."""
    plan_file = scratch / "plan.json"
    plan_file.write_text(json.dumps(plan))
    injector = [sys.executable, "-m", "clusterkit.jobs.failure_injector", str(plan_file)]
    job = run_job(plan["nodes"][0]["command"], env=mpi_environment(env), cwd=cwd, timeout=timeout, echo=echo,
                  check=False, start=injector)
    result = ElasticResult({node["name"]: node["command"] for node in plan["nodes"]}, job.output, job.returncode,
                           job.seconds)
    if check and result.returncode != 0:
        raise ElasticJobFailed(explain(result, plan))
    return result


def explain(result: ElasticResult, plan: dict) -> str:
    """What the log says went wrong, node by node, and what to do."""
    failure = plan.get("failure")
    if result.returncode == NEVER_INJECTED:
        return (f"The failure was never injected: no line of the job matched {failure['after']!r}, so the job ran "
                "without it. What to do: trigger on a line the job prints before it ends (a smaller step number, "
                f"or more --steps).\nLast lines:\n{tail(result.output)}")
    reasons = [f"the injected failure: {text}" for _, text in result.injected]
    for node, kills in result.watchdog_kills.items():
        reasons.append(f"{node}'s watchdog found worker {' and '.join(kills)} past its --step-deadline (a hung "
                       "worker, or one waiting for it in a collective): it SIGKILLed them and then its own agent, "
                       f"so {node} left the job")
    for node in plan["nodes"]:
        name = node["name"]
        lines = result.node_lines(name)
        if any("ChildFailedError" in line for line in lines):
            allowed = next(int(part.split("=")[1]) for part in node["command"] if part.startswith("--max-restarts="))
            errors = [m["error"] for line in lines if (m := WORKER_ERROR.match(line))]
            cause = failed_workers(lines) + (f"; the first error printed: {errors[0][:200]}" if errors else "")
            reasons.append(f"torchrun on {name} gave up: its workers failed {result.restarts.get(name, 0) + 1} "
                           f"time(s) and --max-restarts={allowed} allows {allowed} restart(s) ({cause})")
        if any("RendezvousTimeoutError" in line for line in lines):
            reasons.append(f"{name}'s rendezvous timed out: fewer nodes than --nnodes' minimum joined within "
                           f"join_timeout={RENDEZVOUS_CONF['join_timeout']} s")
    if len(reasons) == len(result.injected):
        reasons.append("a worker exited with an error; see its traceback above")
    committed = result.committed_steps()
    resume = (f"The last committed state is that of step {committed[-1]}: starting the job again "
              "resumes from it. " if committed else "No state was committed: a new start begins at step 0. ")
    return (f"The elastic job ended with status {result.returncode} before its training finished: "
            + "; ".join(reasons) + ".\n" + resume +
            "What to do: read the first error above; to ride out more failures, raise --max-restarts or start "
            f"more nodes than the minimum.\nLast lines:\n{tail(result.output)}")


def failed_workers(lines: list[str]) -> str:
    """'rank R exited with X, ...' for every worker in torchrun's last error report, by rank. Torchrun names one
    of them the root cause ("first observed failure"), but when a killed worker's peer aborts in the same instant
    either may come first, so the report lists them all."""
    start = max((i for i, line in enumerate(lines) if line.startswith("Failures:")), default=len(lines))
    workers, rank = {}, None
    for line in lines[start:]:
        if m := REPORT_FIELD.match(line):
            name, value = m.group(1), m.group(2).split()[0]
            if name == "rank":
                rank = int(value)
            elif rank is not None:
                workers[rank] = value
    if not workers:
        return "torchrun printed no error report"
    return "the failed workers: " + ", ".join(f"rank {rank} exited with status {code}{killed_by(code)}"
                                              for rank, code in sorted(workers.items()))


def killed_by(code: str) -> str:
    """' (killed by SIGKILL)' for an exit status of -9; nothing for an ordinary one."""
    return f" (killed by {signal.Signals(-int(code)).name})" if code.startswith("-") and code[1:].isdigit() else ""


def still_running(script: str) -> list[int]:
    """Processes of this machine whose command line names `script`: none once a job of it has ended."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and script in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
