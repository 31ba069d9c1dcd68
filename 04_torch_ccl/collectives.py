"""The collectives of the workshop on every rank, each result checked against what it must be.

Rank r starts with x_r = [10r+1, 10r+2, ..., 10r+4] (4 numbers per rank, 2 per rank-chunk on 2 ranks).
Every rank asserts its own result; rank 0 then prints what every rank holds.

    ck.mpirun("collectives.py", n=2)                           all collectives, checked
    ck.mpirun("collectives.py", "--unpadded-allgatherv", n=2)  uneven all_gather without padding (fails)
"""
import sys

import torch
import torch.distributed as dist

from clusterkit.rank import init_distributed

info = init_distributed(timeout=30)
rank, size = info.rank, info.world_size
N = 4  # numbers per rank; divisible by the world size for the chunked collectives


def start(r):
    """What rank r holds before each collective."""
    return torch.arange(1.0, N + 1) + 10 * r


def show(name, result, expected):
    """Assert this rank's result, then let rank 0 print every rank's."""
    assert torch.equal(result, expected), f"{name} on rank {rank}: got {result.tolist()}, expected {expected.tolist()}"
    everyone = [None] * size
    dist.all_gather_object(everyone, result.tolist())
    if rank == 0:
        held = " | ".join(f"rank {r}: {[int(v) for v in values]}" for r, values in enumerate(everyone))
        print(f"{name:<26} {held}   (checked)")


def chunk(tensor, index):
    return tensor.chunk(size)[index]


x = start(rank)
show("start", x, start(rank))
everything = torch.stack([start(r) for r in range(size)])  # every rank's input, to compute the expected

if "--unpadded-allgatherv" in sys.argv:
    # allgather-v: rank r contributes r+1 numbers; gloo needs equal sizes and raises a RuntimeError
    mine = torch.full((rank + 1,), float(rank))
    gathered = [torch.empty(r + 1) for r in range(size)]
    dist.all_gather(gathered, mine)
    sys.exit("unreachable on gloo: uneven all_gather went through")

total = everything.sum(dim=0)

y = x.clone()
dist.all_reduce(y, op=dist.ReduceOp.SUM)
show("all_reduce(SUM)", y, total)

y = x.clone()
dist.reduce(y, dst=0, op=dist.ReduceOp.SUM)  # only the destination's result is defined
if rank == 0:
    assert torch.equal(y, total), y
    print(f"{'reduce(SUM, dst=0)':<26} rank 0: {[int(v) for v in y]}   (checked; other ranks: undefined)")

y = x.clone()
dist.broadcast(y, src=0)
show("broadcast(src=0)", y, start(0))

gathered = [torch.empty(N) for _ in range(size)]
dist.all_gather(gathered, x)
show("all_gather", torch.cat(gathered), everything.flatten())

# allgather-v (uneven sizes): pad to the longest, gather, then cut each piece back to its length
mine = torch.full((rank + 1,), float(rank + 1))
lengths = [r + 1 for r in range(size)]
padded = torch.zeros(max(lengths))
padded[: len(mine)] = mine
pieces = [torch.empty(max(lengths)) for _ in range(size)]
dist.all_gather(pieces, padded)
uneven = torch.cat([piece[:length] for piece, length in zip(pieces, lengths)])
show("all_gather-v (padded)", uneven, torch.cat([torch.full((r + 1,), float(r + 1)) for r in range(size)]))

objects = [None] * size
dist.all_gather_object(objects, mine.tolist())  # pickles any object: simplest, slowest
show("all_gather_object", torch.tensor(sum(objects, [])), uneven)

y = torch.empty(N // size)
dist.reduce_scatter(y, list(x.chunk(size)), op=dist.ReduceOp.SUM)
show("reduce_scatter(SUM)", y, chunk(total, rank))

received = [torch.empty(N // size) for _ in range(size)]
dist.all_to_all(received, list(x.chunk(size)))  # chunk j of my input goes to rank j
show("all_to_all", torch.cat(received), torch.cat([chunk(start(r), rank) for r in range(size)]))

# alltoall-v: rank r sends r+j+1 copies of 100r+j to rank j (sizes differ per pair)
send_sizes = [rank + j + 1 for j in range(size)]
recv_sizes = [r + rank + 1 for r in range(size)]
send = torch.cat([torch.full((n,), 100.0 * rank + j) for j, n in enumerate(send_sizes)])
y = torch.empty(sum(recv_sizes))
dist.all_to_all_single(y, send, output_split_sizes=recv_sizes, input_split_sizes=send_sizes)
show("all_to_all_single-v", y, torch.cat([torch.full((n,), 100.0 * r + rank) for r, n in enumerate(recv_sizes)]))

dist.barrier()
if rank == 0:
    print(f"all collectives checked on {size} ranks with backend {info.backend}")
dist.destroy_process_group()
