"""A parameter server for SmallCNN: rank 0 holds the weights and the optimizer, the other ranks are workers that
push gradients and pull weights, all by send/recv.

    ck.mpirun("param_server.py", "--mode", "sync", n=3)    the server averages one gradient from every worker
    ck.mpirun("param_server.py", "--mode", "async", n=3)   the server applies each gradient as it arrives

Same start, data, optimizer and schedule as `ddp_train.py --epochs 1 --max-steps STEPS` on n-1 ranks: worker w
takes the batches that DDP's rank w-1 takes. Rank 0 prints `test_accuracy=`, `images_per_second=` and
`mean_staleness=` (how many server updates behind the weights were that a gradient was computed on).
"""
import argparse
import time

import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.utils.data.distributed import DistributedSampler

from clusterkit.rank import init_distributed, shutdown
from ddp_common import SmallCNN, evaluate, load_tensors


def gradient_vector(model):
    return torch.cat([parameter.grad.view(-1) for parameter in model.parameters()])


def set_gradients(model, vector):
    offset = 0
    for parameter in model.parameters():
        parameter.grad = vector[offset:offset + parameter.numel()].view_as(parameter).clone()
        offset += parameter.numel()


def work(model, rank, workers, x, y, steps, batch):
    """A worker: for each of its batches, compute the gradient at the weights it holds, push it, pull weights."""
    sampler = DistributedSampler(x, num_replicas=workers, rank=rank - 1, shuffle=True, seed=0)
    sampler.set_epoch(0)  # the shuffle DDP's rank (rank - 1) uses in its first epoch
    indices = torch.tensor(list(sampler))
    weights = parameters_to_vector(model.parameters()).detach()
    for step in range(steps):
        chosen = indices[step * batch:(step + 1) * batch]
        model.zero_grad()
        F.cross_entropy(model(x[chosen]), y[chosen]).backward()
        dist.send(gradient_vector(model), 0)  # push
        dist.recv(weights, 0)                 # pull
        vector_to_parameters(weights, model.parameters())
    return steps * batch


def serve_sync(model, optimizer, schedule, workers, steps):
    """Each step: one gradient from every worker, averaged; one update; the new weights to every worker."""
    received, staleness = torch.empty(sum(p.numel() for p in model.parameters())), []
    for _ in range(steps):
        total = torch.zeros_like(received)
        for worker in range(1, workers + 1):
            dist.recv(received, worker)
            total += received
        set_gradients(model, total / workers)
        optimizer.step()
        schedule.step()
        weights = parameters_to_vector(model.parameters()).detach()
        for worker in range(1, workers + 1):
            dist.send(weights, worker)
        staleness += [0] * workers
    return staleness


def serve_async(model, optimizer, schedule, workers, steps):
    """Each gradient is applied as soon as it arrives, from whichever worker; only that worker gets new weights.
    A gradient computed on weights `k` updates old has staleness k."""
    received, staleness = torch.empty(sum(p.numel() for p in model.parameters())), []
    version, version_of = 0, dict.fromkeys(range(1, workers + 1), 0)  # the weights each worker holds
    for _ in range(steps * workers):
        worker = dist.recv(received)  # from any worker
        staleness.append(version - version_of[worker])
        set_gradients(model, received)
        optimizer.step()
        schedule.step()
        version += 1
        dist.send(parameters_to_vector(model.parameters()).detach(), worker)
        version_of[worker] = version
    return staleness


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
    parser.add_argument("--steps", type=int, default=150, help="gradients each worker computes")
    parser.add_argument("--batch", type=int, default=64, help="images per worker per gradient")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    args = parser.parse_args()
    info = init_distributed(timeout=60)
    rank, size = info.rank, info.world_size
    if size < 2:
        raise SystemExit("a parameter server needs at least 2 ranks: rank 0 serves, the others work (use n >= 2)")
    workers = size - 1
    name, target, x_train, y_train, x_test, y_test = load_tensors()
    torch.manual_seed(0)  # the same initial weights as ddp_train.py
    model = SmallCNN()

    dist.barrier()
    started = time.perf_counter()
    if rank == 0:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        updates = args.steps if args.mode == "sync" else args.steps * workers
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=updates)
        serve = serve_sync if args.mode == "sync" else serve_async
        staleness = serve(model, optimizer, schedule, workers, args.steps)
    else:
        work(model, rank, workers, x_train, y_train, args.steps, args.batch)
    seconds = time.perf_counter() - started

    weights = parameters_to_vector(model.parameters()).detach()
    dist.broadcast(weights, 0)  # everyone scores the server's final weights
    vector_to_parameters(weights, model.parameters())
    accuracy = evaluate(model, x_test, y_test, rank, size)
    if rank == 0:
        print(f"data: {name}, {workers} worker(s) x {args.batch} images, {args.steps} gradients each, {args.mode}")
        print(f"mean_staleness={sum(staleness) / len(staleness):.2f}")
        print(f"max_staleness={max(staleness)}")
        print(f"test_accuracy={accuracy:.4f}")
        print(f"images_per_second={workers * args.steps * args.batch / seconds:.0f}")
    shutdown()


if __name__ == "__main__":
    main()
