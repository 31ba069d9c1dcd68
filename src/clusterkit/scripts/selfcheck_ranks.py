"""Per-rank part of the course self-check: MPI ranks, daal4py's distributed mode, Horovod's allreduce.

Run by `python -m clusterkit.selfcheck` as `mpirun -n 2 python -m mpi4py selfcheck_ranks.py PART`.
Only rank 0 prints results.
"""
import sys

from mpi4py import MPI

part = sys.argv[1]
comm = MPI.COMM_WORLD

if part == "mpi":
    total = comm.allreduce(comm.rank + 1)
    if comm.rank == 0:
        print(f"mpi: size={comm.size} allreduce={total} library={MPI.Get_library_version().splitlines()[0]}")

elif part == "daal4py":
    import numpy as np
    import daal4py as d4p

    d4p.daalinit()
    rng = np.random.default_rng(d4p.my_procid())
    block = rng.normal(size=(1000, 3)) + 5 * d4p.my_procid()
    init = d4p.kmeans_init(2, method="plusPlusDense", distributed=True,
                           engine=d4p.engines_mt19937(seed=7)).compute(block)
    result = d4p.kmeans(2, maxIterations=5, distributed=True).compute(block, init.centroids)
    if d4p.my_procid() == 0:
        print(f"daal4py: procs={d4p.num_procs()} centroids={result.centroids.shape}")
    d4p.daalfini()

elif part == "horovod":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import horovod.tensorflow as hvd

    hvd.init()
    total = hvd.allreduce(tf.constant(float(hvd.rank() + 1)), op=hvd.Sum)
    if hvd.rank() == 0:
        print(f"horovod: size={hvd.size()} allreduce over {os.environ['HOROVOD_CPU_OPERATIONS']}={float(total):g}")
