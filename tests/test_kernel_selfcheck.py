import json
import sys

from clusterkit.machine.environment import ENV_BIN, mpi_environment
from clusterkit.machine.kernelspec import KERNEL_NAME, kernel_spec
from clusterkit.notebook.selfcheck import Row, check_data, check_python, check_torch, format_table


def test_kernel_puts_the_environment_first_on_path():
    spec = kernel_spec()
    assert spec["argv"][0] == sys.executable
    assert spec["env"]["PATH"] == f"{ENV_BIN}:${{PATH}}"
    assert spec["env"]["FI_PROVIDER_PATH"].endswith("/lib")


def test_course_kernel_is_installed():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable
    installed = json.loads((__import__("pathlib").Path(spec.resource_dir) / "kernel.json").read_text())
    assert installed == json.loads(json.dumps(kernel_spec()))


def test_mpi_environment_puts_bin_first_once():
    env = mpi_environment({"X": 1})
    parts = env["PATH"].split(":")
    assert parts[0] == str(ENV_BIN) and parts.count(str(ENV_BIN)) == 1
    assert env["X"] == "1" and env["PYTHONUNBUFFERED"] == "1"


def test_selfcheck_rows_and_table():
    assert check_python().ok
    assert check_data().ok
    torch_row = check_torch()
    assert torch_row.ok and "gloo yes" in torch_row.detail
    table = format_table([Row("a", True, "fine"), Row("longer", False, "broken")])
    assert table.splitlines()[2] == "a       yes   fine"
    assert table.splitlines()[3] == "longer  NO    broken"
