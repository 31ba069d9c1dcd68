"""clusterkit.clusters.slurm and clusterkit.clusters.practice without a cluster, and the job scripts of module 05
(PBS only syntax-checked, as no PBS server is at hand). Fast: no daemon, no Slurm client is started."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusterkit.clusters.connect import connect, skip_remaining_cells
from clusterkit.clusters import practice as pc
from clusterkit.clusters import slurm
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.machine.topology import LogicalCpu, Topology
from conftest import fails_with

JOBS = REPO_ROOT / "solutions" / "05_clusters"
SHOW_JOB = ("JobId=42 JobName=quantize UserId=root(0) JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0 "
            "RunTime=00:00:07 TimeLimit=00:10:00 NodeList=node[1-2] StdOut=/tmp/q-42.out Command=/x/quantize.sbatch")


def test_parse_job_and_its_state():
    info = slurm.JobInfo(42, slurm.parse_job(SHOW_JOB))
    assert (info.state, info.finished, info.exit_code, info.nodes) == ("FAILED", True, 1, "node[1-2]")
    assert info.output_path == "/tmp/q-42.out"
    assert slurm.JobInfo(1, {"JobState": "RUNNING", "ExitCode": "0:0"}).finished is False
    assert slurm.JobInfo(1, {"JobState": "CANCELLED", "ExitCode": "0:15"}).exit_code == 128 + 15


def test_sbatch_command_options_override_the_script():
    command = slurm.sbatch_command("quantize.sbatch", "--colours", 8, nodes=2, ntasks_per_node=2, time_limit="5",
                                   output="/tmp/%x-%j.out", extra=["--nodelist=node2"])
    assert command == ["sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=2", "--time=5",
                       "--output=/tmp/%x-%j.out", "--nodelist=node2", "quantize.sbatch", "--colours", "8"]


def test_output_reader_streams_whole_lines_as_the_file_grows(tmp_path, capsys):
    path = tmp_path / "job.out"
    reader = slurm._OutputReader(echo=True)
    reader.read(str(path))  # not there yet: nothing, no error
    path.write_text("first line\nsecond, half")
    reader.read(str(path))
    assert capsys.readouterr().out == "first line\n"
    with open(path, "a") as handle:
        handle.write(" done\nlast without newline")
    reader.read(str(path))
    reader.read(str(path), final=True)
    assert capsys.readouterr().out == "second, half done\nlast without newline\n"
    assert reader.text == "first line\nsecond, half done\nlast without newline\n"


def test_output_reader_ignores_an_earlier_jobs_file_of_the_same_name_until_it_is_rewritten(tmp_path):
    path = tmp_path / "quantize-1.out"
    path.write_text("an earlier job 1's output\n")
    os.utime(path, (time.time() - 60, time.time() - 60))
    reader = slurm._OutputReader(echo=False, not_before=time.time() - 1)
    reader.read(str(path))
    assert reader.text == ""
    path.write_text("this job's first line\n")  # Slurm truncates the file when the job starts
    reader.read(str(path))
    assert reader.text == "this job's first line\n"


def _result(output, state, exit_code="1:0"):
    fields = slurm.parse_job(
        SHOW_JOB.replace("JobState=FAILED", f"JobState={state}").replace("ExitCode=1:0", f"ExitCode={exit_code}")
    )
    info = slurm.JobInfo(42, fields)
    result = slurm.SlurmResult(
        command=["sbatch"],
        output=output,
        returncode=info.exit_code,
        seconds=1.0,
        job_id=42,
        state=state,
        nodes=info.nodes,
        output_path="/tmp/q-42.out",
    )
    return result, info


def test_failure_names_the_rank_and_the_first_error():
    output = (
        'Traceback (most recent call last):\n  File "drill.py", line 3\n'
        "RuntimeError: rank 2 on node2: simulated failure\n"
        "Abort(1) on node 2 (rank 2 in comm 0): application called MPI_Abort\n"
        "mpirun exit status: 1\n"
    )
    failure = slurm._failure(*_result(output, "FAILED"))
    assert type(failure) is slurm.SlurmJobFailed
    message = str(failure)
    assert message.startswith("job 42 (quantize) on node[1-2] ended FAILED with exit code 1: rank 2 called MPI_Abort")
    assert "first error in the output: RuntimeError: rank 2 on node2: simulated failure" in message
    assert failure.result.job_id == 42


def test_time_limit_and_cancel_have_their_own_errors():
    over = slurm._failure(*_result("still waiting\n", "TIMEOUT", "0:15"))
    assert isinstance(over, slurm.SlurmTimeLimit) and "ran past its time limit (--time=00:10:00)" in str(over)
    cancelled = slurm._failure(*_result("", "CANCELLED", "0:15"))
    assert isinstance(cancelled, slurm.SlurmJobCancelled) and "was cancelled (scancel)" in str(cancelled)


def test_jobs_table_format():
    rows = [{"JobID": "1", "State": "COMPLETED"}, {"JobID": "12", "State": "FAILED"}]
    assert slurm.format_table(rows) == "JobID  State\n1      COMPLETED\n12     FAILED"
    assert slurm.format_table([]) == "(no jobs)"


def test_a_one_core_process_still_gets_nodes_for_two_ranks_each():
    """Under `taskset -c 0` the course's jobs (2 ranks per node) must fit, or they wait forever."""
    nodes = [pc.Node(f"node{i}", f"dmlcpu-x-node{i}", f"10.9.9.{i}", f"dmxn{i}") for i in (1, 2)]
    cluster = pc.PracticeCluster("/tmp/c", "abc123", "10.9.9.0/24", nodes)
    for threads_per_core in (1, 2):
        one_core = Topology("test CPU", [LogicalCpu(cpu, 0, 0) for cpu in range(threads_per_core)])
        conf = pc.slurm_conf_text(cluster, one_core)
        assert f"CPUs={2 * threads_per_core} Sockets=1 CoresPerSocket=2 ThreadsPerCore={threads_per_core}" in conf
        assert "SlurmdParameters=config_overrides" in conf


def test_slurm_conf_describes_the_nodes_from_the_cpu():
    topology = Topology("test CPU", [LogicalCpu(cpu, cpu // 8, (cpu % 8) // 2) for cpu in range(16)])  # 2 x 4 x 2
    nodes = [
        pc.Node("node1", "dmlcpu-x-node1", "10.9.9.1", "dmxn1"),
        pc.Node("node2", "dmlcpu-x-node2", "10.9.9.2", "dmxn2"),
    ]
    cluster = pc.PracticeCluster("/tmp/c", "abc123", "10.9.9.0/24", nodes)
    conf = pc.slurm_conf_text(cluster, topology)
    assert "SlurmctldHost=node1(10.9.9.1)" in conf and "AuthInfo=socket=/tmp/c/munge/munge.socket" in conf
    assert "NodeName=node2 NodeAddr=10.9.9.2 CPUs=16 Sockets=2 CoresPerSocket=4 ThreadsPerCore=2" in conf
    assert "PartitionName=course Nodes=node1,node2 Default=YES" in conf
    assert "TaskPlugin=task/none" in conf and "ProctrackType=proctrack/linuxproc" in conf
    for line in conf.splitlines():  # every file the daemons write is in the cluster's folder
        if re.match(r"^\w+(File|Dir|Location)=", line):
            assert line.split("=", 1)[1].startswith("/tmp/c/"), line
    command = cluster.node_command("node2", ["sinfo"])
    assert command[:2] == ["nsenter", "--net=/run/netns/dmlcpu-x-node2"] and command[-1] == "sinfo"
    assert cluster.client_env({"SLURM_JOB_ID": "7", "PATH": "/bin"}) == {
        "PATH": "/bin",
        "SLURM_CONF": "/tmp/c/slurm.conf",
        "I_MPI_THREAD_YIELD": "3",
        "I_MPI_SPIN_COUNT": "1",
    }
    # a learner's own setting wins over the shared-cores default
    assert cluster.client_env({"I_MPI_SPIN_COUNT": "100"})["I_MPI_SPIN_COUNT"] == "100"


def test_unavailable_without_root_says_why_and_what_to_do():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the check as another user")
    probe = "import clusterkit.clusters.practice as pc; print(pc.unavailable_reason())"
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": "/tmp"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "needs root" in done.stdout and "uid 65534" in done.stdout and "real cluster" in done.stdout


# -- the job scripts -------------------------------------------------------------------------------
SCRIPTS = sorted(JOBS.glob("*.sbatch")) + sorted(JOBS.glob("*.pbs")) + [JOBS / "cluster_env.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_job_scripts_are_valid_bash(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def directives(script: Path, prefix: str) -> list[str]:
    """The scheduler's lines: only those before the first command count (as sbatch and qsub read them)."""
    found = []
    for line in script.read_text().splitlines()[1:]:
        if line.startswith(prefix):
            found.append(line[len(prefix) :].strip())
        elif line.strip() and not line.startswith("#"):
            break
    return found


@pytest.mark.parametrize("script", sorted(JOBS.glob("*.pbs")), ids=lambda p: p.name)
def test_pbs_directives_parse(script):
    lines = directives(script, "#PBS")
    options = {}
    for line in lines:
        flag, _, value = line.partition(" ")
        assert re.fullmatch(r"-[NljoqAWmM]", flag), f"unknown PBS option {flag}"
        options.setdefault(flag, []).append(value)
    resources = dict(part.split("=", 1) for value in options["-l"] for part in [value] if "walltime" in value)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", resources["walltime"])
    select = [v for v in options["-l"] if v.startswith("select=")][0]
    chunks = dict(item.split("=") for item in select.split(":")[1:])
    assert (
        select.split(":")[0] == "select=2"
        and int(chunks["mpiprocs"]) >= 1
        and int(chunks["ncpus"]) >= int(chunks["mpiprocs"])
    )
    assert options["-j"] == ["oe"] and re.fullmatch(r"[\w-]{1,15}", options["-N"][0])
    twin = script.with_suffix(".sbatch")
    assert twin.exists(), "every PBS script has its Slurm twin"

    def body(p):
        return [line for line in p.read_text().splitlines() if line.startswith(("launch", "cd ", "stage_data", "exit"))]

    assert [line.replace(' "$@"', "") for line in body(twin)] == body(script), "the PBS script runs what its twin runs"


@pytest.mark.parametrize("script", sorted(JOBS.glob("*.sbatch")), ids=lambda p: p.name)
def test_slurm_scripts_end_with_the_launchers_status(script):
    options = directives(script, "#SBATCH")
    names = {option.split("=")[0] for option in options}
    assert {"--job-name", "--nodes", "--ntasks-per-node", "--time", "--output"} <= names
    lines = [line for line in script.read_text().splitlines() if line.strip()]
    assert lines[-1].startswith("exit $status") and 'source "$SLURM_SUBMIT_DIR/cluster_env.sh"' in script.read_text()


def test_cluster_env_derives_ranks_threads_and_master_from_a_pbs_job(tmp_path):
    """The sourced settings, as a PBS job on two nodes with mpiprocs=2 sees them (no scheduler is called)."""
    nodefile = tmp_path / "nodes"
    nodefile.write_text("cn17\ncn17\ncn18\ncn18\n")
    show = (
        'source cluster_env.sh >/dev/null; echo "$NODES $RANKS_PER_NODE $NRANKS $THREADS_PER_RANK $OMP_NUM_THREADS '
        '$I_MPI_PIN_DOMAIN $MASTER_ADDR $MASTER_PORT $FI_PROVIDER $I_MPI_FABRICS $SOCKETS $CORES"; '
        'echo "$COURSE_ROOT"; echo "$I_MPI_OFI_LIBRARY"; echo "$FI_PROVIDER_PATH"; echo "$RUN_DIR"'
    )
    env = {
        "PATH": os.environ["PATH"],
        "PBS_JOBID": "4711.pbs-server",
        "PBS_O_WORKDIR": str(JOBS),
        "PBS_NODEFILE": str(nodefile),
        "RUN_DIR": str(tmp_path / "run"),
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail; " + show], cwd=JOBS, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    values, root, ofi, provider_path, run_dir = done.stdout.splitlines()
    nodes, per_node, nranks, threads, omp, domain, master, port, provider, fabrics, sockets, cores = values.split()
    assert (nodes, per_node, nranks, master, port) == ("2", "2", "4", "cn17", str(20000 + 4711 % 20000))
    assert int(threads) == max(int(cores) // 2, 1) and omp == threads and domain == "omp"
    assert (provider, fabrics) == ("tcp", "shm:ofi")
    assert (
        root == str(REPO_ROOT)
        and ofi == f"{REPO_ROOT}/.venv/lib/libfabric.so.1"
        and provider_path == f"{REPO_ROOT}/.venv/lib"
    )
    assert Path(run_dir).is_dir()


# -- the notebook's pieces -------------------------------------------------------------------------
def test_rank_pin_lines_in_the_workshop_style():
    from clusterkit.jobs.impi_debug import RankPin
    from clusterkit.notebook.pinmap import rank_pin_lines

    topology = Topology("test CPU", [LogicalCpu(cpu, cpu // 8, (cpu % 8) // 2) for cpu in range(16)])  # 2 x 4 x 2
    pins = [RankPin(1, 11, "hostA", (8, 9)), RankPin(0, 10, "hostA", (0, 1, 2, 3)), RankPin(10, 12, "hostB", ())]
    assert rank_pin_lines(pins, topology).splitlines() == [
        "R0  hostA [BB/BB//][///]",
        "R1  hostA [///][BB///]",
        "R10 hostB [///][///]",
    ]
    assert rank_pin_lines([]).startswith("(no pinning table")


def test_check_crosses_network_passes_a_right_answer_and_hints_at_mistakes(capsys):
    from clusterkit.exercises.clusters import check_crosses_network

    def right(pinning, a, b):
        node_of = {pin.rank: pin.node for pin in pinning}
        return node_of[a] != node_of[b]

    check_crosses_network(right)
    assert capsys.readouterr().out == "PASS: Which pairs of ranks talk over the network\n"

    def by_cpu(pinning, a, b):
        return {p.rank: p.cpus for p in pinning}[a] != {p.rank: p.cpus for p in pinning}[b]

    fails_with(check_crosses_network, by_cpu, hint="CPU numbers start at 0 on every node")

    def by_position(pinning, a, b):
        return pinning[a].node != pinning[b].node

    fails_with(check_crosses_network, by_position, hint="find each rank by `pin.rank == a`")
    fails_with(check_crosses_network, lambda pinning, a, b: "node2", hint="return True or False")


def test_cells_after_a_missing_cluster_say_they_were_skipped(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        skip_remaining_cells("this machine cannot run the practice cluster (a test).")
        assert "Every cell below will say it was skipped." in capsys.readouterr().out
        shell.run_cell("raise RuntimeError('this cell must not run')")
        assert capsys.readouterr().out == "skipped: this machine cannot run the practice cluster (a test).\n"
    finally:
        shell.input_transformers_post.clear()
        InteractiveShell.clear_instance()


def test_inside_a_slurm_job_the_notebook_submits_from_the_node_it_runs_on(monkeypatch, tmp_path):
    """A learner's server in the room is a batch job on a node: connect() uses that node's Slurm commands (no
    cluster to enter or start), and they do not inherit the server job's allocation. No Slurm command runs here."""
    if shutil.which("sbatch") is None:
        pytest.skip("Slurm's commands are not installed: `bash tools/setup_cluster.sh`")
    conf = tmp_path / "slurm.conf"
    conf.write_text("")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    clients, cluster, why_not = connect(start=False)
    assert isinstance(clients, slurm.LocalClients) and cluster is None and why_not is None
    assert clients.where.startswith("this job's node (")
    passed_on = clients.run(["env"]).stdout.splitlines()
    assert f"SLURM_CONF={conf}" in passed_on
    assert not [line for line in passed_on if line.startswith(("SLURM_JOB_ID=", "SLURM_CPUS_PER_TASK="))]
