"""torch.distributed set-up for per-rank scripts (module 04_torch_ccl and the strategies it builds).

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
