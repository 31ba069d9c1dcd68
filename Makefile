# The course's two commands (see README.md):  make lab   and   make test
# Both first run the idempotent setup (about 20 s when everything is already there).
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8888
KERNEL  = $(shell $(PY) -c "from clusterkit.course import KERNEL_NAME; print(KERNEL_NAME)")
PYTEST_NBVAL = --nbval --nbval-kernel-name $(KERNEL) --nbval-sanitize-with tests/sanitize.cfg \
               --nbval-cell-timeout 900 --timeout 1800
# every run ends with its slowest tests and the time per group (tests/conftest.py), so a slowdown shows in the log
DURATIONS = --durations=30 --durations-min=1
# what `make check` leaves out (pyproject.toml lists the marks)
HEAVY = notebook or mpi or cluster or browser or bench
# the first CPU this process may use: the one-CPU run works inside an allocation or container too
ONE_CPU = $(shell $(PY) -c "import os; print(min(os.sched_getaffinity(0)))")

.PHONY: setup lab update test check lint unit notebooks notebooks-one-cpu exercises check-exercises cluster cluster-down
.PHONY: bench hub hub-accounts hub-status

setup:
	bash tools/setup.sh

# serves the learner's workspace (workspace/, a copy of the course that is theirs: tools/lab.sh syncs it first)
lab: setup
	bash tools/lab.sh $(PORT)

# the room (INSTRUCTORS.md, "The room"), as root: learner accounts, then the hub for them, then who is where;
# SPAWNER=slurm makes each learner's server a Slurm job (of the practice cluster, or SLURM=site for the site's)
SEATS    ?= 20
HUB_PORT ?= 8000
hub-accounts: setup
	$(PY) -m clusterkit.room accounts add $(SEATS)

hub: setup
	bash tools/setup_hub.sh
	$(if $(filter slurm,$(SPAWNER)),$(if $(filter site,$(SLURM)),,bash tools/setup_cluster.sh))
	ROOM_SEATS=$(SEATS) ROOM_PORT=$(HUB_PORT) ROOM_LET_LEARNERS_THROUGH=$(LET_LEARNERS_THROUGH) \
	  ROOM_SPAWNER=$(SPAWNER) ROOM_SLURM=$(SLURM) $(PY) -m clusterkit.room serve

hub-status:
	$(PY) -m clusterkit.room status

# brings a course update in (git pull, then sync): the files the learner edited are kept
update:
	$(PY) -m clusterkit.learner.workspace update

# no test sends a packet off this machine: real MNIST is not downloaded (Fashion-MNIST stands in)
test: export CLUSTERKIT_OFFLINE = 1
test: setup lint
	bash tools/setup_cluster.sh
	bash tools/setup_browser.sh
	bash tools/setup_hub.sh
	$(PY) -m pytest tests solutions $(PYTEST_NBVAL) $(DURATIONS) -v
	$(MAKE) --no-print-directory notebooks-one-cpu

# the contributor's fast lane (under 3 minutes): lint, exercises in sync, the tests that need no notebook,
# MPI job, cluster, browser or bench. Any other subset: $(PY) -m pytest tests -m "mpi and not cluster"
check: setup lint check-exercises
	$(PY) -m pytest tests -q -m "not ($(HEAVY))" $(DURATIONS)

# pieces of `make test`, for working on the course
lint:
	$(VENV)/bin/ruff check .

unit:
	$(PY) -m pytest tests -q $(DURATIONS)

notebooks:
	$(PY) -m pytest solutions $(PYTEST_NBVAL) $(DURATIONS) -v

# modules 01 and 02 again with the process limited to one CPU (a 1-core allocation or container):
# their outputs must not depend on the cores a machine has
notebooks-one-cpu:
	taskset -c $(ONE_CPU) $(PY) -m pytest solutions/01_parallelism solutions/02_daal4py $(PYTEST_NBVAL) $(DURATIONS) -v

exercises:
	$(PY) -m clusterkit.authoring.generate

check-exercises:
	$(PY) -m clusterkit.authoring.generate --check

# module 05's two-node practice Slurm cluster (root; network namespaces on this machine)
cluster: setup
	bash tools/setup_cluster.sh
	$(PY) -m clusterkit.clusters.practice up

cluster-down:
	$(PY) -m clusterkit.clusters.practice down

# the performance report (README, "Performance report"): make bench RANKS="1 2 4" SIZE=smoke BENCH_ARGS=--readme
SIZE ?= full
bench: setup
	$(PY) -m clusterkit.bench --size $(SIZE) $(if $(RANKS),--ranks $(RANKS)) $(BENCH_ARGS)
