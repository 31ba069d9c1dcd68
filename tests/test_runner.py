"""The mpirun runner against real Intel MPI jobs (each takes about a second)."""
import textwrap

import pytest

import clusterkit.jobs.runner as runner
from clusterkit.jobs.runner import (MpiJobFailed, MpiNotFound, MpiResult, MpiTimeout, build_command, explain_failure,
                                   mpirun)
from conftest import process_state


@pytest.fixture
def script(tmp_path):
    def write(body: str):
        path = tmp_path / "job.py"
        path.write_text("from mpi4py import MPI\ncomm = MPI.COMM_WORLD\n" + textwrap.dedent(body))
        return path
    return write


@pytest.mark.mpi
def test_two_ranks_stream_output_and_pinning(script, capsys):
    # one write per line: unbuffered print() writes the text and the newline separately, and the pieces
    # of two ranks can interleave even with -ordered-output (course scripts print from rank 0 only)
    result = mpirun(script('import sys\nsys.stdout.write(f"rank={comm.rank} size={comm.size}\\n")\n'),
                    n=2, timeout=60)
    shown = capsys.readouterr().out
    assert shown.startswith("$ mpirun -n 2 -ordered-output -genv I_MPI_DEBUG 5 python -m mpi4py ")
    assert "rank=0 size=2" in shown and "rank=1 size=2" in shown
    assert sorted(result.values("rank")) == ["0 size=2", "1 size=2"]
    assert [pin.rank for pin in result.pinning] == [0, 1]
    assert result.debug.version.startswith("2021.")
    assert all(not line.startswith("[0] MPI startup") for line in result.app_lines())
    assert result.returncode == 0 and result.seconds > 0


@pytest.mark.mpi
def test_value_reads_last_key_and_explains_missing(script):
    result = mpirun(script('if comm.rank == 0:\n    print("loss=0.5")\n    print("loss: 0.25")\n'),
                    n=2, echo=False, timeout=60)
    assert result.value("loss") == 0.25
    with pytest.raises(KeyError, match="printed no line 'accuracy=...'"):
        result.value("accuracy")


def test_values_read_lines_that_horovodrun_prefixed_with_the_rank():
    result = MpiResult(command=["horovodrun"], output="[0]<stdout>:loss=0.5\n[1]<stdout>:loss=0.75\n"
                       "[0]<stderr>:loss=9\n", returncode=0, seconds=1.0)
    assert result.values("loss") == ["0.5", "0.75"]


@pytest.mark.mpi
def test_exception_on_one_rank_ends_the_job_with_its_rank(script):
    body = 'if comm.rank == 1:\n    raise ValueError("bad shard")\ncomm.Barrier()\n'
    with pytest.raises(MpiJobFailed, match="rank 1 called MPI_Abort") as failure:
        mpirun(script(body), n=2, echo=False, timeout=60)
    assert "ValueError: bad shard" in str(failure.value)


@pytest.mark.mpi
def test_killed_rank_is_reported(script):
    body = 'import os, signal\nif comm.rank == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\ncomm.Barrier()\n'
    with pytest.raises(MpiJobFailed, match=r"rank 1 \(pid \d+ on \S+\) ended badly: killed by signal: 9"):
        mpirun(script(body), n=2, echo=False, timeout=60)


@pytest.mark.mpi
def test_deadlock_is_killed_at_the_timeout(script, tmp_path):
    body = ('import os\n'
            f'open(r"{tmp_path}/pid" + str(comm.rank), "w").write(str(os.getpid()))\n'
            'comm.recv(source=1 - comm.rank)\n')
    with pytest.raises(MpiTimeout, match="did not finish within 8 s"):
        mpirun(script(body), n=2, echo=False, timeout=8)
    pids = [int(path.read_text()) for path in tmp_path.glob("pid*")]
    assert len(pids) == 2, "both ranks reached the deadlock"
    for pid in pids:  # every rank is gone (a zombie waiting for its parent to reap it is gone too)
        assert process_state(pid) in ("gone", "Z"), f"rank pid {pid} still {process_state(pid)}"


@pytest.mark.mpi
def test_check_false_returns_failed_result(script):
    result = mpirun(script("import sys\nsys.exit(0 if comm.rank else 0)\n"), n=1, echo=False, check=False)
    assert result.returncode == 0


def test_missing_mpi_says_what_to_do(monkeypatch, script):
    monkeypatch.setattr(runner, "find_mpirun", lambda: None)
    with pytest.raises(MpiNotFound, match="make setup"):
        mpirun(script(""), n=2)


def test_build_command_options():
    command = build_command("train.py", "--epochs", 2, n=4, ppn=2, hosts=["a", "b"],
                            genv={"OMP_NUM_THREADS": 1}, debug=None, mpirun_path="mpirun")
    assert command[:8] == ["mpirun", "-n", "4", "-ppn", "2", "-hosts", "a,b", "-ordered-output"]
    assert command[8:11] == ["-genv", "OMP_NUM_THREADS", "1"]
    assert command[-5:] == ["-m", "mpi4py", "train.py", "--epochs", "2"]
    assert build_command(["hostname"], n=1, debug=5)[-1] == "hostname"
    assert build_command("./a.out", n=1, debug=None, ordered_output=False) == ["mpirun", "-n", "1", "./a.out"]
    with pytest.raises(ValueError, match="at least 1"):
        build_command("x.py", n=0)


def test_explain_failure_without_known_pattern():
    result = runner.MpiResult(command=["mpirun"], output="something odd\n", returncode=7, seconds=1.0)
    message = explain_failure(result)
    assert message.startswith("mpirun exited with status 7: a rank exited with an error")
    assert "something odd" in message


def test_busy_cpus_are_named_before_the_job_starts(capsys):
    import os
    import subprocess
    import sys

    cpu = max(os.sched_getaffinity(0))
    spinner = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        runner.warn_if_cores_busy({"I_MPI_PIN_PROCESSOR_LIST": str(cpu)})
    finally:
        spinner.kill()
        spinner.wait()
    note = capsys.readouterr().out
    assert f"note: other processes keep CPU {cpu} (" in note and "What to do:" in note
