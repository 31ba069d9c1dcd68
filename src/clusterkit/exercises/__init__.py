"""Exercise checks, one module per course module (e.g. `clusterkit.exercises.parallelism`)."""
