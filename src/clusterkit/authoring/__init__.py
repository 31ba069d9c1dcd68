"""Authoring the course: the exercise-marker grammar, the exercise generator, the agenda tables and the
notebook executor, each run as `python -m clusterkit.authoring.<name>`."""
