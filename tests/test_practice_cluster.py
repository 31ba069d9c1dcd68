"""The course's jobs on a real two-node Slurm cluster (two network namespaces on this machine).

Every job is one of the scripts in solutions/05_clusters/, submitted with clusterkit.clusters.slurm from inside
node1; nothing of the cluster is reachable from the host (blackhole route), and nothing is left after
teardown. Skipped with one sentence where the machine cannot make namespaces or lacks Slurm.
The whole file takes about 3-4 minutes on 2 cores (measured: see the README of 05_clusters).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import clusterkit as ck
from clusterkit.clusters import practice as pc
from clusterkit.clusters import slurm
from clusterkit.jobs.elastic import ElasticResult, srun_log
from clusterkit.machine.environment import REPO_ROOT

from conftest import command_line, host_snapshot, process_state, snapshot_difference

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

JOBS = REPO_ROOT / "solutions" / "05_clusters"
PROGRAMS = REPO_ROOT / "solutions"


@pytest.fixture(scope="module")
def cluster(practice_cluster):
    return practice_cluster[0]


@pytest.fixture(scope="module")
def clients(cluster):
    return slurm.NodeClients(cluster)


@pytest.fixture
def job_env(tmp_path):
    """What the tests export to their jobs: the course's Python environment, a run folder, the staged data."""
    return {"COURSE_VENV": sys.prefix, "RUN_DIR": str(tmp_path / "run"), "CLUSTERKIT_DATA": str(ck.data_dir()),
            "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def submit(script, *args, clients, job_env, tmp_path, **options):
    """Submit a job script of solutions/05_clusters exactly as a learner would (from its folder), with its
    output file in the test's folder."""
    return slurm.submit(JOBS / script, *args, clients=clients, cwd=JOBS, env=job_env,
                        output=str(tmp_path / "%x-%j.out"), **options)


def run_job(script, *args, clients, job_env, tmp_path, timeout=300, **options):
    return submit(script, *args, clients=clients, job_env=job_env, tmp_path=tmp_path, **options).follow(timeout=timeout)


def processes_on(cluster, job_id: int) -> dict[str, list[str]]:
    """node -> the live processes of one job in the node's namespace: its ranks, hydra's proxies, srun and
    slurmstepd (found by SLURM_JOB_ID in their environment, or `slurmstepd: [ID.step]`)."""
    found = {}
    for node, pids in cluster.pids().items():
        alive = []
        for pid in pids:
            state, command = process_state(pid), command_line(pid)
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if state in ("gone", "Z", "X") or command is None:
                continue
            if f"SLURM_JOB_ID={job_id}".encode() in environ or f"[{job_id}.".encode() in command.encode():
                alive.append(f"{pid} {command}")
        found[node] = alive
    return found


def no_job_processes_left(cluster, job_id: int, within: float = 10.0) -> dict[str, list[str]]:
    """Wait (up to `within` s: Slurm sends SIGTERM, then SIGKILL after KillWait) until no process of the job
    is left on either node; return what is left (empty lists when all are gone)."""
    deadline = time.monotonic() + within
    while True:
        left = processes_on(cluster, job_id)
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def sent_between_nodes(before, after) -> int:
    """Bytes node2 sent to node1 plus node1 to node2 over the veth."""
    return sum(after[n]["tx_bytes"] - before[n]["tx_bytes"] for n in after)


def assert_two_nodes(result, ranks_per_node=2):
    assert result.debug.nodes == ["node1", "node2"], result.debug.pinning
    assert [len(result.debug.ranks_on(n)) for n in result.debug.nodes] == [ranks_per_node] * 2
    assert result.debug.provider == "tcp", "Intel MPI did not use the tcp provider between the nodes"


# -- the cluster itself ---------------------------------------------------------------------------
def test_nodes_idle_with_own_names_and_no_way_out(cluster):
    assert cluster.node_states() == {"node1": "idle", "node2": "idle"}
    # up means the veth is RUNNING inside both nodes: until then libfabric finds no interface on a node
    # and its ranks crash in MPI_Init (what the first jobs after bring-up did before start() waited)
    assert cluster.links_running()
    for node in cluster.nodes:
        name = cluster.run_on_node(node.name, ["hostname"]).stdout.strip()
        assert name == node.name
        routes = subprocess.run(["ip", "-n", node.namespace, "route"], capture_output=True, text=True).stdout
        assert "default" not in routes and node.address in routes
        # shared memory of its own, as a real node has: nothing a rank leaves there reaches the host
        shm = cluster.run_on_node(node.name, ["findmnt", "-n", "-o", "SOURCE", "/dev/shm"]).stdout.split()
        assert shm[-1] == "node-shm"   # the top one of the mounts stacked there
        peer = [n for n in cluster.nodes if n is not node][0]
        assert peer.address in cluster.run_on_node(node.name, ["getent", "hosts", peer.name]).stdout
    sinfo = cluster.run_on_node("node2", ["sinfo", "-h", "-o", "%P %D %t"]).stdout.split()
    assert sinfo == [pc.PARTITION + "*", "2", "idle"]


def test_nodes_share_cores_without_per_session_groups(cluster):
    # with the kernel's autogroups on, a rank of one node starved for minutes behind a busy-polling rank of
    # the other node on the same core (the Horovod job hung in MPI_Init in about 1 run in 4); down() puts the
    # setting back, which the teardown test's host snapshot checks
    if cluster.autogroup_was:
        assert pc.AUTOGROUP.read_text().strip() == "0"


def test_host_refuses_the_cluster_addresses(cluster):
    """The guard: in the host's namespace the cluster's subnet is a blackhole, so the kernel refuses to
    route there instead of sending anything out of the machine (checked without any Slurm client)."""
    routes = subprocess.run(["ip", "route", "show", "type", "blackhole"], capture_output=True, text=True).stdout
    assert cluster.subnet in routes
    for node in cluster.nodes:
        looked_up = subprocess.run(["ip", "route", "get", node.address], capture_output=True, text=True)
        assert looked_up.returncode != 0, looked_up.stdout
        assert "Invalid argument" in looked_up.stderr or "unreachable" in looked_up.stderr.lower()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not any(node.interface in links for node in cluster.nodes), "a veth end is in the host's namespace"


def test_a_second_cluster_is_refused(cluster, tmp_path):
    with pytest.raises(pc.ClusterError, match="only one may run"):
        pc.start(tmp_path / "second")


# -- a job that will run past its --time ---------------------------------------------------------
@pytest.fixture(scope="module")
def overtime_job(cluster, clients, tmp_path_factory):
    """A job (1 rank on node1) that hangs until Slurm ends it at its --time of 1 minute. Slurm counts --time in
    minutes and checks it every 30 s, so it is submitted early and checked late: the practice partition lets
    it share node1 with the other jobs (OverSubscribe=FORCE:2), and it sleeps, so it costs them nothing."""
    folder = tmp_path_factory.mktemp("overtime")
    env = {"COURSE_VENV": sys.prefix, "RUN_DIR": str(folder / "run"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    job = submit("fault_drill.sbatch", "hang", clients=clients, job_env=env, tmp_path=folder,
                 time_limit="1", nodes=1, ntasks_per_node=1, extra=["--nodelist=node1"])
    job.started = time.monotonic()
    yield job
    if pc.load(cluster.folder) is not None:  # still up (the teardown test has not run): end the job if it is not
        info = job.info()
        if info is not None and not info.finished:
            job.cancel()


def test_a_job_runs_while_its_time_limit_counts_down(overtime_job):
    _wait_for_lines(overtime_job, "ready on", 1)
    info = overtime_job.info()
    assert info.state == "RUNNING" and info.nodes == "node1" and info.fields["TimeLimit"] == "00:01:00"


# -- the three course programs on 2 nodes x 2 ranks -----------------------------------------------
@pytest.fixture(scope="module")
def single_node_quantized(tmp_path_factory):
    out = tmp_path_factory.mktemp("quantize_1")
    ck.mpirun(PROGRAMS / "02_daal4py" / "quantize.py", "--colours", 16, "--out", out, n=1, timeout=120, echo=False)
    return np.asarray(Image.open(out / "quantized.png"))


@pytest.mark.parametrize("launcher", ["mpirun", "srun"])
def test_quantize_on_two_nodes_matches_one_node(launcher, cluster, clients, job_env, tmp_path, single_node_quantized):
    job_env["LAUNCHER"] = launcher
    before = cluster.interface_bytes()
    result = run_job("quantize.sbatch", clients=clients, job_env=job_env, tmp_path=tmp_path, timeout=180)
    after = cluster.interface_bytes()
    assert result.state == "COMPLETED" and result.returncode == 0
    assert_two_nodes(result)
    assert "273,280 pixels on 4 rank(s)" in result.output
    if launcher == "mpirun":
        assert result.debug.settings.get("I_MPI_HYDRA_BOOTSTRAP") == "slurm"
    # rank 0 gathered the labels of node2's two ranks (2 x 68,320 pixels) over the veth
    assert sent_between_nodes(before, after) > 2 * 68_320 * 4
    quantized = np.asarray(Image.open(Path(job_env["RUN_DIR"]) / "quantize" / "quantized.png"))
    assert np.array_equal(quantized, single_node_quantized), "2 nodes x 2 ranks gave another image than 1 rank"


def test_horovod_training_on_two_nodes(cluster, clients, job_env, tmp_path):
    # the module's settings for 2 ranks (global batch 256, learning rate 0.002, 4 epochs), now on 4 ranks
    before = cluster.interface_bytes()
    # 4 TensorFlow ranks on this machine's 2 cores: 43-48 s in 8 of 8 quiet runs
    result = run_job("horovod_mnist.sbatch", "--epochs", 4, "--batch", 64, "--lr-scale", 2,
                     clients=clients, job_env=job_env, tmp_path=tmp_path, timeout=360)
    after = cluster.interface_bytes()
    assert_two_nodes(result)
    assert result.value("cpu_operations", str) == "MPI"   # said by the job script, not left to Horovod
    # the ranks back off instead of spinning on the cores the two nodes share
    assert {k: result.debug.settings.get(k) for k in pc.SHARED_CORES_ENV} == pc.SHARED_CORES_ENV
    assert result.value("ranks", int) == 4 and result.value("global_batch", int) == 256
    assert result.value("weights_in_sync", str) == "True"
    target = ck.ImageDataset(result.value("dataset", str), "", *[None] * 4).accuracy_target
    assert result.value("test_accuracy") >= target, f"below the module's target {target}"
    # every step's gradients (about 320k floats) were averaged across the veth
    assert sent_between_nodes(before, after) > 4 * 234 * 320_000


def test_horovod_allreduce_backends_on_two_nodes(cluster, clients, job_env, tmp_path):
    """Module 03's allreduce comparison across the nodes: one rank per node, so every byte crosses the veth,
    carried by MPI and then by oneCCL (over Intel MPI's tcp fabric)."""
    from clusterkit.rank.horovod_env import ccl_unavailable_reason

    reason = ccl_unavailable_reason()
    if reason:
        pytest.skip(reason)
    before = cluster.interface_bytes()
    result = run_job("horovod_backends.sbatch", "--sizes", 4, 4 << 20, "--repeats", 5,
                     clients=clients, job_env=job_env, tmp_path=tmp_path, timeout=240)
    after = cluster.interface_bytes()
    assert_two_nodes(result, ranks_per_node=1)
    assert result.values("cpu_operations") == ["MPI", "CCL"]
    assert result.values("correct") == ["True", "True"]
    assert all(float(t) > 0 for t in result.values(f"allreduce[{4 << 20}]"))
    # each library's 4 MiB sums (5 timed, 3 warm-up calls) crossed the veth both ways
    assert sent_between_nodes(before, after) > 2 * 8 * (4 << 20)


def test_ddp_training_on_two_nodes(cluster, clients, job_env, tmp_path):
    # the module's settings for 2 ranks (global batch 128, 3 epochs), now on 4 ranks
    before = cluster.interface_bytes()
    result = run_job("ddp_train.sbatch", "--epochs", 3, "--batch", 32,
                     clients=clients, job_env=job_env, tmp_path=tmp_path, timeout=400)
    after = cluster.interface_bytes()
    assert_two_nodes(result)
    assert "world size 4" in result.output
    assert result.value("params_identical", str) == "True"
    assert result.value("test_accuracy") >= result.value("accuracy_target")
    assert sent_between_nodes(before, after) > 3 * 469 * 52_000  # gloo's allreduce of ~52k gradients a step


# -- faults ---------------------------------------------------------------------------------------
def test_a_rank_raising_on_node2_ends_the_job_with_its_error(cluster, clients, job_env, tmp_path):
    with pytest.raises(slurm.SlurmJobFailed) as failure:
        run_job("fault_drill.sbatch", "raise", clients=clients, job_env=job_env, tmp_path=tmp_path, timeout=120)
    job_id = failure.value.result.job_id
    message = str(failure.value)
    assert "FAILED" in message and "rank 2 called MPI_Abort" in message
    assert "RuntimeError: rank 2 on node2: simulated failure" in message
    result = failure.value.result
    assert result.returncode != 0 and "mpirun exit status: 0" not in result.output
    assert no_job_processes_left(cluster, job_id) == {"node1": [], "node2": []}


def _wait_for_lines(job, text, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = job.info()
        if info.output_path and Path(info.output_path).exists():
            if Path(info.output_path).read_text().count(text) >= count:
                return info
        assert not info.finished, f"job ended early: {info.state}"
        time.sleep(0.2)
    raise AssertionError(f"{count} lines '{text}' did not appear within {timeout} s")


def test_scancel_leaves_no_rank_on_any_node(cluster, clients, job_env, tmp_path):
    job = submit("fault_drill.sbatch", "hang", clients=clients, job_env=job_env, tmp_path=tmp_path)
    _wait_for_lines(job, "ready on", 4)
    running = processes_on(cluster, job.job_id)
    ranks = {node: [p for p in found if p.split(" ", 1)[1].startswith(f"{sys.executable} -m mpi4py")]
             for node, found in running.items()}
    assert [len(ranks["node1"]), len(ranks["node2"])] == [2, 2], running
    cancelled_at = time.monotonic()
    cluster.run_on_node("node1", ["scancel", str(job.job_id)])
    assert no_job_processes_left(cluster, job.job_id, within=10) == {"node1": [], "node2": []}
    print(f"every rank gone {time.monotonic() - cancelled_at:.1f} s after scancel")
    with pytest.raises(slurm.SlurmJobCancelled, match=f"job {job.job_id} .* was cancelled"):
        job.follow(timeout=30, echo=False)


def test_interrupting_the_cell_cancels_the_job(cluster, clients, job_env, tmp_path, capsys):
    job = submit("fault_drill.sbatch", "hang", clients=clients, job_env=job_env, tmp_path=tmp_path)
    _wait_for_lines(job, "ready on", 4)
    main = threading.main_thread().ident
    # a process started in the background inherits SIGINT ignored (CI may start pytest so); a Jupyter kernel
    # always has Python's handler, so install it for the length of this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT)).start()  # as Jupyter's stop button does
        with pytest.raises(KeyboardInterrupt):
            job.follow(timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert f"job {job.job_id} was cancelled (scancel) because the cell was interrupted" in capsys.readouterr().out
    assert job.info().state == "CANCELLED"
    assert no_job_processes_left(cluster, job.job_id) == {"node1": [], "node2": []}


def test_the_helpers_time_out_cancels_the_job(cluster, clients, job_env, tmp_path):
    job = submit("fault_drill.sbatch", "hang", clients=clients, job_env=job_env, tmp_path=tmp_path)
    with pytest.raises(slurm.SlurmTimeout, match=f"job {job.job_id} did not finish within 8 s, so it was cancelled"):
        job.follow(timeout=8, echo=False)
    assert job.info().state == "CANCELLED"
    assert no_job_processes_left(cluster, job.job_id) == {"node1": [], "node2": []}


def test_an_elastic_job_allowed_no_restart_fails_with_the_reason_and_leaves_nothing(cluster, clients, job_env,
                                                                                    tmp_path):
    """The notebook shows the job surviving node2's lost agent; with MAX_RESTARTS=0 the survivor must give up,
    the job must end FAILED saying the training did not finish, and the committed steps must be kept."""
    job = submit("elastic_train.sbatch", "--steps", 100, clients=clients, job_env={**job_env, "MAX_RESTARTS": 0},
                 tmp_path=tmp_path)
    job.wait_for_line(r"committed step=5\b", timeout=180, echo=False)
    said = slurm.kill_on_node(clients, job.job_id, "node2", "elastic_train.py")
    assert re.search(rf"SIGKILL to [2-9] process\(es\) of job {job.job_id} on node2", said), said  # agent, worker
    with pytest.raises(slurm.SlurmJobFailed) as failure:
        job.follow(timeout=180, echo=False)
    result = failure.value.result
    steps_done = torch.load(Path(job_env["RUN_DIR"]) / "state.pt")["steps_done"]
    assert 5 <= steps_done < 100
    assert result.state == "FAILED" and (f"first error in the output: ElasticTrainingIncompleteError: the committed "
                                         f"state has {steps_done} of 100 steps") in str(failure.value)
    assert f"to resume after step {steps_done}" in str(failure.value)
    log = ElasticResult({"srun": result.command}, srun_log(result.output, ["node1", "node2"]), result.returncode,
                        result.seconds)
    assert log.world_sizes() == [2] and "--max-restarts=0" in result.output
    assert any("ChildFailedError" in line for line in log.node_lines("node1")), "node1's agent did not give up"
    assert no_job_processes_left(cluster, job.job_id) == {"node1": [], "node2": []}


def test_waiting_for_a_line_that_never_comes_cancels_the_job(cluster, clients, job_env, tmp_path):
    job = submit("fault_drill.sbatch", "hang", clients=clients, job_env=job_env, tmp_path=tmp_path)
    assert "ready on" in job.wait_for_line(r"ready on", timeout=60, echo=False)
    with pytest.raises(slurm.SlurmTimeout, match=f"job {job.job_id} printed no line matching 'never printed' within "
                                                 "3 s, so it was cancelled"):
        job.wait_for_line("never printed", timeout=3, echo=False)
    assert job.info().state == "CANCELLED"
    assert no_job_processes_left(cluster, job.job_id) == {"node1": [], "node2": []}


# -- JupyterLab on a compute node -----------------------------------------------------------------
def test_jupyterlab_on_node2_reached_from_node1(cluster, clients, job_env, tmp_path):
    job_env["JUPYTER_TOKEN"] = token = "coursetoken" + os.urandom(8).hex()
    job = submit("jupyter.sbatch", clients=clients, job_env=job_env, tmp_path=tmp_path, extra=["--nodelist=node2"])
    try:
        info = _wait_for_lines(job, "browse to", 1)
        output = Path(info.output_path).read_text()
        port = int(output.split("JupyterLab on node2, port ")[1].split(".")[0])
        assert f"ssh -N -L {port}:node2:{port} " in output
        assert f"http://127.0.0.1:{port}/lab?token={token}" in output
        fetch = ("import sys, time, urllib.request, urllib.error\n"
                 "for attempt in range(150):\n"
                 "    try:\n"
                 "        with urllib.request.urlopen(sys.argv[1], timeout=5) as r: print(r.status); break\n"
                 "    except urllib.error.HTTPError as e: print(e.code); break\n"
                 "    except OSError: time.sleep(0.2)\n")
        base = f"http://node2:{port}"
        with_token = cluster.run_on_node("node1", [sys.executable, "-c", fetch, f"{base}/lab?token={token}"],
                                         timeout=60)
        assert with_token.stdout.split() == ["200"]
        without = cluster.run_on_node("node1", [sys.executable, "-c", fetch, f"{base}/api/kernels"], timeout=60)
        assert without.stdout.split() == ["403"]
        assert (Path(job_env["RUN_DIR"]) / "jupyter" / "runtime").is_dir()  # not the real home folder
    finally:
        job.cancel()
    assert job.info().state == "CANCELLED"
    assert no_job_processes_left(cluster, job.job_id) == {"node1": [], "node2": []}


# -- without a scheduler: mpirun -f hostfile, hydra over ssh --------------------------------------
def test_mpirun_with_a_hostfile_over_ssh(cluster, tmp_path):
    before = cluster.interface_bytes()
    result = cluster.mpirun(
        PROGRAMS / "02_daal4py" / "quantize.py", "--colours", 16, "--out", tmp_path, n=4, ppn=2, timeout=120, echo=False
    )
    after = cluster.interface_bytes()
    assert_two_nodes(result)
    assert result.debug.settings.get("I_MPI_HYDRA_BOOTSTRAP") == "ssh"
    assert "273,280 pixels on 4 rank(s)" in result.output
    assert sent_between_nodes(before, after) > 2 * 68_320 * 4


def test_a_job_past_its_time_limit_is_cancelled_and_reported(cluster, overtime_job):
    with pytest.raises(slurm.SlurmTimeLimit, match=r"ran past its time limit \(--time=00:01:00\)") as failure:
        overtime_job.follow(timeout=150, echo=False)
    assert failure.value.result.state == "TIMEOUT"
    assert time.monotonic() - overtime_job.started >= 60
    assert "ready on node1" in failure.value.result.output
    assert no_job_processes_left(cluster, overtime_job.job_id) == {"node1": [], "node2": []}


# -- the end: nothing left ------------------------------------------------------------------------
def test_teardown_leaves_nothing_behind(practice_cluster):
    cluster, before = practice_cluster
    started = time.perf_counter()
    cluster.down()
    seconds = time.perf_counter() - started
    assert seconds < 5, f"teardown took {seconds:.1f} s"
    assert snapshot_difference(before, host_snapshot()) == {}
    assert pc.load(cluster.folder) is None


def test_command_line_up_status_exec_down(practice_cluster, tmp_path):
    """The commands a learner types, in a cluster of their own (the session's is down by now)."""
    cluster, _ = practice_cluster
    cluster.down()  # only one cluster at a time: the session's goes first (a no-op after the test above)
    before = host_snapshot()
    folder = tmp_path / "cli"
    command = [sys.executable, "-m", "clusterkit.clusters.practice", "--folder", str(folder)]

    def cli(*args):
        return subprocess.run(command + list(args), capture_output=True, text=True, timeout=60)

    try:
        up = cli("up")
        assert up.returncode == 0 and "up in" in up.stdout, up.stderr
        status = json.loads(cli("status").stdout)
        assert status["slurm"] == {"node1": "idle", "node2": "idle"}
        inside = cli("exec", "node2", "--", "sh", "-c", "hostname; squeue -h | wc -l")
        assert inside.stdout.split() == ["node2", "0"], inside.stderr
    finally:
        down = cli("down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert snapshot_difference(before, host_snapshot()) == {}
    assert "no practice cluster is up" in cli("status").stdout


def test_a_failed_bring_up_leaves_nothing(practice_cluster, tmp_path):
    """A bring-up that fails half-way (here: the nodes are given no time to become idle, after munge and the
    Slurm daemons have started) tears down what it made before raising."""
    cluster, _ = practice_cluster
    cluster.down()
    before = host_snapshot()
    with pytest.raises(pc.ClusterError, match="the nodes did not become idle within 0 s"):
        pc.start(tmp_path / "failing", timeout=0)
    assert snapshot_difference(before, host_snapshot()) == {}
    assert pc.load(tmp_path / "failing") is None
