"""What the DDP scripts of this module share: the CNN, the data as tensors, one epoch, the evaluation."""
import hashlib

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.utils.data.distributed import DistributedSampler

from clusterkit.rank import load_digits_dataset, shard


class SmallCNN(nn.Module):
    """Two 3x3 convolutions and two dense layers: about 52k parameters, quick on one core."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.hidden = nn.Linear(16 * 7 * 7, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, images):
        return self.head(self.features(images))

    def features(self, images):
        """The convolutional part: images -> 16x7x7 features per image, flattened (a pipeline's first stage)."""
        x = F.max_pool2d(F.relu(self.conv1(images)), 2)  # 28x28 -> 14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)       # 14x14 -> 7x7
        return x.flatten(1)

    def head(self, features):
        """The dense part: flattened features -> 10 logits (a pipeline's second stage)."""
        return self.out(F.relu(self.hidden(features)))


def load_tensors():
    """The course's digits data set as float tensors in [0, 1] with a channel axis, plus its name and target."""
    data = load_digits_dataset()

    def images(array):
        return torch.from_numpy(array).float().div_(255).unsqueeze(1)

    return (data.name, data.accuracy_target, images(data.x_train), torch.from_numpy(data.y_train).long(),
            images(data.x_test), torch.from_numpy(data.y_test).long())


def train_epoch(model, optimizer, schedule, x, y, sampler: DistributedSampler, batch: int, steps: int):
    """Up to `steps` steps over this rank's share of the data; returns (images this rank saw, last loss)."""
    indices = torch.tensor(list(sampler))
    seen, loss = 0, torch.tensor(float("nan"))
    for step, start in enumerate(range(0, len(indices), batch)):
        if step >= steps:
            break
        chosen = indices[start:start + batch]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[chosen]), y[chosen])
        loss.backward()  # DDP averages the gradients over all ranks here
        optimizer.step()
        schedule.step()
        seen += len(chosen)
    return seen, loss.item()


@torch.no_grad()
def evaluate(model, x, y, rank: int, size: int) -> float:
    """Test accuracy over the whole test set: each rank scores its shard, an allreduce adds the counts."""
    part = shard(len(x), rank, size)
    counts = torch.tensor([(model(x[part]).argmax(1) == y[part]).sum().item(), len(y[part])], dtype=torch.float64)
    dist.all_reduce(counts)
    return (counts[0] / counts[1]).item()


def bf16_allreduce_hook(process_group, bucket):
    """DDP communication hook: allreduce the gradient bucket as bfloat16, then restore float32.

    PyTorch's default_hooks.bf16_compress_hook does the same, but DDP refuses any hook of that name
    unless CUDA+NCCL or XPU+XCCL are present; gloo itself allreduces bfloat16 tensors on CPUs.
    """
    group = process_group if process_group is not None else dist.group.WORLD
    sent = bucket.buffer().to(torch.bfloat16).div_(group.size())  # average while compressing
    reduced = dist.all_reduce(sent, group=group, async_op=True).get_future()

    def restore(future):
        gradients = bucket.buffer()
        gradients.copy_(future.value()[0])  # back to float32, in place
        return gradients

    return reduced.then(restore)


def fingerprint(model) -> str:
    """SHA-256 of every parameter's bytes: equal fingerprints mean bit-identical parameters."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def identical_across_ranks(model, size: int) -> bool:
    """Gather every rank's fingerprint; True when all ranks hold bit-identical parameters."""
    everyone = [None] * size
    dist.all_gather_object(everyone, fingerprint(model))
    return len(set(everyone)) == 1


def single_stream_batches(count: int, batch: int, steps: int, seed: int = 0):
    """The batches one process takes: one seeded shuffle of `count` images, the first `steps` batches of it.
    Model-parallel ranks all take the same ones (the minibatch is copied to every rank)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return [order[step * batch:(step + 1) * batch] for step in range(steps)]


@torch.no_grad()
def accuracy(predict, x, y, batch: int = 1000) -> float:
    """Share of the images `x` that `predict` (images -> logits) classifies right, scored batch by batch."""
    right = sum((predict(x[start:start + batch]).argmax(1) == y[start:start + batch]).sum().item()
                for start in range(0, len(x), batch))
    return right / len(x)


def print_results(rank: int, **results) -> None:
    """Rank 0 prints each result as `name=value` on a line of its own: what the notebook reads back."""
    if rank == 0:
        for name, value in results.items():
            print(f"{name}={value}")
