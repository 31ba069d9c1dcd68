"""Launching jobs: one job runner behind `mpirun`, `horovodrun` and the practice cluster's launcher,
the process helper under it (stream, time-out, stop button) and the parser of Intel MPI's debug output."""
