"""A check cell run before its exercise cell says so (never a bare NameError), through a real kernel."""
import json

import pytest

from conftest import course_kernel

pytestmark = [pytest.mark.notebook]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    with course_kernel(tmp_path_factory.mktemp("kernel")) as client:
        yield client


def run(client, code: str) -> tuple[str, str]:
    """(status, everything the cell showed) for one cell."""
    shown = []
    reply = client.execute_interactive(code, timeout=60, output_hook=shown.append)
    return reply["content"]["status"], "".join(
        m["content"].get("text", "") + "\n".join(m["content"].get("traceback", [])) for m in shown)


def test_check_before_its_exercise_gives_the_course_hint(kernel):
    status, text = run(kernel, "from clusterkit.exercises.parallelism import check_four_ranks\ncheck_four_ranks(four)")
    assert status == "error"
    assert "FAIL: Launch four ranks and read their pinning" in text
    assert "`four` is not defined yet: run the exercise cell above first" in text
    assert "NameError" not in text


def test_other_name_errors_keep_their_traceback(kernel):
    status, text = run(kernel, "print(undefined_name)")
    assert status == "error" and "NameError" in text and "exercise cell" not in text


def test_a_check_run_before_its_exercise_counts_as_failed_in_the_room(kernel, tmp_path):
    record = tmp_path / "progress.jsonl"
    run(kernel, f"import os\nos.environ['CLUSTERKIT_PROGRESS'] = {str(record)!r}")
    try:
        status, _ = run(kernel, "from clusterkit.exercises.parallelism import check_four_ranks\ncheck_four_ranks(four)")
    finally:
        run(kernel, "del os.environ['CLUSTERKIT_PROGRESS']")
    assert status == "error"
    assert [(r["check"], r["passed"]) for r in map(json.loads, record.read_text().splitlines())] == \
        [("Launch four ranks and read their pinning", False)]
