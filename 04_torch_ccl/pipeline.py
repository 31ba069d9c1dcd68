"""Model parallelism across layers: SmallCNN cut into two stages on two ranks, micro-batches as a pipeline.

    ck.mpirun("pipeline.py", "--micro-batches", 1, n=2)    no pipelining: one stage always waits for the other
    ck.mpirun("pipeline.py", "--micro-batches", 4, n=2)    4 micro-batches per step flow through the stages
    ck.mpirun("pipeline.py", "--die-at-step", 5, n=2)      stage 1 is killed mid-pipeline: the job must end

Rank 0 (stage 0) runs the convolutions and sends their activations to rank 1 (stage 1), which runs the dense
layers and the loss, and sends the gradients of those activations back. Each step (GPipe's schedule): stage 0
forwards every micro-batch, then takes their gradients back; stage 1 handles each micro-batch as it arrives.
The gradients add up over the micro-batches to exactly the whole batch's, so training is the same as one
process's. Each rank times how long it waits in `recv`: its idle time, the pipeline's "bubble".
Rank 0 prints `test_accuracy=`, `images_per_second=`, `idle_stage0=`, `idle_stage1=` (fractions of the time).
"""
import argparse
import os
import signal
import time

import torch
import torch.distributed as dist
from torch.nn import functional as F

from clusterkit.rank import init_distributed, shutdown
from ddp_common import SmallCNN, accuracy, load_tensors, single_stream_batches

FEATURES = 16 * 7 * 7  # what stage 0 hands to stage 1, per image
IDLE = {"seconds": 0.0}


def receive(shape, source):
    """dist.recv into a new tensor, timing the wait: this rank has nothing else to do meanwhile."""
    tensor = torch.empty(shape)
    started = time.perf_counter()
    dist.recv(tensor, source)
    IDLE["seconds"] += time.perf_counter() - started
    return tensor


def stage0_step(model, images, micro_batches):
    """Forward every micro-batch through the convolutions, sending each on; then backward each with the
    gradient stage 1 sends back."""
    outputs, sends = [], []
    for part in images.tensor_split(micro_batches):
        features = model.features(part)
        sends.append(dist.isend(features.detach().contiguous(), 1))
        outputs.append(features)
    for features in outputs:
        features.backward(receive(features.shape, 1))
    for request in sends:
        request.wait()


def stage1_step(model, labels, micro_batches, batch):
    """For each micro-batch: receive its features, finish the forward, the loss (its share of the batch's
    mean) and backward, send the features' gradient back."""
    sends = []
    for part in labels.tensor_split(micro_batches):
        features = receive((len(part), FEATURES), 0).requires_grad_()
        loss = F.cross_entropy(model.head(features), part, reduction="sum") / batch
        loss.backward()
        sends.append(dist.isend(features.grad.contiguous(), 0))
    for request in sends:
        request.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro-batches", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64, help="images per step")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    parser.add_argument("--die-at-step", type=int, default=None, help="kill stage 1 at this step (a fault)")
    args = parser.parse_args()
    info = init_distributed(timeout=60)
    rank, size = info.rank, info.world_size
    if size != 2:
        raise SystemExit(f"pipeline.py has 2 stages, one per rank: start it with n=2, not n={size}")
    if not 1 <= args.micro_batches <= args.batch:
        raise SystemExit(f"--micro-batches must be between 1 and --batch ({args.batch}), not {args.micro_batches}")
    name, target, x_train, y_train, x_test, y_test = load_tensors()
    torch.manual_seed(0)  # the same whole model as one process; each rank trains only its stage's layers
    model = SmallCNN()
    stage_layers = [model.conv1, model.conv2] if rank == 0 else [model.hidden, model.out]
    optimizer = torch.optim.Adam([p for layer in stage_layers for p in layer.parameters()], lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps)

    dist.barrier()
    started = time.perf_counter()
    for step, chosen in enumerate(single_stream_batches(len(x_train), args.batch, args.steps)):
        if step == args.die_at_step and rank == 1:
            print(f"stage 1: killing myself at step {step} (--die-at-step)", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        optimizer.zero_grad()
        if rank == 0:
            stage0_step(model, x_train[chosen], args.micro_batches)
        else:
            stage1_step(model, y_train[chosen], args.micro_batches, args.batch)
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - started
    idle = [None, None]
    dist.all_gather_object(idle, IDLE["seconds"] / seconds)

    # score the pipeline as it trains: stage 0 sends the test images' features, stage 1 classifies them
    if rank == 0:
        with torch.no_grad():
            for start in range(0, len(x_test), 1000):
                dist.send(model.features(x_test[start:start + 1000]), 1)
        test_accuracy = torch.empty(1, dtype=torch.float64)
    else:
        test_accuracy = torch.tensor([accuracy(lambda images: model.head(receive((len(images), FEATURES), 0)),
                                               x_test, y_test)], dtype=torch.float64)
    dist.broadcast(test_accuracy, 1)
    if rank == 0:
        print(f"data: {name}, {args.steps} steps x {args.batch} images in {args.micro_batches} micro-batch(es)")
        print(f"idle_stage0={idle[0]:.3f}")
        print(f"idle_stage1={idle[1]:.3f}")
        print(f"test_accuracy={test_accuracy.item():.4f}")
        print(f"images_per_second={args.steps * args.batch / seconds:.0f}")
    shutdown()


if __name__ == "__main__":
    main()
