"""JupyterLab in a real browser (issue 12, item 5): the README's main command serves the course, and a learner
using Debian's chromium (driven headless by Playwright, from PyPI) logs in with the token, opens the start-here
notebook on the course kernel, runs it through the Run menu, runs the exercise's check and reads its FAIL hint,
and presses the stop button during a running MPI job and sees the whole job end.

Only 127.0.0.1 is contacted: chromium starts with the flags that stop its background connections, resolves no
host name but 127.0.0.1, and every browser request elsewhere is blocked and fails the test. JupyterLab's news
and update checks are switched off in its settings, autosave too (the notebook in the tree is never written).
Screenshots (after Run All, after the FAIL hint, after the stop) go to runs/browser-test/; the test prints where.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clusterkit.course import KERNEL_DISPLAY_NAME, MODULES
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.jobs.reaper import session_members
from clusterkit.rank.torch_dist import free_port
from conftest import (CHROMIUM, GONE_WITHIN, LONG_JOB, SETTINGS, TOOLBAR, LabSession, chromium_page,
                      open_and_run_all, processes_mentioning, process_session, self_check_rows)

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.mpi]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (tools/setup_browser.sh installs Debian's chromium where apt-get runs as "
                "root), so JupyterLab is not tested in a real browser", allow_module_level=True)
try:
    import playwright.sync_api  # noqa: F401 (conftest's chromium_page drives it)
except ImportError:
    pytest.skip("the Python package playwright is missing (it is pinned in requirements.lock: run `make setup`), "
                "so JupyterLab is not tested in a real browser", allow_module_level=True)

NOTEBOOK = "01_parallelism/01_start_here.ipynb"  # the exercise notebook, generated from solutions/
SHOTS = REPO_ROOT / "runs" / "browser-test"
PRINTED_URL = re.compile(r"JupyterLab on the course: (http://127\.0\.0\.1:\d+)/lab\?token=(\w+)")
def jupyter_litter(workspace: Path) -> set[Path]:
    """What a JupyterLab session may leave in the served folders: checkpoints, LSP documents, new notebooks."""
    folders = [REPO_ROOT, *(REPO_ROOT / name for name in MODULES), REPO_ROOT / "solutions",
               workspace, *(workspace / name for name in MODULES)]
    return {path for folder in folders for pattern in (".ipynb_checkpoints", ".virtual_documents", "Untitled*")
            for path in folder.glob(pattern)}


@pytest.fixture
def lab(tmp_path):
    """`bash tools/lab.sh PORT` as `make lab` runs it, with every Jupyter folder, the learner's workspace and HOME
    inside tmp_path;
    yields (base URL, token, server log, runtime folder); afterwards its kernels are shut down through the API,
    its process group is ended, and a kernel still running from this runtime folder is killed."""
    home, jupyter = tmp_path / "home", tmp_path / "jupyter"
    dirs = {name: jupyter / name.lower() for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR")}
    for folder in (home, *dirs.values()):
        folder.mkdir(parents=True)
    for plugin, values in SETTINGS.items():
        path = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # opening a notebook makes JupyterLab write a checkpoint (a copy) next to it: keep it out of the repository
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(
        json.dumps({"FileCheckpoints": {"checkpoint_dir": str(tmp_path / "checkpoints")}}))
    token = secrets.token_hex(24)
    env = {**os.environ, **{name: str(path) for name, path in dirs.items()}, "HOME": str(home),
           "JUPYTER_TOKEN": token, "CLUSTERKIT_WORKSPACE": str(tmp_path / "workspace")}
    env.setdefault("CLUSTERKIT_OFFLINE", "1")
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        server = subprocess.Popen(["bash", "tools/lab.sh", str(free_port())], cwd=REPO_ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    base = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            printed = PRINTED_URL.search(log.read_text())
            if printed and base is None:
                base = printed[1]
                assert printed[2] == token, "lab.sh printed another token than JUPYTER_TOKEN"
            if base and api(base, token, "/api/status") is not None:
                break
            time.sleep(0.25)  # nothing to wait on but the server's own answer
        else:
            pytest.fail(f"JupyterLab did not answer /api/status within 90 s; its log:\n{log.read_text()[-3000:]}")
        yield base, token, log, dirs["JUPYTER_RUNTIME_DIR"]
    finally:
        stop_lab(server, base, token, dirs["JUPYTER_RUNTIME_DIR"])


def api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            body = reply.read()
            return json.loads(body) if body else {}
    except (OSError, urllib.error.URLError, ValueError):
        return None


def stop_lab(server: subprocess.Popen, base: str | None, token: str, runtime: Path) -> None:
    """Shut its kernels down through the API (a kernel runs in a session of its own), end the server's process
    group, and kill whatever of this test's server and kernels is still there."""
    if base and server.poll() is None:
        for kernel in api(base, token, "/api/kernels") or []:
            api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in processes_mentioning(str(runtime)):  # a kernel the server could not stop (its -f file is here)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def browser_page(tmp_path):
    with chromium_page(tmp_path / "chromium-profile") as opened:
        yield opened


@pytest.mark.timeout(300)
def test_a_learner_runs_start_here_in_jupyterlab_and_stops_a_job(lab, browser_page, tmp_path, capsys):
    base, token, _log, _runtime = lab
    page, blocked = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    workspace = tmp_path / "workspace"
    course_file, notebook_file = REPO_ROOT / NOTEBOOK, workspace / NOTEBOOK  # the learner's copy is what Lab opens
    course_before = hashlib.sha256(course_file.read_bytes()).hexdigest()
    notebook_before = hashlib.sha256(notebook_file.read_bytes()).hexdigest()
    assert sorted(p.name for p in workspace.iterdir() if not p.name.startswith(".")) == sorted([*MODULES, "README.md"])
    litter_before = jupyter_litter(workspace)
    lab_ui = LabSession(page, SHOTS)
    started = time.monotonic()

    # -- log in with the URL lab.sh printed (token), then open the start-here notebook ---------------------
    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jp-main-dock-panel", state="attached")
    assert "/login" not in page.url, f"the token did not log in: {page.url}"
    texts = open_and_run_all(lab_ui, f"{base}/lab/tree/{NOTEBOOK}")
    assert lab_ui.state()["kernelName"] == KERNEL_DISPLAY_NAME, "the notebook opened on another kernel"
    lab_ui.screenshot("after-run-all")
    rows = self_check_rows(texts)
    assert rows and all(ok == "yes" for _, ok, _ in rows), f"the self-check table is not all yes: {rows}"
    assert any(re.search(r"^rank 0 of 2: node=\S+ cpus=\[", t, re.M) for t in texts), \
        "the first MPI job's output (rank 0 of 2 ...) did not appear"
    assert any("every rank's own report agrees with the table" in t for t in texts)
    todo = next((i for i, t in enumerate(texts) if "NotImplementedError" in t), None)
    assert todo is not None, "Run All did not stop at the exercise's unfilled TODO (no NotImplementedError shown)"
    assert "TODO" in texts[todo], "Run All stopped at a NotImplementedError that is not the exercise's TODO"
    unexpected = [(i, t) for i, t in enumerate(texts) if "Traceback" in t and i != todo]
    assert not unexpected, f"unexpected traceback in cell {unexpected[0][0]}:\n{unexpected[0][1][-2000:]}"

    # -- the exercise's check cell: the TODO is not done, so the course's FAIL hint, not a bare error --------
    check = todo + 1
    assert "check_" in lab_ui.cell(check).locator(".jp-InputArea-editor").inner_text(), "no check cell after the TODO"
    lab_ui.cell(check).locator(".jp-InputArea-prompt").click()
    page.locator(f"{TOOLBAR} [data-command='notebook:run-cell-and-select-next']").click()
    state = lab_ui.until(f"/\\[\\d+\\]/.test(s.prompts[{check}]) && s.outputs[{check}].length > 0", 60,
                         "the check cell's answer")
    said = "\n".join(o["text"] for o in state["outputs"][check])
    lab_ui.screenshot("fail-hint")
    assert "FAIL:" in said and "Hint:" in said, f"the check cell did not give the course's hint:\n{said}"
    for bare in ("NameError", "NotImplementedError", "Traceback"):
        assert bare not in said, f"the check cell showed a bare {bare}:\n{said}"

    # -- a long job in a new cell; the stop button ends all of it and says so -----------------------------------
    script = tmp_path / "long_job.py"
    script.write_text(LONG_JOB)
    last = len(state["prompts"]) - 1
    lab_ui.cell(last).locator(".jp-InputArea-prompt").click()
    page.locator(f"{TOOLBAR} [data-command='notebook:insert-cell-below']").click()
    new = last + 1
    lab_ui.cell(new).locator(".cm-content").click()
    page.keyboard.insert_text(f"ck.mpirun({str(script)!r}, n=2, timeout=600)")
    page.locator(f"{TOOLBAR} [data-command='notebook:run-cell-and-select-next']").click()
    lab_ui.until(f"(s.outputs[{new}] || []).some(o => o.text.includes('ranks running'))", 90,
                 "the long job's ranks to report")
    sessions = {process_session(pid) for pid in processes_mentioning(str(script))} - {None}
    job = {pid for session in sessions for pid in session_members(session)}
    assert len(job) >= 4, f"expected mpirun, hydra and 2 ranks of the job, found {job}"

    pressed = time.monotonic()
    page.locator(f"{TOOLBAR} [data-command='notebook:interrupt-kernel']").click()
    while (left := {pid for session in sessions for pid in session_members(session)}) and \
            time.monotonic() - pressed < GONE_WITHIN + 10:
        time.sleep(0.1)  # the processes are in /proc, not in the page: poll them
    gone_after = time.monotonic() - pressed
    state = lab_ui.until(f"(s.outputs[{new}] || []).some(o => o.text.includes('Interrupted:'))", 30,
                         "the stopped cell's message")
    lab_ui.kernel_idle(30, "the kernel to be idle after the stop")
    lab_ui.screenshot("after-stop")
    assert not left, f"processes of the job still running {gone_after:.1f} s after the stop button: {sorted(left)}"
    assert gone_after < GONE_WITHIN, f"the job took {gone_after:.1f} s to end after the stop button"
    said = "\n".join(o["text"] for o in state["outputs"][new])
    assert "Interrupted: the whole job was stopped" in said, said
    unexpected = [t for t in said.split("Traceback")[1:] if "KeyboardInterrupt" not in t]
    assert not unexpected, f"unexpected traceback after the stop:\n{said[-2000:]}"

    # -- nothing else went wrong -------------------------------------------------------------------------------
    lab_ui.fail_on_trouble(lab_ui.state(), "the end of the test")
    assert not blocked, f"the browser tried to reach hosts other than 127.0.0.1: {sorted(set(blocked))}"
    assert hashlib.sha256(notebook_file.read_bytes()).hexdigest() == notebook_before, f"{NOTEBOOK} was written"
    assert hashlib.sha256(course_file.read_bytes()).hexdigest() == course_before, f"the course's {NOTEBOOK} changed"
    created = jupyter_litter(workspace) - litter_before
    assert not created, f"JupyterLab wrote into the repository: {sorted(map(str, created))}"
    with capsys.disabled():  # shown in `make test`'s output too, not only with -s
        print(f"\nbrowser test: {time.monotonic() - started:.0f} s in the browser, stop button to no process of "
              f"the job {gone_after:.1f} s; {len(lab_ui.saved)} screenshots in {SHOTS}/: "
              + ", ".join(p.name for p in lab_ui.saved))
