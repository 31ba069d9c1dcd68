"""The collectives Horovod runs for the course, in each of its CPU backends, on 2 ranks and on an uneven 3, every
result compared with NumPy (src/clusterkit/scripts/horovod_collectives.py); MPI and oneCCL under mpirun, Gloo
under horovodrun. Horovod's timeline proves that the fused cases really went through the fusion buffer."""
import json

import pytest

import clusterkit as ck
from clusterkit.horovod_env import RANK_ENV, ccl_unavailable_reason
from clusterkit.selfcheck import SCRIPTS

pytestmark = pytest.mark.mpi

SCRIPT = SCRIPTS / "horovod_collectives.py"
# long enough that the fused cases' operations, issued together in one tf.function, meet in one cycle
CYCLE_MS = 20


def run(operations: str, ranks: int, timeline, *args):
    env = {**RANK_ENV, "HOROVOD_CPU_OPERATIONS": operations, "HOROVOD_CYCLE_TIME": CYCLE_MS,
           "HOROVOD_TIMELINE": timeline}
    if operations == "GLOO":
        return ck.horovodrun(SCRIPT, *args, n=ranks, env=env, timeout=240, echo=False, check=False)
    return ck.mpirun(SCRIPT, *args, n=ranks, genv=env, timeout=240, echo=False, check=False)


def fused_names(timeline) -> set[str]:
    """Tensors that Horovod copied into its fusion buffer (an operation of two or more entries)."""
    text = timeline.read_text().rstrip().rstrip(",")
    events = json.loads(text + ("" if text.endswith("]") else "]"))
    tensors = {event["pid"]: event["args"]["name"] for event in events
               if event.get("ph") == "M" and event.get("name") == "process_name"}
    return {tensors[event["pid"]] for event in events if event.get("name") == "MEMCPY_IN_FUSION_BUFFER"}


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
    assert f"cpu_operations={operations}" in summary[-1]
    fused = fused_names(timeline)
    for case in ("fused_allgather_0_float32", "fused_allreduce_0_float32"):
        assert any(case in name for name in fused), f"{case} was not fused: {sorted(fused)[:20]}"
