"""Facts about the course itself that tools, tests and the package share (one source for each)."""
from __future__ import annotations

# the module folders, in teaching order; each has its solutions under solutions/<module>/
MODULES = ("01_parallelism", "02_daal4py", "03_horovod", "04_torch_ccl", "05_clusters")

# the Jupyter kernel every notebook runs on
KERNEL_NAME = "dmlcpu"
KERNEL_DISPLAY_NAME = "Python (Distributed ML on CPU)"

# The notebooks' share of `make test`: the sum of every solution notebook's recorded Restart & Run All seconds
# (clusterkit.authoring.execute records them) may not pass this. nbval runs each notebook once, modules 01-02 a
# second time on one CPU; the rest of the suite and the setup take about as long again, and CI's whole run
# must stay under 35 minutes. A new notebook fits in, or another one gets shorter.
NOTEBOOKS_BUDGET_SECONDS = 900
