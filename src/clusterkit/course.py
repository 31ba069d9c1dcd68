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
# must stay under 35 minutes. A new notebook fits in, or another one gets shorter. The seconds are those of the
# machine the outputs were recorded on: the same 29 notebooks recorded 838 s on 2026-12-02 and 1152 s on
# 2026-12-03, on a machine that ran everything about 1.4x slower (its self-check 23.6 s against 16 s). The
# budget keeps the headroom of the first recording (7%) over the second. The elastic-training notebook (04/09,
# 2026-12-04) added 37 s on a quiet machine (47-69 s while other tests ran beside it): 1191 s in all. The elastic
# job on the practice cluster's two nodes (05, 2026-12-06) added 13 s: 1204 s. The case study's phantom went from
# 64x64 to 48x48 slices (03/08, 2026-12-07: 277 s -> 155 s, the lessons unchanged): 1083 s, and the budget came
# down with it, so that CI's run keeps the time it won.
NOTEBOOKS_BUDGET_SECONDS = 1120

# Set by the room (clusterkit.room) for a learner's server: a sentence naming the learner's seat and CPUs, and those
# CPUs as a list ('0-3'); the self-check then shows a row with them. Unset outside the room.
ROOM_SEAT_ENV = "CLUSTERKIT_ROOM_SEAT"
ROOM_CPUS_ENV = "CLUSTERKIT_ROOM_CPUS"
