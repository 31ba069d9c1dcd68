"""The notebook's stop button, a kernel restart and a shutdown end the whole job a cell started
(mpirun, hydra's proxies and every rank; or horovodrun, its middlemen and every rank), tested through a
real Jupyter kernel."""
import time
from pathlib import Path

import pytest

from clusterkit.jobs.reaper import session_members
from conftest import (GONE_WITHIN, LONG_JOB, command_line, kernel_and_client, process_session, process_state,
                      read_until)

pytestmark = [pytest.mark.notebook, pytest.mark.mpi]

# conftest's LONG_JOB, for Horovod's own launcher: Gloo ranks, which horovodrun starts in sessions of their own
LONG_GLOO_JOB = """\
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import horovod.tensorflow as hvd
import tensorflow as tf
hvd.init()
hvd.allreduce(tf.constant(1.0), name="ready")
print("ranks running", flush=True)
while True:
    time.sleep(0.05)
"""
LAUNCHES = {"mpirun": (LONG_JOB, "ck.mpirun({script!r}, n=2, timeout=600)"),
            "horovodrun": (LONG_GLOO_JOB, "ck.horovodrun({script!r}, n=2, timeout=600)")}


def job_sessions(marker: str) -> set[int]:
    """Sessions of the processes whose command line names `marker` (the job's script)."""
    sessions = {process_session(entry.name) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and marker in (command_line(entry.name) or "")}
    return sessions - {None}


@pytest.fixture(params=list(LAUNCHES))
def running_job(request, tmp_path):
    """A kernel running a cell whose 2-rank job never ends by itself; yields (manager, client, pids)."""
    text, launch = LAUNCHES[request.param]
    script = tmp_path / "long_job.py"
    script.write_text(text)
    with kernel_and_client(tmp_path) as (manager, client):
        client.execute("import clusterkit as ck\n" + launch.format(script=str(script)))
        output = read_until(client, "ranks running", 90)
        assert "ranks running" in output, output
        sessions = job_sessions(str(script))
        pids = {pid for session in sessions for pid in session_members(session)}
        assert len(pids) >= 4, f"expected the launcher, its helpers and 2 ranks, found {pids}"
        yield manager, client, pids


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if process_state(pid) not in ("gone", "Z", "X")}


def wait_gone(pids: set[int]) -> float:
    started = time.monotonic()
    while alive(pids) and time.monotonic() - started < 15:
        time.sleep(0.1)
    return time.monotonic() - started


def test_interrupt_ends_the_whole_job_and_says_so(running_job):
    manager, client, pids = running_job
    manager.interrupt_kernel()
    said = read_until(client, "Interrupted: the whole job was stopped", 15)
    seconds = wait_gone(pids)
    assert not alive(pids) and seconds < GONE_WITHIN, f"left running after {seconds:.1f} s: {alive(pids)}"
    assert "Interrupted: the whole job was stopped" in said
    assert "Traceback" not in said and "queue" not in said  # one line, not the runner's internals


def test_kernel_restart_ends_the_job(running_job):
    manager, client, pids = running_job
    manager.restart_kernel(now=True)
    seconds = wait_gone(pids)
    assert not alive(pids) and seconds < GONE_WITHIN, f"left running after {seconds:.1f} s: {alive(pids)}"


def test_kernel_shutdown_ends_the_job(running_job):
    manager, client, pids = running_job
    started = time.monotonic()
    manager.shutdown_kernel()  # what Kernel > Shut Down does: ask, then kill the kernel if it does not stop
    seconds = time.monotonic() - started + wait_gone(pids)
    assert not alive(pids), f"left running: {alive(pids)}"
    assert seconds < GONE_WITHIN + manager.shutdown_wait_time, f"job ended {seconds:.1f} s after the shutdown"
