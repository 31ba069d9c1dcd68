"""Per-rank part of the course self-check: MPI ranks and daal4py's distributed mode (Horovod's row runs
horovod_collectives.py).

Run by `python -m clusterkit.notebook.selfcheck` as `mpirun -n 2 python -m mpi4py selfcheck_ranks.py PART`.
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

