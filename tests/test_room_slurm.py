"""The room's Slurm spawner (issue 23): `python -m clusterkit.room serve --spawner slurm` with real parts: the
practice cluster (started by serve), JupyterHub and its proxy inside node1, the forwarder on this machine's
127.0.0.1, PAM logins of learner accounts made for the test, each learner's server a batch job run as that
learner on node1 or node2, and four learners logging in at once in Debian's chromium; one of them then runs
module 05 through Run All in their server, submitting its jobs from their server's node as themselves.

The unit tests at the top need no hub. The room test needs root, the practice cluster, chromium and the proxy;
every account, home folder, group, ACL entry, job, process, namespace and route it makes is gone afterwards, which
it checks. The browsers reach only 127.0.0.1 (the forwarder); Slurm's commands run only inside the nodes.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from clusterkit.clusters import practice
from clusterkit.room import accounts
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.room.settings import WORKSPACE_NAME, RoomSettings
from conftest import LabSession, chromium_page, host_snapshot, open_and_run_all, snapshot_difference
from test_room import body_text, log_in, open_room, skip_without_parts

SERVER = "jupyterhub-singleuser"


# -- the parts, without a hub --------------------------------------------------------------------------------------

def test_slurm_settings_and_their_checks(tmp_path):
    settings = RoomSettings.from_env({"ROOM_SPAWNER": "slurm", "ROOM_JOB_MINUTES": "90",
                                      "ROOM_STATE_DIR": str(tmp_path / "state")})
    assert (settings.spawner, settings.slurm, settings.job_minutes) == ("slurm", "practice", 90)
    assert settings.in_practice_cluster and not RoomSettings().in_practice_cluster
    assert not RoomSettings(spawner="slurm", slurm="site").in_practice_cluster
    assert settings.job_output == tmp_path / "state-jobs"
    with pytest.raises(ValueError, match="slurm 'cloud' is not one of practice, site"):
        RoomSettings.from_env({"ROOM_SPAWNER": "slurm", "ROOM_SLURM": "cloud"})
    with pytest.raises(ValueError, match="job minutes must be at least 1"):
        RoomSettings(job_minutes=0).checked()


def test_the_batch_script_asks_for_the_seat_cpus_and_time():
    from batchspawner import format_template

    from clusterkit.room.slurm_spawner import BATCH_SCRIPT

    values = {"username": "ada", "output": "/room-jobs/ada.log", "homedir": "/home/ada", "keepvars": "PATH,HOME",
              "nprocs": "2", "runtime": "90", "cmd": "python -m clusterkit.room.singleuser slurm-job"}
    script = format_template(BATCH_SCRIPT, **values, options="")
    assert script.startswith("#!/bin/bash\n#SBATCH --job-name=room-ada\n#SBATCH --output=/room-jobs/ada.log\n")
    assert "#SBATCH --cpus-per-task=2\n#SBATCH --time=90\n\nexec python -m clusterkit.room.singleuser slurm-job" \
        in script
    with_options = format_template(BATCH_SCRIPT, **values, options="--partition=workshop")
    assert "#SBATCH --time=90\n#SBATCH --partition=workshop\n" in with_options


def test_the_forwarder_relays_both_directions_and_stops(tmp_path):
    """A connection to the forwarder reaches a server through a socket made after setns (here into this machine's
    own network namespace), both ways, with the end of each direction passed on; stop() leaves nothing."""
    if os.geteuid() != 0:
        pytest.skip("setns needs root")
    from clusterkit.rank.torch_dist import free_port
    from clusterkit.room.practice_hub import Forwarder

    with socket.create_server(("127.0.0.1", 0)) as server:
        target = server.getsockname()[1]
        port = free_port()
        forwarder = Forwarder("127.0.0.1", port, "/proc/self/ns/net", target).start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                inside, _ = server.accept()
                with inside:
                    client.sendall(b"x" * 300_000)
                    client.shutdown(socket.SHUT_WR)
                    received = b""
                    while chunk := inside.recv(65536):
                        received += chunk
                    inside.sendall(b"answer")
                    inside.shutdown(socket.SHUT_WR)
                    answer = b""
                    while chunk := client.recv(65536):
                        answer += chunk
        finally:
            forwarder.stop()
    assert (len(received), answer) == (300_000, b"answer")
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("room-forwarder")]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# -- a real room on the practice cluster ---------------------------------------------------------------------------

def jobs(cluster) -> dict[str, tuple[str, str, str]]:
    """Slurm's pending and running jobs, asked inside node1: user -> (job id, state, node)."""
    listed = cluster.run_on_node("node1", ["squeue", "-h", "-o", "%u %i %T %N"], timeout=30).stdout
    return {user: (job, state, node) for user, job, state, node, *_ in
            (line.split() + [""] for line in listed.splitlines())}


def server_environment(name: str) -> dict[str, str]:
    """The environment of the learner's jupyterhub-singleuser (a process of this machine, in a node's namespace)."""
    for pid in accounts.processes_of(name):
        try:
            if SERVER in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                            if "=" in item)
        except OSError:
            continue
    raise AssertionError(f"{name} runs no {SERVER}: {accounts.processes_of(name)}")


MODULE_05 = REPO_ROOT / "solutions" / "05_clusters" / "01_slurm_practice_cluster.ipynb"
SOLVED_05 = "05_clusters/solved_slurm_practice_cluster.ipynb"  # module 05, its exercise solved, in the workspace


def run_module_05(room, name: str, page, shots: Path) -> list[str]:
    """The learner runs module 05 (the solution, as if they had solved its exercise) through Run All in their
    server: its jobs go from their server's job to the cluster it runs on, as them."""
    solved = room.home(name) / WORKSPACE_NAME / SOLVED_05
    shutil.copyfile(MODULE_05, solved)
    entry = pwd.getpwnam(name)
    os.chown(solved, entry.pw_uid, entry.pw_gid)
    return open_and_run_all(LabSession(page, shots), f"{room.base}/user/{name}/lab/tree/{SOLVED_05}",
                            run_seconds=240)


# The hub's home page binds the stop button in a script that require.js loads after the page: a click before
# that does nothing (seen on a loaded machine), so the test waits for jQuery's click handler on it.
STOP_BUTTON_WIRED = "() => window.jQuery && (jQuery._data(document.getElementById('stop'), 'events') || {}).click"


def learner_session(room, account, profile: Path, phases: threading.Barrier, stops: bool, runs_05: bool,
                    outcome: dict) -> None:
    """Log in with the hub's form, wait for JupyterLab; once the test has looked at the servers, the first learner
    stops theirs from the hub's home page, and the second runs module 05 from their server."""
    try:
        with chromium_page(profile) as (page, blocked):
            pressed = time.monotonic()
            log_in(page, room, account)
            page.wait_for_url(f"**/user/{account.name}/lab**", timeout=90_000)
            page.wait_for_selector(".jp-LabShell", timeout=60_000)
            outcome["lab_after"] = time.monotonic() - pressed
            phases.wait()  # 1: every server runs
            phases.wait()  # 2: the test has looked at the jobs and servers
            if stops:
                page.goto(f"{room.base}/hub/home")
                page.wait_for_function(STOP_BUTTON_WIRED, timeout=30_000)
                page.click("#stop")
                page.wait_for_selector("#stop", state="hidden", timeout=60_000)
            phases.wait()  # 3: the first learner's server is stopped
            if runs_05:
                started = time.monotonic()
                outcome["module_05"] = run_module_05(room, account.name, page, profile.parent / "shots-05")
                outcome["module_05_seconds"] = time.monotonic() - started
            outcome["blocked"] = list(blocked)
    except BaseException as error:  # noqa: BLE001 (reported by the main thread, which fails the test)
        outcome["error"] = error
        phases.abort()


@pytest.mark.cluster
@pytest.mark.browser
@pytest.mark.timeout(480)
def test_learners_servers_are_slurm_jobs_on_the_practice_cluster(practice_cluster, tmp_path, monkeypatch, capsys):
    skip_without_parts()
    practice_cluster[0].down()  # one practice cluster per machine: the room starts its own
    before = host_snapshot()
    monkeypatch.setenv("CLUSTERKIT_CLUSTER_DIR", str(tmp_path / "cluster"))
    started = time.monotonic()
    with open_room(tmp_path, learners=4, seats=4, settings=(
            "--spawner", "slurm", "--minimum-cpus", "1", "--job-minutes", "10", "--spawn-timeout", "60")) as room:
        hub_up = time.monotonic() - started
        cluster = practice.load(tmp_path / "cluster")
        assert cluster is not None, "serve did not start the practice cluster"
        *learners, unlucky = room.learners
        names = [account.name for account in learners]
        home = room.home(unlucky.name)  # a home folder the learner cannot write: the job's prepare fails
        os.chown(home, 0, 0)
        home.chmod(0o755)

        phases = threading.Barrier(len(learners) + 1, timeout=180)
        outcomes = [{} for _ in learners]
        threads = [threading.Thread(target=learner_session, daemon=True,
                                    args=(room, account, tmp_path / f"profile-{i}", phases, i == 0, i == 1,
                                          outcomes[i]))
                   for i, account in enumerate(learners)]
        for thread in threads:
            thread.start()
        with chromium_page(tmp_path / "profile-unlucky") as (page, _blocked):
            log_in(page, room, unlucky)
            pressed = time.monotonic()
            page.wait_for_function("() => /Spawn failed|cannot be written/.test(document.body.innerText)",
                                   timeout=90_000)
            refused, refused_after = body_text(page), time.monotonic() - pressed

        def phase(number: int) -> None:
            try:
                phases.wait()
            except threading.BrokenBarrierError:
                failed = [f"{name}: {outcome.get('error')!r}" for name, outcome in zip(names, outcomes)]
                pytest.fail(f"a learner's session failed before phase {number}: " + "; ".join(failed))

        phase(1)
        running = jobs(cluster)
        servers = {name: room.server(name) for name in names}
        view = room.status()
        environments = {name: server_environment(name) for name in names}
        token = environments[names[0]]["JUPYTERHUB_API_TOKEN"]
        own, foreign = (room.api(f"/user/{name}/api/status", token)[0] for name in names[:2])
        phase(2)
        phase(3)
        stopped_at = time.monotonic()
        while names[0] in jobs(cluster) or accounts.processes_of(names[0]):
            assert time.monotonic() - stopped_at < 15, f"{names[0]}'s job or processes outlived the stop"
            time.sleep(0.2)  # scancel's effect is in Slurm and /proc, not in the page: poll them
        after_stop, gone_after = jobs(cluster), time.monotonic() - stopped_at
        for thread in threads:
            thread.join(timeout=300)
        failed = [f"{name}: {outcome['error']!r}" for name, outcome in zip(names, outcomes) if "error" in outcome]
        assert not failed, "; ".join(failed)

        assert "Your course files cannot be written" in refused and "Ask your instructor" in refused, refused
        assert unlucky.name not in running and not accounts.processes_of(unlucky.name), \
            f"the failed spawn left a job or processes: {running.get(unlucky.name)}"
        assert not room.server(unlucky.name)
        assert sorted(running) == sorted(names), f"Slurm's jobs: {running}"
        for name in names:
            job, state, node = running[name]
            assert state == "RUNNING" and node in ("node1", "node2"), running[name]
            assert servers[name]["ready"] and servers[name]["state"]["job_id"] == job, servers[name]
            assert servers[name]["state"]["job_host"] == node, servers[name]
            line = next(line for line in view.splitlines() if line.startswith(name))
            assert re.search(rf"\bready\s+Slurm job {job} on {node}\s", line), line
            seat = environments[name]["CLUSTERKIT_ROOM_SEAT"]
            assert re.fullmatch(rf"seat \d of 4: Slurm job {job} on {node}, 1 CPU\(s\)", seat), seat
        assert "4 of 4 seat(s) taken; 3 server(s) ready" in view, view
        assert (own, foreign) == (200, 403), f"{names[0]}'s token: own server {own}, another's {foreign}"
        assert sorted(after_stop) == sorted(names[1:]) and all(after_stop[n] == running[n] for n in names[1:]), \
            f"stopping {names[0]}'s server changed other jobs: {running} -> {after_stop}"
        assert not room.server(names[0])
        assert all(not outcome["blocked"] for outcome in outcomes), [outcome["blocked"] for outcome in outcomes]
        module_05 = outcomes[1]["module_05"]
        failed_cells = [text[-600:] for text in module_05 if "Traceback" in text]
        assert not failed_cells, f"module 05 failed in {names[1]}'s server: {failed_cells}"
        said = "\n".join(module_05)
        assert f"Slurm commands run on this job's node ({running[names[1]][2]})" in said, said[:2000]
        assert re.search(r"job \d+ COMPLETED \(exit code 0:0\) on node\[1-2\]", said), said[:3000]
        assert "training finished: 100 of 100 steps" in said and "world size at each rendezvous: [2, 1]" in said
        assert "PASS" in said, "the solved exercise's check"
        port = int(room.base.rsplit(":", 1)[1])
    stopped = time.monotonic()
    assert snapshot_difference(before, host_snapshot()) == {}, "the room left something of the practice cluster"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the forwarder is gone too
    assert not list(RoomSettings(state_dir=str(room.state)).job_output.iterdir()), "job output files are left"
    with capsys.disabled():
        print(f"\nroom on Slurm: hub up through the forwarder in {hub_up:.1f} s (practice cluster included); "
              "JupyterLab after " + ", ".join(f"{outcome['lab_after']:.0f} s" for outcome in outcomes)
              + f"; a failed spawn said why after {refused_after:.0f} s; module 05 through Run All in a learner's "
              f"server {outcomes[1]['module_05_seconds']:.0f} s; a stopped server's job gone "
              f"{gone_after:.1f} s after the page said so; jobs {running}; whole test {stopped - started:.0f} s; "
              f"the instructor's view was:\n{view}")
