"""Clusters: the Slurm client (`slurm`), the two-node practice cluster (`practice`), and `connect`, which
picks where a notebook's Slurm commands run."""
