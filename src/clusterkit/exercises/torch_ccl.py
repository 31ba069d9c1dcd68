"""Module 04 (PyTorch distributed on CPUs): the per-rank plumbing its scripts share, and its exercise checks.

Per-rank plumbing (imported by the scripts in `04_torch_ccl/`):

    info = init_distributed()     # under mpirun or torchrun: ranks, rendezvous, backend said out loud

- under `mpirun` it maps Intel MPI's PMI_RANK / PMI_SIZE / MPI_LOCALRANKID to torch's RANK /
  WORLD_SIZE / LOCAL_RANK, initialises MPI (so I_MPI_DEBUG prints the pinning table, and an
  exception on one rank aborts them all) and lets rank 0 pick a free MASTER_PORT that MPI hands to
  the others, unless MASTER_PORT is given;
- under `torchrun` it takes what torchrun set;
- the backend is `ccl` when Intel's `oneccl_bindings_for_pytorch` imports, else `gloo`;
- a busy MASTER_PORT, a world-size mismatch or a missing rank become a RendezvousError that says
  what happened and what to do, after at most `timeout` seconds, never a hang.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import timedelta

from ..checks import Hint, exercise_check

MPI_TO_TORCH = {"PMI_RANK": "RANK", "PMI_SIZE": "WORLD_SIZE", "MPI_LOCALRANKID": "LOCAL_RANK"}
LOOPBACK = "127.0.0.1"


class RendezvousError(RuntimeError):
    """The ranks could not form a process group; the message says why and what to do."""


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str
    launcher: str


def torch_env_from_mpi(environ) -> dict[str, str]:
    """RANK, WORLD_SIZE and LOCAL_RANK (what torch.distributed reads) from Intel MPI's variables."""
    missing = [name for name in MPI_TO_TORCH if name not in environ]
    if missing:
        raise RendezvousError(f"{', '.join(missing)} not set: this process was not started by Intel MPI's mpirun")
    return {torch_name: str(environ[mpi_name]) for mpi_name, torch_name in MPI_TO_TORCH.items()}


def launcher(environ=None) -> str:
    """Who started this process: 'torchrun', 'mpirun' or 'python' (a single process)."""
    environ = os.environ if environ is None else environ
    if "TORCHELASTIC_RUN_ID" in environ:
        return "torchrun"
    if "PMI_RANK" in environ:
        return "mpirun"
    return "python"


def choose_backend() -> tuple[str, str]:
    """('ccl', why) when Intel's oneCCL binding for PyTorch imports, else ('gloo', why)."""
    try:
        import oneccl_bindings_for_pytorch  # noqa: F401  (registers the 'ccl' backend on import)
    except ImportError:
        return "gloo", "oneccl_bindings_for_pytorch is not installed, so gloo, PyTorch's built-in CPU backend"
    return "ccl", "oneccl_bindings_for_pytorch imported, so Intel oneCCL"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _mpi_rendezvous(environ) -> None:
    """Under mpirun: set RANK/WORLD_SIZE/LOCAL_RANK, and MASTER_ADDR/PORT chosen by rank 0 via MPI."""
    from mpi4py import MPI  # MPI_Init: the pinning table, and MPI_Abort on an uncaught exception

    comm = MPI.COMM_WORLD
    mapped = torch_env_from_mpi(environ)
    for name in ("RANK", "WORLD_SIZE"):
        if name in environ and environ[name] != mapped[name]:
            raise RendezvousError(
                f"world-size mismatch: {name}={environ[name]} was set, but mpirun started this process as "
                f"{name}={mapped[name]} (PMI_SIZE={environ['PMI_SIZE']}). What to do: drop {name} from "
                "genv/env and let the script take it from mpirun, or start as many ranks as you meant (-n).")
    environ.update(mapped)
    hosts = comm.allgather(socket.gethostname())
    if "MASTER_ADDR" not in environ:
        environ["MASTER_ADDR"] = LOOPBACK if len(set(hosts)) == 1 else hosts[0]
    if "MASTER_PORT" not in environ:
        environ["MASTER_PORT"] = str(comm.bcast(free_port() if comm.rank == 0 else None, root=0))


def init_distributed(timeout: float = 30.0, backend: str | None = None, say: bool = True) -> DistInfo:
    """Join the default process group (see the module docstring); rank 0 says which backend and why."""
    import torch.distributed as dist

    environ = os.environ
    started_by = launcher(environ)
    if started_by == "mpirun":
        _mpi_rendezvous(environ)
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in environ]
    if missing:
        raise RendezvousError(f"{', '.join(missing)} not set. What to do: start the script with "
                              "ck.mpirun('script.py', n=2) or torchrun --nproc-per-node 2 script.py.")
    why = f"asked for {backend}"
    if backend is None:
        backend, why = choose_backend()
    port, address = environ["MASTER_PORT"], environ["MASTER_ADDR"]
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    except dist.DistNetworkError as error:
        if "EADDRINUSE" in str(error):
            raise RendezvousError(
                f"MASTER_PORT {port} is already in use on {address}: another job (or an earlier run that has "
                "not ended) listens there, so rank 0 cannot host the rendezvous. What to do: pick a free "
                "port (free_port()), or leave MASTER_PORT unset under mpirun so rank 0 picks one.") from error
        raise RendezvousError(f"rank {environ['RANK']} could not reach the rendezvous at {address}:{port}: "
                              f"{error}") from error
    except dist.DistStoreError as error:
        joined = re.search(r"(\d+)/(\d+) clients joined", str(error))
        count = f" (only {joined[1]} of {joined[2]} ranks arrived)" if joined else ""
        raise RendezvousError(
            f"the rendezvous at {address}:{port} timed out after {timeout:g} s{count}: WORLD_SIZE="
            f"{environ['WORLD_SIZE']} ranks were expected. Either fewer processes were started than "
            "WORLD_SIZE says, or a rank died before joining. What to do: start exactly WORLD_SIZE ranks "
            "and read the first error above.") from error
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(environ.get("LOCAL_RANK", 0)), backend,
                    started_by)
    if say and info.rank == 0:
        print(f"backend={backend} ({why}); started by {started_by}, world size {info.world_size}", flush=True)
    return info


def shutdown() -> None:
    """End a rank cleanly: destroy the process group, finalize MPI if it was started, exit at once.

    Exiting through the interpreter's normal teardown sometimes aborted a rank after a DDP run
    ("terminate called without an active exception": gloo's C++ threads outliving Python, the problem
    described in pytorch/pytorch#179291). os._exit skips that teardown once all work is done.
    """
    import sys

    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.Finalize()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ---------------------------------------------------------------------------------------------------
# Exercise checks
# ---------------------------------------------------------------------------------------------------

@exercise_check("Map Intel MPI's variables to torch.distributed's")
def check_env_mapping(torch_env_from_pmi):
    """01: torch_env_from_pmi(environ) -> {'RANK', 'WORLD_SIZE', 'LOCAL_RANK'} as strings."""
    # rank 3 of 4, the second rank on its node: every value differs, so a swap shows
    environ = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "OMP_NUM_THREADS": "1"}
    result = torch_env_from_pmi(dict(environ))
    if not isinstance(result, dict):
        raise Hint(f"return a dict of environment variables, not {type(result).__name__}")
    wanted = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    missing = [name for name in wanted if name not in result]
    if missing:
        raise Hint(f"the dict has no {', '.join(missing)}: torch.distributed reads RANK, WORLD_SIZE "
                   "(and torchrun-style code LOCAL_RANK)")
    not_text = [name for name in wanted if not isinstance(result[name], str)]
    if not_text:
        raise Hint(f"{', '.join(not_text)} must be strings: environment variables hold text (use str())")
    if result["RANK"] == "1":
        raise Hint("RANK came from MPI_LOCALRANKID, the rank within one node; the global rank is PMI_RANK")
    if result["LOCAL_RANK"] == "3":
        raise Hint("LOCAL_RANK came from PMI_RANK, the global rank; the rank within the node is MPI_LOCALRANKID")
    if result["WORLD_SIZE"] == "3":
        raise Hint("WORLD_SIZE is the number of ranks (PMI_SIZE), not the highest rank")
    if any(result[name] != value for name, value in wanted.items()):
        raise Hint(f"for PMI_RANK=3, PMI_SIZE=4, MPI_LOCALRANKID=1 you returned {result}; expected {wanted}")


@exercise_check("What reduce-scatter leaves on each rank")
def check_reduce_scatter(expected_reduce_scatter):
    """02: expected_reduce_scatter(inputs, rank) -> the chunk `rank` holds after reduce_scatter(SUM)."""
    import numpy as np

    inputs = [np.arange(6.0) * (r + 1) + 10 * r for r in range(3)]  # 3 ranks, 6 numbers each
    total = np.sum(inputs, axis=0)
    for rank in range(3):
        got = np.asarray(expected_reduce_scatter([x.copy() for x in inputs], rank), dtype=float)
        right = total[2 * rank:2 * rank + 2]
        if got.shape == total.shape:
            raise Hint("you returned the whole summed vector: that is all_reduce. reduce_scatter leaves "
                       "each rank only its own 1/world_size chunk of the sum")
        if got.shape != right.shape:
            raise Hint(f"rank {rank} of 3 with 6 numbers each must get {right.shape[0]} numbers "
                       f"(6 / 3), you returned shape {got.shape}")
        if np.allclose(got, inputs[rank][2 * rank:2 * rank + 2]):
            raise Hint(f"rank {rank} got its own chunk unsummed: reduce_scatter adds the chunk from every rank")
        if not np.allclose(got, right):
            other = [r for r in range(3) if np.allclose(got, total[2 * r:2 * r + 2])]
            if other:
                raise Hint(f"rank {rank} got chunk {other[0]}: rank r receives chunk number r")
            raise Hint(f"rank {rank}: expected {right.tolist()}, you returned {got.tolist()}")


@exercise_check("Load the rank-0 checkpoint into a fresh model")
def check_checkpoint_model(model, checkpoint):
    """03: `model` is a fresh SmallCNN with the checkpoint's weights, ready to evaluate."""
    import torch

    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        raise Hint("evaluate a plain model: DDP needs a process group, and a checkpoint is for any process")
    if not isinstance(model, torch.nn.Module):
        raise Hint(f"return the model (an nn.Module), not {type(model).__name__}")
    saved = checkpoint["model"]
    state = model.state_dict()
    if set(state) != set(saved):
        raise Hint(f"the parameter names differ: model has {sorted(state)[:2]}..., checkpoint has "
                   f"{sorted(saved)[:2]}...; a 'module.' prefix means a DDP wrapper's state_dict")
    differing = [name for name in saved if not torch.equal(state[name], saved[name])]
    if differing:
        raise Hint(f"{len(differing)} tensors (e.g. {differing[0]}) differ from the checkpoint: call "
                   "model.load_state_dict(checkpoint['model'])")
    if model.training:
        raise Hint("switch the model to evaluation mode (model.eval()) before measuring accuracy")


@exercise_check("Environment for a ranks x threads layout")
def check_layout_env(layout_env, cores: int = 2):
    """04: layout_env(ranks, threads) -> genv dict giving each rank `threads` cores of its own."""
    for ranks, threads in ((1, cores), (cores, 1)):
        env = layout_env(ranks, threads)
        if not isinstance(env, dict):
            raise Hint(f"return a dict of variables for mpirun's -genv, not {type(env).__name__}")
        if str(env.get("OMP_NUM_THREADS")) != str(threads):
            raise Hint(f"for {ranks} rank(s) x {threads} thread(s) OMP_NUM_THREADS must be {threads}, "
                       f"you set {env.get('OMP_NUM_THREADS')!r}: without it every rank starts one thread per core")
        domain = str(env.get("I_MPI_PIN_DOMAIN", ""))
        if domain in ("", "core", "1") and threads > 1:
            raise Hint(f"I_MPI_PIN_DOMAIN={domain or 'unset'} gives a rank one core, so its {threads} threads "
                       "share it; 'omp' sizes each rank's domain by OMP_NUM_THREADS")
        if domain not in ("omp", str(threads)) and not (domain == "core" and threads == 1):
            raise Hint(f"I_MPI_PIN_DOMAIN={domain!r}: use 'omp' (domain size = OMP_NUM_THREADS) or "
                       f"the number {threads}")


@exercise_check("Compress a gradient to bfloat16")
def check_bf16_compress(compress):
    """05: compress(grad) -> bfloat16 tensor of the same shape (what bf16_compress_hook sends)."""
    import torch

    grad = torch.tensor([1.0e6, -3.0e-30, 0.1, 1.0 + 2 ** -10])
    sent = compress(grad.clone())
    if not isinstance(sent, torch.Tensor):
        raise Hint(f"return a tensor, not {type(sent).__name__}")
    if sent.dtype == torch.float16:
        raise Hint("that is float16: 1e6 overflows to inf and 3e-30 underflows to 0 (5 exponent bits); "
                   "bfloat16 keeps float32's 8 exponent bits: use grad.to(torch.bfloat16)")
    if sent.dtype != torch.bfloat16:
        raise Hint(f"the tensor is {sent.dtype}; a bf16 hook sends torch.bfloat16 (2 bytes per number)")
    if sent.shape != grad.shape:
        raise Hint(f"keep the shape {tuple(grad.shape)}; you returned {tuple(sent.shape)}")
    relative = ((sent.float() - grad).abs() / grad.abs()).max().item()
    if relative > 2 ** -8:
        raise Hint(f"the round trip is off by {relative:.2g} (relative); bfloat16 rounds to 8 significant "
                   "bits, so at most 2**-8: convert the values, don't rescale them")


@exercise_check("Allreduce bandwidth from a message size and a time")
def check_bus_bandwidth(bus_bandwidth):
    """06: bus_bandwidth(nbytes, seconds, world_size) -> GB/s as nccl-tests define 'busbw'."""
    cases = ((8 * 2 ** 20, 0.004, 2), (2 ** 20, 0.001, 4))
    for nbytes, seconds, size in cases:
        got = bus_bandwidth(nbytes, seconds, size)
        algbw = nbytes / seconds / 1e9
        right = algbw * 2 * (size - 1) / size
        if abs(got - right) <= 1e-9 * right:
            continue
        if abs(got - algbw) <= 1e-9 * algbw:
            raise Hint("that is the algorithm bandwidth (bytes / time); an allreduce moves each byte "
                       "2(n-1)/n times, so multiply by 2 * (world_size - 1) / world_size")
        if abs(got - 8 * right) <= 1e-9 * right:
            raise Hint("you computed gigabits: report gigabytes (don't multiply by 8)")
        if abs(got - right * 1e9) <= 1e-3 * right * 1e9:
            raise Hint("the result is in bytes/s: divide by 1e9 for GB/s")
        if abs(got * 1e3 - right) <= 1e-6 * right or abs(got - right * 1e3) <= 1e-6 * right * 1e3:
            raise Hint("seconds, not milliseconds: the time is given in seconds")
        raise Hint(f"for {nbytes} bytes in {seconds} s on {size} ranks: expected {right:.4g} GB/s, got {got!r}")
