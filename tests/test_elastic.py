"""Elastic training (module 04, notebook 09): real torchrun agents and workers on this machine, real SIGKILLs and
SIGSTOPs, the final weights compared with one process's; the job's log read back; each failure ending with its
reason and nothing left running, the stop button included; the exercise's check and its hints."""
import time

import pytest
import torch


from clusterkit.exercises.torch_ccl import check_elastic_flags, check_training_state
from clusterkit.jobs.elastic import (RENDEZVOUS_CONF, ElasticJobFailed, ElasticResult, explain, freeze_worker,
                                     failed_workers, kill_node, kill_worker, srun_log, still_running, torchrun_command,
                                     torchrun_nodes)
from clusterkit.jobs.failure_injector import NEVER_INJECTED
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.notebook.scripts import load_script
from conftest import GONE_WITHIN, fails_with, kernel_and_client, read_until

FOLDER = REPO_ROOT / "solutions" / "04_torch_ccl"
SCRIPT = FOLDER / "elastic_train.py"
TOLERANCE = 1e-5  # the notebook's: float32 sums in another order
elastic = load_script(SCRIPT)


def final_weights(folder):
    return torch.load(folder / elastic.STATE_FILE)["model"]


def largest_difference(a, b) -> float:
    return max((a[name] - b[name]).abs().max().item() for name in b)


def attempts(result) -> list[str]:
    return [line for line in result.node_lines() if line.startswith("attempt ")]


# ------------------------------------------------------------------------------------------ fast: no process

def test_each_step_trains_on_the_same_samples_whatever_the_world_size():
    for step in (0, 7, 59):
        alone = set(elastic.batch_of_step(step, 0, 1).tolist())
        for world in (2, 4, 8):
            shares = [elastic.batch_of_step(step, rank, world) for rank in range(world)]
            assert {len(share) for share in shares} == {32 // world}
            assert set(torch.cat(shares).tolist()) == alone
    assert set(elastic.batch_of_step(1, 0, 1).tolist()) != set(elastic.batch_of_step(0, 0, 1).tolist())
    with pytest.raises(ValueError, match="does not split evenly over 3 ranks"):
        elastic.batch_of_step(0, 0, 3)


def test_srun_labels_become_node_names_and_the_log_reads_the_same():
    output = ("rendezvous on node1:29401\n"
              "0: I1206 10:00:01.000000 11 api.py:1] Rendezvous complete for workers\n"
              "1: I1206 10:00:01.100000 12 api.py:1] Rendezvous complete for workers\n"
              " 0: attempt 0: world size 2, no committed state, starting at step 0\n")
    named = srun_log(output, ["node1", "node2"])
    assert named.splitlines()[0] == "rendezvous on node1:29401"
    assert named.splitlines()[2].startswith("[node2] I1206 10:00:01.100000")
    assert ElasticResult({}, named, 0, 1.0).node_lines("node1")[-1] == "attempt 0: world size 2, no committed state, " \
                                                                       "starting at step 0"


def test_verify_finished_tells_a_finished_training_from_an_unfinished_one(tmp_path, capsys):
    state_file = tmp_path / elastic.STATE_FILE
    assert elastic.verify_finished(state_file, 60) == 1
    assert "has 0 of 60 steps" in capsys.readouterr().out
    torch.save({"steps_done": 42}, state_file)
    assert elastic.verify_finished(state_file, 60) == 1
    assert "resume after step 42" in capsys.readouterr().out
    assert elastic.verify_finished(state_file, 42) == 0
    assert "training finished: 42 of 42 steps" in capsys.readouterr().out


def test_check_training_state_passes_the_solution_and_names_each_mistake():
    check_training_state(elastic.training_state, elastic.resume)
    wrong = {
        "no 'optimizer'": lambda model, optimizer, steps: {"model": model.state_dict(), "steps_done": steps},
        "not the objects": lambda model, optimizer, steps: {"model": model, "optimizer": optimizer,
                                                           "steps_done": steps},
        "skip a step": lambda model, optimizer, steps: {"model": model.state_dict(),
                                                        "optimizer": optimizer.state_dict(), "steps_done": steps + 1},
        "repeat a step": lambda model, optimizer, steps: {"model": model.state_dict(),
                                                          "optimizer": optimizer.state_dict(), "steps_done": steps - 1},
        "momentum buffers": lambda model, optimizer, steps: {
            "model": model.state_dict(), "steps_done": steps,
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).state_dict()},
        "return a dict": lambda model, optimizer, steps: [model.state_dict(), optimizer.state_dict(), steps],
    }
    for hint, training_state in wrong.items():
        fails_with(check_training_state, training_state, elastic.resume, hint=hint)


def test_check_elastic_flags_passes_the_solution_and_names_each_mistake():
    check_elastic_flags(lambda nodes, may_lose, failures: [f"--nnodes={nodes - may_lose}:{nodes}",
                                                           f"--max-restarts={failures}"])
    wrong = {
        "the smallest number first": lambda n, lose, fail: [f"--nnodes={n}:{n - lose}", f"--max-restarts={fail}"],
        "counts failures": lambda n, lose, fail: [f"--nnodes={n - lose}:{n}", f"--max-restarts={lose}"],
        "go on with as few as 5": lambda n, lose, fail: [f"--nnodes=1:{n}", f"--max-restarts={fail}"],
        "give both": lambda n, lose, fail: [f"--nnodes={n - lose}:{n}"],
        "a list of two strings": lambda n, lose, fail: f"--nnodes={n - lose}:{n}",
    }
    for hint, elastic_flags in wrong.items():
        fails_with(check_elastic_flags, elastic_flags, hint=hint)


def test_the_torchrun_command_line_says_what_the_lesson_says(tmp_path):
    command = torchrun_command(SCRIPT, "--steps", 5, nnodes="1:2", nproc_per_node=1, max_restarts=1,
                               endpoint="127.0.0.1:29400", run_id="job", rdzv_conf={**RENDEZVOUS_CONF, "is_host": 1},
                               log_dir=tmp_path)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    for flag in ("--nnodes=1:2", "--max-restarts=1", "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:29400",
                 "--local-addr=127.0.0.1"):
        assert flag in command
    conf = next(part for part in command if part.startswith("--rdzv-conf="))
    assert "is_host=1" in conf and "keep_alive_max_attempt=2" in conf
    assert command[-3:] == [str(SCRIPT), "--steps", "5"]


# a real log's lines (node1 of a two-node run whose node2 was killed after step 10), cut to what the parser reads
RECORDED = """\
[node1] I1204 18:54:08.900000 13584 torch/distributed/elastic/agent/server/api.py:553] [default] Rendezvous complete \
for workers. Result:
[node1] I1204 18:54:08.900000 13584 torch/distributed/elastic/agent/server/api.py:553]   restart_count=0
[node1] I1204 18:54:08.900000 13584 torch/distributed/elastic/agent/server/api.py:553]   global_world_sizes=[2]
[node2] I1204 18:54:08.900000 13586 torch/distributed/elastic/agent/server/api.py:553] [default] Rendezvous complete \
for workers. Result:
[node2] I1204 18:54:08.900000 13586 torch/distributed/elastic/agent/server/api.py:553]   restart_count=0
[node2] I1204 18:54:08.900000 13586 torch/distributed/elastic/agent/server/api.py:553]   global_world_sizes=[2]
[node1] committed step=10 world_size=2 loss=0.231441
[failure] at 18:54:12.942584: SIGKILL to node2's agent and its workers (pids 13586, 13654) after the line 'committed \
step=10 world_size=2 loss=0.231441'
[node1] I1204 18:54:13.946000 13584 torch/distributed/elastic/agent/server/api.py:942] [default] Worker group FAILED. \
1/1 attempts left; will restart worker group
[node1] I1204 18:54:17.233000 13584 torch/distributed/elastic/agent/server/api.py:553] [default] Rendezvous complete \
for workers. Result:
[node1] I1204 18:54:17.233000 13584 torch/distributed/elastic/agent/server/api.py:553]   restart_count=1
[node1] I1204 18:54:17.233000 13584 torch/distributed/elastic/agent/server/api.py:553]   global_world_sizes=[1]
[node1] committed step=11 world_size=1 loss=0.237809
[node1] full_data_loss=0.085201
"""


def test_a_failure_that_never_came_is_said_not_hidden():
    plan = {"nodes": [{"name": "node1", "command": ["torchrun"]}],
            "failure": kill_node("node2", after=r"committed step=10\b").__dict__}
    message = explain(ElasticResult({"node1": ["torchrun"]}, RECORDED, NEVER_INJECTED, 10.0), plan)
    assert message.startswith("The failure was never injected: no line of the job matched 'committed step=10\\\\b'")


def test_the_log_gives_rounds_restarts_world_sizes_and_the_timeline():
    result = ElasticResult({"node1": ["torchrun"]}, RECORDED, 0, 10.0)
    assert result.restarts == {"node1": 1}
    assert result.world_sizes() == [2, 1]  # node1 and node2 logged the first rendezvous: one round
    assert [(r.node, r.restart, r.world_size) for r in result.rounds] == [("node1", 0, 2), ("node2", 0, 2),
                                                                          ("node1", 1, 1)]
    assert result.timeline() == [(0.0, 2), (pytest.approx(4.042584), 0), (pytest.approx(8.333), 1),
                                 (pytest.approx(8.333), 0)]
    assert result.committed_steps() == [10, 11] and result.value("full_data_loss") == 0.085201


# torchrun's error report after a worker was killed and its peer aborted in the same second: torchrun named the
# peer the root cause (recorded in a CI run)
REPORT = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
elastic_train.py FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-07_02:29:30
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 24089)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 24089
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_02:29:30
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -6 (pid: 24088)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 24088
============================================================
""".splitlines()


def test_every_failed_worker_is_named_whichever_torchrun_saw_first():
    assert failed_workers(REPORT) == ("the failed workers: rank 0 exited with status -6 (killed by SIGABRT), "
                                      "rank 1 exited with status -9 (killed by SIGKILL)")
    assert failed_workers([*REPORT[:4], "Failures:", "  <NO_OTHER_FAILURES>", *REPORT[12:]]) == \
        "the failed workers: rank 0 exited with status -6 (killed by SIGABRT)"
    assert failed_workers(["RuntimeError: boom"]) == "torchrun printed no error report"


# ------------------------------------------------------------------------------------------ real jobs

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The one-process run's final weights."""
    folder = tmp_path_factory.mktemp("reference")
    torchrun_nodes(SCRIPT, "--state-dir", folder, nodes=1, show_commands=False)
    return final_weights(folder)


@pytest.mark.mpi
def test_a_node_lost_mid_training_ends_with_one_process_weights(reference, tmp_path):
    result = torchrun_nodes(SCRIPT, "--state-dir", tmp_path, nodes=2, min_nodes=1, max_restarts=1,
                            failure=kill_node("node2", after=r"committed step=10\b"), show_commands=False)
    assert result.injected and "SIGKILL to node2's agent and its workers" in result.injected[0][1]
    assert result.restarts == {"node1": 1} and result.world_sizes()[-2:] == [2, 1]
    resumed_after = int(attempts(result)[-1].rsplit(" ", 1)[1])
    assert 10 <= resumed_after < 60, attempts(result)
    assert largest_difference(final_weights(tmp_path), reference) <= TOLERANCE
    assert not still_running(str(tmp_path))


@pytest.mark.mpi
def test_a_kill_before_the_first_commit_starts_again_at_step_zero(reference, tmp_path):
    # node2 is killed as its agent starts its worker, before any rank has trained: node1's worker waits for rank 1
    # until the collective time-out, fails, and the restart finds no committed state
    before_training = kill_node("node2", after=r"\[default\] Starting worker group", printed_by=("node2",))
    result = torchrun_nodes(SCRIPT, "--state-dir", tmp_path, "--collective-timeout", 5, nodes=2, min_nodes=1,
                            max_restarts=1, failure=before_training, show_commands=False)
    assert not [line for line in result.output.split("[failure]")[0].splitlines() if "committed step=" in line]
    assert attempts(result)[-1] == "attempt 1: world size 1, no committed state, starting at step 0"
    assert any("the rendezvous at" in line and "timed out after 5 s" in line for line in result.node_lines())
    assert largest_difference(final_weights(tmp_path), reference) <= TOLERANCE
    assert not still_running(str(tmp_path))


@pytest.mark.mpi
def test_a_data_order_that_depends_on_the_past_makes_the_comparison_fail(reference, tmp_path):
    # the same script, but the batches drawn from one generator per process, which a restart starts anew
    source = SCRIPT.read_text()
    per_step = "torch.randperm(SAMPLES, generator=torch.Generator().manual_seed(step))"
    assert per_step in source
    script = tmp_path / "elastic_train_shared_generator.py"
    shared = source.replace(per_step, "torch.randperm(SAMPLES, generator=PROCESS_GENERATOR)")
    script.write_text(shared.replace('STATE_FILE = "state.pt"\n',
                                     'STATE_FILE = "state.pt"\nPROCESS_GENERATOR = torch.Generator().manual_seed(0)\n'))
    (tmp_path / "state").mkdir()
    torchrun_nodes(script, "--state-dir", tmp_path / "state", nodes=2, min_nodes=1, max_restarts=1,
                   failure=kill_node("node2", after=r"committed step=10\b"), show_commands=False)
    assert largest_difference(final_weights(tmp_path / "state"), reference) > 100 * TOLERANCE


@pytest.mark.mpi
def test_more_failures_than_max_restarts_end_the_job_with_the_reason(tmp_path):
    with pytest.raises(ElasticJobFailed) as failed:
        torchrun_nodes(SCRIPT, "--state-dir", tmp_path, nodes=1, nproc_per_node=2, max_restarts=0,
                       failure=kill_worker("node1", after=r"committed step=10\b", local_rank=1), show_commands=False)
    message = str(failed.value)
    assert "torchrun on node1 gave up" in message and "--max-restarts=0 allows 0 restart(s)" in message
    assert "rank 1 exited with status -9 (killed by SIGKILL)" in message
    assert "The last committed state is that of step" in message and "resumes from it" in message
    assert not still_running(str(tmp_path))


@pytest.mark.mpi
def test_a_hung_worker_is_ended_by_the_watchdog_with_the_reason(tmp_path):
    with pytest.raises(ElasticJobFailed) as failed:
        torchrun_nodes(SCRIPT, "--state-dir", tmp_path, "--step-deadline", 1, nodes=1, nproc_per_node=2,
                       max_restarts=1, watchdog=True, show_commands=False,
                       failure=freeze_worker("node1", after=r"committed step=10\b", local_rank=1))
    message = str(failed.value)
    assert "SIGSTOP to node1's worker of local rank 1" in message
    assert "node1's watchdog found worker pid" in message and "['train step']" in message
    assert not still_running(str(tmp_path)), "the frozen worker was left behind"


@pytest.mark.notebook
@pytest.mark.mpi
def test_the_stop_button_ends_the_injector_every_agent_and_every_worker(tmp_path):
    launch = ("from clusterkit.jobs.elastic import torchrun_nodes\n"
              f"torchrun_nodes({str(SCRIPT)!r}, '--state-dir', {str(tmp_path)!r}, '--steps', 10 ** 7, nodes=2, "
              "min_nodes=1, echo=True, show_commands=False, timeout=300)")
    with kernel_and_client(tmp_path) as (manager, client):
        client.execute(launch)
        seen = read_until(client, "committed step=", 90)
        injector = still_running("clusterkit.jobs.failure_injector")
        # the agents and workers name the state folder (so does the injector: its plan is in the kernel's runs/)
        job = [pid for pid in still_running(str(tmp_path)) if pid not in injector]
        assert "committed step=" in seen and len(job) == 4 and injector, (job, injector, seen[-2000:])
        manager.interrupt_kernel()
        said = read_until(client, "Interrupted: the whole job was stopped", 15)
        deadline = time.monotonic() + GONE_WITHIN
        while still_running(str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = still_running(str(tmp_path)) + [pid for pid in injector if pid in still_running("failure_injector")]
        assert not left, f"left running: {left}"
        assert "Interrupted: the whole job was stopped" in said
