# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/04_torch_ccl/ring_allreduce.py (`%solution` loads it). Made from it by `make exercises`; sha256:895359b40a9fba8e
"""Allreduce built by hand from send/recv: the ring (Horovod's) and the parameter-server pattern (reduce to rank
0, then send the sum back), each checked against torch.distributed's own all_reduce, bytes counted, timed.

    ck.mpirun("ring_allreduce.py", n=2)                  check both against all_reduce (even and uneven sizes)
    ck.mpirun("ring_allreduce.py", "--sweep", n=2)       then time all three over message sizes
    ck.mpirun("ring_allreduce.py", "--mismatch", n=2)    rank 1 brings a tensor of another shape: a clear error

Rank 0 prints `key=value` lines: `bytes=<tensor bytes> <ring bytes sent per rank> <server bytes sent>
<worker bytes sent>` and, with --sweep, `time=<tensor bytes> <ring s> <parameter server s> <all_reduce s>`.
"""
import argparse
import time

import torch
import torch.distributed as dist


def chunk_sent(rank, step, size):
    """Index of the chunk that `rank` sends to rank+1 at `step` (0 .. 2(size-1)-1) of the ring.

    Steps 0 .. size-2 are the reduce-scatter (the receiver adds the chunk to its own), the next size-1
    steps the allgather (the receiver keeps the chunk): in both, a rank passes on what it received last."""
    # TODO: return the chunk index rank `rank` sends at step `step` of a ring of `size` ranks
    raise NotImplementedError("TODO: return the chunk index rank `rank` sends at step `step` of a ring of `size` ranks")


def chunk_sizes(numel, size):
    """How the ring splits `numel` numbers into `size` chunks: as evenly as possible, the first ones one longer."""
    base, extra = divmod(numel, size)
    return [base + (index < extra) for index in range(size)]


def check_same_shape(tensor, rank, size):
    """Every rank must bring a tensor of the same shape and dtype; otherwise raise, on every rank, saying which."""
    shapes = [None] * size
    dist.all_gather_object(shapes, (tuple(tensor.shape), str(tensor.dtype)))
    odd = [f"rank {r}: {shape} {dtype}" for r, (shape, dtype) in enumerate(shapes) if (shape, dtype) != shapes[0]]
    if odd:
        raise ValueError(f"allreduce needs the same shape and dtype on every rank; rank 0 has {shapes[0][0]} "
                         f"{shapes[0][1]}, but {', '.join(odd)} (this is rank {rank})")


def ring_allreduce(tensor, rank, size):
    """Sum `tensor` over all ranks in place, by reduce-scatter then allgather around the ring; bytes sent."""
    chunks = list(torch.split(tensor.view(-1), chunk_sizes(tensor.numel(), size)))  # views into tensor
    right, left = (rank + 1) % size, (rank - 1) % size
    sent = 0
    for step in range(2 * (size - 1)):
        outgoing, incoming = chunks[chunk_sent(rank, step, size)], chunks[chunk_sent(left, step, size)]
        request = dist.isend(outgoing.contiguous(), right)  # send and receive at once: no rank waits for a turn
        received = torch.empty_like(incoming)
        dist.recv(received, left)
        request.wait()
        sent += outgoing.numel() * outgoing.element_size()
        if step < size - 1:
            incoming += received  # reduce-scatter: add the neighbour's partial sum to mine
        else:
            incoming.copy_(received)  # allgather: the neighbour's chunk is complete, keep it
    return sent


def server_allreduce(tensor, rank, size):
    """Sum `tensor` in place the parameter-server way: every worker sends its whole tensor to rank 0, which
    adds them and sends the sum back to each worker. Returns the bytes this rank sent."""
    nbytes = tensor.numel() * tensor.element_size()
    if rank != 0:
        dist.send(tensor, 0)
        dist.recv(tensor, 0)
        return nbytes
    received = torch.empty_like(tensor)
    for worker in range(1, size):
        dist.recv(received, worker)
        tensor += received
    for worker in range(1, size):
        dist.send(tensor, worker)
    return (size - 1) * nbytes


def library_allreduce(tensor, rank, size):
    dist.all_reduce(tensor)


def check_against_library(numel, rank, size):
    """Both hand-made allreduces give what dist.all_reduce gives, on whole numbers (exact) and random floats."""
    generator = torch.Generator().manual_seed(1000 + rank)
    for name, tensor in (("integers", torch.randint(-1000, 1000, (numel,), generator=generator).double()),
                         ("floats", torch.randn(numel, generator=generator))):
        check_same_shape(tensor, rank, size)
        expected = tensor.clone()
        dist.all_reduce(expected)
        for allreduce in (ring_allreduce, server_allreduce):
            result = tensor.clone()
            allreduce(result, rank, size)
            same = torch.equal(result, expected) if name == "integers" else torch.allclose(result, expected,
                                                                                          rtol=1e-5, atol=1e-5)
            assert same, f"{allreduce.__name__} differs from dist.all_reduce on {numel} {name}, rank {rank}"


def bytes_sent(allreduce, numel, rank, size):
    """Bytes that each rank sent in one call, gathered: a list indexed by rank."""
    sent = torch.tensor([float(allreduce(torch.ones(numel), rank, size))])
    everyone = [torch.empty(1) for _ in range(size)]
    dist.all_gather(everyone, sent)
    return [int(value.item()) for value in everyone]


def seconds_per_call(allreduce, numel, rank, size, budget, trials=5):
    """Time of one call: `trials` runs of repeated calls (about `budget` seconds in all, after a warm-up), each
    timed on the slowest rank; the fastest run counts, as the one least disturbed by other processes."""
    buffer = torch.ones(numel)
    allreduce(buffer, rank, size)  # warm-up: connections set up
    dist.barrier()
    started = time.perf_counter()
    allreduce(buffer, rank, size)
    once = torch.tensor([time.perf_counter() - started])
    dist.broadcast(once, 0)
    repeats = int(min(max(budget / trials / max(once.item(), 1e-6), 2), 200))
    runs = []
    for _ in range(trials):
        dist.barrier()
        started = time.perf_counter()
        for _ in range(repeats):
            allreduce(buffer, rank, size)
        elapsed = torch.tensor([time.perf_counter() - started])
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        runs.append(elapsed.item() / repeats)
    return min(runs)


def main():
    from clusterkit.rank import init_distributed, shutdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="time ring, parameter server and all_reduce")
    parser.add_argument("--budget", type=float, default=0.1, help="seconds of repetitions per size and method")
    parser.add_argument("--mismatch", action="store_true", help="rank 1 brings a tensor of another shape")
    args = parser.parse_args()
    info = init_distributed(timeout=30)
    rank, size = info.rank, info.world_size

    if args.mismatch:
        check_same_shape(torch.ones(6 + (rank == 1)), rank, size)
    uneven = 4 * size + 3  # not divisible by the number of ranks (except 1 and 3)
    if rank == 0 and uneven % size:
        print(f"uneven: {uneven} numbers over {size} ranks, split into chunks of {chunk_sizes(uneven, size)}")
    for numel in (1, size, uneven, 1000 * size, 100_003):
        check_against_library(numel, rank, size)
    if rank == 0:
        print("ring_equals_all_reduce=True")

    counts = [4 ** k * size for k in range(1, 10)] if args.sweep else [1024 * size]  # divisible by size
    for numel in counts:
        ring, server = bytes_sent(ring_allreduce, numel, rank, size), bytes_sent(server_allreduce, numel, rank, size)
        assert len(set(ring)) == 1, f"ring ranks sent different amounts: {ring}"
        if rank == 0:
            print(f"bytes={numel * 4} {ring[0]} {server[0]} {max(server[1:], default=0)}")
        if args.sweep and size > 1:
            timings = [seconds_per_call(allreduce, numel, rank, size, args.budget)
                       for allreduce in (ring_allreduce, server_allreduce, library_allreduce)]
            if rank == 0:
                print(f"time={numel * 4} " + " ".join(f"{seconds:.3e}" for seconds in timings), flush=True)
    shutdown()


if __name__ == "__main__":
    main()
