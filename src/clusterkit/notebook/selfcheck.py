"""The course's self-check: is every part of the stack here, and does it really run?

`python -m clusterkit.notebook.selfcheck` prints a table (the course setup ends with it) and exits non-zero
when a required part fails. Notebooks call `selfcheck_table()` for the same rows.
"""
from __future__ import annotations

import importlib
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from clusterkit.course import ROOM_CPUS_ENV, ROOM_SEAT_ENV
from clusterkit.jobs.impi_debug import parse_cpu_list
from clusterkit.machine.environment import find_mpirun, mpi_environment
from clusterkit.machine.topology import allowed_cpus, format_cpu_list

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
REQUIRED_PYTHON = (3, 11)


@dataclass
class Row:
    item: str
    ok: bool
    detail: str
    required: bool = True


def _run_ranks(part: str, timeout: float = 90, genv: dict | None = None) -> tuple[bool, str]:
    from clusterkit.jobs.runner import MpiError, mpirun

    try:
        result = mpirun(SCRIPTS / "selfcheck_ranks.py", part, n=2, genv=genv, echo=False, timeout=timeout)
    except MpiError as problem:
        return False, str(problem).splitlines()[0]
    found = [line for line in result.app_lines() if line.startswith(f"{part}:")]
    return bool(found), (found[-1][len(part) + 2:] if found else "no result line printed")


def check_python() -> Row:
    ok = sys.version_info[:2] == REQUIRED_PYTHON
    return Row("Python", ok, f"{platform.python_version()} at {sys.executable}")


def check_intel_mpi() -> Row:
    mpirun = find_mpirun()
    if mpirun is None:
        return Row("Intel MPI", False, "mpirun not in this environment: run `make setup`")
    version = subprocess.run([mpirun, "-V"], capture_output=True, text=True, env=mpi_environment()).stdout
    found = re.search(r"Version (\S+)", version)
    return Row("Intel MPI", bool(found), f"{found[1] if found else 'unknown version'} ({mpirun})")


def check_mpirun() -> Row:
    ok, detail = _run_ranks("mpi")
    return Row("mpirun -n 2", ok and "size=2" in detail, detail)


def check_daal4py() -> Row:
    try:
        d4p = importlib.import_module("daal4py")
    except ImportError as problem:
        return Row("daal4py distributed", False, f"import failed: {problem}")
    if not getattr(d4p, "__has_dist__", False):
        return Row("daal4py distributed", False, "daal4py was built without distributed (SPMD) mode")
    ok, detail = _run_ranks("daal4py")
    version = metadata.version("scikit-learn-intelex")
    return Row("daal4py distributed", ok and "procs=2" in detail, f"scikit-learn-intelex {version}: {detail}")


def check_horovod() -> Row:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are not results
    try:
        hvd = importlib.import_module("horovod.tensorflow")
    except Exception as problem:  # a partial build fails here with an ImportError or NotFoundError
        return Row("Horovod + TensorFlow", False, f"horovod.tensorflow does not import: {problem}")
    built = {"MPI": hvd.mpi_built(), "Gloo": hvd.gloo_built()}
    missing = [name for name, present in built.items() if not present]
    if missing:
        return Row("Horovod + TensorFlow", False, f"built without {', '.join(missing)}: rerun `make setup`")
    # fused allreduces and fused allgathers (what a model's gradient exchange runs), checked against NumPy, over
    # each library Horovod can use under mpirun (oneCCL only where it could be built)
    operations = ["MPI", "CCL"] if hvd.ccl_built() else ["MPI"]
    results = {op: fused_collectives(op) for op in operations}
    import horovod
    import tensorflow as tf

    from clusterkit.rank.horovod_env import ccl_unavailable_reason

    built_text = ("MPI+Gloo+oneCCL built" if hvd.ccl_built()
                  else f"MPI+Gloo built (no oneCCL: {ccl_unavailable_reason()})")
    return Row("Horovod + TensorFlow", all(ok for ok, _ in results.values()),
               f"horovod {horovod.__version__}, TF {tf.__version__}, {built_text}; "
               + "; ".join(f"{op}: {detail}" for op, (_, detail) in results.items()))


def fused_collectives(operations: str) -> tuple[bool, str]:
    """Horovod's fused allreduce and fused allgather on 2 ranks over HOROVOD_CPU_OPERATIONS=`operations`."""
    from clusterkit.jobs.runner import MpiError, mpirun

    try:
        result = mpirun(SCRIPTS / "horovod_collectives.py", "--quick", n=2, echo=False, timeout=150, check=False,
                        genv={"HOROVOD_CPU_OPERATIONS": operations})
    except MpiError as problem:
        return False, str(problem).splitlines()[0]
    summary = [line for line in result.app_lines() if line.startswith("collectives:")]
    if result.returncode == 0 and summary and " 0 failed" in summary[-1]:
        return True, "fused allreduce and allgather right on 2 ranks"
    wrong = [line for line in result.app_lines() if "WRONG" in line]
    return False, (wrong[0] if wrong else f"the job ended with status {result.returncode} before its results: "
                   + (result.lines[-1] if result.lines else "no output"))


def torch_backends() -> dict[str, bool]:
    import torch.distributed as dist

    backends = {"gloo": dist.is_gloo_available(), "mpi": dist.is_mpi_available(),
                "nccl": dist.is_nccl_available()}
    try:
        importlib.import_module("oneccl_bindings_for_pytorch")
        backends["ccl"] = True
    except ImportError:
        backends["ccl"] = False
    return backends


def check_torch() -> Row:
    try:
        import torch
    except ImportError as problem:
        return Row("torch.distributed", False, f"torch does not import: {problem}")
    backends = torch_backends()
    listed = ", ".join(f"{name} {'yes' if there else 'no'}" for name, there in backends.items())
    return Row("torch.distributed", backends["gloo"], f"torch {torch.__version__}: {listed}")


def check_data() -> Row:
    from clusterkit.rank.data import DataNotStaged, load_digits_dataset

    try:
        dataset = load_digits_dataset()
    except DataNotStaged as problem:
        return Row("data", False, str(problem).splitlines()[0])
    return Row("data", True, f"{dataset.name} ({len(dataset.x_train):,}+{len(dataset.x_test):,} images); "
                             "scikit-learn sample images")


CHECKS = (check_python, check_intel_mpi, check_mpirun, check_daal4py, check_horovod, check_torch, check_data)


def check_room_seat() -> Row:
    """In the room only: the CPUs this server may use are those of the learner's seat."""
    seat_cpus = set(parse_cpu_list(os.environ[ROOM_CPUS_ENV]))
    owned = allowed_cpus() or set()
    detail = os.environ.get(ROOM_SEAT_ENV, f"CPUs {format_cpu_list(seat_cpus)}")
    if owned != seat_cpus:
        detail = f"this server may use CPUs {format_cpu_list(owned)}, not its seat's: {detail}"
    return Row("your seat", owned == seat_cpus, detail)


def run_checks() -> list[Row]:
    rows = []
    checks = CHECKS + ((check_room_seat,) if os.environ.get(ROOM_CPUS_ENV) else ())
    for check in checks:
        try:
            rows.append(check())
        except Exception as problem:  # a self-check reports, it does not crash
            rows.append(Row(check.__name__.removeprefix("check_"), False, f"{type(problem).__name__}: {problem}"))
    return rows


def format_table(rows: list[Row]) -> str:
    width = max(len(row.item) for row in rows)
    lines = [f"{'check':<{width}}  ok    detail", f"{'-' * width}  ----  {'-' * 40}"]
    for row in rows:
        lines.append(f"{row.item:<{width}}  {'yes ' if row.ok else 'NO  '}  {row.detail}")
    return "\n".join(lines)


def main() -> int:
    rows = run_checks()
    print(format_table(rows))
    failed = [row.item for row in rows if row.required and not row.ok]
    if failed:
        print(f"\nSelf-check FAILED for: {', '.join(failed)}. See the detail column; `make setup` repairs "
              "what it can.")
        return 1
    print("\nSelf-check passed: the course environment is ready.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
