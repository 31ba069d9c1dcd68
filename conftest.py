"""Suite-wide rules of the test run (tests/ and the nbval run of solutions/): the marks that say what a test
needs, and where the time went.

Marks (pyproject.toml lists them): `notebook` (a Jupyter kernel or notebook runs), `mpi` (a real mpirun or
horovodrun job), `cluster` (the practice cluster), `browser` (chromium), `bench` (a `make bench` run). A test
without any of them is a fast unit test of `make check`; one that starts a job or a kernel without its mark
fails, so that lane never grows slow unnoticed. Every nbval cell of solutions/ is `notebook` and `mpi`.
"""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

NEEDS = ("notebook", "mpi", "cluster", "browser", "bench")


def needs_of(item) -> set[str]:
    return {mark.name for mark in item.iter_markers()} & set(NEEDS)


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":  # nbval's cells: solution notebooks run real jobs
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.mpi)
    unmarked = [item.nodeid for item in items
                if "practice_cluster" in getattr(item, "fixturenames", ()) and "cluster" not in needs_of(item)]
    if unmarked:
        raise pytest.UsageError(f"these tests use the practice cluster without @pytest.mark.cluster: {unmarked}")


def refuse(what: str, mark: str):
    def refused(*args, **kwargs):
        pytest.fail(f"this test starts {what}: mark it @pytest.mark.{mark} (conftest.py says why)", pytrace=False)
    return refused


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Unmarked tests may start no MPI job and no kernel, in their fixtures neither."""
    with pytest.MonkeyPatch.context() as patch:
        if not needs_of(item):
            from jupyter_client import KernelManager

            from clusterkit.jobs import runner

            patch.setattr(runner, "stream", refuse("an MPI job", "mpi"))
            patch.setattr(KernelManager, "start_kernel", refuse("a Jupyter kernel", "notebook"))
        yield


# -- where the time went: seconds per group of tests, printed after pytest's --durations list ---------------
SPENT: dict[str, float] = defaultdict(float)
COUNTED: dict[str, int] = defaultdict(int)
RECORDED: list[str] = []  # what tests measured of themselves (pytest's record_property), printed with the times
STARTED = time.monotonic()


def time_group(report) -> str:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        return f"nbval {Path(path).parent.name}"
    needs = [name for name in NEEDS if name in report.keywords]
    return f"{path} [{needs[0]}]" if needs else "unit tests (make check)"


def pytest_runtest_logreport(report):
    group = time_group(report)
    SPENT[group] += report.duration
    COUNTED[group] += report.when == "call"
    if report.when == "call":
        RECORDED.extend(f"{name}: {value}" for name, value in report.user_properties)


def pytest_terminal_summary(terminalreporter):
    if not SPENT:
        return
    write = terminalreporter.write_line
    terminalreporter.section("time per group (setup + call + teardown)")
    for group, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
        write(f"{seconds:8.1f} s  {COUNTED[group]:5d} tests  {group}")
    write(f"{sum(SPENT.values()):8.1f} s  in tests, {time.monotonic() - STARTED:.1f} s since the test run started")
    for line in RECORDED:
        write(line)
