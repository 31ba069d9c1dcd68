"""Every rank joins one torch.distributed process group and says who it is; then one allreduce.

    ck.mpirun("hello_torch_dist.py", n=2)                  # ranks from Intel MPI (PMI_RANK, ...)
    torchrun --nproc-per-node 2 hello_torch_dist.py        # ranks from torchrun (RANK, ...)
"""
import os

import torch
import torch.distributed as dist

from clusterkit.rank import init_distributed

info = init_distributed(timeout=30)
rank, world_size = info.rank, info.world_size

# what each rank knows about itself, gathered so that rank 0 prints it in rank order
me = {"rank": rank, "local_rank": info.local_rank, "threads": torch.get_num_threads(),
      "cpus": sorted(os.sched_getaffinity(0))}
everyone = [None] * world_size
dist.all_gather_object(everyone, me)

# one collective: the sum of (rank + 1) over all ranks must be n(n+1)/2 on every rank
total = torch.tensor([rank + 1.0])
dist.all_reduce(total, op=dist.ReduceOp.SUM)
assert total.item() == world_size * (world_size + 1) / 2, total

if rank == 0:
    for row in everyone:
        print(f"rank {row['rank']}: local rank {row['local_rank']}, {row['threads']} torch thread(s), "
              f"may run on cpus {row['cpus']}")
    print(f"allreduce_sum={total.item():g}")
dist.destroy_process_group()
