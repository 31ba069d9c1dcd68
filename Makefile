# The course's two commands (see README.md):  make lab   and   make test
# Both first run the idempotent setup (about 20 s when everything is already there).
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8888
PYTEST_NBVAL := --nbval --nbval-kernel-name dmlcpu --nbval-sanitize-with tests/sanitize.cfg \
                --nbval-cell-timeout 900 --timeout 1800

.PHONY: setup lab test unit notebooks exercises check-exercises cluster cluster-down

setup:
	bash tools/setup.sh

lab: setup
	bash tools/lab.sh $(PORT)

test: setup
	bash tools/setup_cluster.sh
	$(PY) -m pytest tests solutions $(PYTEST_NBVAL) -v

# pieces of `make test`, for working on the course
unit:
	$(PY) -m pytest tests -q

notebooks:
	$(PY) -m pytest solutions $(PYTEST_NBVAL) -v

exercises:
	$(PY) tools/make_exercises.py

check-exercises:
	$(PY) tools/make_exercises.py --check

# module 05's two-node practice Slurm cluster (root; network namespaces on this machine)
cluster: setup
	bash tools/setup_cluster.sh
	$(PY) -m clusterkit.practice_cluster up

cluster-down:
	$(PY) -m clusterkit.practice_cluster down
