"""Facts about the course itself that tools, tests and the package share (one source for each)."""
from __future__ import annotations

# the module folders, in teaching order; each has its solutions under solutions/<module>/
MODULES = ("01_parallelism", "02_daal4py", "03_horovod", "04_torch_ccl", "05_clusters")

# the Jupyter kernel every notebook runs on
KERNEL_NAME = "dmlcpu"
KERNEL_DISPLAY_NAME = "Python (Distributed ML on CPU)"
