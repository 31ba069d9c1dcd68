# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/04_torch_ccl/elastic_train.py (`%solution` loads it). Made from it by `make exercises`; sha256:5a6004407b99b3e7
"""Elastic data-parallel training: a node may be lost mid-training, and the job still ends with the model that
one process trains.

    torchrun --nnodes=1:2 --nproc-per-node=1 --max-restarts=1 --rdzv-backend=c10d \\
             --rdzv-endpoint=127.0.0.1:29400 --rdzv-id=job1 elastic_train.py --state-dir runs/job1

Each node runs the same command: an agent that meets the other agents at the rendezvous and starts the workers.
When a worker fails (its node was lost, a collective broke), the agents stop every worker and start new ones on
the nodes that are left (a restart), at the new world size. So a worker rebuilds everything from what was saved:

- the data order is a function of the step number alone: step s takes the same 32 samples on any number of
  ranks, each rank an equal share of them, and DDP averages the gradients: the update one process makes;
- rank 0 commits the training state after every step (a temporary file, then a rename: a kill in the middle of
  a write leaves the last state whole); a restart loads it and goes on with the next step.
"""
import argparse
import contextlib
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from clusterkit.rank import init_distributed, shutdown

SAMPLES, FEATURES, GLOBAL_BATCH = 512, 8, 32
STATE_FILE = "state.pt"


def synthetic_data(seed: int = 0):
    """The data set called synthetic: SAMPLES points, y = a fixed non-linear function of x plus a little noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, FEATURES, generator=generator)
    weights = torch.randn(FEATURES, 1, generator=generator)
    y = torch.tanh(x @ weights) + 0.05 * torch.randn(SAMPLES, 1, generator=generator)
    return x, y


def make_model() -> nn.Module:
    torch.manual_seed(0)  # the same initial weights on every rank and in every attempt
    return nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh(), nn.Linear(16, 1))


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)  # momentum: state beyond the weights


def batch_of_step(step: int, rank: int, world_size: int) -> torch.Tensor:
    """The sample indices this rank trains on at `step`: the step's 32 samples, drawn from the step number alone,
    split into equal shares, one per rank."""
    if GLOBAL_BATCH % world_size:
        raise ValueError(f"the global batch of {GLOBAL_BATCH} samples does not split evenly over {world_size} ranks, "
                         "so the ranks' gradients would not average to one process's: use a world size that "
                         f"divides {GLOBAL_BATCH} (--nnodes and --nproc-per-node)")
    chosen = torch.randperm(SAMPLES, generator=torch.Generator().manual_seed(step))[:GLOBAL_BATCH]
    return chosen[rank::world_size]


def train_step(model, optimizer, x, y, step: int, rank: int, world_size: int) -> float:
    """One step on this rank's share of the step's batch; DDP averages the gradients over the ranks."""
    mine = batch_of_step(step, rank, world_size)
    optimizer.zero_grad()
    loss = F.mse_loss(model(x[mine]), y[mine])
    loss.backward()
    optimizer.step()
    return loss.item()


def training_state(model: nn.Module, optimizer: torch.optim.Optimizer, steps_done: int) -> dict:
    """Everything a restart needs to go on exactly where this attempt stopped (what `resume` reads)."""
    # TODO: return {"model": ..., "optimizer": ..., "steps_done": ...}: both state_dict()s and the steps done
    raise NotImplementedError("TODO: return {\"model\": ..., \"optimizer\": ..., \"steps_done\": ...}: both state_dict()s and the steps done")


def resume(state: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load a committed training state into a fresh model and optimizer; return the number of steps done."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["steps_done"]


def commit(state: dict, path: Path) -> None:
    """Save atomically: readers see the previous state or this one, never half a file."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def step_watchdog(deadline: float):
    """torchrun's worker watchdog: when a step lasts longer than `deadline` s, the agent SIGKILLs the worker.
    Returns a context manager per step (a no-op with deadline 0)."""
    if not deadline:
        return contextlib.nullcontext
    if "TORCHELASTIC_TIMER_FILE" not in os.environ:
        raise RuntimeError("--step-deadline needs the agent's watchdog: start torchrun with the environment "
                           "variable TORCHELASTIC_ENABLE_FILE_TIMER=1")
    from torch.distributed.elastic.timer import FileTimerClient, configure, expires

    configure(FileTimerClient(os.environ["TORCHELASTIC_TIMER_FILE"]))
    return lambda: expires(after=deadline, scope="train step")


def verify_finished(state_file: Path, steps: int) -> int:
    """Whether the training finished: a job whose nodes came and went succeeded when its committed state has every
    step, whatever the launchers' exit statuses say."""
    done = torch.load(state_file)["steps_done"] if state_file.exists() else 0
    if done >= steps:
        print(f"training finished: {done} of {steps} steps committed in {state_file}", flush=True)
        return 0
    print(f"ElasticTrainingIncompleteError: the committed state has {done} of {steps} steps ({state_file}): the job "
          "ended before its training did. Submit it again with the same state folder to resume after step "
          f"{done}.", flush=True)
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, help="where rank 0 commits the training state (shared)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--collective-timeout", type=float, default=60.0,
                        help="seconds a collective may wait for the other ranks before it raises")
    parser.add_argument("--step-deadline", type=float, default=0.0,
                        help="seconds a step may take before torchrun's watchdog kills the worker (0: no watchdog)")
    parser.add_argument("--verify-finished", action="store_true",
                        help="train nothing: exit 0 if the committed state has every step, else 1 (for job scripts)")
    args = parser.parse_args()
    if args.verify_finished:
        sys.exit(verify_finished(Path(args.state_dir) / STATE_FILE, args.steps))

    info = init_distributed(timeout=args.collective_timeout, say=False)
    rank, world_size = info.rank, info.world_size
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    batch_of_step(0, rank, world_size)  # bad input stops every rank now, before any collective
    x, y = synthetic_data()
    model = make_model()
    optimizer = make_optimizer(model)
    state_file = Path(args.state_dir) / STATE_FILE
    steps_done = resume(torch.load(state_file), model, optimizer) if state_file.exists() else 0
    if rank == 0:
        found = f"resuming after step {steps_done}" if state_file.exists() else "no committed state, starting at step 0"
        print(f"attempt {attempt}: world size {world_size}, {found}", flush=True)
    ddp_model = DistributedDataParallel(model)
    watched = step_watchdog(args.step_deadline)
    for step in range(steps_done, args.steps):
        with watched():
            loss = train_step(ddp_model, optimizer, x, y, step, rank, world_size)
        if rank == 0:
            commit(training_state(model, optimizer, step + 1), state_file)
            print(f"committed step={step + 1} world_size={world_size} loss={loss:.6f}", flush=True)
    if rank == 0:
        with torch.no_grad():
            print(f"full_data_loss={F.mse_loss(model(x), y).item():.6f}", flush=True)
    dist.barrier()
    shutdown()


if __name__ == "__main__":
    main()
