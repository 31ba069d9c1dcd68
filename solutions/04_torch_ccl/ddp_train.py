"""Data-parallel training of SmallCNN with DistributedDataParallel (DDP), one process per rank.

    ck.mpirun("ddp_train.py", "--epochs", 3, n=2)                        ranks from Intel MPI
    torchrun --standalone --nproc-per-node 2 ddp_train.py --epochs 1     ranks from torchrun

Each rank trains on its own share of every epoch (DistributedSampler); DDP averages the gradients, so
all ranks keep identical parameters, which the script proves at the end. Rank 0 prints and saves.
"""
import argparse
import math
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.utils.data.distributed import DistributedSampler

from clusterkit.rank import init_distributed, runs_dir, shutdown
from ddp_common import (SmallCNN, bf16_allreduce_hook, evaluate, identical_across_ranks, load_tensors, print_results,
                        train_epoch)

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch", type=int, default=64, help="images per rank per step")
parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
parser.add_argument("--max-steps", type=int, default=None, help="stop each epoch after this many steps")
parser.add_argument("--grad-dtype", choices=["float32", "bf16", "bf16-builtin"], default="float32",
                    help="send gradients as float32, as bf16 (our hook) or as bf16 with PyTorch's hook")
parser.add_argument("--checkpoint", default=None, help="file name in runs/04_torch_ccl/ for rank 0's checkpoint")
args = parser.parse_args()

info = init_distributed(timeout=60)
rank, size = info.rank, info.world_size
name, target, x_train, y_train, x_test, y_test = load_tensors()

torch.manual_seed(0)  # the same initial weights everywhere (DDP also broadcasts rank 0's at wrap time)
model = DistributedDataParallel(SmallCNN())
if args.grad_dtype == "bf16":
    model.register_comm_hook(state=None, hook=bf16_allreduce_hook)
elif args.grad_dtype == "bf16-builtin":
    model.register_comm_hook(state=None, hook=default_hooks.bf16_compress_hook)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
sampler = DistributedSampler(x_train, num_replicas=size, rank=rank, shuffle=True, seed=0)
steps_per_epoch = min(math.ceil(len(sampler) / args.batch), args.max_steps or math.inf)
# warm up, then anneal to small steps: short runs end closer to a minimum
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
if rank == 0:
    print(f"data: {name}, {len(x_train)} training images, {size} rank(s) x {args.batch} images per step, "
          f"{torch.get_num_threads()} thread(s) per rank, gradients sent as {args.grad_dtype}")

training_seconds, images = 0.0, 0
for epoch in range(args.epochs):
    sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
    dist.barrier()
    started = time.perf_counter()
    seen, loss = train_epoch(model, optimizer, schedule, x_train, y_train, sampler, args.batch, steps_per_epoch)
    training_seconds += time.perf_counter() - started
    images += seen * size
    accuracy = evaluate(model.module, x_test, y_test, rank, size)
    if rank == 0:
        print(f"epoch {epoch + 1}: loss {loss:.3f}, test accuracy {accuracy:.4f}")

identical = identical_across_ranks(model.module, size)
print_results(rank, params_identical=identical, test_accuracy=f"{accuracy:.4f}", accuracy_target=target,
              images_per_second=f"{images / training_seconds:.0f}")
if rank == 0 and args.checkpoint:
    torch.save({"model": model.module.state_dict(), "epochs": args.epochs, "test_accuracy": accuracy,
                "dataset": name}, runs_dir("04_torch_ccl") / args.checkpoint)
    print(f"checkpoint={args.checkpoint}")
dist.barrier()  # nobody leaves before the checkpoint is written
shutdown()  # destroy the process group, finalize MPI, exit without the interpreter's teardown
