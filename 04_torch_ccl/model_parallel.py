"""Model parallelism within a layer: the neurons of SmallCNN's widest dense layer (`hidden`, 784 -> 64) split
across the ranks, the minibatch copied to all, the activations gathered.

    ck.mpirun("model_parallel.py", n=1)    one process: the whole layer on one rank (the baseline)
    ck.mpirun("model_parallel.py", n=2)    rank r computes its share of the 64 neurons

Every rank builds the whole model from the same seed and keeps its rows of `hidden`; the other layers are
replicated. Two communication steps make it exact (Megatron-LM's `f` and `g`):
- `CopyToRanks` before the split layer: forward, nothing (every rank has the input already); backward, an
  allreduce, because each rank's slice contributes only part of the gradient of its input;
- `GatherNeurons` after it: forward, an allgather of every rank's neurons; backward, each rank keeps the
  gradient of its own neurons.
Rank 0 prints `test_accuracy=`, `images_per_second=`, `replicated_identical=` and `bytes_per_step=`.
"""
import argparse
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from clusterkit.rank import init_distributed, shutdown
from ddp_common import SmallCNN, accuracy, identical_across_ranks, load_tensors, print_results, single_stream_batches

SENT = {"bytes": 0}  # bytes this rank sent, counted by the two functions below


class CopyToRanks(torch.autograd.Function):
    """Identity forward; backward sums the input's gradient over the ranks (each rank holds one part of it)."""

    @staticmethod
    def forward(ctx, features):
        return features.view_as(features)

    @staticmethod
    def backward(ctx, gradient):
        gradient = gradient.contiguous()
        SENT["bytes"] += gradient.numel() * gradient.element_size()
        dist.all_reduce(gradient)
        return gradient


class GatherNeurons(torch.autograd.Function):
    """Forward: every rank's neurons side by side (sizes may differ by one); backward: the gradient of mine."""

    @staticmethod
    def forward(ctx, mine, sizes, rank):
        ctx.columns = (sum(sizes[:rank]), sizes[rank])
        padded = F.pad(mine, (0, max(sizes) - mine.shape[1]))  # gloo gathers equal shapes only
        pieces = [torch.empty_like(padded) for _ in sizes]
        SENT["bytes"] += mine.numel() * mine.element_size()
        dist.all_gather(pieces, padded.contiguous())
        return torch.cat([piece[:, :size] for piece, size in zip(pieces, sizes)], dim=1)

    @staticmethod
    def backward(ctx, gradient):
        start, size = ctx.columns
        return gradient[:, start:start + size], None, None


class NeuronSplitCNN(nn.Module):
    """SmallCNN with `hidden`'s 64 neurons split over the ranks: rank r keeps rows sizes[:r] .. of its weight."""

    def __init__(self, full: SmallCNN, rank: int, size: int):
        super().__init__()
        self.replicated = nn.ModuleList([full.conv1, full.conv2, full.out])
        self.full, self.rank = full, rank
        rows = torch.tensor_split(torch.arange(full.hidden.out_features), size)
        self.sizes = [len(part) for part in rows]
        self.hidden_part = nn.Linear(full.hidden.in_features, self.sizes[rank])
        with torch.no_grad():
            self.hidden_part.weight.copy_(full.hidden.weight[rows[rank]])
            self.hidden_part.bias.copy_(full.hidden.bias[rows[rank]])
        del full.hidden  # this rank no longer holds the whole layer

    def forward(self, images):
        features = CopyToRanks.apply(self.full.features(images))
        neurons = F.relu(self.hidden_part(features))  # B x (64 / ranks): my share of the neurons
        return self.full.out(GatherNeurons.apply(neurons, self.sizes, self.rank))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64, help="images per step, the same on every rank")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    args = parser.parse_args()
    info = init_distributed(timeout=60)
    rank, size = info.rank, info.world_size
    name, target, x_train, y_train, x_test, y_test = load_tensors()
    torch.manual_seed(0)  # the same whole model on every rank, and as in one process
    model = NeuronSplitCNN(SmallCNN(), rank, size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps)

    dist.barrier()
    started = time.perf_counter()
    for chosen in single_stream_batches(len(x_train), args.batch, args.steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x_train[chosen]), y_train[chosen]).backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - started
    sent_per_step = SENT["bytes"] / args.steps

    test_accuracy = accuracy(model, x_test, y_test)  # every rank runs the whole test set: the gathers need all
    identical = identical_across_ranks(model.replicated, size)
    if rank == 0:
        print(f"data: {name}, {args.steps} steps x {args.batch} images, hidden's neurons per rank: {model.sizes}")
    print_results(rank, replicated_identical=identical, bytes_per_step=f"{sent_per_step:.0f}",
                  test_accuracy=f"{test_accuracy:.4f}", images_per_second=f"{args.steps * args.batch / seconds:.0f}")
    shutdown()


if __name__ == "__main__":
    main()
