"""The collectives Horovod runs for the course, in each of its CPU backends, on 2 ranks and on an uneven 3, every
result compared with NumPy (src/clusterkit/scripts/horovod_collectives.py); MPI and oneCCL under mpirun, Gloo
under horovodrun. Horovod's timeline proves that the fused cases really went through the fusion buffer. And every
Horovod job of the course says which library carries its operations (built with oneCCL, Horovod picks oneCCL)."""
import json

import pytest

import clusterkit as ck
from clusterkit.rank.horovod_env import RANK_ENV, ccl_unavailable_reason
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.notebook.selfcheck import SCRIPTS
from conftest import code_cells

SCRIPT = SCRIPTS / "horovod_collectives.py"


def run(operations: str, ranks: int, timeline, *args):
    env = {**RANK_ENV, "HOROVOD_TIMELINE": timeline}
    if operations == "GLOO":  # horovodrun --gloo sets HOROVOD_CPU_OPERATIONS=gloo itself
        return ck.horovodrun(SCRIPT, *args, n=ranks, env=env, timeout=240, echo=False, check=False)
    return ck.mpirun(SCRIPT, *args, n=ranks, genv={**env, "HOROVOD_CPU_OPERATIONS": operations}, timeout=240,
                     echo=False, check=False)


def fused_names(timeline) -> set[str]:
    """Tensors that Horovod copied into its fusion buffer (an operation of two or more entries)."""
    text = timeline.read_text().rstrip().rstrip(",")
    events = json.loads(text + ("" if text.endswith("]") else "]"))
    tensors = {event["pid"]: event["args"]["name"] for event in events
               if event.get("name") == "process_name" and "name" in event.get("args", {})}
    return {tensors[event["pid"]] for event in events if event.get("name") == "MEMCPY_IN_FUSION_BUFFER"}


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("operations", ["MPI", "CCL", "GLOO"])
def test_every_collective_matches_numpy(operations, ranks, tmp_path):
    if operations == "CCL" and (reason := ccl_unavailable_reason()):
        pytest.skip(reason)
    timeline = tmp_path / "timeline.json"
    job = run(operations, ranks, timeline)
    summary = [line for line in job.app_lines() if "collectives:" in line]
    wrong = [line for line in job.app_lines() if "WRONG" in line]
    assert job.returncode == 0 and summary, f"exit status {job.returncode}; {wrong}\n{job.output[-3000:]}"
    assert " 0 failed" in summary[-1] and f"size={ranks}" in summary[-1], summary
    assert summary[-1].lower().endswith(f"cpu_operations={operations.lower()}")  # horovodrun sets gloo
    fused = fused_names(timeline)
    for case in ("fused_allgather_0_float32", "fused_allreduce_0_float32"):
        assert any(case in name for name in fused), f"{case} was not fused: {sorted(fused)[:20]}"


HOROVOD_SCRIPTS = ("train_keras.py", "train_tape.py", "benchmark.py", "allreduce_bench.py", "train_unet.py")


def test_every_horovod_job_of_the_course_names_its_cpu_operations():
    for notebook in sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")):
        for source in code_cells(notebook):
            if "mpirun(" in source and any(s in source for s in HOROVOD_SCRIPTS):
                assert "RANK_ENV" in source or "HOROVOD_CPU_OPERATIONS" in source, (notebook.name, source[:300])
    for script in HOROVOD_SCRIPTS:  # and each job prints the library it ran with
        assert "cpu_operations()" in (REPO_ROOT / "solutions" / "03_horovod" / script).read_text(), script
    for job in sorted((REPO_ROOT / "solutions" / "05_clusters").glob("horovod_*")):
        assert "HOROVOD_CPU_OPERATIONS" in job.read_text(), job.name
