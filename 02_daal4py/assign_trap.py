"""A trap, kept on purpose: labels requested from *distributed* k-means (assignFlag=True).

daal4py raises on rank 0 only ("Null numeric table ... partialAssignments"); the other ranks are
already waiting in the next collective. Under `python -m mpi4py` the exception on rank 0 aborts the
whole job (only if the script imports mpi4py's MPI, as here); under plain `python` the other ranks
wait forever. quantize.py labels the pixels in batch mode on each rank instead.
"""
import daal4py as d4p
import numpy as np
from mpi4py import MPI  # noqa: F401  without it, `python -m mpi4py` cannot abort the job on an exception

d4p.daalinit()
rank = d4p.my_procid()
block = np.random.default_rng(rank).random((1000, 3))
start = d4p.kmeans_init(4, method="plusPlusDense", distributed=True).compute(block).centroids
result = d4p.kmeans(4, maxIterations=5, accuracyThreshold=0, assignFlag=True, distributed=True).compute(block, start)
print(f"rank {rank} got its labels", flush=True)
d4p.daalfini()
