"""The room (issue 23): `python -m clusterkit.room serve` (make hub) with real parts: JupyterHub, its proxy
(configurable-http-proxy on Node.js), PAM logins of local learner accounts made for the test, each learner's server
started as that learner on the CPUs of their seat, and three learners at once, each driving Debian's chromium.

The unit tests at the top need none of that (make check). The two room tests need root, chromium and the proxy;
every account, home folder, group, ACL entry and process they make is gone afterwards, which they check.
Only 127.0.0.1 is contacted (the hub listens there; the browsers block every other address).
"""
from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clusterkit.jobs.impi_debug import parse_cpu_list
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.machine.topology import format_cpu_list, local_topology
from clusterkit.rank.torch_dist import free_port
from clusterkit.room import accounts
from clusterkit.room.seats import RoomFull, SeatMap, assign_cpus
from clusterkit.room.settings import ACL_RECORD, PROGRESS_NAME, PROXY, WORKSPACE_NAME, RoomSettings
from clusterkit.room.view import LearnerRow, format_rows, progress
from conftest import (CHROMIUM, GONE_WITHIN, LONG_JOB, SETTINGS, TOOLBAR, LabSession, chromium_page, command_line,
                      open_and_run_all, processes_mentioning, self_check_rows)

NOTEBOOK = "01_parallelism/01_start_here.ipynb"
SHOTS = REPO_ROOT / "runs" / "room-test"
FOUR_RANKS = "Launch four ranks and read their pinning"  # check_four_ranks' title


# -- the parts, without a hub --------------------------------------------------------------------------------------

def test_seats_get_disjoint_cpus_when_the_node_has_enough():
    plan = assign_cpus(list(range(16)), seats=3)
    assert [seat.cpus for seat in plan] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9), (10, 11, 12, 13, 14)]
    assert all(not seat.shared_with for seat in plan)
    assert plan[1].describe(3, 16) == "seat 2 of 3: CPUs 5-9, yours alone"


def test_seats_share_when_the_node_has_fewer_cpus_than_seats_need():
    plan = assign_cpus([0, 1], seats=3)
    assert [seat.cpus for seat in plan] == [(0, 1)] * 3
    assert plan[0].shared_with == (1, 2)
    assert "shared with seat(s) 2, 3: the node's 2 CPU(s) are fewer than 3 seats x 2" in plan[0].describe(3, 2)
    one_each = assign_cpus([0, 1], seats=3, minimum=1)
    assert [seat.cpus for seat in one_each] == [(0,), (1,), (0,)]
    assert [seat.shared_with for seat in one_each] == [(2,), (), (0,)]
    five = assign_cpus([0, 1, 2, 3, 4], seats=3)
    assert [seat.cpus for seat in five] == [(0, 1), (2, 3), (0, 4)]
    with pytest.raises(ValueError, match="at least one seat"):
        assign_cpus([0, 1], seats=0)


def test_a_learner_keeps_their_seat_and_the_room_fills_up(tmp_path):
    seats = SeatMap(tmp_path / "seats.json", seats=2)
    assert (seats.take("ada"), seats.take("bob"), seats.take("ada")) == (0, 1, 0)
    with pytest.raises(RoomFull, match="the room is full: its 2 seat\\(s\\) are taken by ada, bob"):
        seats.take("cy")
    assert seats.free("ada") and not seats.free("ada")
    assert seats.take("cy") == 0


def test_room_settings_from_the_environment_and_their_checks():
    settings = RoomSettings.from_env({"ROOM_SEATS": "12", "ROOM_LET_LEARNERS_THROUGH": "1", "ROOM_IDLE_MINUTES": "5"})
    assert (settings.seats, settings.let_learners_through, settings.idle_minutes) == (12, True, 5.0)
    assert RoomSettings.from_env({"ROOM_LET_LEARNERS_THROUGH": "0"}).let_learners_through is False
    with pytest.raises(ValueError, match="spawner 'kubernetes' is not one of local"):
        RoomSettings.from_env({"ROOM_SPAWNER": "kubernetes"})
    with pytest.raises(ValueError, match="seats must be at least 1"):
        RoomSettings(seats=0).checked()


def test_the_instructor_view_reads_the_last_outcome_of_each_check(tmp_path):
    record = tmp_path / WORKSPACE_NAME / PROGRESS_NAME
    record.parent.mkdir()
    runs = [json.dumps({"check": "A", "passed": False}), json.dumps({"check": "A", "passed": True}), "not json",
            json.dumps({"check": "B", "passed": False})]
    record.write_text("\n".join(runs) + "\n")
    assert progress(tmp_path) == (["A"], ["B"])
    assert progress(tmp_path / "nobody") == ([], [])
    table = format_rows([LearnerRow("ada", 0, "ready", "pid 7, CPUs 0-1", "3 s", ["A"], ["B"]), LearnerRow("bob")], 2)
    assert re.search(r"^ada\s+1\s+ready\s+pid 7, CPUs 0-1\s+3 s\s+A\s+B$", table, re.M), table
    assert table.endswith("1 of 2 seat(s) taken; 1 server(s) ready")


def test_a_check_records_its_outcome_for_the_room_only(tmp_path, monkeypatch):
    from clusterkit.exercises.checks import PROGRESS_ENV, ExerciseFailed, Hint, exercise_check

    @exercise_check("Say yes")
    def check_yes(answer):
        if answer != "yes":
            raise Hint("say yes")

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    check_yes("yes")  # outside the room: nothing is written anywhere
    record = tmp_path / "progress.jsonl"
    monkeypatch.setenv(PROGRESS_ENV, str(record))
    with pytest.raises(ExerciseFailed):
        check_yes("no")
    check_yes("yes")
    assert [(r["check"], r["passed"]) for r in map(json.loads, record.read_text().splitlines())] == \
        [("Say yes", False), ("Say yes", True)]


def test_folders_that_hide_the_python_from_learners_are_found(tmp_path):
    hidden = tmp_path / "home"
    (hidden / "python" / "bin").mkdir(parents=True)
    target = hidden / "python" / "bin" / "python3"
    target.write_text("")
    hidden.chmod(0o700)
    try:
        assert hidden in accounts.blocked_folders([target], group="no-such-group-here")
        hidden.chmod(0o711)
        assert hidden not in accounts.blocked_folders([target], group="no-such-group-here")
    finally:
        hidden.chmod(0o755)


# -- a real room -----------------------------------------------------------------------------------------------------

def skip_without_parts() -> None:
    if os.geteuid() != 0:
        pytest.skip("the room needs root (it makes local learner accounts and starts servers as them)")
    missing = [str(part) for part in (CHROMIUM, PROXY) if not part.exists()]
    for command in ("node", "useradd", "setfacl"):
        if subprocess.run(["sh", "-c", f"command -v {command}"], capture_output=True).returncode != 0:
            missing.append(command)
    if missing:
        pytest.skip(f"missing for the room: {', '.join(missing)} (tools/setup_browser.sh and tools/setup_hub.sh "
                    "install them)")
    pytest.importorskip("playwright.sync_api")


@dataclass
class Room:
    base: str
    state: Path
    group: str
    log: Path
    learners: list[accounts.Account] = field(default_factory=list)

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def api(self, path: str, token: str | None = None) -> tuple[int, dict | None]:
        token = token or (self.state / "instructor_token").read_text().strip()
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                body = reply.read()
                return reply.status, (json.loads(body) if body else None)
        except urllib.error.HTTPError as error:
            return error.code, None
        except OSError:  # not listening (yet)
            return 0, None

    def server(self, name: str) -> dict | None:
        return (self.api(f"/hub/api/users/{name}")[1] or {}).get("servers", {}).get("")

    def status(self) -> str:
        done = subprocess.run([sys.executable, "-m", "clusterkit.room", "status"], capture_output=True, text=True,
                              env={**os.environ, "ROOM_STATE_DIR": str(self.state)}, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout


def seed_lab_settings(home: Path, name: str) -> None:
    """What a fresh learner would otherwise see differently: no news toast, no autosave, every cell in the page."""
    folder = home / ".jupyter" / "lab" / "user-settings"
    for plugin, values in SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    entry = pwd.getpwnam(name)
    for path in [home / ".jupyter", *(home / ".jupyter").rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextmanager
def open_room(tmp_path: Path, learners: int, seats: int, settings: tuple[str, ...] = ()):
    """A room of `seats` seats with `learners` new accounts, served as `make hub` serves it; afterwards the hub is
    stopped, the accounts are removed, and nothing of either may be left."""
    tag = secrets.token_hex(2)
    group, state, log = f"ckr{tag}", tmp_path / "room-state", tmp_path / "hub.log"
    made = accounts.add(learners, prefix=f"ckr{tag}l", group=group)
    port = free_port()
    room = Room(f"http://127.0.0.1:{port}", state, group, log, made)
    for account in made:
        seed_lab_settings(room.home(account.name), account.name)
    with log.open("w") as out:
        hub = subprocess.Popen(
            [sys.executable, "-m", "clusterkit.room", "serve", "--seats", str(seats), "--port", str(port), "--group",
             group, "--state-dir", str(state), "--let-learners-through", *settings],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "CLUSTERKIT_OFFLINE": "1"})
    homes = [room.home(account.name) for account in made]
    try:
        deadline = time.monotonic() + 60
        while not (state / "instructor_token").exists() or room.api("/hub/api/")[0] != 200:
            assert hub.poll() is None and time.monotonic() < deadline, \
                f"the hub did not answer within 60 s; its log:\n{log.read_text()[-3000:]}"
            time.sleep(0.25)  # nothing to wait on but the hub's answer
        yield room
    finally:
        stop_room(hub, room, homes)


def stop_room(hub: subprocess.Popen, room: Room, homes: list[Path]) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
        try:
            os.killpg(hub.pid, sig)
            hub.wait(timeout=wait)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    names = [account.name for account in room.learners]
    accounts.remove(names, group=room.group, acl_record=room.state / ACL_RECORD)
    left = {pid: line for pid, line in processes_mentioning(str(room.state)).items()}
    left |= {pid: line for pid, line in processes_mentioning(f"--port {room.base.rsplit(':', 1)[1]}").items()}
    assert not left, f"processes of the room are still running: {left}"
    for name in names:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    assert not [home for home in homes if home.exists()], "learner home folders are left"
    assert not [name for name in names if cpuset_folder(name).exists()], "learners' cpusets are left"
    assert room.group not in subprocess.run(["getent", "group"], capture_output=True, text=True).stdout
    acl = subprocess.run(["getfacl", "--omit-header", "--absolute-names", "/root"], capture_output=True, text=True)
    assert room.group not in acl.stdout and not re.search(r"^group:\d+:", acl.stdout, re.M), acl.stdout


def log_in(page, room: Room, account: accounts.Account, password: str | None = None) -> None:
    page.goto(f"{room.base}/hub/login")
    page.fill("#username_input", account.name)
    page.fill("#password_input", password or account.password)
    page.click("#login_submit")
    page.wait_for_load_state()


@dataclass
class Learner:
    account: accounts.Account
    shots: Path
    profile: Path
    outcome: dict = field(default_factory=dict)
    error: BaseException | None = None


def pinned_cpus(texts: list[str]) -> set[int]:
    """The CPUs start_here_ranks.py's ranks reported ('rank 0 of 2: node=... cpus=[0, 1]')."""
    found = re.findall(r"^rank \d+ of 2: node=\S+ cpus=\[([\d, ]*)\]", "\n".join(texts), re.M)
    assert len(found) == 2, f"expected both ranks' reports, found {found}"
    return {int(cpu) for listed in found for cpu in listed.split(",") if cpu.strip()}


def type_in_new_cell(lab_ui: LabSession, after: int, code: str) -> int:
    page = lab_ui.page
    lab_ui.cell(after).locator(".jp-InputArea-prompt").click()
    page.locator(f"{TOOLBAR} [data-command='notebook:insert-cell-below']").click()
    lab_ui.cell(after + 1).locator(".cm-content").click()
    page.keyboard.insert_text(code)
    return after + 1


def run_cell(lab_ui: LabSession, index: int, seconds: float, what: str) -> str:
    """Run the cell; its output once it has a new execution count (a cell Run All ran had one already)."""
    before = json.dumps(lab_ui.state()["prompts"][index])
    lab_ui.cell(index).locator(".jp-InputArea-prompt").click()
    lab_ui.page.locator(f"{TOOLBAR} [data-command='notebook:run-cell-and-select-next']").click()
    state = lab_ui.until(f"s.prompts[{index}] !== {before} && /\\[\\d+\\]/.test(s.prompts[{index}]) && "
                         f"s.outputs[{index}].length > 0", seconds, what)
    return "\n".join(o["text"] for o in state["outputs"][index])


def learner_day(room: Room, learner: Learner, solves: bool, stops_first: bool, phases: threading.Barrier,
                other: str) -> None:
    """One learner's session in their own chromium: log in, get a server, Run All of start-here, the exercise
    (solved or not), an attempt on another learner's server, a long MPI job stopped with the stop button."""
    name, outcome = learner.account.name, learner.outcome
    try:
        with chromium_page(learner.profile) as (page, blocked):
            lab_ui = LabSession(page, learner.shots)
            started = time.monotonic()
            log_in(page, room, learner.account)
            page.wait_for_url(f"**/user/{name}/lab**", timeout=240_000)
            outcome["server_after"] = time.monotonic() - started
            texts = open_and_run_all(lab_ui, f"{room.base}/user/{name}/lab/tree/{NOTEBOOK}", run_seconds=400)
            lab_ui.screenshot("after-run-all")
            outcome["rows"], outcome["pins"] = self_check_rows(texts), pinned_cpus(texts)
            todo = next(i for i, t in enumerate(texts) if "NotImplementedError" in t)
            if solves:
                lab_ui.cell(todo).locator(".cm-content").click()
                page.keyboard.press("Control+a")
                page.keyboard.insert_text('four = ck.mpirun("start_here_ranks.py", n=4, timeout=60)')
                run_cell(lab_ui, todo, 120, "the learner's answer to run")
            outcome["check"] = run_cell(lab_ui, todo + 1, 120, "the check cell's answer")
            foreign = page.context.new_page()  # another tab, with this learner's cookies
            outcome["foreign"] = foreign.goto(f"{room.base}/user/{other}/api/status").status
            foreign.close()
            phases.wait()  # 1: the notebooks are done (the instructor looks)

            script = room.home(name) / WORKSPACE_NAME / "long_job.py"
            script.write_text(LONG_JOB)
            entry = pwd.getpwnam(name)
            os.chown(script, entry.pw_uid, entry.pw_gid)
            last = len(lab_ui.state()["prompts"]) - 1
            new = type_in_new_cell(lab_ui, last, f"ck.mpirun({str(script)!r}, n=2, timeout=600)")
            lab_ui.page.locator(f"{TOOLBAR} [data-command='notebook:run-cell-and-select-next']").click()
            lab_ui.until(f"(s.outputs[{new}] || []).some(o => o.text.includes('ranks running'))", 120,
                         "the long job's ranks to report")
            outcome["job"] = set(processes_mentioning(str(script)))
            phases.wait()  # 2: every learner's job runs
            if not stops_first:
                phases.wait()  # 3: the first learner stopped theirs (the others' must run on)
            page.locator(f"{TOOLBAR} [data-command='notebook:interrupt-kernel']").click()
            pressed = time.monotonic()
            while (left := set(processes_mentioning(str(script)))) and time.monotonic() - pressed < GONE_WITHIN + 10:
                time.sleep(0.1)  # the processes are in /proc, not in the page: poll them
            outcome["gone_after"], outcome["left"] = time.monotonic() - pressed, left
            said = lab_ui.until(f"(s.outputs[{new}] || []).some(o => o.text.includes('Interrupted:'))", 30,
                                "the stopped cell's message")
            outcome["stopped_text"] = "\n".join(o["text"] for o in said["outputs"][new])
            lab_ui.screenshot("after-stop")
            if stops_first:
                phases.wait()  # 3
            outcome["blocked"] = list(blocked)
    except BaseException as error:  # noqa: BLE001 (reported by the main thread, which fails the test)
        learner.error = error
        phases.abort()


@pytest.mark.browser
@pytest.mark.notebook
@pytest.mark.mpi
@pytest.mark.timeout(900)
def test_three_learners_in_the_room_at_once(tmp_path, capsys):
    skip_without_parts()
    started = time.monotonic()
    with open_room(tmp_path, learners=3, seats=3, settings=("--minimum-cpus", "1")) as room:
        hub_up = time.monotonic() - started
        names = [account.name for account in room.learners]
        learners = [Learner(account, SHOTS / f"learner{i + 1}", tmp_path / f"profile-{i + 1}")
                    for i, account in enumerate(room.learners)]
        for learner in learners:
            learner.shots.mkdir(parents=True, exist_ok=True)
            for old in learner.shots.glob("*.png"):
                old.unlink()
        phases = threading.Barrier(4, timeout=600)
        threads = [threading.Thread(target=learner_day, daemon=True,
                                    args=(room, learner, i == 0, i == 0, phases, names[(i + 1) % 3]))
                   for i, learner in enumerate(learners)]
        for thread in threads:
            thread.start()

        def phase(number: int) -> None:
            try:
                phases.wait()
            except threading.BrokenBarrierError:
                failed = [f"{learner.account.name}: {learner.error!r}" for learner in learners if learner.error]
                pytest.fail(f"a learner's session failed before phase {number}: " + "; ".join(failed))

        phase(1)
        view = room.status()
        servers = {name: room.server(name) for name in names}
        walls = learners_walls(room, names, servers)
        phase(2)
        first_job = learners[0].outcome["job"]
        deadline = time.monotonic() + GONE_WITHIN + 10
        while set(processes_mentioning(str(room.home(names[0])))) & first_job and time.monotonic() < deadline:
            time.sleep(0.1)
        others_running = {learner.account.name: set(learner.outcome["job"]) & set(processes_mentioning(
            str(room.home(learner.account.name)))) for learner in learners[1:]}
        phase(3)
        for thread in threads:
            thread.join(timeout=120)
        failed = [f"{learner.account.name}: {learner.error!r}" for learner in learners if learner.error]
        assert not failed, "; ".join(failed)

        seat_map = SeatMap(room.state / "seats.json", 3).read()
        plan = assign_cpus(local_topology().cpu_ids, 3, minimum=1)
        for learner in learners:
            name, outcome = learner.account.name, learner.outcome
            rows = {row[0]: row for row in outcome["rows"]}
            assert rows and all(ok == "yes" for _, ok, _ in outcome["rows"]), f"{name}: self-check {outcome['rows']}"
            seat = plan[seat_map[name]]
            assert parse_cpu_list(re.search(r"CPUs ([\d,-]+)", rows["your seat"][2])[1]) == seat.cpus, rows
            assert ("shared with" in rows["your seat"][2]) == bool(seat.shared_with), rows["your seat"]
            assert outcome["pins"] <= set(seat.cpus), f"{name}'s ranks ran on {outcome['pins']}, not in {seat.cpus}"
            assert outcome["foreign"] == 403, f"{name} opened another learner's server: HTTP {outcome['foreign']}"
            assert servers[name] and servers[name]["ready"], f"{name}'s server was not ready: {servers[name]}"
            assert len(outcome["job"]) >= 4, f"{name}: expected mpirun, hydra and 2 ranks, found {outcome['job']}"
            assert not outcome["left"] and outcome["gone_after"] < GONE_WITHIN, \
                f"{name}'s job: {sorted(outcome['left'])} left {outcome['gone_after']:.1f} s after the stop button"
            assert "Interrupted: the whole job was stopped" in outcome["stopped_text"], outcome["stopped_text"]
            assert not outcome["blocked"], f"{name}'s browser tried to reach {sorted(set(outcome['blocked']))}"
        for i, j in ((0, 1), (0, 2), (1, 2)):
            a, b = learners[i], learners[j]
            seats_apart = not set(plan[seat_map[a.account.name]].cpus) & set(plan[seat_map[b.account.name]].cpus)
            assert seats_apart == (not a.outcome["pins"] & b.outcome["pins"]), \
                f"{a.account.name} and {b.account.name}: pins {a.outcome['pins']} and {b.outcome['pins']}"
        assert any(not set(plan[x].cpus) & set(plan[y].cpus) for x, y in ((0, 1), (0, 2), (1, 2))), \
            "no two seats have disjoint CPUs: the test shows no confinement"
        assert others_running[names[1]] and others_running[names[2]], \
            f"the first learner's stop ended others' jobs too: still running {others_running}"
        assert walls["files"].returncode != 0 and "Permission denied" in walls["files"].stderr, walls["files"]
        assert walls["server"].returncode != 0 and "not permitted" in walls["server"].stderr, walls["server"]
        seat_cpus = list(plan[seat_map[names[0]]].cpus)
        if walls["cpuset"]:  # the kernel keeps a learner on their seat, whatever they ask for
            assert walls["widened"].stdout.strip() == str(seat_cpus), walls["widened"]
        assert "PASS: " + FOUR_RANKS in learners[0].outcome["check"]
        assert "FAIL: " + FOUR_RANKS in learners[1].outcome["check"] and "Hint:" in learners[1].outcome["check"]

        for learner in learners:  # the instructor's view: seat, server, CPUs, checks passed and failing
            name = learner.account.name
            line = next(line for line in view.splitlines() if line.startswith(name))
            _, seat, server, where, _idle, passed, failing = re.split(r"\s{2,}", line.strip())
            assert (seat, server) == (str(seat_map[name] + 1), "ready"), f"instructor's view of {name}: {line}"
            assert re.fullmatch(rf"pid \d+, CPUs {format_cpu_list(plan[seat_map[name]].cpus)}", where), line
            solved = learner is learners[0]
            assert (passed, failing) == ((FOUR_RANKS, "-") if solved else ("-", FOUR_RANKS)), line
        assert "3 of 3 seat(s) taken; 3 server(s) ready" in view, view

        # a learner's server token opens their own server and no one else's
        pid = int(servers[names[0]]["state"]["pid"])
        token = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                     if "=" in item)["JUPYTERHUB_API_TOKEN"]
        assert room.api(f"/user/{names[0]}/api/status", token)[0] == 200
        assert room.api(f"/user/{names[1]}/api/status", token)[0] == 403
    with capsys.disabled():
        print(f"\nroom test: seats enforced by {'cpuset cgroups' if walls['cpuset'] else 'affinity masks only'}; "
          f"hub up in {hub_up:.1f} s; first servers after "
              + ", ".join(f"{learner.outcome['server_after']:.0f} s" for learner in learners)
              + f"; whole test {time.monotonic() - started:.0f} s; the instructor's view was:\n{view}")


def as_learner(name: str, command: str, cgroup: Path | None = None) -> subprocess.CompletedProcess:
    """`command` (sh) run as the learner, inside their cpuset when given."""
    join = f"echo $$ > {cgroup / 'cgroup.procs'} && " if cgroup else ""
    return subprocess.run(["sh", "-c", f"{join}exec runuser -u {name} -- sh -c '{command}'"], capture_output=True,
                          text=True, timeout=60)


def learners_walls(room: Room, names: list[str], servers: dict) -> dict:
    """What one learner can do to another (nothing), and whether a learner can leave their seat's CPUs."""
    first, second = names[0], names[1]
    other_files = as_learner(first, f"cat {room.home(second) / WORKSPACE_NAME / PROGRESS_NAME}")
    other_server = as_learner(first, f"kill -0 {servers[second]['state']['pid']}")
    folder = cpuset_folder(first)
    everything = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    widened = as_learner(first, f"taskset -c {everything} {sys.executable} -c \"import os; "
                                "print(sorted(os.sched_getaffinity(0)))\"", cgroup=folder if folder.exists() else None)
    return {"files": other_files, "server": other_server, "cpuset": folder.exists(), "widened": widened}


def cpuset_folder(name: str) -> Path:
    from clusterkit.room.cpuset import ROOM, V1_ROOT

    return V1_ROOT / ROOM / name


def body_text(page) -> str:
    return page.inner_text("body")


@pytest.mark.browser
@pytest.mark.timeout(400)
def test_the_room_refuses_bad_logins_and_failed_spawns_leave_nothing(tmp_path, capsys):
    skip_without_parts()
    with open_room(tmp_path, learners=3, seats=2, settings=("--idle-minutes", "0.1", "--spawn-timeout", "20")) as room:
        first, unlucky, late = room.learners
        timings = {}
        with chromium_page(tmp_path / "profile-1") as (page, _blocked):
            log_in(page, room, first, password="not-" + first.password)
            assert "Invalid username or password" in body_text(page)
            assert SeatMap(room.state / "seats.json", 2).seat_of(first.name) is None

        home = room.home(unlucky.name)  # a home folder the learner cannot write: the copy of the course fails
        os.chown(home, 0, 0)
        home.chmod(0o755)
        with chromium_page(tmp_path / "profile-2") as (page, _blocked):
            log_in(page, room, unlucky)
            page.wait_for_function("() => /Spawn failed|cannot be written/.test(document.body.innerText)",
                                   timeout=60_000)
            said = body_text(page)
        assert "Your course files cannot be written" in said and "Ask your instructor" in said, said
        assert not accounts.processes_of(unlucky.name)

        with chromium_page(tmp_path / "profile-3") as (page, _blocked):
            log_in(page, room, first)
            page.wait_for_url(f"**/user/{first.name}/lab**", timeout=120_000)
        idle_from = time.monotonic()  # the browser is closed: nothing keeps the server busy
        while room.server(first.name) and time.monotonic() - idle_from < 90:
            time.sleep(1)  # the culler works on its own clock: poll the hub
        timings["culled"] = time.monotonic() - idle_from
        assert not room.server(first.name), "the idle culler did not stop an idle server within 90 s"
        deadline = time.monotonic() + 10
        while accounts.processes_of(first.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not accounts.processes_of(first.name), "the culled server left processes"

        slow = room.home(first.name) / ".jupyter" / "jupyter_server_config.py"  # a server that never answers
        slow.write_text("import time\ntime.sleep(600)\n")
        with chromium_page(tmp_path / "profile-4") as (page, _blocked):
            pressed = time.monotonic()
            log_in(page, room, first)
            page.wait_for_function("() => document.body.innerText.includes('Spawn failed')", timeout=90_000)
            timings["timed_out"] = time.monotonic() - pressed
            said = body_text(page)
        assert re.search(r"didn't respond|failed to start|timeout", said, re.I), said
        deadline = time.monotonic() + 10
        while accounts.processes_of(first.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not accounts.processes_of(first.name), \
            [command_line(pid) for pid in accounts.processes_of(first.name)]

        with chromium_page(tmp_path / "profile-5") as (page, _blocked):
            log_in(page, room, late)
            said = body_text(page)
        assert "the room is full" in said and "Ask your instructor to free a seat" in said, said
    with capsys.disabled():
        print(f"\nroom refusals: idle server culled after {timings['culled']:.0f} s (idle time 6 s), a server that "
              f"never answers failed after {timings['timed_out']:.0f} s (time-out 20 s)")
