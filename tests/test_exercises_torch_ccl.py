"""Module 04 (PyTorch distributed): the checks reject typical wrong answers with specific hints, the
rendezvous faults (busy MASTER_PORT, world-size mismatch, a rank that dies) end in a clear error, not a hang,
and the layouts notebook 04 measures follow the cores owned, on other machines (tests/fixtures/machines)."""
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import clusterkit as ck
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.rank import torch_dist
from clusterkit.exercises import torch_ccl
from conftest import code_cells, fails_with, recorded_machine

HELLO = REPO_ROOT / "solutions" / "04_torch_ccl" / "hello_torch_dist.py"
WORKERS_PER_SOCKET = REPO_ROOT / "solutions" / "04_torch_ccl" / "04_workers_per_socket.ipynb"


# --- plumbing -------------------------------------------------------------------------------------

def test_torch_env_from_mpi_maps_and_explains_missing():
    assert torch_dist.torch_env_from_mpi({"PMI_RANK": 3, "PMI_SIZE": 4, "MPI_LOCALRANKID": 1}) == \
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    with pytest.raises(torch_dist.RendezvousError, match="not started by Intel MPI's mpirun"):
        torch_dist.torch_env_from_mpi({"PMI_RANK": "0"})


def test_launcher_and_backend_are_named():
    assert torch_dist.launcher({"TORCHELASTIC_RUN_ID": "x", "PMI_RANK": "0"}) == "torchrun"
    assert torch_dist.launcher({"PMI_RANK": "0"}) == "mpirun"
    assert torch_dist.launcher({}) == "python"
    backend, why = torch_dist.choose_backend()
    try:
        import oneccl_bindings_for_pytorch  # noqa: F401
        assert backend == "ccl"
    except ImportError:
        assert backend == "gloo" and "not installed" in why


def test_free_port_can_be_bound():
    port = torch_dist.free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


# --- checks ---------------------------------------------------------------------------------------

def test_check_env_mapping():
    def right(env):
        return {"RANK": env["PMI_RANK"], "WORLD_SIZE": env["PMI_SIZE"], "LOCAL_RANK": env["MPI_LOCALRANKID"]}

    torch_ccl.check_env_mapping(right)
    fails_with(torch_ccl.check_env_mapping, lambda env: {**right(env), "RANK": env["MPI_LOCALRANKID"]},
               hint="RANK came from MPI_LOCALRANKID")
    fails_with(torch_ccl.check_env_mapping, lambda env: {**right(env), "LOCAL_RANK": env["PMI_RANK"]},
               hint="LOCAL_RANK came from PMI_RANK")
    fails_with(torch_ccl.check_env_mapping, lambda env: {"RANK": env["PMI_RANK"], "WORLD_SIZE": env["PMI_SIZE"]},
               hint="no LOCAL_RANK")
    fails_with(torch_ccl.check_env_mapping, lambda env: {k: int(v) for k, v in right(env).items()},
               hint="must be strings")
    fails_with(torch_ccl.check_env_mapping, lambda env: {**right(env), "WORLD_SIZE": "3"}, hint="number of ranks")


def test_check_reduce_scatter():
    torch_ccl.check_reduce_scatter(lambda inputs, r: np.array_split(np.sum(inputs, axis=0), len(inputs))[r])
    fails_with(torch_ccl.check_reduce_scatter, lambda inputs, r: np.sum(inputs, axis=0), hint="that is all_reduce")
    fails_with(torch_ccl.check_reduce_scatter, lambda inputs, r: np.array_split(inputs[r], len(inputs))[r],
               hint="own chunk unsummed")
    fails_with(torch_ccl.check_reduce_scatter,
               lambda inputs, r: np.array_split(np.sum(inputs, axis=0), len(inputs))[len(inputs) - 1 - r],
               hint="rank r receives chunk number r")
    fails_with(torch_ccl.check_reduce_scatter, lambda inputs, r: np.sum(inputs, axis=0)[:3], hint="must get 2 numbers")


def _checkpoint_and_model():
    sys.path.insert(0, str(HELLO.parent))
    from ddp_common import SmallCNN

    torch.manual_seed(1)
    trained = SmallCNN()
    return {"model": trained.state_dict()}, SmallCNN


def test_check_checkpoint_model():
    checkpoint, SmallCNN = _checkpoint_and_model()
    model = SmallCNN()
    model.load_state_dict(checkpoint["model"])
    torch_ccl.check_checkpoint_model(model.eval(), checkpoint)
    fails_with(torch_ccl.check_checkpoint_model, SmallCNN().eval(), checkpoint, hint="load_state_dict")
    fails_with(torch_ccl.check_checkpoint_model, model.train(), checkpoint, hint=r"model.eval\(\)")
    prefixed = {"model": {f"module.{k}": v for k, v in checkpoint["model"].items()}}
    fails_with(torch_ccl.check_checkpoint_model, model.eval(), prefixed, hint="'module.' prefix")


def test_check_layout_env():
    def layout(domain):
        return lambda ranks, threads: {"OMP_NUM_THREADS": threads, "I_MPI_PIN_DOMAIN": domain}

    torch_ccl.check_layout_env(layout("omp"))
    fails_with(torch_ccl.check_layout_env, lambda ranks, threads: {"I_MPI_PIN_DOMAIN": "omp"},
               hint="OMP_NUM_THREADS must be")
    fails_with(torch_ccl.check_layout_env, layout("core"), hint="gives a rank one core")
    fails_with(torch_ccl.check_layout_env, layout("socket"), hint="use 'omp'")
    # one rank per core: I_MPI_PIN_DOMAIN=core is right when each rank has one thread
    torch_ccl.check_layout_env(lambda ranks, threads: layout("omp" if threads > 1 else "core")(ranks, threads))
    # fixed layouts, whatever this machine is: 1 core, 2 cores, the workshop's node (2 x 28, 56 x 1)
    seen = []
    torch_ccl.check_layout_env(lambda ranks, threads: seen.append((ranks, threads)) or layout("omp")(ranks, threads))
    assert {(1, 1), (1, 2), (2, 1), (2, 28), (56, 1)} <= set(seen)


def _layouts_cell() -> str:
    """The code cell of notebook 04 that derives the layouts to measure from ck.local_topology()."""
    return next(source for source in code_cells(WORKERS_PER_SOCKET) if "layouts = [" in source)


@pytest.mark.parametrize("name, allowed, expected", [
    ("xeon_2s28c_ht", None, [(1, 56), (2, 28), (56, 1)]),  # the workshop's node: a rank per socket too
    ("xeon_2s28c_ht", set(range(28)) | set(range(56, 84)), [(1, 28), (28, 1)]),  # one socket of it
    ("xeon_2s28c_ht", {0, 1, 2, 28}, [(1, 4), (4, 1)]),  # an allocation with 3 + 1 cores: no rank per socket
    ("xeon_2s28c_ht", {5}, [(1, 1)]),  # a 1-core allocation
    ("laptop_8c_ht_avx2", None, [(1, 8), (8, 1)]),
    ("epyc_avx512_2core", None, [(1, 2), (2, 1)]),
])
def test_notebook_04_layouts_follow_the_cores_owned(monkeypatch, capsys, name, allowed, expected):
    owned = recorded_machine(name, allowed)
    monkeypatch.setattr(ck, "local_topology", lambda: owned)
    namespace = {}
    exec(_layouts_cell(), namespace)
    assert namespace["layouts"] == expected
    only_one = "the only layout is 1 rank x 1 thread" in capsys.readouterr().out
    assert only_one is (expected == [(1, 1)])


def test_check_bf16_compress():
    torch_ccl.check_bf16_compress(lambda grad: grad.to(torch.bfloat16))
    fails_with(torch_ccl.check_bf16_compress, lambda grad: grad.half(), hint="that is float16")
    fails_with(torch_ccl.check_bf16_compress, lambda grad: grad, hint="is torch.float32")
    fails_with(torch_ccl.check_bf16_compress, lambda grad: (grad / 2).to(torch.bfloat16), hint="don't rescale")
    fails_with(torch_ccl.check_bf16_compress, lambda grad: grad.to(torch.bfloat16)[:2], hint="keep the shape")


def test_check_bus_bandwidth():
    def right(b, s, n):
        return b / s * 2 * (n - 1) / n / 1e9

    torch_ccl.check_bus_bandwidth(right)
    fails_with(torch_ccl.check_bus_bandwidth, lambda b, s, n: b / s / 1e9, hint="algorithm bandwidth")
    fails_with(torch_ccl.check_bus_bandwidth, lambda b, s, n: 8 * right(b, s, n), hint="gigabits")
    fails_with(torch_ccl.check_bus_bandwidth, lambda b, s, n: right(b, s, n) * 1e9, hint="divide by 1e9")
    fails_with(torch_ccl.check_bus_bandwidth, lambda b, s, n: right(b, s * 1e3, n), hint="milliseconds")


# --- faults: a clear error within the time-out, never a hang --------------------------------------

@pytest.mark.mpi
def test_busy_master_port_is_named():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ck.MpiJobFailed, match=f"MASTER_PORT {port} is already in use"):
            ck.mpirun(HELLO, n=2, genv={"MASTER_PORT": port}, timeout=90, echo=False)


@pytest.mark.mpi
def test_world_size_mismatch_under_mpirun_is_named():
    with pytest.raises(ck.MpiJobFailed, match="world-size mismatch: WORLD_SIZE=3 was set, but mpirun started"):
        ck.mpirun(HELLO, n=2, genv={"WORLD_SIZE": 3}, timeout=90, echo=False)


@pytest.mark.mpi
def test_missing_rank_times_out_with_a_clear_error():
    """torchrun-style variables promise 2 ranks, only one comes: the rendezvous gives up after 3 s."""
    env = dict(os.environ, RANK="0", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(torch_dist.free_port()), TORCHELASTIC_RUN_ID="test")
    code = "from clusterkit.rank.torch_dist import init_distributed; init_distributed(timeout=3)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "timed out after 3 s (only 1 of 2 ranks arrived)" in done.stderr


@pytest.mark.mpi
def test_rank_that_dies_ends_the_job(tmp_path):
    script = tmp_path / "dies.py"
    script.write_text(textwrap.dedent("""
        import os, signal
        import torch, torch.distributed as dist
        from clusterkit.rank.torch_dist import init_distributed
        info = init_distributed(timeout=30)
        if info.rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # dies before the collective that rank 0 waits in
        dist.all_reduce(torch.ones(1))
    """))
    with pytest.raises(ck.MpiJobFailed, match=r"rank 1 \(pid \d+ on \S+\) ended badly: killed by signal: 9"):
        ck.mpirun(script, n=2, timeout=90, echo=False)


# --- checks of notebooks 07 and 08 (strategies) ------------------------------------------------------

def test_check_ring_schedule():
    torch_ccl.check_ring_schedule(lambda rank, step, size: (rank - step) % size)
    fails_with(torch_ccl.check_ring_schedule, lambda rank, step, size: (rank + step) % size, hint="wrong way round")
    fails_with(torch_ccl.check_ring_schedule, lambda rank, step, size: (rank - step - 1) % size,
               hint="the chunk a rank receives")
    fails_with(torch_ccl.check_ring_schedule, lambda rank, step, size: rank - step, hint="wrap around")
    fails_with(torch_ccl.check_ring_schedule, lambda rank, step, size: step % size, hint="depends on both")
    fails_with(torch_ccl.check_ring_schedule, lambda rank, step, size: rank, hint="depends on both")


def test_check_bytes_per_rank():
    def ring(nbytes, n):
        return 2 * (n - 1) * nbytes / n

    def server(nbytes, n):
        return (n - 1) * nbytes

    torch_ccl.check_bytes_per_rank(ring, server)
    fails_with(torch_ccl.check_bytes_per_rank, lambda b, n: (n - 1) * b / n, server, hint="only the reduce-scatter")
    fails_with(torch_ccl.check_bytes_per_rank, lambda b, n: 2 * (n - 1) * b, server, hint="not all of it")
    fails_with(torch_ccl.check_bytes_per_rank, lambda b, n: 2 * b, server, hint="forgot the")
    fails_with(torch_ccl.check_bytes_per_rank, ring, lambda b, n: b, hint="one copy each")
    fails_with(torch_ccl.check_bytes_per_rank, ring, lambda b, n: n * b, hint="not to itself")
    fails_with(torch_ccl.check_bytes_per_rank, ring, lambda b, n: 2 * (n - 1) * b, hint="not what it receives")


def test_check_choose_strategy():
    def right(weights, activations, batch, fits):
        return "model" if not fits or weights > activations * batch else "data"

    torch_ccl.check_choose_strategy(right)
    fails_with(torch_ccl.check_choose_strategy, lambda w, a, b, fits: "model" if w > a else "data",
               hint=r"activations_per_image \* batch")
    fails_with(torch_ccl.check_choose_strategy, lambda w, a, b, fits: "data" if w > a * b else "model",
               hint="pick the strategy that moves less")
    fails_with(torch_ccl.check_choose_strategy, lambda w, a, b, fits: "model" if w > a * b else "data",
               hint="does not fit")
    fails_with(torch_ccl.check_choose_strategy, lambda w, a, b, fits: w > a * b, hint="the string 'data' or 'model'")
