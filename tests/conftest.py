"""Shared test helpers: a real kernel of the course; the practice cluster for the whole session, always torn down;
and the helpers more than one test file needs, each written once here (the end of this file).

The cluster lives in a temporary folder of its own; its teardown runs at the end of the session, when
a test fails, and on Ctrl-C (pytest runs fixture finalizers then). Where this machine cannot run it
(not root, no namespaces, no Slurm packages), every test that asks for it is skipped with one sentence.

Test files import the helpers as `from conftest import fails_with, recorded_machine, ...`: tests/ has no
`__init__.py`, so pytest (import mode `prepend`) puts tests/ first on sys.path and imports this file as the
module `conftest`, after the repository's own conftest.py (which it takes out of sys.modules first).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

WATCHED_DIRS = ("/run/munge", "/var/run/munge", "/run/slurm", "/var/spool/slurmd", "/var/spool/slurmctld",
                "/var/spool/slurm", "/var/log/slurm", "/var/log/munge", "/var/lib/munge", "/etc/munge", "/etc/slurm",
                "/etc/netns")
WATCHED_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
TMP_NAMES = re.compile(r"slurm|munge|dmlcpu|netns")
DAEMONS = {"munged", "slurmctld", "slurmd", "slurmstepd", "slurmscriptd"}


AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"


def host_snapshot() -> dict:
    """What the cluster could leave behind on the host: namespaces, routes, mounts, daemons, files."""
    def listing(folder: str) -> list[str]:
        path = Path(folder)
        return sorted(str(p) for p in path.rglob("*")) if path.is_dir() else []

    processes = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if (name in DAEMONS or name.startswith("slurmstepd")) and state not in "ZX":
                processes.append(f"{entry.name} {name}")
    return {
        "namespaces": subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n"),
        "routes": subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout.split(
            "\n"
        ),
        "mounts": sorted(Path("/proc/mounts").read_text().splitlines()),
        "processes": sorted(processes),
        "run_netns": Path("/run/netns").exists(),
        "dirs": {folder: listing(folder) for folder in WATCHED_DIRS},
        "files": {
            f: hashlib.sha256(Path(f).read_bytes()).hexdigest() if Path(f).exists() else None for f in WATCHED_FILES
        },
        "tmp": sorted(p.name for p in Path("/tmp").iterdir() if TMP_NAMES.search(p.name)),
        "sched_autogroup": Path(AUTOGROUP).read_text() if Path(AUTOGROUP).exists() else None,
        # shared memory of the host: other programs' files come and go (multiprocessing's semaphores), so only
        # a file that appeared counts (the nodes have a /dev/shm of their own: nothing of theirs lands here)
        "dev_shm_new": listing("/dev/shm"),
    }


def snapshot_difference(before: dict, after: dict) -> dict:
    """The parts of the host that changed (empty when the cluster left nothing behind)."""
    changed = {}
    appeared = sorted(set(after["dev_shm_new"]) - set(before["dev_shm_new"]))
    if appeared:
        changed["dev_shm_new"] = appeared
    for key in before.keys() - {"dev_shm_new"}:
        if before[key] != after[key]:
            if isinstance(before[key], list):
                changed[key] = {
                    "new": sorted(set(after[key]) - set(before[key])),
                    "gone": sorted(set(before[key]) - set(after[key])),
                }
            else:
                changed[key] = {"before": before[key], "after": after[key]}
    return changed


@pytest.fixture(scope="session")
def practice_cluster(tmp_path_factory):
    """The two-node practice cluster, up for the session; yields (cluster, host snapshot taken before it)."""
    from clusterkit.clusters import practice as pc
    from clusterkit.machine.environment import find_mpirun

    reason = pc.unavailable_reason()
    if reason:
        pytest.skip(reason)
    if find_mpirun() is None:
        pytest.skip("Intel MPI's mpirun is not in this environment: run `make setup` first.")
    before = host_snapshot()
    cluster = pc.start(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster, before
    finally:
        cluster.down()


@contextlib.contextmanager
def kernel_and_client(cwd):
    """A real kernel of the course (the one notebooks use), started in `cwd`: (its manager, to interrupt, restart
    or kill it; a client). Shut down afterwards unless a test killed it."""
    from jupyter_client import KernelManager

    from clusterkit.course import KERNEL_NAME

    manager = KernelManager(kernel_name=KERNEL_NAME)
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


@contextlib.contextmanager
def course_kernel(cwd):
    """A client of a real kernel of the course, started in `cwd`."""
    with kernel_and_client(cwd) as (_manager, client):
        yield client


def read_until(client, text: str, seconds: float) -> str:
    """Everything the running cell printed until `text` appeared (or the time ran out)."""
    seen, deadline = "", time.monotonic() + seconds
    while text not in seen and time.monotonic() < deadline:
        try:
            content = client.get_iopub_msg(timeout=1)["content"]
        except Exception:  # queue.Empty: nothing this second
            continue
        seen += content.get("text", "") + "".join(content.get("traceback", []))
    return seen


# -- helpers of more than one test file --------------------------------------------------------------------

MACHINES = Path(__file__).parent / "fixtures" / "machines"  # other machines' /proc/cpuinfo and I_MPI_DEBUG output


def fails_with(check, *args, hint: str, **kwargs):
    """`check(*args, **kwargs)` fails with ExerciseFailed, its message matching the regular expression `hint`."""
    from clusterkit.exercises.checks import ExerciseFailed

    with pytest.raises(ExerciseFailed, match=hint):
        check(*args, **kwargs)


def recorded_machine(name: str, owned=None):
    """The topology of another machine, from its recorded or built tests/fixtures/machines/<name>.cpuinfo;
    restricted to the CPUs in `owned` (an allocation of it) unless that is None."""
    from clusterkit.machine.topology import parse_cpuinfo

    topology = parse_cpuinfo((MACHINES / f"{name}.cpuinfo").read_text())
    return topology.restricted_to(owned) if owned is not None else topology


def job_result(output: str):
    """The result of a finished, successful mpirun job that printed `output`."""
    from clusterkit.jobs.runner import MpiResult

    return MpiResult(command=["mpirun"], output=output, returncode=0, seconds=1.0)


def recorded_job(name: str, extra: str = ""):
    """A job of another machine: its recorded I_MPI_DEBUG output, tests/fixtures/machines/<name>.impi, then `extra`
    (what the ranks printed)."""
    return job_result((MACHINES / f"{name}.impi").read_text() + extra)


def pinning_table(*cpus: str, node: str = "n01", first_pid: int = 100) -> str:
    """Intel MPI's pinning table (I_MPI_DEBUG=5) of ranks 0, 1, ... on `node`, rank r pinned to the CPU list
    cpus[r] ("0-3,8-11"), with process ids from `first_pid` on."""
    lines = ["[0] MPI startup(): Rank    Pid      Node name  Pin cpu"]
    lines += [f"[0] MPI startup(): {rank:<8}{first_pid + rank:<9}{node:<10} {{{pins}}}"
              for rank, pins in enumerate(cpus)]
    return "\n".join(lines) + "\n"


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_notebook(path: Path, notebook: dict) -> None:
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False))


def notebook_cells(path: Path) -> list[dict]:
    return read_notebook(path)["cells"]


def cell_text(cell: dict) -> str:
    """A cell's source as one string (a notebook stores it as a list of lines or as one string)."""
    return "".join(cell["source"])


def code_cells(path: Path, skip_solution_only: bool = False) -> list[str]:
    """The sources of a notebook's code cells, in order; without the cells tagged `solution-only` if asked."""
    return [cell_text(c) for c in notebook_cells(path) if c["cell_type"] == "code"
            and not (skip_solution_only and "solution-only" in c.get("metadata", {}).get("tags", []))]


def solution_regions(exercises) -> dict[str, str]:
    """Each exercise's solution code by its task text (of `catalog.module_exercises`), to fill exercises with."""
    return {exercise.task: exercise.region for exercise in exercises}


def fill_exercises(source: str, regions: dict[str, str]) -> str:
    """An exercise's source with every exercise in it filled with its solution, as `%solution` fills it."""
    from clusterkit.authoring import markers

    return markers.fill(source, regions)[0]


# a job that never ends by itself: its ranks say "ranks running", then wait to be stopped
LONG_JOB = """\
import time
from mpi4py import MPI
MPI.COMM_WORLD.Barrier()
print("ranks running", flush=True)
while True:
    time.sleep(0.05)
"""
GONE_WITHIN = 5.0  # seconds from a stop (the stop button, an interrupt, a restart) to no process of the job left


def process_stat(pid) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, process group, session, ...; None when
    there is no such process (any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_state(pid) -> str:
    """The process's state letter (R, S, Z for a zombie ...), or "gone"."""
    stat = process_stat(pid)
    return stat[0] if stat else "gone"


def process_session(pid) -> int | None:
    stat = process_stat(pid)
    return int(stat[3]) if stat else None


def command_line(pid) -> str | None:
    """The process's arguments joined by spaces, or None when there is no such process (any more)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


# -- JupyterLab in a real browser (test_browser.py, test_room.py) -------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
TOOLBAR = f"{PANEL} .jp-NotebookPanel-toolbar"
# what chromium needs to open no connection of its own (see the machine notes); the profile is a new empty folder
CHROMIUM_ARGS = [
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--disable-gpu", "--no-default-browser-check", "--disable-default-apps",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-breakpad",
    "--metrics-recording-only", "--no-pings", "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# JupyterLab settings a fresh learner would otherwise see differently: no news toast over the page and no
# request to the internet, no autosave into the repository, every cell in the page (so its text can be read)
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

# the page's state in one look: what the test waits on and what it fails on
STATE_JS = """() => {
  const panel = document.querySelector('%(panel)s');
  const text = (selector) => [...document.querySelectorAll(selector)].map(e => e.textContent.trim());
  const dialog = document.querySelector('.jp-Dialog');
  const cells = panel ? [...panel.querySelectorAll('.jp-Notebook .jp-Cell')] : [];
  return {
    dialog: dialog ? dialog.innerText : null,
    kernelName: panel ? text('%(panel)s .jp-KernelName').join('') : '',
    indicator: panel ? (panel.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status || ''
                     : '',
    statusBar: text('.jp-StatusBar-TextItem').join(' '),
    prompts: cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {textContent: ''}).textContent.trim()),
    outputs: cells.map(c => [...c.querySelectorAll('.jp-OutputArea-output')].map(o => ({
      mime: o.dataset.mimeType || '', text: o.innerText}))),
  };
}""" % {"panel": PANEL}


class LabSession:
    """The browser's view of JupyterLab, with waits that fail at once on an error dialog or a dead kernel."""

    def __init__(self, page, shots: Path):
        self.page, self.shots, self.saved = page, shots, []

    def state(self) -> dict:
        return self.page.evaluate(STATE_JS)

    def until(self, condition_js: str, seconds: float, what: str) -> dict:
        """Wait (polling in the page) until `condition_js` holds for the state, an error dialog shows or the
        kernel dies; fail on the latter two and on the time-out, naming what was awaited."""
        js = (f"() => {{ const s = ({STATE_JS})(); const ok = (s => {condition_js})(s); "
              "return s.dialog !== null || /dead/i.test(s.indicator + s.statusBar) || ok ? s : null; }")
        from playwright.sync_api import Error as PlaywrightError

        try:
            state = self.page.wait_for_function(js, timeout=seconds * 1000, polling=250).json_value()
        except PlaywrightError as error:
            shot = self.screenshot("timeout")
            state = self.state()
            pytest.fail(f"waited {seconds:g} s for {what}; the page shows kernel {state['kernelName']!r}, status "
                        f"{state['statusBar']!r}, prompts {state['prompts']} ({error.message.splitlines()[0]}); "
                        f"screenshot {shot}")
        self.fail_on_trouble(state, what)
        return state

    def fail_on_trouble(self, state: dict, what: str) -> None:
        if state["dialog"] is not None:
            shot = self.screenshot("dialog")
            pytest.fail(f"an error dialog appeared while waiting for {what}: {state['dialog']!r}; screenshot {shot}")
        if re.search("dead", state["indicator"] + state["statusBar"], re.I):
            shot = self.screenshot("dead-kernel")
            pytest.fail(f"the kernel died while waiting for {what} (status bar: {state['statusBar']!r}); "
                        f"screenshot {shot}")

    def kernel_idle(self, seconds: float, what: str) -> dict:
        """The course kernel is started and idle (the indicator alone reads idle before the kernel starts)."""
        return self.until("s.indicator === 'idle' && s.kernelName !== '' && s.kernelName !== 'No Kernel' && "
                          "/\\|\\s*Idle/.test(s.statusBar)", seconds, what)

    def cell(self, index: int):
        return self.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)

    def screenshot(self, name: str) -> Path:
        """The whole notebook, not just the window: JupyterLab scrolls inside its panel, so the window is made
        as tall as the panel's content for the shot (full_page alone captures the window only)."""
        page = self.page
        width, height = page.viewport_size["width"], page.viewport_size["height"]
        extra = page.evaluate(f"""() => {{
            const outer = document.querySelector('{PANEL} .jp-WindowedPanel-outer');
            return outer ? outer.scrollHeight - outer.clientHeight : 0; }}""")
        page.set_viewport_size({"width": width, "height": min(height + max(extra, 0), 16000)})
        page.evaluate(f"""() => new Promise(done => {{
            const outer = document.querySelector('{PANEL} .jp-WindowedPanel-outer');
            if (outer) outer.scrollTop = 0;
            requestAnimationFrame(() => requestAnimationFrame(done)); }})""")
        path = self.shots / f"{len(self.saved) + 1:02d}-{name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size({"width": width, "height": height})
        self.saved.append(path)
        return path


def processes_mentioning(marker: str) -> dict[int, str]:
    """Live processes whose command line contains `marker` (a path of this test's)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cmdline = command_line(entry.name)
            if cmdline is not None and marker in cmdline and process_state(entry.name) not in ("gone", "Z", "X"):
                found[int(entry.name)] = cmdline.strip()
    return found


@contextlib.contextmanager
def chromium_page(profile: Path):
    """Headless Debian chromium with a new empty profile (a context manager yielding (page, blocked)); every request
    off 127.0.0.1 is blocked and recorded in `blocked`."""
    from playwright.sync_api import sync_playwright

    blocked = []

    def off_host(url: str) -> bool:
        return url.startswith(("http:", "https:", "ws:", "wss:")) and not url.startswith("http://127.0.0.1:")

    def block(route):
        blocked.append(route.request.url)
        route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        try:
            context.route(off_host, block)
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            yield page, blocked
        finally:
            context.close()


def open_and_run_all(lab_ui: LabSession, url: str, kernel_seconds: float = 90, run_seconds: float = 150) -> list[str]:
    """Open the notebook at `url`, wait for its kernel, Run > Run All Cells until no cell is queued or running;
    the text of every cell's outputs."""
    page = lab_ui.page
    page.goto(url)
    page.wait_for_selector(f"{PANEL} .jp-Cell", state="visible")
    lab_ui.kernel_idle(kernel_seconds, "the notebook's kernel to start")
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator("[data-command='runmenu:run-all']").click()
    lab_ui.until("s.prompts.some(p => p.includes('*'))", 30, "Run All to start the cells")
    lab_ui.until("!s.prompts.some(p => p.includes('*'))", run_seconds, "Run All to finish")
    state = lab_ui.kernel_idle(30, "the kernel to be idle after Run All")
    return ["\n".join(o["text"] for o in outputs) for outputs in state["outputs"]]


def self_check_rows(texts: list[str]) -> list[tuple[str, str, str]]:
    """(check, yes/NO, detail) of the self-check table among a notebook's outputs."""
    table = next((t for t in texts if re.search(r"check\s+ok\s+detail", t)), "")
    return re.findall(r"^(.+?)\s{2,}(yes|NO)\s+(.*)$", table, re.M)
