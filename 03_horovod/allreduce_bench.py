"""Horovod's allreduce timed over message sizes: the latency of small messages, the bandwidth of large ones.

    mpirun -n 2 -genv HOROVOD_CPU_OPERATIONS CCL python -m mpi4py allreduce_bench.py
    horovodrun --gloo -np 2 -H localhost:2 python allreduce_bench.py

Each rank sums a float32 vector of every size with the other ranks' (hvd.allreduce, op=Sum): `--warmup`
untimed calls, then `--repeats` timed ones. The library that carries the sum is HOROVOD_CPU_OPERATIONS
(MPI, CCL or GLOO). Rank 0 checks the sums and prints one line per size:
`allreduce[BYTES]=MEDIAN_MICROSECONDS` (the slowest rank's median), then the line `correct=True`.
"""
import argparse
import time

import horovod.tensorflow as hvd
import numpy as np
import tensorflow as tf

from hvd_common import cpu_operations, use_threads

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--sizes", nargs="+", type=int, default=[2**k for k in range(2, 25, 2)],
                    help="message sizes in bytes, multiples of 4 (default: 4 B to 16 MiB, x4 each)")
parser.add_argument("--repeats", type=int, default=20, help="timed calls per size")
parser.add_argument("--warmup", type=int, default=3, help="untimed calls per size first")
args = parser.parse_args()

hvd.init()
rank, size = hvd.rank(), hvd.size()
use_threads(1, 1)
if rank == 0:
    print(f"ranks={size}\ncpu_operations={cpu_operations()}", flush=True)

correct = True
for nbytes in args.sizes:
    vector = tf.fill([max(nbytes // 4, 1)], float(rank + 1))
    expected = size * (size + 1) / 2                       # 1 + 2 + ... + size
    times = []
    for call in range(args.warmup + args.repeats):
        started = time.perf_counter()
        summed = hvd.allreduce(vector, op=hvd.Sum, name=f"allreduce_{nbytes}")
        elapsed = time.perf_counter() - started
        if call >= args.warmup:
            times.append(elapsed)
    correct &= bool(np.all(summed.numpy() == expected))
    # the slowest rank decides how long a collective takes
    slowest = hvd.allreduce(tf.constant(float(np.median(times))), op=hvd.Max, name=f"median_{nbytes}")
    if rank == 0:
        print(f"allreduce[{nbytes}]={float(slowest) * 1e6:.1f}", flush=True)

correct = bool(hvd.allreduce(tf.constant(float(correct)), op=hvd.Min, name="correct"))
if rank == 0:
    print(f"correct={correct}")
